"""One payment id that two cases each receive: a bank's, shared by the loans it pays."""

from __future__ import annotations

PAYMENT_ID = "bank-1"


AMOUNT = 1_000_000  # 10,000.00 CNY each
