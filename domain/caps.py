"""May one more contact go out now? The contact window and every frequency cap of a policy,
as one pure function of plain data.

`check_contact` takes the borrower's earlier contacts as small frozen records, so the same
rules apply to one loan's own contacts (in `decide`) and to all of a borrower's contacts across
their loans (at send time, from the database). It answers `ALLOWED`, or `Deferred(until, rule)`:
the first moment every rule allows the contact, and the stable name of the rule that holds it
back.

Days are the borrower's local calendar days (the date their wall clock shows). A rule counting
"per day" or "in 7 days" counts the contacts whose local date falls on those days.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from domain.contact_rules import (
    SEARCH_DAYS,
    is_inside,
    local_day_ends,
    local_instant,
    next_contact_time,
    window_closes_at,
)
from domain.policy import WEEKDAYS, ContactWindow, Policy

# Stable rule names: what a deferral says held a contact back (audit logs, the README table).
CONTACT_WINDOW = "contact_window"
DAILY_CAP = "daily_cap"  # daily_cap.<channel>
ROLLING_7D = "rolling_7d"  # rolling_7d.<channel>
POST_CONVERSATION_QUIET = "post_conversation_quiet"
CONNECTED_CALLS_PER_DAY = "connected_calls_per_day"
UNANSWERED_CALLS_PER_NUMBER_PER_DAY = "unanswered_calls_per_number_per_day"
OPT_OUT_NOTICE = "opt_out_notice"
ANNUAL_CAP = "accrual.annual_cap"
FEES_NEED_AUTHORIZATION = "accrual.fees_need_authorization"
# Each deferral moves to a later day or window opening; a few per day is the most there can be.
_MAX_STEPS = SEARCH_DAYS * 8

# What counts against a cap: every contact made or being made, answered or not, except one
# that never reached the borrower: nobody could be contacted (no contact detail on record), a
# rule kept it from leaving (an opt-out, an undeliverable address), or the provider refused it
# for good. Results as the case records them (`Contact.result`).
REFUSED_FOR_GOOD = "failed"
NEVER_LEFT = frozenset({"skipped_no_contact", "blocked", REFUSED_FOR_GOOD})


def counts_against_caps(result: str | None) -> bool:
    """Whether a contact whose recorded result is `result` counts against the caps (a result
    not known yet counts: the contact may be on its way)."""
    return result not in NEVER_LEFT


@dataclass(frozen=True)
class EarlierContact:
    """One earlier contact with the borrower, on any of their loans."""

    channel: str
    # When it happened (a call task: when it was given to the agent; a visit: its booking).
    at: datetime
    # Calls only. True: somebody answered; False: it rang unanswered; None: not known yet. A
    # call not known yet counts as both: it may turn out either way.
    connected: bool | None = None
    # Calls only: the agent spoke with the borrower (Regulation F's "telephone conversation").
    conversation: bool = False
    # Calls only: the number dialled; None is the borrower's one number.
    number: str | None = None


@dataclass(frozen=True)
class Allowed:
    """The contact may go out now."""


ALLOWED = Allowed()


@dataclass(frozen=True)
class Deferred:
    """Not now: `until` is the first moment every rule allows it; `rule` holds it back now."""

    until: datetime
    rule: str


@dataclass(frozen=True)
class Rule:
    """One rule of a policy, with its figure in words (and, from the policy file, its source)."""

    name: str
    figure: str
    source: str = ""


def check_contact(
    channel: str,
    now: datetime,
    *,
    policy: Policy,
    timezone: str,
    contacts: Sequence[EarlierContact],
    number: str | None = None,
    margin: timedelta = timedelta(0),
) -> Allowed | Deferred:
    """May a contact on `channel` (a call: to `number`) go out at `now`?

    If not, `Deferred.rule` says why: the first cap that held the contact back, or
    `contact_window` when the window alone did (a contact due at night, under every cap).
    `margin`: the contact must start at least this long before its window closes, so that an
    attempt started last still ends inside the window.
    """
    candidate = now
    held_by: str | None = None
    for _ in range(_MAX_STEPS):
        held = _held_back(channel, candidate, policy, timezone, contacts, number, margin)
        if held is None:
            if held_by is None:
                return ALLOWED
            return Deferred(local_instant(candidate, ZoneInfo(timezone)), held_by)
        rule, until = held
        assert until > candidate, (rule, until, candidate)
        # The first cap met names the deferral; the window only if no cap held it at all.
        if held_by in (None, CONTACT_WINDOW):
            held_by = rule
        candidate = until
    raise ValueError("no contact allowed within a year: check the policy's window and caps")


def has_caps(policy: Policy, channel: str) -> bool:
    """Whether any cap of `policy` counts earlier contacts on `channel`. Without one,
    `check_contact` answers from the moment and the window alone, whatever the contacts: a
    caller need not read them (every read inside a send's reservation holds the writer)."""
    if channel in policy.daily_caps or channel in policy.rolling_caps_7d:
        return True
    return channel == "call" and (
        bool(policy.call_quiet_days_after_conversation)
        or policy.connected_calls_per_day is not None
        or policy.unanswered_calls_per_number_per_day is not None
    )


def _held_back(
    channel: str,
    moment: datetime,
    policy: Policy,
    timezone: str,
    contacts: Sequence[EarlierContact],
    number: str | None,
    margin: timedelta,
) -> tuple[str, datetime] | None:
    """The first rule that forbids the contact at `moment`, and the earliest moment after it
    that this rule could allow (the caller checks every rule again there)."""
    window = policy.contact_window
    if window is not None:
        if not is_inside(moment, timezone=timezone, window=window):
            return CONTACT_WINDOW, next_contact_time(moment, timezone=timezone, window=window)
        closing = window_closes_at(moment, timezone=timezone, window=window)
        if closing - moment <= margin:
            # Too late in this opening to start and still end inside it.
            return CONTACT_WINDOW, next_contact_time(closing, timezone=timezone, window=window)
    zone = ZoneInfo(timezone)
    today = moment.astimezone(zone).date()
    # Every cap counts days: one that holds the contact today holds it until the date changes.
    held = _held_today(channel, today, zone, policy, contacts, number)
    return None if held is None else (held, local_day_ends(moment, timezone=timezone))


def _held_today(
    channel: str,
    today: date,
    zone: ZoneInfo,
    policy: Policy,
    contacts: Sequence[EarlierContact],
    number: str | None,
) -> str | None:
    """The first cap that forbids one more contact on `channel` on the local day `today`."""
    on_channel = [c for c in contacts if c.channel == channel]

    def count_on(days: set[date], chosen: Sequence[EarlierContact]) -> int:
        return sum(1 for c in chosen if c.at.astimezone(zone).date() in days)

    cap = policy.daily_caps.get(channel)
    if cap is not None and count_on({today}, on_channel) >= cap:
        return f"{DAILY_CAP}.{channel}"
    cap = policy.rolling_caps_7d.get(channel)
    last_7_days = {today - timedelta(days=back) for back in range(7)}
    if cap is not None and count_on(last_7_days, on_channel) >= cap:
        return f"{ROLLING_7D}.{channel}"
    if channel != "call":
        return None
    quiet = policy.call_quiet_days_after_conversation
    if quiet and any(
        0 <= (today - c.at.astimezone(zone).date()).days < quiet
        for c in on_channel
        if c.conversation
    ):
        # The day of the conversation is the first of the quiet days.
        return POST_CONVERSATION_QUIET
    cap = policy.connected_calls_per_day
    if (
        cap is not None
        and count_on({today}, [c for c in on_channel if c.connected in (True, None)]) >= cap
    ):
        return CONNECTED_CALLS_PER_DAY
    cap = policy.unanswered_calls_per_number_per_day
    unanswered = [c for c in on_channel if c.connected in (False, None) and c.number == number]
    if cap is not None and count_on({today}, unanswered) >= cap:
        return UNANSWERED_CALLS_PER_NUMBER_PER_DAY
    return None


def policy_rules(policy: Policy) -> list[Rule]:
    """Every contact rule of `policy` with its figure, in a stable order: what the README's
    compliance table lists (the sources come from the policy file's `[sources]`)."""
    rules = []
    window = policy.contact_window
    if window is not None:
        rules.append(Rule(CONTACT_WINDOW, window_figure(window)))
    for channel, cap in policy.daily_caps.items():
        rules.append(Rule(f"{DAILY_CAP}.{channel}", f"at most {cap} a local day"))
    for channel, cap in policy.rolling_caps_7d.items():
        rules.append(
            Rule(
                f"{ROLLING_7D}.{channel}",
                f"at most {cap} in any 7 consecutive local days",
            )
        )
    if policy.call_quiet_days_after_conversation:
        rules.append(
            Rule(
                POST_CONVERSATION_QUIET,
                f"no call for {policy.call_quiet_days_after_conversation} local days from the day "
                "of a telephone conversation",
            )
        )
    if policy.connected_calls_per_day is not None:
        rules.append(
            Rule(
                CONNECTED_CALLS_PER_DAY,
                f"at most {policy.connected_calls_per_day} connected calls a local day",
            )
        )
    if policy.unanswered_calls_per_number_per_day is not None:
        rules.append(
            Rule(
                UNANSWERED_CALLS_PER_NUMBER_PER_DAY,
                f"at most {policy.unanswered_calls_per_number_per_day} unanswered calls a local "
                "day to one number",
            )
        )
    if policy.opt_out_notice:
        rules.append(Rule(OPT_OUT_NOTICE, "every SMS and email says how to opt out"))
    return rules + accrual_rules(policy)


def accrual_rules(policy: Policy) -> list[Rule]:
    accrual = policy.accrual
    rules = []
    if accrual.annual_cap_bps is not None:
        rules.append(
            Rule(
                ANNUAL_CAP,
                f"penalty plus interest at most {accrual.annual_cap_bps / 100:g}% a year of the "
                "principal, over the days past due",
            )
        )
    if accrual.fees_need_authorization:
        rules.append(
            Rule(FEES_NEED_AUTHORIZATION, "no penalty and no fee unless the loan contract says so")
        )
    return rules


def window_figure(window: ContactWindow) -> str:
    text = f"{clock_time(window.start_minute)}–{clock_time(window.end_minute)} local"
    for hours in window.weekdays:
        name = WEEKDAYS[hours.weekday]
        if hours.end_minute <= hours.start_minute:
            text += f"; {name} none"
        else:
            text += f"; {name} {clock_time(hours.start_minute)}–{clock_time(hours.end_minute)}"
    if window.holidays:
        text += f"; none on {len(window.holidays)} listed holidays"
    return text


def clock_time(minute: int) -> str:
    """Minutes after midnight as a wall clock shows them: 480 is `08:00`."""
    return f"{minute // 60:02d}:{minute % 60:02d}"
