"""What a borrower's text reply asks for: to stop messages (opt out) or to receive them again.

The keywords are the carriers' and Twilio's standard ones plus the Chinese market's (退订, TD,
which every SMS of ours names). The whole reply must be the keyword, in any case, with
surrounding spaces and punctuation ignored: "stop" and "STOP!" opt out, "don't stop" does not.
"""

from __future__ import annotations

import unicodedata

OPT_OUT = "opt_out"
OPT_IN = "opt_in"
OPT_OUT_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "退订", "TD"}
)
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP"})
# Around the keyword: spaces and the punctuation a phone keyboard adds (NFKC folds full-width
# forms such as "ＳＴＯＰ" and "！" first).
_TRIM = " \t\r\n.,!?;:'\"。，！？；：、…~-"


def reply_intent(body: str) -> str | None:
    """OPT_OUT, OPT_IN, or None for any other reply."""
    word = unicodedata.normalize("NFKC", body).strip(_TRIM).upper()
    if word in OPT_OUT_KEYWORDS:
        return OPT_OUT
    if word in OPT_IN_KEYWORDS:
        return OPT_IN
    return None
