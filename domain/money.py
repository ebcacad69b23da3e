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
