"""Money is integer minor units plus an ISO-4217 code; this module only formats it."""

# Currencies whose minor unit is not 1/100; everything else has two decimals.
MINOR_UNIT_DIGITS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "BHD": 3, "KWD": 3}


def format_money(amount_minor: int, currency: str) -> str:
    """`format_money(500000, "CNY")` -> `"CNY 5,000.00"`."""
    digits = MINOR_UNIT_DIGITS.get(currency, 2)
    sign = "-" if amount_minor < 0 else ""
    whole, fraction = divmod(abs(amount_minor), 10**digits)
    text = f"{whole:,}"
    if digits:
        text += f".{fraction:0{digits}d}"
    return f"{currency} {sign}{text}"


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
