"""What the portal's pages say before sign-in, in the borrower's locale (`zh-CN` or `en`).
A page for a link that cannot be opened picks its words from the browser, never from the
case, so a tampered link and an expired one read the same."""

from __future__ import annotations

from fastapi import Request

WORDS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "lang": "zh-CN",
        "title": "我的账户",
        "heading": "我的账户",
        "send_code_to": "为确认是您本人，我们将发送验证码至",
        "send_code": "发送验证码",
        "code": "验证码",
        "verify": "确认",
        "no_destination": "暂时无法发送验证码，请联系客服。",
        "code_sent": "验证码已发送，10分钟内有效。",
        "code_not_sent": "验证码暂时无法发送，请稍后再试。",
        "too_many_codes": "发送次数过多，请稍后再试。",
        "wrong_code": "验证码不正确或已失效。",
        "paused": "尝试次数过多，请15分钟后再试。",
        "cannot_open": "此链接无法打开，可能已过期。我们可以将新链接发送到您登记的联系方式。",
        "send_new_link": "发送新链接",
        "new_link_sent": "如果这是我们发出的链接，新链接已发送到登记的联系方式。",
        "too_many_links": "申请次数过多，请稍后再试。",
        "open_again": "请重新打开我们发送给您的链接。",
        "signed_in": "已登录，贷款编号",
    },
    "en": {
        "lang": "en",
        "title": "Your account",
        "heading": "Your account",
        "send_code_to": "To make sure it is you, we send a code to",
        "send_code": "Send me a code",
        "code": "Code",
        "verify": "Confirm",
        "no_destination": "We cannot send a code right now; please contact us.",
        "code_sent": "The code is on its way; it is valid for 10 minutes.",
        "code_not_sent": "The code could not be sent right now; please try again later.",
        "too_many_codes": "Too many codes were sent; please try again later.",
        "wrong_code": "That code is wrong or has expired.",
        "paused": "Too many tries; please try again in 15 minutes.",
        "cannot_open": (
            "This link cannot be opened; it may have expired. We can send a new link to the "
            "contact details on file."
        ),
        "send_new_link": "Send me a new link",
        "new_link_sent": (
            "If this link was ours, a new one has been sent to the contact details on file."
        ),
        "too_many_links": "Too many requests; please try again later.",
        "open_again": "Please open the link we sent you again.",
        "signed_in": "Signed in: loan",
    },
}
DEFAULT_LOCALE = "zh-CN"


def words_for(locale: str) -> dict[str, str]:
    return WORDS.get(locale) or WORDS.get(locale.split("-")[0]) or WORDS[DEFAULT_LOCALE]


def browser_words(request: Request) -> dict[str, str]:
    """The browser's first language we have words in, else the default."""
    for part in request.headers.get("accept-language", "").split(","):
        tag = part.split(";")[0].strip()
        if tag.lower().startswith("en"):
            return WORDS["en"]
        if tag.lower().startswith("zh"):
            return WORDS["zh-CN"]
    return WORDS[DEFAULT_LOCALE]
