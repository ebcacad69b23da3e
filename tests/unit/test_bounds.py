"""Every input is bounded, and whatever passes (or is rejected) can be stored.

Issue 5, item 10: amounts within 2^53 - 1 minor units, ids 1-128 characters, notes and reasons
2,000, `paid_at` not in the future; the schema agrees on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain import fields
from domain.case import parse_case_input
from domain.messages import (
    parse_contact_outcome,
    parse_hold,
    parse_hold_release,
    parse_legal_event,
    parse_visit_outcome,
)
from domain.payments import PAID_AT_SKEW, parse_payment
from tests.helpers.bounds import AMOUNT_MAX, ID_128, payment, refused

NOW = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)
ID_129 = "p" * 129


def case_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "loan_id": "L-1001",
        "borrower": {"borrower_id": "B-77", "timezone": "Asia/Shanghai"},
        "currency": "CNY",
        "overdue_amount_minor": 500000,
        "due_date": "2026-11-01",
    }
    data.update(changes)
    return data


def borrower(**changes: Any) -> dict[str, Any]:
    return case_data(borrower={"borrower_id": "B-77", **changes})


# -- amounts ---------------------------------------------------------------------
def test_amount_max_is_the_largest_exact_javascript_integer() -> None:
    assert fields.AMOUNT_MAX == AMOUNT_MAX == 9007199254740991
    # 2^53 + 1 is where a double stops telling integers apart.
    assert float(AMOUNT_MAX) == AMOUNT_MAX and float(2**53 + 1) != 2**53 + 1


def test_amount_at_the_bound_is_accepted() -> None:
    assert parse_payment(payment(amount_minor=AMOUNT_MAX), case_currency="CNY").amount_minor == (
        AMOUNT_MAX
    )
    case = parse_case_input(case_data(overdue_amount_minor=AMOUNT_MAX), now=NOW)
    assert case.overdue_amount_minor == AMOUNT_MAX


@pytest.mark.parametrize("amount", [2**53, 10**23, 2**63, 2**64])
def test_amount_above_the_bound_is_refused(amount: int) -> None:
    error = refused(lambda: parse_payment(payment(amount_minor=amount), case_currency="CNY"))
    assert error.field == "amount_minor"
    assert error.problem == "must be at most 9007199254740991 minor units"
    error = refused(lambda: parse_case_input(case_data(overdue_amount_minor=amount), now=NOW))
    assert error.field == "overdue_amount_minor"
    assert "9007199254740991" in str(error)


@pytest.mark.parametrize("amount", [True, False, 1.0, 1e23, "100", None, 0, -1])
def test_amount_that_is_no_positive_integer_is_refused(amount: object) -> None:
    error = refused(lambda: parse_payment(payment(amount_minor=amount), case_currency="CNY"))
    assert error.field == "amount_minor"


# -- ids -------------------------------------------------------------------------
MESSAGE_PARSERS: list[tuple[str, Callable[[dict[str, Any]], object], dict[str, Any]]] = [
    ("payment_id", lambda raw: parse_payment(raw, case_currency="CNY"), payment()),
    ("hold_id", parse_hold, {"kind": "dispute", "reason": "says paid"}),
    ("hold_id", parse_hold_release, {}),
    ("attempt_id", parse_contact_outcome, {"outcome": "no_answer"}),
    ("visit_id", parse_visit_outcome, {"outcome": "not_home"}),
    ("event_id", parse_legal_event, {"event": "filed"}),
]


@pytest.mark.parametrize(("field", "parse", "base"), MESSAGE_PARSERS)
def test_every_message_id_is_1_to_128_characters(
    field: str, parse: Callable[[dict[str, Any]], object], base: dict[str, Any]
) -> None:
    parse({**base, field: ID_128})
    parse({**base, field: "x"})
    for bad in (ID_129, "", None, 7, ["P-1"]):
        assert refused(parse, {**base, field: bad}).field == field


def test_borrower_id_is_1_to_128_characters() -> None:
    assert parse_case_input(borrower(borrower_id=ID_128), now=NOW).borrower.borrower_id == ID_128
    for bad in (ID_129, "", None, 77):
        error = refused(parse_case_input, borrower(borrower_id=bad), now=NOW)
        assert error.field == "borrower.borrower_id"


@pytest.mark.parametrize("bad", ["P\x00-1", "P-\ud800"])
def test_text_no_database_can_hold_is_refused(bad: str) -> None:
    # NUL fails PostgreSQL text, an unpaired surrogate every UTF-8 encoder: such a value would
    # be accepted, then fail its recording activity on every retry.
    error = refused(lambda: parse_payment(payment(payment_id=bad), case_currency="CNY"))
    assert error.field == "payment_id"
    error = refused(
        lambda: parse_contact_outcome({"attempt_id": "a", "outcome": "reached", "note": bad})
    )
    assert error.field == "note"
    error = refused(lambda: parse_case_input(borrower(name=bad), now=NOW))
    assert error.field == "borrower.name"


# -- notes, reasons and other text -------------------------------------------------
NOTE_PARSERS: list[tuple[Callable[[dict[str, Any]], object], dict[str, Any]]] = [
    (parse_contact_outcome, {"attempt_id": "a-1", "outcome": "reached"}),
    (parse_visit_outcome, {"visit_id": "v-1", "outcome": "met"}),
    (parse_legal_event, {"event_id": "e-1", "event": "filed"}),
]


@pytest.mark.parametrize(("parse", "base"), NOTE_PARSERS)
def test_note_is_at_most_2000_characters(
    parse: Callable[[dict[str, Any]], object], base: dict[str, Any]
) -> None:
    assert fields.NOTE_MAX == 2000
    parse({**base, "note": "n" * 2000})
    parse(base)  # a note is optional
    error = refused(lambda: parse({**base, "note": "n" * 2001}))
    assert error.field == "note"
    assert error.problem == "must be at most 2000 characters"


def test_hold_reason_is_required_and_at_most_2000_characters() -> None:
    hold = {"hold_id": "h-1", "kind": "dispute"}
    assert parse_hold({**hold, "reason": "r" * 2000}).reason == "r" * 2000
    assert refused(lambda: parse_hold({**hold, "reason": "r" * 2001})).field == "reason"
    # The 1.9 MB reason the fault probe sent.
    assert refused(lambda: parse_hold({**hold, "reason": "r" * 1_900_000})).field == "reason"
    for missing in ({}, {"reason": ""}, {"reason": None}, {"reason": 5}):
        assert refused(parse_hold, {**hold, **missing}).field == "reason"


def test_payment_source_stays_at_most_64_characters() -> None:
    assert fields.SOURCE_MAX == 64
    parse_payment(payment(source="s" * 64), case_currency="CNY")
    error = refused(lambda: parse_payment(payment(source="s" * 65), case_currency="CNY"))
    assert error.field == "source"


@pytest.mark.parametrize(
    ("field", "limit"),
    [("name", 2000), ("address", 2000), ("email", 254)],
)
def test_borrower_free_text_is_bounded(field: str, limit: int) -> None:
    def value(length: int) -> str:
        if field != "email":
            return "x" * length
        return "x" * (length - len("@example.cn")) + "@example.cn"

    parse_case_input(borrower(**{field: value(limit)}), now=NOW)
    error = refused(lambda: parse_case_input(borrower(**{field: value(limit + 1)}), now=NOW))
    assert error.field == f"borrower.{field}"


def test_error_messages_do_not_echo_unbounded_input() -> None:
    # A rejection reason is stored and shown in `status`: it must stay short whatever was sent.
    huge = "C" * 100_000
    error = refused(lambda: parse_payment(payment(currency=huge), case_currency="CNY"))
    assert error.field == "currency" and len(str(error)) < 200
    error = refused(lambda: parse_case_input(borrower(timezone=huge), now=NOW))
    assert error.field == "borrower.timezone" and len(str(error)) < 200


# -- paid_at -----------------------------------------------------------------------
def test_paid_at_in_2099_is_refused_when_now_is_given() -> None:
    raw = payment(paid_at="2099-01-01T00:00:00+00:00")
    error = refused(lambda: parse_payment(raw, case_currency="CNY", now=NOW))
    assert error.field == "paid_at"
    assert error.problem.endswith("is in the future")
    # Without `now` (callers not yet passing it) only the fixed bounds apply.
    assert parse_payment(raw, case_currency="CNY").paid_at == "2099-01-01T00:00:00+00:00"


def test_paid_at_within_the_clock_skew_is_accepted() -> None:
    assert timedelta(minutes=5) == PAID_AT_SKEW
    for ahead in (timedelta(0), timedelta(minutes=1), PAID_AT_SKEW):
        paid_at = (NOW + ahead).isoformat()
        parsed = parse_payment(payment(paid_at=paid_at), case_currency="CNY", now=NOW)
        assert parsed.paid_at == paid_at
    late = (NOW + PAID_AT_SKEW + timedelta(seconds=1)).isoformat()
    error = refused(lambda: parse_payment(payment(paid_at=late), case_currency="CNY", now=NOW))
    assert error.field == "paid_at"


def test_paid_at_compares_across_timezones() -> None:
    # 12:01 in Shanghai is 04:01 UTC: one minute after NOW, within the skew.
    parse_payment(payment(paid_at="2026-11-28T12:01:00+08:00"), case_currency="CNY", now=NOW)
    # A naive paid_at is UTC: 12:01 UTC is eight hours ahead.
    error = refused(
        lambda: parse_payment(payment(paid_at="2026-11-28T12:01:00"), case_currency="CNY", now=NOW)
    )
    assert error.field == "paid_at"
    # A naive `now` is taken as UTC rather than failing the comparison.
    naive_now = NOW.replace(tzinfo=None)
    parse_payment(payment(paid_at=NOW.isoformat()), case_currency="CNY", now=naive_now)


@pytest.mark.parametrize(
    "paid_at",
    ["1999-12-31T23:59:59+00:00", "1026-11-28", "0001-01-01T00:00:00+05:00"],
)
def test_paid_at_before_2000_is_refused(paid_at: str) -> None:
    for now in (None, NOW):
        error = refused(parse_payment, payment(paid_at=paid_at), case_currency="CNY", now=now)
        assert error.field == "paid_at"
        assert "before 2000" in error.problem


def test_paid_at_that_cannot_be_expressed_in_utc_is_refused() -> None:
    raw = payment(paid_at="9999-12-31T23:59:59-05:00")
    assert refused(lambda: parse_payment(raw, case_currency="CNY")).field == "paid_at"
    assert refused(lambda: parse_payment(raw, case_currency="CNY", now=NOW)).field == "paid_at"


# -- storable_id ---------------------------------------------------------------------
@pytest.mark.parametrize("value", [None, 5, 1.5, True, ["P-1"], {"id": "P-1"}, ""])
def test_storable_id_of_no_string_is_none(value: object) -> None:
    assert fields.storable_id(value) is None


@pytest.mark.parametrize("value", ["P-1", ID_128, "付款-1", "😀" * 128])
def test_storable_id_keeps_an_id_within_the_bound(value: str) -> None:
    assert fields.storable_id(value) == value


def test_storable_id_shortens_an_absurd_id_stably_and_distinctly() -> None:
    absurd = "P" * 299 + "1"
    stored = fields.storable_id(absurd)
    assert stored is not None
    assert len(stored) <= fields.MESSAGE_ID_MAX
    assert stored == fields.storable_id(absurd)  # the same on every replay
    assert stored.startswith("P" * 100 + "…#")
    assert len(stored.split("…#")[1]) == 16
    # Ids that differ only past the kept head stay apart.
    assert fields.storable_id("P" * 299 + "2") != stored
    assert len(fields.storable_id(ID_129) or "") <= fields.MESSAGE_ID_MAX
    assert len(fields.storable_id("x" * 10_000_000) or "") <= fields.MESSAGE_ID_MAX


@pytest.mark.parametrize("value", ["P-\x00", "P-\ud800", "\ud800" * 300])
def test_storable_id_replaces_what_no_database_can_hold(value: str) -> None:
    stored = fields.storable_id(value)
    assert stored is not None and len(stored) <= fields.MESSAGE_ID_MAX
    assert "\x00" not in stored
    stored.encode("utf-8")  # no unpaired surrogate left
    assert stored == fields.storable_id(value)


def test_storable_ids_of_different_unstorable_ids_differ() -> None:
    # Both heads read "P-\ufffd"; the hash of the whole tells them apart.
    assert fields.storable_id("P-\x00") != fields.storable_id("P-\ud800")
