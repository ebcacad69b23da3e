"""The zones, days and moments the portfolio report's tests count in."""

from __future__ import annotations

from datetime import UTC, date, datetime

SHANGHAI = "Asia/Shanghai"


NEW_YORK = "America/New_York"


AS_OF_DAY = date(2026, 3, 31)


LATER = datetime(2026, 4, 10, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)
