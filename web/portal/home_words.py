"""What the borrower's own page (`/p/home`) says, in both locales, and the plain sentence for
the case's next action (`status.next_action.kind` is the case's own label, never shown as is:
it names templates and rules; the borrower reads one sentence per kind of step)."""

from __future__ import annotations

HOME_WORDS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "owed": "待还金额",
        "outstanding": "合计未还",
        "principal": "本金",
        "interest": "利息",
        "fees": "费用",
        "penalty": "罚息",
        "since": "逾期情况",
        "due_date": "到期日",
        "days_past_due": "逾期天数",
        "days": "天",
        "next": "接下来",
        "at": "时间",
        "nothing_next": "目前没有安排的下一步。",
        "payments": "您的还款",
        "no_payments": "暂无还款记录。",
        "your_promise": "您的还款承诺",
        "your_plan": "您的分期计划",
        "by": "截止",
        "status_word": "状态",
        "contact": "联系我们",
        "ways_to_pay": "还款方式",
        "pay_online": "在线还款",
        "pay_now": "立即支付全部未还金额",
        "promise": "承诺还款",
        "amount": "金额",
        "promise_range": "金额最多 {max}，日期在 {earliest} 至 {latest} 之间。",
        "send_promise": "提交承诺",
        "plan": "申请分期",
        "count": "期数",
        "first_due": "首期还款日",
        "plan_range": "最多 {max} 期（每月一期），首期在 {earliest} 至 {latest} 之间。",
        "send_plan": "提交分期申请",
        "dispute": "对欠款有异议",
        "reason": "原因",
        "send_dispute": "提交异议",
        "callback": "预约回电",
        "callback_range": (
            "我们可在每天 {opens}–{closes}（{zone} 时间）给您回电，"
            "日期在 {earliest} 至 {latest} 之间。"
        ),
        "callback_date": "日期",
        "callback_time": "时间",
        "send_callback": "请在此时间给我回电",
        "callback_taken": "已预约回电：我们将在 {at} 致电您。",
        "stop": "不再通过此渠道联系我",
        "stop_help": "与回复短信“TD”效果相同，适用于您名下所有借款。",
        "channel_sms": "短信",
        "channel_email": "电子邮件",
        "channel_letter": "信件",
        "send_stop": "停止此渠道",
        "stopped": "已停止通过以下渠道联系您：",
        "language": "English",
        "accepted": "已受理。",
        "refused": "未能受理，未做任何更改：",
        "not_now": "暂时无法处理，未做任何更改，请稍后再试。",
        "unavailable": "暂时无法显示您的账户，请稍后再试。",
        "no_case": "此借款目前没有待处理的逾期。",
        "plan_schedule": "分期安排：",
        "promise_taken": "承诺已记录：{amount}，于 {date} 前。",
        "dispute_taken": "异议已记录：我们会核实，核实期间暂停催收联系。",
        "payments_unavailable": "暂不支持在线还款，请使用下方的其他还款方式。",
        "checkout_failed": "在线支付暂时无法打开，未扣款，请稍后再试。",
        "paid_back": "感谢您的还款，入账后此页面会更新。",
        "nothing_owed": "您目前没有待还金额。",
        # The states of an installment (`due`, `paid`, `missed`) and of a promise.
        "state_due": "待还",
        "state_paid": "已还",
        "state_missed": "逾期未还",
        "state_pending": "待履行",
        "state_kept": "已履行",
        "state_broken": "未履行",
    },
    "en": {
        "owed": "What you owe",
        "outstanding": "Total outstanding",
        "principal": "Principal",
        "interest": "Interest",
        "fees": "Fees",
        "penalty": "Late charges",
        "since": "Overdue since",
        "due_date": "Due date",
        "days_past_due": "Days past due",
        "days": "days",
        "next": "What happens next",
        "at": "When",
        "nothing_next": "Nothing is planned next.",
        "payments": "Your payments",
        "no_payments": "No payments yet.",
        "your_promise": "Your promise",
        "your_plan": "Your payment plan",
        "by": "by",
        "status_word": "status",
        "contact": "Contact us",
        "ways_to_pay": "Ways to pay",
        "pay_online": "Pay online",
        "pay_now": "Pay the whole outstanding amount now",
        "promise": "Promise to pay",
        "amount": "Amount",
        "promise_range": "At most {max}, on a date from {earliest} to {latest}.",
        "send_promise": "Send my promise",
        "plan": "Ask for a payment plan",
        "count": "Number of monthly payments",
        "first_due": "First payment date",
        "plan_range": "At most {max} monthly payments, the first from {earliest} to {latest}.",
        "send_plan": "Ask for this plan",
        "dispute": "I dispute this debt",
        "reason": "Reason",
        "send_dispute": "Send my dispute",
        "callback": "Ask us to call you back",
        "callback_range": (
            "We can call you between {opens} and {closes} ({zone} time), "
            "on a day from {earliest} to {latest}."
        ),
        "callback_date": "Day",
        "callback_time": "Time",
        "send_callback": "Call me back then",
        "callback_taken": "Call back booked: we will call you at {at}.",
        "stop": "Stop contacting me this way",
        "stop_help": "The same as replying STOP to our SMS; it covers all your loans.",
        "channel_sms": "SMS",
        "channel_email": "email",
        "channel_letter": "letters",
        "send_stop": "Stop this channel",
        "stopped": "We will no longer contact you by ",
        "language": "中文",
        "accepted": "Done.",
        "refused": "Not accepted, nothing changed: ",
        "not_now": "We cannot do this right now; nothing changed. Please try again later.",
        "unavailable": "Your account cannot be shown right now; please try again later.",
        "no_case": "There is nothing overdue on this loan now.",
        "plan_schedule": "Your plan: ",
        "promise_taken": "Promise recorded: {amount} by {date}.",
        "dispute_taken": "Dispute recorded: we will look into it and stop reminders meanwhile.",
        "payments_unavailable": (
            "Payments online are not available; please use one of the other ways to pay below."
        ),
        "checkout_failed": "The online payment could not be opened; nothing was charged.",
        "paid_back": "Thank you for paying; this page shows it once it arrives.",
        "nothing_owed": "There is nothing to pay now.",
        "state_due": "due",
        "state_paid": "paid",
        "state_missed": "missed",
        "state_pending": "pending",
        "state_kept": "kept",
        "state_broken": "broken",
    },
}

# The case's label of its next step (`next_action.kind`), by what it contains, most specific
# first; a sentence per kind, with `{at}` the moment it is due.
NEXT_KINDS: tuple[tuple[str, str], ...] = (
    ("promise", "promise"),
    ("plan installment", "installment"),
    ("settlement", "settlement"),
    ("write-off", "write_off"),
    ("visit", "visit"),
    ("call", "call"),
    ("sms:", "message"),
    ("email:", "message"),
    ("letter", "letter"),
    ("bucket", "review"),
    ("closed", "closed"),
)
NEXT_SENTENCES: dict[str, dict[str, str]] = {
    "zh-CN": {
        "promise": "您承诺的还款到期日：{at}。",
        "installment": "您的下一期分期还款到期：{at}。",
        "settlement": "和解还款到期：{at}。",
        "write_off": "如仍未还款，您的欠款将于 {at} 转入后续处理。",
        "visit": "上门拜访后的还款期限：{at}。",
        "call": "我们的客服将在 {at} 前后致电您。",
        "message": "如仍未还款，我们将在 {at} 再次发送提醒。",
        "letter": "如仍未还款，我们将在 {at} 寄出书面通知。",
        "review": "您的账户将于 {at} 进入下一阶段催收。",
        "closed": "您的账户已结清，将于 {at} 关闭。",
        "other": "下一步安排在 {at}。",
    },
    "en": {
        "promise": "Your promised payment is due by {at}.",
        "installment": "Your next plan payment is due by {at}.",
        "settlement": "Your settlement payment is due by {at}.",
        "write_off": "If nothing is paid, your debt moves to the next stage on {at}.",
        "visit": "The payment agreed at our visit is due by {at}.",
        "call": "We will call you around {at}.",
        "message": "If nothing is paid, we send you another reminder on {at}.",
        "letter": "If nothing is paid, we send you a letter on {at}.",
        "review": "If nothing is paid, your account moves to the next stage on {at}.",
        "closed": "Your account is settled and closes on {at}.",
        "other": "The next step is on {at}.",
    },
}


def home_words(locale: str) -> dict[str, str]:
    return HOME_WORDS.get(locale) or HOME_WORDS["zh-CN"]


def next_kind(label: str) -> str:
    """The kind of the case's next step from its own label."""
    lowered = label.lower()
    for marker, kind in NEXT_KINDS:
        if marker in lowered:
            return kind
    return "other"


def next_sentence(locale: str, label: str, at: str) -> str:
    sentences = NEXT_SENTENCES.get(locale) or NEXT_SENTENCES["zh-CN"]
    return sentences[next_kind(label)].format(at=at)
