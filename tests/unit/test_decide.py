"""`decide`: every timing rule of a case, without a Temporal server."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.case_records import Contact
from domain.case_state import CaseState
from domain.decide import contact_still_stands, decide
from domain.decisions import CaseSetup, Close, Complete, Lapse, RunStep, Skip, Wait
from domain.messages import HoldRelease, HoldRequest
from domain.payments import Payment
from policies import load_policy
from tests.helpers.domain_cases import shanghai_case

SHANGHAI = ZoneInfo("Asia/Shanghai")
DUE = date(2026, 3, 1)
OPENED = datetime(2026, 3, 1, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai, DPD 0


def new_case(policy_name: str = "default") -> tuple[CaseState, CaseSetup]:
    return shanghai_case(load_policy(policy_name), due=DUE, opened=OPENED)


def local(moment: datetime) -> datetime:
    return moment.astimezone(SHANGHAI)


def carry_out(state: CaseState, run: RunStep, now: datetime) -> None:
    state.begin_step(run.index, run.step.stage, run.skipped, run.days_past_due)
    state.finish_step(
        run.index,
        Contact(f"a{run.index}", run.step.channel, run.step.template, now.isoformat(), "sent", 0),
    )


def assert_lawful(state: CaseState, plan: CaseSetup, decision: RunStep, now: datetime) -> None:
    """A step may run only when the case is open, not on hold, and (for a contact) inside the
    borrower's contact window, with time left for the attempt to end inside it."""
    assert not state.on_hold and not state.closed
    window = plan.policy.contact_window
    if decision.step.channel != "legal" and window is not None:
        minute = local(now).hour * 60 + local(now).minute
        assert window.start_minute <= minute < window.end_minute
        assert decision.deadline is not None and decision.deadline > now


def walk(state: CaseState, plan: CaseSetup, start: datetime, until: datetime) -> list[RunStep]:
    """Follow the decisions as the workflow would, with no messages, up to `until`."""
    now, runs = start, []
    while now < until:
        decision = decide(state, plan, now)
        if isinstance(decision, RunStep):
            assert_lawful(state, plan, decision, now)
            runs.append(decision)
            carry_out(state, decision, now)
        elif isinstance(decision, Close):
            state.close(decision.status, now)
        elif isinstance(decision, Complete):
            break
        elif isinstance(decision, Lapse):
            state.lapse(decision)
        elif isinstance(decision, Skip):
            state.skip_step(decision.index, decision.why)
        else:
            # No messages here, so no call back to queue: the case waits.
            assert isinstance(decision, Wait) and decision.until > now, decision
            now = decision.until
    return runs


def test_a_new_case_sleeps_until_its_first_reminder_inside_the_window() -> None:
    state, plan = new_case()
    decision = decide(state, plan, OPENED)
    # Bucket M1 begins at DPD 1 (midnight); the first SMS is at DPD 3, at 08:00 local.
    assert isinstance(decision, Wait) and "bucket M1" in decision.reason
    state_at_dpd_2 = datetime(2026, 3, 3, 12, 0, tzinfo=SHANGHAI)
    decision = decide(state, plan, state_at_dpd_2)
    assert isinstance(decision, Wait)
    assert decision.until == datetime(2026, 3, 4, 8, 0, tzinfo=SHANGHAI)
    assert decision.reason.startswith("sms: reminder_friendly")


def test_a_due_step_runs_with_the_close_of_todays_window_as_deadline() -> None:
    state, plan = new_case()
    now = datetime(2026, 3, 4, 8, 0, tzinfo=SHANGHAI)
    decision = decide(state, plan, now)
    assert isinstance(decision, RunStep) and decision.step.channel == "sms"
    # The last attempt starts 30 s before the window closes, so it ends inside it.
    assert decision.deadline == datetime(2026, 3, 4, 20, 59, 30, tzinfo=SHANGHAI)
    assert decision.outstanding_minor == 500000


def test_a_step_due_at_night_waits_for_the_window_to_open() -> None:
    state, plan = new_case()
    night = datetime(2026, 3, 4, 23, 0, tzinfo=SHANGHAI)
    decision = decide(state, plan, night)
    assert isinstance(decision, Wait)
    assert decision.until == datetime(2026, 3, 5, 8, 0, tzinfo=SHANGHAI)


def test_too_late_in_the_window_or_after_an_unsent_attempt_waits_for_the_next_window() -> None:
    state, plan = new_case()
    next_morning = datetime(2026, 3, 5, 8, 0, tzinfo=SHANGHAI)
    last_seconds = datetime(2026, 3, 4, 20, 59, 45, tzinfo=SHANGHAI)
    decision = decide(state, plan, last_seconds)
    assert isinstance(decision, Wait) and decision.until == next_morning
    state.note_unsent("a0", "window closed", not_before=last_seconds)
    decision = decide(state, plan, datetime(2026, 3, 4, 20, 59, 50, tzinfo=SHANGHAI))
    assert isinstance(decision, Wait) and decision.until == next_morning


def test_a_late_case_runs_only_the_latest_due_step() -> None:
    state, plan = new_case()
    decision = decide(state, plan, datetime(2026, 3, 21, 10, 0, tzinfo=SHANGHAI))
    assert isinstance(decision, RunStep)
    assert decision.step.channel == "call" and decision.skipped == (0, 1, 2, 3)


def test_on_hold_nothing_runs_and_the_case_wakes_only_for_buckets_and_write_off() -> None:
    state, plan = new_case()
    state.place_hold(HoldRequest("h", "cease_contact", "asked to stop"), OPENED)
    moment = datetime(2026, 3, 10, 10, 0, tzinfo=SHANGHAI)
    decision = decide(state, plan, moment)
    assert isinstance(decision, Wait) and decision.reason.startswith("on hold")
    assert local(decision.until) == datetime(2026, 4, 1, 0, 0, tzinfo=SHANGHAI)  # M2 at DPD 31


def test_write_off_at_its_dpd_and_linger_until_completion() -> None:
    state, plan = new_case()
    write_off = datetime(2026, 3, 1, tzinfo=SHANGHAI) + timedelta(days=180)
    assert decide(state, plan, write_off) == Close("written_off")
    state.close("written_off", write_off)
    decision = decide(state, plan, write_off)
    assert isinstance(decision, Wait) and decision.until == write_off + timedelta(days=365)
    assert decide(state, plan, write_off + timedelta(days=365)) == Complete()


def test_a_paid_case_lingers_thirty_days() -> None:
    state, plan = new_case()
    state.take_payment(Payment("p", 500000, "CNY"), OPENED)
    decision = decide(state, plan, OPENED)
    assert isinstance(decision, Wait) and decision.until == OPENED + timedelta(days=30)


def test_the_whole_unpaid_ladder_wakes_a_few_dozen_times_not_daily() -> None:
    state, plan = new_case()
    wakes = 0
    now = OPENED
    while True:
        decision = decide(state, plan, now)
        if isinstance(decision, RunStep):
            carry_out(state, decision, now)
        elif isinstance(decision, Close):
            state.close(decision.status, now)
        elif isinstance(decision, Lapse):
            state.lapse(decision)
        elif isinstance(decision, Complete | Skip):
            break
        else:
            assert isinstance(decision, Wait), decision
            wakes += 1
            now = decision.until
    assert len(state.contacts) == len(plan.policy.ladder)
    assert wakes <= 20


def test_a_contact_stands_until_a_hold_a_payment_or_the_close() -> None:
    state, plan = new_case()
    run = decide(state, plan, datetime(2026, 3, 4, 9, 0, tzinfo=SHANGHAI))
    assert isinstance(run, RunStep)
    assert contact_still_stands(state, run)
    state.take_payment(Payment("p", 1000, "CNY"), OPENED)
    assert not contact_still_stands(state, run)  # the amount it states changed
    run = decide(state, plan, datetime(2026, 3, 4, 9, 0, tzinfo=SHANGHAI))
    assert isinstance(run, RunStep) and contact_still_stands(state, run)
    state.place_hold(HoldRequest("h", "dispute", "says paid"), OPENED)
    assert not contact_still_stands(state, run)


# -- properties over random messages and time ------------------------------------
message = st.one_of(
    st.tuples(st.just("wait"), st.integers(min_value=0, max_value=6 * 86400)),
    st.tuples(st.just("hold"), st.sampled_from(["h1", "h2"])),
    st.tuples(st.just("release"), st.sampled_from(["h1", "h2"])),
    st.tuples(st.just("pay"), st.integers(min_value=1, max_value=300000)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(message, max_size=60), st.sampled_from(["default", "demo"]))
def test_never_a_contact_on_hold_after_closing_or_outside_the_window(
    messages: list[tuple[str, object]], policy_name: str
) -> None:
    state, plan = new_case(policy_name)
    now = OPENED
    for number, (kind, value) in enumerate(messages):
        if kind == "wait":
            assert isinstance(value, int)
            later = now + timedelta(seconds=value * plan.policy.day_seconds / 86400)
            # Follow every decision up to `later`, as the loop does between messages.
            walk(state, plan, now, later)
            now = later
        elif kind == "hold" and not state.closed:
            state.place_hold(HoldRequest(str(value), "dispute", "r"), now)
        elif kind == "release" and value in state.holds:
            state.release_hold(HoldRelease(str(value)))
        elif kind == "pay":
            assert isinstance(value, int)
            state.take_payment(Payment(f"p{number}", value, "CNY"), now)
        decision = decide(state, plan, now)
        if isinstance(decision, RunStep):
            assert_lawful(state, plan, decision, now)
        elif isinstance(decision, Wait):
            assert decision.until > now
    # Daily caps hold for every channel on every local day.
    per_day: dict[tuple[str, date], int] = {}
    for contact in state.contacts:
        day = local(datetime.fromisoformat(contact.at)).date()
        per_day[(contact.channel, day)] = per_day.get((contact.channel, day), 0) + 1
    for (channel, _day), count in per_day.items():
        cap = plan.policy.daily_caps.get(channel)
        assert cap is None or count <= cap
