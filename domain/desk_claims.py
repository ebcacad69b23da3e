"""Claims on the collectors' desk: who is working a borrower right now.

Taking a call task claims its **borrower**, not just the task: a borrower with two overdue
loans has two tasks, and two agents must not call them at once. A claim lasts
`CLAIM_LENGTH` (15 minutes) from the moment it is taken; taking a task of the same borrower
again, or acting on it, renews it. Once it expires the borrower is free again, so a claim left
behind by an agent who walked away never blocks the queue for long.

Whether user U may take or act on a task of borrower B at `now`:

- nobody holds a live claim on B (none, or only expired ones): yes, and U's claim is recorded;
- U holds the live claim on B: yes, and the claim is renewed;
- another user holds a live claim on B: no, `ClaimRefused` says who and until when.

A refusal is an ordinary answer (the page shows it), not an error: the functions return it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

# How long a claim lasts from the moment it is taken or renewed: long enough for a call and
# its notes, short enough that an abandoned claim frees the borrower within the quarter hour.
CLAIM_MINUTES = 15
CLAIM_LENGTH = timedelta(minutes=CLAIM_MINUTES)


@dataclass(frozen=True)
class Claim:
    """One agent's claim on one borrower (what the desk records, one row per borrower)."""

    borrower_key: str  # the borrower's opaque id, never personal data
    holder: str  # the desk user's name
    attempt_id: str  # the call task taken when the claim was made or last renewed
    claimed_at: datetime
    expires_at: datetime

    def is_live(self, now: datetime) -> bool:
        """Whether the claim still holds at `now` (it ends at `expires_at`, exclusive). A claim
        stamped a little ahead of `now` (another server's clock) holds too."""
        return now < self.expires_at


@dataclass(frozen=True)
class ClaimRefused:
    """Another user is working the borrower: `holder` until `until`."""

    holder: str
    until: datetime

    @property
    def reason(self) -> str:
        until = self.until.astimezone(UTC)
        return f"{self.holder} is working this borrower until {until:%H:%M} UTC"


def claim_expires_at(claimed_at: datetime, length: timedelta = CLAIM_LENGTH) -> datetime:
    """When a claim taken (or renewed) at `claimed_at` expires."""
    return claimed_at + length


def live_claim(claims: Iterable[Claim], borrower_key: str, now: datetime) -> Claim | None:
    """The claim that holds `borrower_key` at `now`, if any. Should two live claims ever be
    recorded (a race the store's unique key prevents), the earlier one holds: it was first."""
    live = [c for c in claims if c.borrower_key == borrower_key and c.is_live(now)]
    return min(live, key=lambda c: (c.claimed_at, c.holder), default=None)


def refusal(
    user: str, borrower_key: str, claims: Iterable[Claim], now: datetime
) -> ClaimRefused | None:
    """Why `user` may not take or act on a task of `borrower_key` at `now`; None: they may
    (the borrower is free, or `user` holds the live claim)."""
    holding = live_claim(claims, borrower_key, now)
    if holding is None or holding.holder == user:
        return None
    return ClaimRefused(holding.holder, holding.expires_at)


def take(
    user: str,
    borrower_key: str,
    attempt_id: str,
    claims: Iterable[Claim],
    now: datetime,
    *,
    length: timedelta = CLAIM_LENGTH,
) -> Claim | ClaimRefused:
    """`user` takes the call task `attempt_id` of `borrower_key` at `now`: the claim to record
    (new, or `user`'s own renewed for `length` from now), or why not."""
    refused = refusal(user, borrower_key, claims, now)
    if refused is not None:
        return refused
    return Claim(borrower_key, user, attempt_id, now, claim_expires_at(now, length))


def release(claim: Claim, now: datetime) -> Claim:
    """The claim ended at `now` (the agent recorded the call's outcome or put the task back):
    the borrower is free for the next agent at once."""
    return replace(claim, expires_at=min(claim.expires_at, now))
