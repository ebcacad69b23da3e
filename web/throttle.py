"""Slowing down guessed passwords: after too many failures in a window, sign-in answers 429
without checking the password (argon2 costs CPU on purpose, so checking every guess would hand
an attacker a lever on the server).

Failures count per user name (one account guessed from many addresses) and per client address
(many accounts guessed from one address). The address limit is higher: an office behind one
address holds many users who mistype.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from web.desk_store import DeskStore

WINDOW = timedelta(minutes=15)
FAILURES_PER_USER = 5
FAILURES_PER_CLIENT = 20


@dataclass(frozen=True)
class Throttle:
    window: timedelta = WINDOW
    per_user: int = FAILURES_PER_USER
    per_client: int = FAILURES_PER_CLIENT

    def retry_after(self, desk: DeskStore, user_name: str, client: str, now: datetime) -> int:
        """Seconds to wait before the next attempt may be checked; 0: check it now."""
        since = now - self.window
        waits = [
            self._wait(desk.failure_times(since=since, user_name=user_name), self.per_user, now),
            self._wait(desk.failure_times(since=since, client=client), self.per_client, now),
        ]
        return max(waits)

    def _wait(self, times: list[datetime], limit: int, now: datetime) -> int:
        if len(times) < limit:
            return 0
        # The attempt may be checked once enough of the oldest failures have left the window.
        freed_at = times[len(times) - limit] + self.window
        return max(0, math.ceil((freed_at - now).total_seconds()))

    def fail(self, desk: DeskStore, user_name: str, client: str, now: datetime) -> None:
        desk.record_failure(user_name, client, at=now, keep=self.window)
