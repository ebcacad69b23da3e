"""The portfolio report: its rules over plain rows, then a real SQLite and PostgreSQL database
filled by the real bookkeeping activities, read by `starter.py report` in every format."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime
from fractions import Fraction
from typing import Any

import pytest

from cli import main as starter
from cli.console import UsageError
from cli.report_formats import report_csv, report_json, report_text
from cli.report_html import Bar, svg_bar_chart
from cli.report_reading import parse_as_of
from domain.audit import AuditKind
from domain.case import Borrower, CaseInput
from domain.case_state import CaseState
from domain.clock import BUCKET_STARTS, BUCKETS, bucket
from domain.commitments import CommitmentRules, parse_plan, parse_promise
from domain.debt import Parts
from domain.decisions import Lapse
from domain.money import plain_amount
from domain.payments import Payment
from domain.report import (
    COMMITMENT_KINDS,
    UNKNOWN_STAGE,
    AsOf,
    Ratio,
    ReportCase,
    ReportEvent,
    ReportPayment,
    bucket_days,
    build_report,
    case_position,
)
from tests.helpers.report_days import AS_OF_DAY, LATER, NEW_YORK, SHANGHAI, at


def case(case_id: str = "c-1", **changes: Any) -> ReportCase:
    base = ReportCase(
        case_id=case_id,
        currency="CNY",
        overdue_amount_minor=100_000,
        due_date=date(2026, 3, 1),
        timezone=SHANGHAI,
        stage="reminder",
        days_past_due=0,
        opened_at=at("2026-03-01T02:00:00+00:00"),
        updated_at=at("2026-03-01T02:00:00+00:00"),
        closed_at=None,
    )
    return replace(base, **changes)


# -- the rules, over plain rows ------------------------------------------------------------
def test_buckets_are_defined_once_and_each_starts_where_the_clock_says() -> None:
    assert BUCKET_STARTS == (("M0", 0), ("M1", 1), ("M2", 31), ("M3", 61), ("M4+", 91))
    assert [bucket(first_day) for _, first_day in BUCKET_STARTS] == list(BUCKETS)
    assert [bucket(first_day - 1) for _, first_day in BUCKET_STARTS[1:]] == list(BUCKETS[:-1])
    assert bucket_days("M1") == (1, 30) and bucket_days("M4+") == (91, None)


def test_the_commitment_kinds_are_those_the_case_journals() -> None:
    """Drive a real CaseState through kept and broken promises and a completed and a broken
    plan: the report counts exactly the kinds the case writes to its audit log."""
    now = datetime(2026, 3, 21, 4, 0, tzinfo=UTC)
    today = date(2026, 3, 21)
    rules = CommitmentRules()

    def new_state(loan_id: str) -> CaseState:
        return CaseState(
            CaseInput(
                loan_id=loan_id,
                borrower=Borrower(borrower_id="B-1", timezone=SHANGHAI),
                currency="CNY",
                overdue_amount_minor=500_000,
                due_date="2026-03-01",
            )
        )

    def promise(promise_id: str) -> Any:
        return parse_promise(
            {"promise_id": promise_id, "amount_minor": 100_000, "due_date": "2026-03-25"}
        )

    def plan(plan_id: str) -> Any:
        return parse_plan(
            {
                "plan_id": plan_id,
                "installments": [
                    {"due_date": "2026-03-30", "amount_minor": 250_000},
                    {"due_date": "2026-04-30", "amount_minor": 250_000},
                ],
            }
        )

    kinds: set[str] = set()
    promises = new_state("L-1")
    promises.take_promise(promise("pr-1"), rules, today)
    promises.take_payment(Payment("p-1", 100_000, "CNY"), now)
    promises.take_promise(promise("pr-2"), rules, today)
    promises.lapse(Lapse("promise"))
    completed = new_state("L-2")
    completed.take_plan(plan("pl-1"), rules, today)
    completed.take_payment(Payment("p-2", 500_000, "CNY"), now)
    broken = new_state("L-3")
    broken.take_plan(plan("pl-2"), rules, today)
    broken.lapse(Lapse("plan"))
    for state in (promises, completed, broken):
        kinds |= {fact.kind for fact in state.journal if hasattr(fact, "kind")}
    assert set(COMMITMENT_KINDS) <= kinds


def test_days_past_due_count_in_the_borrowers_timezone() -> None:
    # 2026-03-31 17:00 UTC is 04-01 01:00 in Shanghai and 03-31 13:00 in New York.
    now = AsOf(now=at("2026-03-31T17:00:00+00:00"))
    shanghai = case_position(case(), 0, now)
    new_york = case_position(case(timezone=NEW_YORK), 0, now)
    assert (shanghai.dpd_reached, shanghai.bucket) == (31, "M2")
    assert (new_york.dpd_reached, new_york.bucket) == (30, "M1")


def test_an_as_of_day_is_that_day_in_every_borrowers_calendar() -> None:
    as_of = AsOf(now=LATER, day=AS_OF_DAY)
    for timezone in (SHANGHAI, NEW_YORK, "Pacific/Kiritimati", "Pacific/Pago_Pago"):
        position = case_position(case(timezone=timezone), 0, as_of)
        assert position.dpd_reached == 30, timezone
    # The end of 03-31 in Shanghai is 03-31 16:00 UTC.
    assert as_of.includes(at("2026-03-31T15:59:59+00:00"), SHANGHAI)
    assert not as_of.includes(at("2026-03-31T16:00:00+00:00"), SHANGHAI)
    assert as_of.includes(at("2026-04-01T03:59:59+00:00"), NEW_YORK)


def test_dpd_stops_when_the_case_closes() -> None:
    closed = case(stage="closed", closed_at=at("2026-03-10T03:00:00+00:00"))
    position = case_position(closed, 100_000, AsOf(now=LATER))
    assert position.closed and position.stage == "closed"
    assert (position.dpd_reached, position.bucket, position.outstanding_minor) == (9, "M1", 0)


def test_a_fast_clock_counts_by_the_cases_own_snapshot() -> None:
    """A `demo` case counts days in seconds: its snapshot's DPD is ahead of the calendar."""
    demo = case(
        due_date=date(2026, 3, 28),
        opened_at=at("2026-03-28T02:00:00+00:00"),
        updated_at=at("2026-03-28T02:05:00+00:00"),
        stage="legal",
        days_past_due=95,
    )
    assert case_position(demo, 0, AsOf(now=LATER, day=AS_OF_DAY)).bucket == "M4+"
    # A report for a day before that snapshot cannot use it: the calendar counts, the stage
    # of that day is not on record.
    earlier = case_position(
        replace(demo, updated_at=at("2026-04-02T00:00:00+00:00")), 0, AsOf(LATER, AS_OF_DAY)
    )
    assert (earlier.dpd_reached, earlier.stage) == (3, UNKNOWN_STAGE)


def test_a_case_closed_after_the_as_of_day_was_open_on_it() -> None:
    later_closed = case(
        stage="closed",
        updated_at=at("2026-04-03T01:00:00+00:00"),
        closed_at=at("2026-04-03T01:00:00+00:00"),
        days_past_due=33,
    )
    position = case_position(later_closed, 0, AsOf(now=LATER, day=AS_OF_DAY))
    assert not position.closed
    assert (position.stage, position.dpd_reached, position.bucket) == (UNKNOWN_STAGE, 30, "M1")
    # Without --as-of everything recorded counts.
    assert case_position(later_closed, 0, AsOf(now=LATER)).stage == "closed"


def test_a_case_is_in_a_bucket_only_if_it_was_open_there() -> None:
    imported = case(due_date=date(2026, 1, 1), opened_at=at("2026-02-15T02:00:00+00:00"))
    position = case_position(imported, 0, AsOf(now=LATER, day=AS_OF_DAY))
    assert position.dpd_at_opening == 45 and position.dpd_reached == 89
    assert [name for name in BUCKETS if position.was_in(name)] == ["M2", "M3"]


def test_roll_rates_count_the_cases_that_were_in_a_bucket_and_reached_the_next() -> None:
    as_of = AsOf(now=LATER, day=AS_OF_DAY)
    report = build_report(
        [
            case("due-today", due_date=date(2026, 3, 31), opened_at=at("2026-03-31T01:00+00:00")),
            case("m0-to-m1", due_date=date(2026, 3, 30), opened_at=at("2026-03-30T01:00+00:00")),
            case("m1-to-m2", due_date=date(2026, 2, 20)),  # opened at DPD 9, now 39
            case("stays-m1", due_date=date(2026, 3, 2), opened_at=at("2026-03-03T01:00+00:00")),
            case("imported-m2", due_date=date(2026, 1, 10)),  # opened at DPD 50, now 80
        ],
        [],
        [],
        as_of,
    )
    rates = {(r.from_bucket, r.to_bucket): r.ratio for r in report.roll_rates}
    assert rates == {
        ("M0", "M1"): Ratio(1, 2),
        ("M1", "M2"): Ratio(1, 3),
        ("M2", "M3"): Ratio(1, 2),
        ("M3", "M4+"): Ratio(0, 1),
    }
    assert rates[("M3", "M4+")].value == 0


def test_a_rate_with_nothing_counted_is_none_not_an_error() -> None:
    report = build_report([case()], [], [], AsOf(now=LATER, day=AS_OF_DAY))
    assert report.promises.ratio == Ratio(0, 0) and report.promises.ratio.value is None
    assert report.plans.ratio.value is None
    assert [r.ratio.value for r in report.roll_rates][2:] == [None, None]
    empty = build_report([], [], [], AsOf(now=LATER))
    assert empty.cases == 0 and empty.cells == () and empty.currencies == ()
    assert report_text(empty).count("—") == 6
    assert "0 case(s)" in report_text(empty)


def test_money_is_summed_per_currency_never_across() -> None:
    report = build_report(
        [
            case("cny", overdue_amount_minor=500_000),
            case("usd", currency="USD", overdue_amount_minor=70_000),
        ],
        [
            ReportPayment("cny", 100_000, at("2026-03-05T00:00+00:00")),
            ReportPayment("usd", 7_000, at("2026-03-05T00:00+00:00")),
        ],
        [],
        AsOf(now=LATER, day=AS_OF_DAY),
    )
    totals = {t.currency: (t.overdue_minor, t.collected_minor) for t in report.currencies}
    assert totals == {"CNY": (500_000, 100_000), "USD": (70_000, 7_000)}
    assert [(c.currency, c.outstanding_minor) for c in report.cells] == [
        ("CNY", 400_000),
        ("USD", 63_000),
    ]
    assert report.cases_by("bucket") == {"M1": 2}


def test_penalty_and_adjustments_count_in_what_is_outstanding_by_the_as_of_day() -> None:
    events = [
        ReportEvent(
            "c-1",
            AuditKind.PENALTY_ACCRUED,
            "penalty:2026-03-10",
            at("2026-03-10T01:00+00:00"),
            900,
        ),
        ReportEvent(
            "c-1", AuditKind.BALANCE_ADJUSTED, "waive-1", at("2026-03-20T01:00+00:00"), -400
        ),
        # After the as-of day: not yet owed then.
        ReportEvent(
            "c-1",
            AuditKind.PENALTY_ACCRUED,
            "penalty:2026-04-05",
            at("2026-04-05T01:00+00:00"),
            300,
        ),
    ]
    payments = [ReportPayment("c-1", 10_000, at("2026-03-05T00:00+00:00"))]
    report = build_report([case()], payments, events, AsOf(now=LATER, day=AS_OF_DAY))
    assert [c.outstanding_minor for c in report.cells] == [100_000 + 900 - 400 - 10_000]
    (currency,) = report.currencies
    assert currency.collected_minor == 10_000


def test_payments_are_counted_by_part_and_one_without_an_allocation_paid_principal() -> None:
    report = build_report(
        [case("cny"), case("usd", currency="USD")],
        [
            ReportPayment(
                "cny", 40_000, at("2026-03-05T00:00+00:00"), Parts(10_000, 5_000, 20_000, 5_000)
            ),
            # Recorded before payments were allocated.
            ReportPayment("cny", 10_000, at("2026-03-06T00:00+00:00")),
            # After the report's day: not collected by then.
            ReportPayment("cny", 7_000, at("2026-04-02T00:00+00:00"), Parts(7_000)),
            ReportPayment("usd", 3_000, at("2026-03-05T00:00+00:00"), Parts(0, 0, 3_000)),
        ],
        [],
        AsOf(now=LATER, day=AS_OF_DAY),
    )
    cny, usd = report.currencies
    assert cny.parts.collected == Parts(20_000, 5_000, 20_000, 5_000)
    assert cny.parts.collected.total_minor == cny.collected_minor == 50_000
    assert usd.parts.collected == Parts(fees_minor=3_000)
    assert cny.parts.written_off_cases == 0 and cny.parts.charged_off == Parts()


def test_charged_off_is_what_a_written_off_case_owed_at_its_write_off() -> None:
    """The latest balance, which every payment after the write-off reduced, and those
    payments; recovered, those of them made by the report's moment."""
    closed = at("2026-03-10T02:00+00:00")

    def written_off(case_id: str, **changes: Any) -> ReportCase:
        return case(
            case_id, **{"status": "written_off", "stage": "closed", "closed_at": closed, **changes}
        )

    def paid(case_id: str, when: datetime, parts: Parts | None, applied: int = 0) -> ReportPayment:
        return ReportPayment(case_id, applied or (parts.total_minor if parts else 0), when, parts)

    report = build_report(
        [
            written_off("wo", outstanding_minor=60_000, balance=Parts(60_000)),
            # No balance recorded (written off before debts had parts): its outstanding amount,
            # as principal.
            written_off("old", outstanding_minor=25_000),
            # Written off after the report's day: open on it, nothing charged off.
            written_off("late", balance=Parts(9_000), closed_at=at("2026-04-03T00:00+00:00")),
            case("open", status="active", balance=Parts(1_000)),
        ],
        [
            # Paid before the write-off (in the closing batch itself, too): not a recovery.
            paid("wo", at("2026-03-01T00:00+00:00"), Parts(5_000, 1_000, 2_000, 2_000)),
            paid("wo", closed, Parts(1_000)),
            paid("wo", at("2026-03-20T00:00+00:00"), Parts(7_000, 0, 0, 3_000)),
            paid("wo", at("2026-04-05T00:00+00:00"), Parts(8_000)),
            paid("old", at("2026-03-21T00:00+00:00"), None, applied=5_000),
        ],
        [],
        AsOf(now=LATER, day=AS_OF_DAY),
    )
    (cny,) = report.currencies
    assert cny.parts.written_off_cases == 2
    assert cny.parts.charged_off == Parts(60_000 + 7_000 + 8_000 + 25_000 + 5_000, 0, 0, 3_000)
    assert cny.parts.recovered == Parts(7_000 + 5_000, 0, 0, 3_000)
    assert cny.parts.collected == Parts(6_000 + 7_000 + 5_000, 1_000, 2_000, 5_000)

    everything = build_report(
        [written_off("wo", balance=Parts(60_000))],
        [paid("wo", at("2026-04-05T00:00+00:00"), Parts(8_000))],
        [],
        AsOf(now=LATER),
    )
    assert everything.currencies[0].parts.recovered == Parts(8_000)
    assert everything.currencies[0].parts.charged_off == Parts(68_000)


def test_the_figures_by_part_in_text_json_and_csv() -> None:
    report = build_report(
        [case(status="written_off", closed_at=at("2026-03-10T02:00+00:00"), balance=Parts(500))],
        [ReportPayment("c-1", 1_500, at("2026-03-05T00:00+00:00"), Parts(1_000, 500))],
        [],
        AsOf(now=LATER, day=AS_OF_DAY),
    )
    (entry,) = report_json(report)["currencies"]
    # The contract's keys first, as they were; the figures by part beside them.
    assert list(entry)[:6] == [
        "currency",
        "cases",
        "overdue_minor",
        "outstanding_minor",
        "collected_minor",
        "recovery_rate",
    ]
    assert entry["collected_by_part"] == {
        "principal_minor": 1_000,
        "interest_minor": 500,
        "fees_minor": 0,
        "penalty_minor": 0,
    }
    assert (entry["written_off_cases"], entry["charged_off_minor"], entry["recovered_minor"]) == (
        1,
        500,
        0,
    )
    text = report_text(report)
    assert re.search(
        r"CNY\s+collected\s+CNY 10.00\s+CNY 5.00\s+CNY 0.00\s+CNY 0.00\s+CNY 15.00", text
    )
    assert re.search(r"CNY\s+charged off at write-off\s+CNY 5.00", text)
    lines = report_csv(report).splitlines()
    assert lines[0].endswith(",as_of,principal,interest,fees,penalty")
    assert lines[-3:] == [
        "collected_by_part,,,,CNY,,,,,,,,2026-03-31,10.00,5.00,0.00,0.00",
        "charged_off_by_part,,,,CNY,1,,,,,,,2026-03-31,5.00,0.00,0.00,0.00",
        "recovered_by_part,,,,CNY,,,,,,,,2026-03-31,0.00,0.00,0.00,0.00",
    ]


def test_commitments_are_counted_once_by_case_and_id_up_to_the_as_of_day() -> None:
    def event(kind: str, ref_id: str, when: str, case_id: str = "c-1") -> ReportEvent:
        return ReportEvent(case_id, kind, ref_id, at(when))

    report = build_report(
        [case(), case("c-2")],
        [],
        [
            event("promise_made", "pr-1", "2026-03-02T00:00+00:00"),
            event("promise_kept", "pr-1", "2026-03-03T00:00+00:00"),
            # The same promise id on another case is another promise.
            event("promise_made", "pr-1", "2026-03-02T00:00+00:00", "c-2"),
            event("promise_broken", "pr-1", "2026-03-05T00:00+00:00", "c-2"),
            event("promise_made", "pr-2", "2026-03-30T00:00+00:00"),
            # Kept after the report's day: still pending on it.
            event("promise_kept", "pr-2", "2026-04-02T00:00+00:00"),
            event("plan_agreed", "pl-1", "2026-03-02T00:00+00:00"),
            # A case not in the report (never opened by then) counts nothing.
            event("plan_completed", "pl-9", "2026-03-02T00:00+00:00", "gone"),
        ],
        AsOf(now=LATER, day=AS_OF_DAY),
    )
    assert (report.promises.made, report.promises.succeeded, report.promises.broken) == (3, 1, 1)
    assert report.promises.pending == 1 and report.promises.ratio.value == 0.5
    assert (report.plans.made, report.plans.pending, report.plans.ratio.value) == (1, 1, None)


def test_as_of_must_be_a_date_not_in_the_future() -> None:
    now = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
    assert parse_as_of("2026-03-31", now).day == AS_OF_DAY
    # Already 04-01 in Kiribati (UTC+14).
    assert parse_as_of("2026-04-01", now).day == date(2026, 4, 1)
    with pytest.raises(UsageError, match="--as-of: '31/03/2026' is not a date"):
        parse_as_of("31/03/2026", now)
    with pytest.raises(UsageError, match="--as-of: 2026-04-02 is in the future"):
        parse_as_of("2026-04-02", now)


def test_plain_amounts_use_the_currencys_minor_unit() -> None:
    assert plain_amount(500_000, "CNY") == "5000.00"
    assert plain_amount(5, "USD") == "0.05"
    assert plain_amount(1234, "JPY") == "1234"
    assert plain_amount(1234, "KWD") == "1.234"


def test_a_chart_escapes_its_text_and_draws_no_bar_for_no_rate() -> None:
    svg = svg_bar_chart(
        "<Roll>", [Bar("a&b", Fraction(1, 2), "50.0%"), Bar("none", None, "—")], full_scale=1
    )
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "&lt;Roll&gt;" in svg and "a&amp;b" in svg and "<Roll>" not in svg
    widths = re.findall(r'<rect [^>]*width="([0-9.]+)"', svg)
    assert widths == ["170.0", "0.0"]


# fmt: on


def test_report_help_exits_0(capsys: Any) -> None:
    with pytest.raises(SystemExit) as exit_:
        starter.build_parser().parse_args(["report", "--help"])
    assert exit_.value.code == 0
    assert "--as-of" in capsys.readouterr().out
