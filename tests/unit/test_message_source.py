"""Who sent a message (`source`): read by every parser of the messages people send, recorded in
the message's audit event only when given, kept with the commitments and holds it begins, and
part of the compared body without changing the fingerprint of a message that has none."""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from cli.adjust import adjustment_message
from cli.commitments import plan_message, promise_message, settlement_message
from domain.audit import AuditFact, AuditKind
from domain.callbacks import parse_callback
from domain.case import parse_case_input
from domain.case_core import fingerprint
from domain.case_state import CaseState
from domain.commitments import CommitmentRules, parse_plan, parse_promise, parse_settlement
from domain.debt import parse_adjustment
from domain.decisions import Lapse
from domain.errors import InvalidInput
from domain.fields import SOURCE_MAX
from domain.messages import (
    HoldRelease,
    Outcome,
    parse_contact_outcome,
    parse_hold,
    parse_hold_release,
    parse_legal_event,
    parse_visit_outcome,
)
from domain.payments import Payment

TODAY = date(2026, 3, 21)
NOW = datetime(2026, 3, 21, 4, 0, tzinfo=UTC)
RULES = CommitmentRules()
DUE = (TODAY + timedelta(days=5)).isoformat()
# Each parser with a message it takes, without a source.
MESSAGES: dict[str, tuple[Callable[[Any], Any], dict[str, Any]]] = {
    "contact outcome": (parse_contact_outcome, {"attempt_id": "a-1", "outcome": "reached"}),
    "visit outcome": (parse_visit_outcome, {"visit_id": "v-1", "outcome": "met"}),
    "legal event": (parse_legal_event, {"event_id": "e-1", "event": "filed"}),
    "promise": (parse_promise, {"promise_id": "pr-1", "amount_minor": 100, "due_date": DUE}),
    "plan": (
        parse_plan,
        {"plan_id": "pl-1", "installments": [{"due_date": DUE, "amount_minor": 100}]},
    ),
    "settlement": (
        parse_settlement,
        {"settlement_id": "s-1", "amount_minor": 100, "due_date": DUE},
    ),
    "hold": (parse_hold, {"hold_id": "h-1", "kind": "dispute", "reason": "says paid"}),
    "release": (parse_hold_release, {"hold_id": "h-1"}),
    "adjustment": (
        parse_adjustment,
        {"adjustment_id": "adj-1", "component": "fees", "amount_minor": -100},
    ),
    "call back": (parse_callback, {"request_id": "cb-1", "at": "2026-03-21T14:00:00+08:00"}),
}


@pytest.mark.parametrize("what", MESSAGES)
def test_every_message_people_send_may_name_its_source(what: str) -> None:
    parse, message = MESSAGES[what]
    assert parse(message).source is None
    assert parse({**message, "source": "agent1"}).source == "agent1"
    assert parse({**message, "source": "s" * SOURCE_MAX}).source == "s" * SOURCE_MAX
    with pytest.raises(InvalidInput) as too_long:
        parse({**message, "source": "s" * (SOURCE_MAX + 1)})
    assert too_long.value.field == "source"
    with pytest.raises(InvalidInput) as not_text:
        parse({**message, "source": 7})
    assert not_text.value.field == "source"


def test_a_message_without_a_source_keeps_the_fingerprint_it_had_before_sources() -> None:
    """The answers a case carries to its next run were fingerprinted before `source` existed:
    a message resent without one must still be the same message, not a conflict."""

    def digest(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    outcome = parse_contact_outcome({"attempt_id": "a-1", "outcome": "reached"})
    assert fingerprint(outcome) == digest("Outcome(ref_id='a-1', outcome='reached', note=None)")
    release = parse_hold_release({"hold_id": "h-1"})
    plan = parse_plan(MESSAGES["plan"][1])
    assert fingerprint(plan) == digest(
        "PlanRequest(plan_id='pl-1', installments=(InstallmentRequest("
        f"due_date={TODAY + timedelta(days=5)!r}, amount_minor=100),))"
    )
    # The payment's source was always part of it, given or not.
    assert fingerprint(Payment("p-1", 100, "CNY")) == digest(
        "Payment(payment_id='p-1', amount_minor=100, currency='CNY', paid_at=None, source=None)"
    )
    assert release == HoldRelease("h-1")
    with_source = parse_contact_outcome(
        {"attempt_id": "a-1", "outcome": "reached", "source": "agent1"}
    )
    assert fingerprint(with_source) != fingerprint(outcome)


def test_the_same_id_with_another_source_is_a_conflict_as_for_payments() -> None:
    state = new_case()
    taken = promise("agent1")
    first = state.take_promise(taken, RULES, TODAY)
    assert state.take_promise(taken, RULES, TODAY) == first
    for other in ("agent2", None):
        resent = promise(other)
        with pytest.raises(InvalidInput, match="already used"):
            state.take_promise(resent, RULES, TODAY)


def new_case() -> CaseState:
    """A case in its phone stage, 20 days past due."""
    case = {
        "loan_id": "L-1",
        "borrower": {"borrower_id": "B-1", "timezone": "Asia/Shanghai"},
        "currency": "CNY",
        "overdue_amount_minor": 500000,
        "due_date": (TODAY - timedelta(days=20)).isoformat(),
    }
    return CaseState(parse_case_input(case, now=NOW))


def promise(source: str | None = None) -> Any:
    return parse_promise({**MESSAGES["promise"][1], "source": source})


def events(state: CaseState, kind: AuditKind) -> list[AuditFact]:
    return [f for f in state.journal if isinstance(f, AuditFact) and f.kind == kind]


def test_a_promise_kept_or_broken_is_recorded_with_the_source_that_made_it() -> None:
    kept = new_case()
    kept.take_promise(promise("agent1"), RULES, TODAY)
    kept.take_payment(Payment("p-1", 100, "CNY", source="bank"), NOW)
    [made] = events(kept, AuditKind.PROMISE_MADE)
    assert made.detail == {"amount_minor": 100, "due_date": DUE, "source": "agent1"}
    # Kept for the agent who took the promise, whoever paid.
    assert [f.detail for f in events(kept, AuditKind.PROMISE_KEPT)] == [{"source": "agent1"}]

    broken = new_case()
    broken.take_promise(promise("agent1"), RULES, TODAY)
    broken.lapse(Lapse("promise"))
    assert [f.detail for f in events(broken, AuditKind.PROMISE_BROKEN)] == [
        {"shortfall_minor": 100, "source": "agent1"}
    ]
    view = broken.status_view(20)
    assert view["promise"]["source"] == "agent1"

    # Without a source, the events are what they always were.
    quiet = new_case()
    quiet.take_promise(promise(), RULES, TODAY)
    quiet.lapse(Lapse("promise"))
    assert [f.detail for f in events(quiet, AuditKind.PROMISE_BROKEN)] == [{"shortfall_minor": 100}]
    assert "source" not in events(quiet, AuditKind.PROMISE_MADE)[0].detail


def test_a_state_carried_from_before_sources_reads_with_none() -> None:
    state = new_case()
    state.take_promise(promise(), RULES, TODAY)
    state.place_hold(parse_hold(MESSAGES["hold"][1]), NOW)
    carried = state.carried()
    # What a case that ran before sources carried: the same, without the `source` keys.
    old = zlib.decompress(base64.b64decode(carried)).replace(b',"source":null', b"")
    assert b'"source"' not in old
    restored = CaseState.restored(base64.b64encode(zlib.compress(old)).decode("ascii"))
    assert restored.promise is not None and restored.promise.source is None
    assert restored.holds["h-1"].source is None


def test_outcomes_holds_and_adjustments_record_their_source_only_when_given() -> None:
    state = new_case()
    state.place_hold(parse_hold({**MESSAGES["hold"][1], "source": "agent1"}), NOW)
    state.release_hold(HoldRelease("h-1", source="agent2"))
    adjustment = {"adjustment_id": "adj-1", "component": "principal", "amount_minor": -100}
    state.take_adjustment(parse_adjustment({**adjustment, "source": "ops"}), NOW)
    assert events(state, AuditKind.HOLD_PLACED)[0].detail["source"] == "agent1"
    assert events(state, AuditKind.HOLD_RELEASED)[0].detail == {"source": "agent2"}
    assert events(state, AuditKind.BALANCE_ADJUSTED)[0].detail["source"] == "ops"
    assert Outcome("a-1", "reached").source is None


def test_the_command_line_messages_carry_the_source_when_given() -> None:
    assert "source" not in promise_message("pr-1", 100, DUE)
    assert promise_message("pr-1", 100, DUE, "agent1")["source"] == "agent1"
    assert settlement_message("s-1", 100, DUE, "agent1")["source"] == "agent1"
    plan = plan_message("pl-1", [f"{DUE}:100"], source="agent1")
    assert plan["source"] == "agent1"
    assert adjustment_message("adj-1", "fees", -100, None, "ops")["source"] == "ops"
    with pytest.raises(InvalidInput) as too_long:
        promise_message("pr-1", 100, DUE, "s" * (SOURCE_MAX + 1))
    assert too_long.value.field == "source"
