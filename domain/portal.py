"""The borrower's portal, its pure rules: the signed link, the one-time code and the limits.

A link is `{base}/p/{token}`: the token is 16 random bytes (the link's id, the key of its row)
followed by a short HMAC tag of that id. The tag lets a tampered or invented token be turned
away without telling it apart from an expired one, and the random id makes the token
unguessable; the row scopes it to one case and holds its expiry. Nothing personal is in it.

The second factor is a 6-digit code sent to the phone (else the email) on file: it lives 10
minutes, allows 5 tries, and after 5 wrong tries the link pauses. Codes and new links are
rate-limited per link (or case) and per client address, so neither can be used to flood a
borrower's phone or to guess codes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from base64 import urlsafe_b64decode, urlsafe_b64encode
from binascii import Error as Base64Error
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.errors import InvalidInput

LINK_ID_BYTES = 16
TAG_BYTES = 6  # 8 characters; the id carries the unguessability, the tag only the signature
LINK_ID_CHARS = 22  # 16 bytes, url-safe base64 without padding
TOKEN_CHARS = LINK_ID_CHARS + 8
TOKEN_SHAPE = re.compile(rf"[A-Za-z0-9_-]{{{TOKEN_CHARS}}}")
DEFAULT_LINK_DAYS = 30
MAX_LINK_DAYS = 365

CODE_DIGITS = 6
CODE_LIFETIME = timedelta(minutes=10)
CODE_TRIES = 5
# After the last wrong try: long enough that guessing a million codes 5 at a time is hopeless.
CODE_PAUSE = timedelta(minutes=15)
# Codes sent per link in an hour, and from one client address (a script walking links).
CODES_PER_LINK_PER_HOUR = 5
CODES_PER_CLIENT_PER_HOUR = 20
# New links sent to a case's contact details per day, and requested from one address per hour.
LINK_REQUESTS_PER_CASE_PER_DAY = 3
LINK_REQUESTS_PER_CLIENT_PER_HOUR = 10
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

# Rate-limit events (`portal_events.kind`).
CODE_SENT = "code_sent"
LINK_REQUESTED = "link_requested"
LINK_OPENED = "link_opened"
CODE_WRONG = "code_wrong"
SIGNED_IN = "signed_in"

# The templates (outbox `contact_attempts.template`) of the portal's own messages: transactional,
# asked for by the borrower, so they are no collection contact and count against no cap.
CODE_TEMPLATE = "portal_code"
LINK_TEMPLATE = "portal_link"
TRANSACTIONAL_TEMPLATES = frozenset({CODE_TEMPLATE, LINK_TEMPLATE})

# What the portal's messages say, per locale; no name, no amount, no loan.
MESSAGES = {
    "zh-CN": {
        CODE_TEMPLATE: "您的验证码：{code}，10分钟内有效。请勿告诉他人。",
        LINK_TEMPLATE: "您申请的新链接：{link}",
    },
    "en": {
        CODE_TEMPLATE: "Your code: {code}. It expires in 10 minutes. Do not share it.",
        LINK_TEMPLATE: "Your new link, as you asked: {link}",
    },
}
DEFAULT_MESSAGE_LOCALE = "zh-CN"


def is_transactional(template: str) -> bool:
    """Whether an outbox row with this template is one of the portal's own messages."""
    return template in TRANSACTIONAL_TEMPLATES


def new_link_id() -> str:
    return urlsafe_b64encode(secrets.token_bytes(LINK_ID_BYTES)).decode().rstrip("=")


def _tag(secret: str, link_id: str) -> str:
    digest = hmac.new(secret.encode(), b"portal-link:" + link_id.encode(), hashlib.sha256)
    return urlsafe_b64encode(digest.digest()[:TAG_BYTES]).decode()


def token_of(secret: str, link_id: str) -> str:
    """The token of a link (its id and tag): the same id gives the same token."""
    return link_id + _tag(secret, link_id)


def link_id_of(secret: str, token: str) -> str | None:
    """The link's id if `token` is well formed and signed with `secret`, else None. The tag is
    compared in constant time, so timing does not tell how much of a forged tag was right."""
    if not TOKEN_SHAPE.fullmatch(token):
        return None
    link_id, tag = token[:LINK_ID_CHARS], token[LINK_ID_CHARS:]
    try:
        if len(urlsafe_b64decode(link_id + "==")) != LINK_ID_BYTES:
            return None
    except (Base64Error, ValueError):
        return None
    # A changed last character may decode to the same bytes; the id must be the canonical one.
    if urlsafe_b64encode(urlsafe_b64decode(link_id + "==")).decode().rstrip("=") != link_id:
        return None
    return link_id if hmac.compare_digest(tag, _tag(secret, link_id)) else None


def link_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/p/{token}"


def link_expiry(created: datetime, link_days: int) -> datetime:
    return created + timedelta(days=link_days)


def parse_link_days(raw: object) -> int:
    """The policy's `[portal]` table (`link_days`), validated; absent → the default."""
    if raw is None:
        return DEFAULT_LINK_DAYS
    if not isinstance(raw, dict):
        raise InvalidInput("portal", "must be a table with link_days")
    unknown = sorted(set(raw) - {"link_days"})
    if unknown:
        raise InvalidInput(f"portal.{unknown[0]}", "unknown key; expected link_days")
    days = raw.get("link_days", DEFAULT_LINK_DAYS)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_LINK_DAYS:
        raise InvalidInput("portal.link_days", f"must be a whole number of days, 1-{MAX_LINK_DAYS}")
    return days


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def code_hash(secret: str, link_id: str, code: str) -> str:
    """What is kept of a code: keyed by the secret and the link, so a read of the table gives
    neither the code nor a way to test a guess offline without the secret."""
    message = f"portal-code:{link_id}:{code}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def code_matches(secret: str, link_id: str, code: str, kept_hash: str) -> bool:
    given = code.strip()
    if not given.isdigit() or len(given) != CODE_DIGITS:
        return False
    return hmac.compare_digest(code_hash(secret, link_id, given), kept_hash)


@dataclass(frozen=True)
class CodeState:
    """The latest code of a link, as the rules need it."""

    sent_at: datetime
    tries: int
    used: bool


def code_usable(code: CodeState, now: datetime) -> bool:
    return not code.used and code.tries < CODE_TRIES and now < code.sent_at + CODE_LIFETIME


def paused_until(wrong_tries: list[datetime]) -> datetime | None:
    """After `CODE_TRIES` wrong tries within a pause's length, the link pauses from the last
    one: `wrong_tries` are the wrong tries' times, oldest first."""
    if len(wrong_tries) < CODE_TRIES:
        return None
    recent = wrong_tries[-CODE_TRIES:]
    if recent[-1] - recent[0] > CODE_PAUSE:
        return None
    return recent[-1] + CODE_PAUSE


def within_limit(times: list[datetime], limit: int, window: timedelta, now: datetime) -> bool:
    """Whether one more event is allowed, given the earlier events' times."""
    return sum(1 for at in times if at > now - window) < limit


def masked_phone(phone: str) -> str:
    """The last 4 digits, so the borrower knows where the code goes and nobody else learns it."""
    digits = [c for c in phone if c.isdigit()]
    return "•••• " + "".join(digits[-4:])


def masked_email(email: str) -> str:
    name, _, domain = email.partition("@")
    return f"{name[:1]}•••@{domain}" if domain else "•••"


def message_text(template: str, locale: str, **values: str) -> str:
    words = MESSAGES.get(locale) or MESSAGES.get(locale.split("-")[0])
    return (words or MESSAGES[DEFAULT_MESSAGE_LOCALE])[template].format_map(values)
