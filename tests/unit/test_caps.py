"""Contact caps as a pure function of plain data: each rule, their combination against a
minute-by-minute scan, and their use by `decide` for a single case."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.caps import ALLOWED, Deferred, EarlierContact, check_contact, has_caps
from domain.case import parse_case_input
from domain.case_records import Contact
from domain.case_state import CaseState
from domain.clock import case_clock
from domain.decide import decide
from domain.decisions import CaseSetup, RunStep, Wait
from domain.policy import ContactWindow, Policy
from policies import load_policy
from tests.helpers.contact_windows import first_whole_minute_after, inside, moments, windows

NEW_YORK = ZoneInfo("America/New_York")
SHANGHAI = ZoneInfo("Asia/Shanghai")
WINDOW = ContactWindow(8 * 60, 21 * 60)
# No caps at all: each test adds the ones it is about.
BARE = replace(load_policy("default"), daily_caps={}, contact_window=WINDOW, opt_out_notice=True)


def ny(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in New York in December 2026 (2026-12-02 is a Wednesday)."""
    return datetime(2026, 12, day, hour, minute, tzinfo=NEW_YORK)


def call(
    at: datetime,
    *,
    connected: bool | None = True,
    conversation: bool = False,
    number: str | None = None,
) -> EarlierContact:
    return EarlierContact("call", at, connected=connected, conversation=conversation, number=number)


def check(
    channel: str,
    now: datetime,
    contacts: Sequence[EarlierContact],
    policy: Policy = BARE,
    number: str | None = None,
    margin: timedelta = timedelta(0),
) -> object:
    return check_contact(
        channel,
        now,
        policy=policy,
        timezone="America/New_York",
        contacts=contacts,
        number=number,
        margin=margin,
    )


def test_inside_the_window_and_under_every_cap_a_contact_is_allowed() -> None:
    assert check("sms", ny(2, 12), []) is ALLOWED


def test_outside_the_window_it_waits_for_the_opening() -> None:
    assert check("sms", ny(2, 21, 30), []) == Deferred(ny(3, 8), "contact_window")
    assert check("sms", ny(3, 7, 59), []) == Deferred(ny(3, 8), "contact_window")


def test_a_contact_too_close_to_the_closing_waits_for_the_next_opening() -> None:
    late = ny(2, 20, 59) + timedelta(seconds=40)
    assert check("sms", late, [], margin=timedelta(seconds=30)) == Deferred(
        ny(3, 8), "contact_window"
    )
    assert check("sms", late, [], margin=timedelta(seconds=10)) is ALLOWED


def test_the_daily_cap_counts_the_borrowers_local_day_not_utcs() -> None:
    policy = replace(BARE, daily_caps={"sms": 1})
    # 08:00 New York is 13:00 UTC on the 2nd; 20:00 is 01:00 UTC on the 3rd: the same local day.
    assert check("sms", ny(2, 20), [EarlierContact("sms", ny(2, 8))], policy) == Deferred(
        ny(3, 8), "daily_cap.sms"
    )
    # Yesterday evening (the same UTC day as this morning) does not count today.
    assert check("sms", ny(3, 8), [EarlierContact("sms", ny(2, 20))], policy) is ALLOWED
    # Other channels do not count.
    assert check("sms", ny(2, 20), [EarlierContact("email", ny(2, 8))], policy) is ALLOWED


def test_the_rolling_cap_counts_seven_consecutive_local_days() -> None:
    policy = replace(BARE, rolling_caps_7d={"call": 7})
    # Seven calls on days 1..6 (two on the 1st): on the 7th an eighth would be the 8th in 7 days.
    calls = [call(ny(1, 9)), call(ny(1, 10))] + [call(ny(day, 9)) for day in range(2, 7)]
    assert check("call", ny(7, 12), calls, policy) == Deferred(ny(8, 8), "rolling_7d.call")
    # Six in the period: a seventh is allowed.
    assert check("call", ny(7, 12), calls[1:], policy) is ALLOWED
    # The 1st is outside the seven days ending on the 8th.
    assert check("call", ny(8, 8), calls, policy) is ALLOWED


def test_no_call_for_seven_days_from_a_conversation_its_day_the_first() -> None:
    policy = replace(BARE, call_quiet_days_after_conversation=7)
    talked = [call(ny(1, 20), conversation=True)]
    # The 1st is day 1, the 7th is day 7: the first call may be on the 8th, at the opening.
    assert check("call", ny(7, 12), talked, policy) == Deferred(ny(8, 8), "post_conversation_quiet")
    assert check("call", ny(8, 8), talked, policy) is ALLOWED
    # Answered by someone else (a wrong number) or unanswered: no conversation, no quiet.
    assert check("call", ny(2, 12), [call(ny(1, 20))], policy) is ALLOWED
    # The quiet is about calls: an SMS may go out.
    assert check("sms", ny(2, 12), talked, policy) is ALLOWED


def test_connected_calls_a_day_count_calls_not_yet_known() -> None:
    policy = replace(BARE, connected_calls_per_day=3)
    three = [call(ny(2, hour)) for hour in (9, 10, 11)]
    assert check("call", ny(2, 12), three, policy) == Deferred(ny(3, 8), "connected_calls_per_day")
    # A call whose outcome is not known yet may have connected: it counts.
    pending = [*three[:2], call(ny(2, 11), connected=None)]
    assert check("call", ny(2, 12), pending, policy) == Deferred(
        ny(3, 8), "connected_calls_per_day"
    )
    # Unanswered calls are not connected ones.
    unanswered = [*three[:2], *(call(ny(2, 11), connected=False) for _ in range(4))]
    assert check("call", ny(2, 12), unanswered, policy) is ALLOWED


def test_unanswered_calls_a_day_are_counted_per_number() -> None:
    policy = replace(BARE, unanswered_calls_per_number_per_day=6)
    six = [call(ny(2, 9), connected=False, number="+12025550100") for _ in range(6)]
    assert check("call", ny(2, 12), six, policy, number="+12025550100") == Deferred(
        ny(3, 8), "unanswered_calls_per_number_per_day"
    )
    assert check("call", ny(2, 12), six, policy, number="+12025550199") is ALLOWED
    assert check("call", ny(2, 12), six[:5], policy, number="+12025550100") is ALLOWED
    # Without numbers, every call goes to the borrower's one number.
    unnumbered = [call(ny(2, 9), connected=False) for _ in range(6)]
    assert check("call", ny(2, 12), unnumbered, policy) == Deferred(
        ny(3, 8), "unanswered_calls_per_number_per_day"
    )


def test_field_visits_at_most_once_a_day() -> None:
    policy = replace(BARE, daily_caps={"field_visit": 1})
    visited = [EarlierContact("field_visit", ny(2, 10))]
    assert check("field_visit", ny(2, 15), visited, policy) == Deferred(
        ny(3, 8), "daily_cap.field_visit"
    )
    assert check("sms", ny(2, 15), visited, policy) is ALLOWED


def test_the_rule_named_is_the_first_cap_met_or_else_the_window() -> None:
    policy = replace(
        BARE, daily_caps={"call": 1}, call_quiet_days_after_conversation=3, rolling_caps_7d={}
    )
    talked = [call(ny(2, 9), conversation=True)]
    # At noon the daily cap holds it; the quiet days then hold it to the 5th, 08:00.
    assert check("call", ny(2, 12), talked, policy) == Deferred(ny(5, 8), "daily_cap.call")
    # At night the window holds it first, but the quiet days are why it waits to the 5th.
    assert check("call", ny(2, 22), talked, policy) == Deferred(ny(5, 8), "post_conversation_quiet")
    # At night with nothing but the window in the way, the window is named.
    assert check("call", ny(5, 22), talked, policy) == Deferred(ny(6, 8), "contact_window")


def test_without_a_window_only_the_caps_hold_a_contact() -> None:
    policy = replace(BARE, contact_window=None, daily_caps={"sms": 1})
    assert check("sms", ny(2, 23, 30), [], policy) is ALLOWED
    assert check("sms", ny(2, 23, 30), [EarlierContact("sms", ny(2, 1))], policy) == Deferred(
        ny(3, 0), "daily_cap.sms"
    )


def test_a_deferral_across_the_fall_back_ends_at_the_next_local_midnight() -> None:
    # New York 2026-11-01 lasts 25 hours: the next day starts at 05:00 UTC on the 2nd.
    policy = replace(BARE, contact_window=None, daily_caps={"sms": 1})
    sent = [EarlierContact("sms", datetime(2026, 11, 1, 0, 30, tzinfo=NEW_YORK))]
    verdict = check("sms", datetime(2026, 11, 1, 23, 0, tzinfo=NEW_YORK), sent, policy)
    assert verdict == Deferred(datetime(2026, 11, 2, 5, 0, tzinfo=UTC), "daily_cap.sms")


# -- the combination against a minute-by-minute scan ---------------------------
RULE_ORDER = (
    "contact_window",
    "daily_cap",
    "rolling_7d",
    "post_conversation_quiet",
    "connected_calls_per_day",
    "unanswered_calls_per_number_per_day",
)
NUMBERS = (None, "+861380000001", "+861380000002")


def holding_rules(
    channel: str,
    moment: datetime,
    zone: ZoneInfo,
    policy: Policy,
    contacts: Sequence[EarlierContact],
    number: str | None,
) -> list[str]:
    """Every rule that forbids the contact at `moment`, from the rules' definitions."""
    held = []
    window = policy.contact_window
    if window is not None and not inside(moment, zone, window):
        held.append("contact_window")
    today = moment.astimezone(zone).date()

    def day_of(contact: EarlierContact) -> date:
        return contact.at.astimezone(zone).date()

    mine = [c for c in contacts if c.channel == channel]
    cap = policy.daily_caps.get(channel)
    if cap is not None and sum(day_of(c) == today for c in mine) >= cap:
        held.append("daily_cap")
    cap = policy.rolling_caps_7d.get(channel)
    if cap is not None and sum(0 <= (today - day_of(c)).days <= 6 for c in mine) >= cap:
        held.append("rolling_7d")
    if channel == "call":
        quiet = policy.call_quiet_days_after_conversation
        if any(c.conversation and 0 <= (today - day_of(c)).days < quiet for c in mine):
            held.append("post_conversation_quiet")
        cap = policy.connected_calls_per_day
        connected = [c for c in mine if c.connected is not False and day_of(c) == today]
        if cap is not None and len(connected) >= cap:
            held.append("connected_calls_per_day")
        cap = policy.unanswered_calls_per_number_per_day
        unanswered = [
            c for c in mine if c.connected is not True and c.number == number and day_of(c) == today
        ]
        if cap is not None and len(unanswered) >= cap:
            held.append("unanswered_calls_per_number_per_day")
    return held


@st.composite
def earlier_contacts(draw: st.DrawFn, now: datetime) -> list[EarlierContact]:
    contacts = []
    for _ in range(draw(st.integers(0, 12))):
        channel = draw(st.sampled_from(("sms", "call")))
        at = now - timedelta(minutes=draw(st.integers(0, 9 * 24 * 60)))
        connected = draw(st.sampled_from((True, False, None)))
        contacts.append(
            EarlierContact(
                channel,
                at,
                connected=connected,
                conversation=connected is True and draw(st.booleans()),
                number=draw(st.sampled_from(NUMBERS)),
            )
        )
    return contacts


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    def cap(upto: int) -> st.SearchStrategy[int | None]:
        return st.one_of(st.none(), st.integers(1, upto))

    def channel_caps(upto: int) -> dict[str, int]:
        caps = {channel: draw(cap(upto)) for channel in ("sms", "call")}
        return {channel: value for channel, value in caps.items() if value is not None}

    return replace(
        BARE,
        contact_window=draw(st.one_of(st.none(), windows())),
        daily_caps=channel_caps(3),
        rolling_caps_7d=channel_caps(8),
        call_quiet_days_after_conversation=draw(st.integers(0, 8)),
        connected_calls_per_day=draw(cap(3)),
        unanswered_calls_per_number_per_day=draw(cap(3)),
    )


HORIZON = timedelta(days=12)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_check_contact_is_the_first_moment_every_rule_allows(data: st.DataObject) -> None:
    name, now = data.draw(moments())
    zone = ZoneInfo(name)
    policy = data.draw(policies())
    contacts = data.draw(earlier_contacts(now))
    channel = data.draw(st.sampled_from(("sms", "call")))
    number = data.draw(st.sampled_from(NUMBERS))
    verdict = check_contact(
        channel, now, policy=policy, timezone=name, contacts=contacts, number=number
    )

    def held(moment: datetime) -> list[str]:
        return holding_rules(channel, moment, zone, policy, contacts, number)

    if verdict is ALLOWED:
        assert held(now) == []
        return
    assert isinstance(verdict, Deferred)
    assert verdict.until > now and held(verdict.until) == []
    # Nothing earlier is allowed: every whole minute up to it is held by some rule. The rule
    # named is the first cap holding the contact at the first moment the window is open, or
    # the window if no cap holds it then.
    window = policy.contact_window
    first_open = now if window is None or inside(now, zone, window) else None
    probe = first_whole_minute_after(now)
    verdicts_by_day: dict[tuple[date, bool], bool] = {}
    while probe < min(verdict.until, now + HORIZON):
        window_open = window is None or inside(probe, zone, window)
        key = (probe.astimezone(zone).date(), window_open)
        if key not in verdicts_by_day:
            verdicts_by_day[key] = bool(held(probe))
        assert verdicts_by_day[key], probe
        if first_open is None and window_open:
            first_open = probe
        probe += timedelta(minutes=1)
    caps_then = [rule for rule in held(first_open or verdict.until) if rule != "contact_window"]
    assert verdict.rule.split(".")[0] == (caps_then[0] if caps_then else "contact_window")


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_a_policy_without_caps_on_a_channel_answers_alike_whatever_the_contacts(
    data: st.DataObject,
) -> None:
    # What lets a send's reservation skip reading the borrower's contacts (`has_caps`).
    name, now = data.draw(moments())
    policy = data.draw(policies())
    channel = data.draw(st.sampled_from(("sms", "call", "email")))
    contacts = data.draw(earlier_contacts(now))
    number = data.draw(st.sampled_from(NUMBERS))

    def verdict(earlier: Sequence[EarlierContact]) -> object:
        return check_contact(
            channel, now, policy=policy, timezone=name, contacts=earlier, number=number
        )

    if not has_caps(policy, channel):
        assert verdict(contacts) == verdict(())


def test_has_caps_names_the_channels_a_policy_counts() -> None:
    assert not has_caps(BARE, "sms") and not has_caps(BARE, "call")
    assert has_caps(replace(BARE, daily_caps={"sms": 1}), "sms")
    assert not has_caps(replace(BARE, daily_caps={"sms": 1}), "email")
    assert has_caps(replace(BARE, rolling_caps_7d={"email": 2}), "email")
    assert has_caps(replace(BARE, call_quiet_days_after_conversation=7), "call")
    assert not has_caps(replace(BARE, call_quiet_days_after_conversation=7), "sms")
    assert has_caps(replace(BARE, connected_calls_per_day=3), "call")
    assert has_caps(replace(BARE, unanswered_calls_per_number_per_day=3), "call")
    assert not has_caps(load_policy("demo"), "sms")
    assert has_caps(load_policy("default"), "sms")


# -- a single case obeys the caps ----------------------------------------------
def test_a_single_case_obeys_a_rolling_cap_and_the_wait_names_the_rule() -> None:
    policy = replace(load_policy("us-reg-f"), rolling_caps_7d={"email": 1})
    due = date(2026, 3, 1)
    opened = datetime(2026, 3, 1, 14, 0, tzinfo=UTC)
    case = parse_case_input(
        {
            "loan_id": "L-1",
            "borrower": {"borrower_id": "B-1", "timezone": "America/New_York"},
            "currency": "USD",
            "overdue_amount_minor": 50000,
            "due_date": due.isoformat(),
            "policy": "us-reg-f",
        },
        now=opened,
    )
    plan = CaseSetup(
        policy=policy,
        timezone="America/New_York",
        clock=case_clock(due, "America/New_York", opened, policy.day_seconds),
    )
    state = CaseState(case)
    email_days: list[date] = []
    held_reason = ""
    now = opened
    while len(email_days) < 2:
        decision = decide(state, plan, now)
        if isinstance(decision, RunStep):
            if decision.step.channel == "email":
                email_days.append(now.astimezone(NEW_YORK).date())
            state.begin_step(decision.index, decision.step.stage, decision.skipped, 0)
            state.finish_step(
                decision.index,
                Contact(
                    f"a{decision.index}", decision.step.channel, "t", now.isoformat(), "sent", 0
                ),
            )
            continue
        assert isinstance(decision, Wait)
        if "rolling_7d.email" in decision.reason:
            held_reason = decision.reason
        now = decision.until
    # The ladder's emails at DPD 5 and 10 (five days apart) go out seven days apart, the
    # second at the window's opening; the wait said why.
    assert email_days == [date(2026, 3, 6), date(2026, 3, 13)]
    assert held_reason == "email: reminder_firm · DPD 10 · rolling_7d.email"
    assert now == datetime(2026, 3, 13, 8, 0, tzinfo=NEW_YORK)
