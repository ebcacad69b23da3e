"""The experiment report's rules over plain rows (buckets entered and reached, arms kept
apart) and its formats: text, JSON, CSV and the HTML page."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from xml.etree import ElementTree

import pytest

from cli.experiment_formats import experiment_csv, experiment_json, experiment_text
from cli.experiment_html import experiment_html
from domain.experiment_report import (
    ExperimentCase,
    ExperimentReport,
    build_experiment_report,
    case_outcome,
)
from domain.report import ReportCase
from domain.strategy_figures import UnitCosts

NOW = datetime(2026, 4, 30, 12, tzinfo=UTC)  # 20:00 in Shanghai
SHANGHAI = "Asia/Shanghai"
COSTS = UnitCosts(
    {"CNY": {"sms": 5, "email": 1, "letter": 500, "call": 400, "field_visit": 20000, "legal": 0}}
)


def case(
    case_id: str,
    due: str,
    opened: str,
    *,
    arm: str = "champion",
    status: str = "active",
    closed: str | None = None,
    collected: int = 0,
    contacts: dict[str, int] | None = None,
    amount: int = 100_000,
) -> ExperimentCase:
    opened_at = datetime.fromisoformat(opened)
    closed_at = datetime.fromisoformat(closed) if closed else None
    return ExperimentCase(
        case=ReportCase(
            case_id=case_id,
            currency="CNY",
            overdue_amount_minor=amount,
            due_date=date.fromisoformat(due),
            timezone=SHANGHAI,
            stage="closed" if closed else "reminder",
            days_past_due=0,
            opened_at=opened_at,
            updated_at=closed_at or opened_at,
            closed_at=closed_at,
            status=status,
            outstanding_minor=amount - collected,
        ),
        loan_id=f"L-{case_id}",
        policy="default" if arm == "champion" else "firm",
        arm=arm,
        collected_minor=collected,
        contacts=contacts or {},
    )


def test_buckets_entered_and_reached_are_counted_from_days_past_due() -> None:
    # Opened at DPD 1 on 03-02, DPD 60 now: entered M1 and reached M2.
    rolled = case_outcome(case("a", "2026-03-01", "2026-03-02T01:00+00:00"), NOW)
    assert (rolled.entered_m1, rolled.reached_m2) == (True, True)
    # Opened at DPD 1 on 04-21, DPD 10 now.
    young = case_outcome(case("b", "2026-04-20", "2026-04-21T01:00+00:00"), NOW)
    assert (young.entered_m1, young.reached_m2) == (True, False)
    # Opened at DPD 42: in M2 without ever being in M1 while open.
    late = case_outcome(case("c", "2026-02-01", "2026-03-15T01:00+00:00"), NOW)
    assert (late.entered_m1, late.reached_m2) == (False, True)
    # Paid on 03-20 at DPD 19: its DPD stopped there.
    paid = case(
        "d",
        "2026-03-01",
        "2026-03-02T01:00+00:00",
        status="paid",
        closed="2026-03-20T01:00+00:00",
        collected=100_000,
    )
    assert (case_outcome(paid, NOW).entered_m1, case_outcome(paid, NOW).reached_m2) == (True, False)
    # Opened on its due date (DPD 0), DPD 1 now in Shanghai.
    today = case_outcome(case("e", "2026-04-29", "2026-04-29T01:00+00:00"), NOW)
    assert (today.entered_m1, today.reached_m2) == (True, False)


def sample_report() -> ExperimentReport:
    cases = [
        case("a", "2026-03-01", "2026-03-02T01:00+00:00", collected=20_000, contacts={"sms": 3}),
        case("b", "2026-04-20", "2026-04-21T01:00+00:00", collected=50_000, contacts={"sms": 1}),
        case(
            "d",
            "2026-03-01",
            "2026-03-02T01:00+00:00",
            status="paid",
            closed="2026-03-20T01:00+00:00",
            collected=100_000,
            contacts={"sms": 2, "call": 1},
        ),
        case(
            "x",
            "2026-03-01",
            "2026-03-02T01:00+00:00",
            arm="challenger",
            status="paid",
            closed="2026-03-10T01:00+00:00",
            collected=100_000,
            contacts={"sms": 1},
        ),
        case(
            "y",
            "2026-03-01",
            "2026-03-02T01:00+00:00",
            arm="challenger",
            collected=80_000,
            contacts={"sms": 2, "call": 2},
        ),
    ]
    return build_experiment_report("firm-early", cases, COSTS, NOW)


def test_each_arm_has_its_own_figures_and_the_two_are_compared() -> None:
    report = sample_report()
    champion, challenger = report.champion, report.challenger
    assert (champion.policies, challenger.policies) == (("default",), ("firm",))
    assert (champion.figures.cases, challenger.figures.cases, report.cases) == (3, 2, 5)
    assert champion.figures.recovery_rate.value == pytest.approx(170_000 / 300_000)
    assert challenger.figures.recovery_rate.value == pytest.approx(0.9)
    assert champion.figures.cure_rate.count == 1
    # a rolled to M2; b and d did not.
    assert (champion.figures.roll_rate_m1_m2.count, champion.figures.roll_rate_m1_m2.of) == (1, 3)
    assert report.comparison.difference.value == pytest.approx(0.9 - 170_000 / 300_000)
    assert report.comparison.p_value is not None and 0 < report.comparison.p_value < 1


def test_the_report_as_text_json_csv_and_html() -> None:
    report = sample_report()
    text = experiment_text(report)
    assert "Experiment firm-early as of 2026-04-30T12:00:00+00:00: 5 case(s)" in text
    assert "champion (default)" in text and "challenger (firm)" in text
    assert "CNY 1,700.00 of CNY 3,000.00" in text
    assert "33.3% (6.1%–79.2%): 1 of 3" in text  # the champion's cure rate, Wilson
    assert "p = " in text and "two-sided z-test" in text

    data = json.loads(json.dumps(experiment_json(report)))
    arm = data["arms"]["champion"]
    assert data["experiment"] == "firm-early" and data["cases"] == 5
    assert arm["policies"] == ["default"]
    assert arm["recovery_rate"] == 0.5667
    assert arm["contacts"] == {
        "sms": 6,
        "email": 0,
        "letter": 0,
        "call": 1,
        "field_visit": 0,
        "legal": 0,
    }
    assert arm["contacts_per_case"] == pytest.approx(7 / 3, abs=1e-4)
    assert arm["cure_rate_ci95"] == [0.0615, 0.7923]
    # Costs: 6 SMS at 5 fen and a call at 400 fen, for 1,700 yuan collected.
    assert arm["currencies"][0]["contact_cost_minor"] == 430
    assert arm["cost_per_unit_collected"] == pytest.approx(430 / 170_000, rel=1e-3)
    assert (arm["entered_m1"], arm["reached_m2"]) == (3, 1)
    assert data["comparison"]["currencies"] == ["CNY"]
    assert 0 < data["comparison"]["p_value"] < 1

    rows = list(csv.DictReader(io.StringIO(experiment_csv(report))))
    recovery = [r for r in rows if r["figure"] == "recovery_rate" and r["currency"] == "CNY"]
    assert [(r["arm"], r["numerator"], r["denominator"], r["value"]) for r in recovery] == [
        ("champion", "1700.00", "3000.00", "0.5667"),
        ("challenger", "1800.00", "2000.00", "0.9"),
    ]
    assert rows[-1]["figure"] == "p_value" and float(rows[-1]["value"]) > 0
    assert {r["experiment"] for r in rows} == {"firm-early"}

    page = experiment_html(report)
    assert "<script" not in page
    assert "Experiment firm-early as of 2026-04-30T12:00:00+00:00" in page
    # Every chart is well-formed SVG.
    for svg in page.split("<svg")[1:]:
        ElementTree.fromstring("<svg" + svg.split("</svg>")[0] + "</svg>")


def test_an_arm_without_cases_yet_has_no_rates_and_no_comparison() -> None:
    only_champion = [
        case("a", "2026-03-01", "2026-03-02T01:00+00:00", collected=20_000),
        case("b", "2026-04-20", "2026-04-21T01:00+00:00", collected=50_000),
    ]
    report = build_experiment_report("firm-early", only_champion, COSTS, NOW)
    assert report.challenger.figures.cases == 0 and report.challenger.policies == ()
    assert report.comparison.p_value is None
    text = experiment_text(report)
    assert "no comparison" in text
    assert "challenger" in text and "challenger (" not in text
    data = experiment_json(report)
    assert data["arms"]["challenger"]["recovery_rate"] is None
    assert data["comparison"]["p_value"] is None
    assert "<svg" in experiment_html(report)
