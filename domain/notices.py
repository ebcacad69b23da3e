"""Texts of reminders and notices: amount, consequences, every repayment channel, opt-out.

Polite by construction: templates never threaten and address only the borrower.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.money import format_money

REPAYMENT_CHANNELS = {
    "zh-CN": "还款方式：App 内还款、银行转账或到任一合作网点",
    "en": "Pay in the app, by bank transfer, or at any partner branch",
}
OPT_OUT = {"zh-CN": "回复TD退订短信", "en": "Reply STOP to opt out of text messages"}

TEMPLATES: dict[str, dict[str, str]] = {
    "reminder_friendly": {
        "zh-CN": "{name}您好，您的借款 {loan_id} 已逾期 {dpd} 天，应还 {amount}。{channels}。",
        "en": "Hello {name}, loan {loan_id} is {dpd} days overdue; {amount} is due. {channels}.",
    },
    "reminder_firm": {
        "zh-CN": "{name}您好，借款 {loan_id} 逾期 {dpd} 天，欠款 {amount}。"
        "逾期将影响您的信用记录，请尽快还款。{channels}。",
        "en": "Hello {name}, loan {loan_id} is {dpd} days overdue with {amount} outstanding. "
        "Late payment affects your credit record; please pay soon. {channels}.",
    },
    "final_notice": {
        "zh-CN": "{name}您好，借款 {loan_id} 逾期 {dpd} 天，欠款 {amount}。"
        "如仍未还款，我们可能安排上门拜访并依法提起诉讼。{channels}。",
        "en": "Hello {name}, loan {loan_id} is {dpd} days overdue with {amount} outstanding. "
        "Without payment we may arrange a visit and start legal proceedings. {channels}.",
    },
}
GENERIC = {
    "zh-CN": "{name}您好，借款 {loan_id} 逾期 {dpd} 天，欠款 {amount}。{channels}。",
    "en": "Hello {name}, loan {loan_id} is {dpd} days overdue with {amount} outstanding. "
    "{channels}.",
}


@dataclass(frozen=True)
class NoticeFacts:
    loan_id: str
    borrower_name: str | None
    locale: str
    days_past_due: int
    outstanding_minor: int
    currency: str


def render_notice(template: str, channel: str, facts: NoticeFacts) -> str:
    locale = facts.locale if facts.locale in REPAYMENT_CHANNELS else "zh-CN"
    text = TEMPLATES.get(template, GENERIC)[locale].format(
        name=facts.borrower_name or ("客户" if locale == "zh-CN" else "customer"),
        loan_id=facts.loan_id,
        dpd=facts.days_past_due,
        amount=format_money(facts.outstanding_minor, facts.currency),
        channels=REPAYMENT_CHANNELS[locale],
    )
    if channel in ("sms", "email"):
        text += " " + OPT_OUT[locale]
    return text
