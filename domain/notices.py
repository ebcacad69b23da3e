"""What a notice to a borrower says, and how its text is filled in: pure rules, no files.

The texts are data, one file per template and locale (`templates/{locale}/{name}.toml`), read
and checked by the `templates` package with the rules here. Every text greets only the
borrower, by name, and states the amount (with its parts, where the debt has more than
principal), the days past due, every repayment channel and the lender's contact; SMS and
email carry opt-out instructions. Polite by construction: a text that names a threat or a
third party (`FORBIDDEN_WORDS`) does not load.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from domain.channels import CONTACT_CHANNELS
from domain.debt import COMPONENTS, Parts
from domain.errors import InvalidInput
from domain.money import format_amount

# Channels whose ladder step renders a text: every contact channel. The legal hand-off sends
# the evidence package, not a text.
TEXT_CHANNELS = CONTACT_CHANNELS
# Channels whose every message ends with how to opt out, and what goes before those words.
OPT_OUT_SEPARATORS = {"sms": " ", "email": "\n\n"}

PLACEHOLDERS = (
    "name",
    "loan_id",
    "dpd",
    "amount",
    "parts",
    "channels",
    "lender_name",
    "lender_contact",
    "link",
)
# `{link}` is the borrower's signed link to their own page (docs/portal.md): only a token, no
# personal data; empty where a text is rendered without one (a preview).
# `{parts}` is the debt by part where it has more than principal, and nothing where it has not:
# wherever a borrower reads (or hears) the amount, they read what it is made of.
REQUIRED_PLACEHOLDERS = ("name", "amount", "parts", "dpd", "channels", "lender_contact")
# A subject shows in inbox lists and on lock screens, where others may read it: no name, no
# amount.
SUBJECT_PLACEHOLDERS = ("lender_name", "loan_id")

# Words of threats and of people other than the borrower; none belongs in a notice. Matched
# case-insensitively anywhere in a text.
FORBIDDEN_WORDS = (
    "jail",
    "prison",
    "arrest",
    "police",
    "criminal",
    "family",
    "employer",
    "colleague",
    "neighbour",
    "neighbor",
    "坐牢",
    "监狱",
    "拘留",
    "逮捕",
    "公安",
    "警察",
    "刑事",
    "犯罪",
    "家人",
    "亲属",
    "亲友",
    "单位",
    "同事",
    "邻居",
    "通讯录",
)


@dataclass(frozen=True)
class NoticeFacts:
    loan_id: str
    borrower_name: str | None
    locale: str
    days_past_due: int
    outstanding_minor: int
    currency: str
    # The outstanding amount by part, as of the same decision; None: not known (a task
    # scheduled before debts had parts), and the notice states the amount alone.
    parts: Parts | None = None
    # The borrower's signed link (`{link}`), made at send time for this notice's attempt.
    link: str = ""


@dataclass(frozen=True)
class LenderProfile:
    """The lender as borrowers of one locale see it."""

    name: str
    contact: str
    repayment_channels: tuple[str, ...]


@dataclass(frozen=True)
class PartsWords:
    """How one locale lists the debt's parts after the amount: `text` around the list (its
    `{parts}`), `separator` between parts, and each part's name (component -> name)."""

    text: str
    separator: str
    names: Mapping[str, str]


@dataclass(frozen=True)
class LocaleWords:
    """What every template of one locale shares."""

    customer: str  # the greeting's name when the borrower's is unknown
    list_separator: str  # between repayment channels
    opt_out: Mapping[str, str]  # channel -> how to opt out of it
    parts: PartsWords


@dataclass(frozen=True)
class ChannelText:
    text: str
    subject: str | None = None


@dataclass(frozen=True)
class Notice:
    text: str
    subject: str | None = None

    def as_message(self) -> str:
        """One text for the outbox: an email's subject on the first line, then a blank line."""
        return self.text if self.subject is None else f"{self.subject}\n\n{self.text}"


def parse_template(data: Mapping[str, Any]) -> dict[str, ChannelText]:
    """A template: a table per channel it has a text for, `text` in each, `subject` in email's."""
    if not data:
        raise InvalidInput(
            "channels", f"no text; give a table per channel: {_listed(TEXT_CHANNELS)}"
        )
    texts: dict[str, ChannelText] = {}
    for channel, table in data.items():
        if channel not in TEXT_CHANNELS:
            raise InvalidInput(
                channel, f"not a channel with a text; one of {_listed(TEXT_CHANNELS)}"
            )
        keys = ("subject", "text") if channel == "email" else ("text",)
        if not isinstance(table, Mapping):
            raise InvalidInput(channel, f"must be a table of {_listed(keys)}")
        _no_unknown_keys(table, keys, channel)
        text = _template_text(
            table, "text", channel, allowed=PLACEHOLDERS, required=REQUIRED_PLACEHOLDERS
        )
        subject = None
        if channel == "email":
            subject = _template_text(
                table, "subject", channel, allowed=SUBJECT_PLACEHOLDERS, required=()
            )
        texts[channel] = ChannelText(text, subject)
    return texts


def parse_lender(data: Mapping[str, Any]) -> LenderProfile:
    keys = ("name", "contact", "repayment_channels")
    _no_unknown_keys(data, keys, "")
    channels = data.get("repayment_channels")
    if not isinstance(channels, list) or not channels:
        raise InvalidInput("repayment_channels", "must be a non-empty list of texts")
    return LenderProfile(
        name=_plain_text(data, "name", ""),
        contact=_plain_text(data, "contact", ""),
        repayment_channels=tuple(
            _plain_text({str(index): channel}, str(index), "repayment_channels")
            for index, channel in enumerate(channels)
        ),
    )


def parse_locale_words(data: Mapping[str, Any]) -> LocaleWords:
    _no_unknown_keys(data, ("customer", "list_separator", "opt_out", "parts"), "")
    opt_out = data.get("opt_out")
    if not isinstance(opt_out, Mapping):
        raise InvalidInput("opt_out", f"must be a table of {_listed(tuple(OPT_OUT_SEPARATORS))}")
    _no_unknown_keys(opt_out, tuple(OPT_OUT_SEPARATORS), "opt_out")
    return LocaleWords(
        customer=_plain_text(data, "customer", ""),
        list_separator=_separator(data, "list_separator", ""),
        opt_out={
            channel: _plain_text(opt_out, channel, "opt_out") for channel in OPT_OUT_SEPARATORS
        },
        parts=_parse_parts_words(data.get("parts")),
    )


def _parse_parts_words(table: Any) -> PartsWords:
    keys = ("text", "separator", *COMPONENTS)
    if not isinstance(table, Mapping):
        raise InvalidInput("parts", f"must be a table of {_listed(keys)}")
    _no_unknown_keys(table, keys, "parts")
    return PartsWords(
        text=_template_text(table, "text", "parts", allowed=("parts",), required=("parts",)),
        separator=_separator(table, "separator", "parts"),
        names={component: _plain_text(table, component, "parts") for component in COMPONENTS},
    )


def pick_locale(wanted: str, available: Sequence[str], default: str) -> str:
    """The borrower's locale if there are texts for it, else one of the same language
    (`en-US` reads `en`), else `default`."""
    if wanted in available:
        return wanted
    language = wanted.split("-")[0]
    return next((locale for locale in available if locale.split("-")[0] == language), default)


def compose_notice(
    texts: ChannelText,
    channel: str,
    facts: NoticeFacts,
    *,
    locale: str,
    lender: LenderProfile,
    words: LocaleWords,
    opt_out_notice: bool = True,
) -> Notice:
    """The text for one borrower, in `locale` (its texts, lender and words are that locale's).
    With `opt_out_notice`, an SMS or email ends with how to opt out of that channel."""
    values = {
        "name": facts.borrower_name or words.customer,
        "loan_id": facts.loan_id,
        "dpd": str(facts.days_past_due),
        "amount": format_amount(facts.outstanding_minor, facts.currency, locale),
        "parts": parts_text(facts, locale, words.parts),
        "channels": words.list_separator.join(lender.repayment_channels),
        "lender_name": lender.name,
        "lender_contact": lender.contact,
        "link": facts.link,
    }
    text = texts.text.format_map(values)
    if opt_out_notice and channel in OPT_OUT_SEPARATORS:
        text += OPT_OUT_SEPARATORS[channel] + words.opt_out[channel]
    subject = None if texts.subject is None else texts.subject.format_map(values)
    return Notice(text, subject)


def parts_text(facts: NoticeFacts, locale: str, words: PartsWords) -> str:
    """The parts that are not zero, in the contract's order (`，其中本金 ¥4,000.00、利息
    ¥500.00`), when the debt has more than principal; "" when it is all principal or its parts
    are not known. Only the parts owed: an SMS stays as short as the debt allows."""
    parts = facts.parts
    if parts is None or parts.total_minor == parts.principal_minor:
        return ""
    listed = words.separator.join(
        f"{words.names[component]} {format_amount(parts.of(component), facts.currency, locale)}"
        for component in COMPONENTS
        if parts.of(component)
    )
    return words.text.format_map({"parts": listed})


def _template_text(
    table: Mapping[str, Any],
    key: str,
    channel: str,
    *,
    allowed: Sequence[str],
    required: Sequence[str],
) -> str:
    path = f"{channel}.{key}"
    text = _plain_text(table, key, channel)
    names = _placeholders(text, path)
    for name in sorted(names):
        if name not in allowed:
            raise InvalidInput(path, f"unknown placeholder {{{name}}}; allowed: {_braced(allowed)}")
    for name in required:
        if name not in names:
            raise InvalidInput(
                path, f"must state {{{name}}}; every text states {_braced(required)}"
            )
    return text


def _placeholders(text: str, path: str) -> set[str]:
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as error:
        raise InvalidInput(
            path, f"malformed placeholder ({error}); write a brace as {{{{ or }}}}"
        ) from None
    names: set[str] = set()
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if not field.isidentifier() or spec or conversion:
            raise InvalidInput(
                path, f"placeholder {{{field}}} must be a plain name such as {{amount}}"
            )
        names.add(field)
    return names


def _plain_text(data: Mapping[str, Any], key: str, path: str) -> str:
    where = f"{path}.{key}" if path else key
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(where, "must be a non-empty string")
    folded = value.casefold()
    for word in FORBIDDEN_WORDS:
        if word in folded:
            raise InvalidInput(
                where,
                f"says {word!r}: a notice speaks only to the borrower and never threatens",
            )
    return value


def _separator(data: Mapping[str, Any], key: str, path: str) -> str:
    """A separator between listed items: any non-empty string (spaces count)."""
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{path}.{key}" if path else key, "must be a non-empty string")
    return value


def _no_unknown_keys(data: Mapping[str, Any], keys: Sequence[str], path: str) -> None:
    for key in data:
        if key not in keys:
            where = f"{path}.{key}" if path else str(key)
            raise InvalidInput(where, f"unknown key; expected {_listed(keys)}")


def _listed(names: Sequence[str]) -> str:
    return ", ".join(names)


def _braced(names: Sequence[str]) -> str:
    return ", ".join(f"{{{name}}}" for name in names)
