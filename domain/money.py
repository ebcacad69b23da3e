"""Money is integer minor units plus an ISO 4217 code: which codes are currencies, how many
digits their minor unit has, and how an amount is written.

The codes and their minor-unit exponents are ISO 4217's own table (the `iso4217` package
ships the maintenance agency's list), read once when this module is imported: workflow code
imports it passed through the sandbox, so the table is the same plain dictionary for every
run and no file is read while a case runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from iso4217 import Currency

from domain.errors import InvalidInput
from domain.fields import shown

# Funds, precious metals and the testing codes (XAU, XDR, XTS, ...) have no minor unit: no
# loan is owed in them, so they are not currencies here.
MINOR_UNIT_DIGITS: Mapping[str, int] = MappingProxyType(
    {currency.code: currency.exponent for currency in Currency if currency.exponent is not None}
)


def parse_currency(text: str, field: str = "currency") -> str:
    """`text` if it is an ISO 4217 currency code; raises `InvalidInput(field)` otherwise."""
    if text not in MINOR_UNIT_DIGITS:
        raise InvalidInput(
            field, f"must be an ISO 4217 currency code (e.g. CNY), not {shown(text)}"
        )
    return text


def _digits(amount_minor: int, currency: str) -> tuple[str, int, str]:
    """(sign, whole units, the minor digits after the point or "") in the currency's unit."""
    digits = MINOR_UNIT_DIGITS.get(currency, 2)
    whole, fraction = divmod(abs(amount_minor), 10**digits)
    return ("-" if amount_minor < 0 else ""), whole, (f"{fraction:0{digits}d}" if digits else "")


def format_money(amount_minor: int, currency: str) -> str:
    """`format_money(500000, "CNY")` -> `"CNY 5,000.00"`."""
    sign, whole, fraction = _digits(amount_minor, currency)
    return f"{currency} {sign}{whole:,}" + (f".{fraction}" if fraction else "")


def plain_amount(amount_minor: int, currency: str) -> str:
    """`500000, "CNY"` -> `"5000.00"`: a number a spreadsheet reads, in the currency's unit."""
    sign, whole, fraction = _digits(amount_minor, currency)
    return f"{sign}{whole}" + (f".{fraction}" if fraction else "")


# The symbol a reader of a language expects for a currency (CLDR's short symbols: a Chinese
# reader's "¥" is the yuan, an English reader's is the yen). A currency or language missing here
# is written with the currency's code, as `format_money` does.
CURRENCY_SYMBOLS: dict[str, dict[str, str]] = {
    "CNY": {"zh": "¥", "en": "CN¥"},
    "USD": {"zh": "US$", "en": "$"},
    "HKD": {"zh": "HK$", "en": "HK$"},
    "EUR": {"zh": "€", "en": "€"},
    "GBP": {"zh": "£", "en": "£"},
    "JPY": {"zh": "JP¥", "en": "¥"},
}


def format_amount(amount_minor: int, currency: str, locale: str) -> str:
    """An amount as a borrower reading `locale` writes it: `format_amount(500000, "CNY",
    "zh-CN")` -> `"¥5,000.00"`, `format_amount(120000, "USD", "en")` -> `"$1,200.00"`."""
    symbol = CURRENCY_SYMBOLS.get(currency, {}).get(locale.split("-")[0])
    if symbol is None:
        return format_money(amount_minor, currency)
    number = format_money(abs(amount_minor), currency).removeprefix(f"{currency} ")
    return f"{'-' if amount_minor < 0 else ''}{symbol}{number}"
