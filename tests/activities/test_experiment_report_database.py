"""`starter.py report --experiment` over a hand-made case database (SQLite and PostgreSQL):
cases opened by the real `prepare_case`, paid and closed by the real `store_case_records`,
their arms set as routing sets them, their contacts in the outbox; every figure checked
against values worked out by hand below."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from activities.case_activities import CollectionActivities
from activities.notify import WebhookNotifier
from activities.store import Store
from cli import main as starter
from cli.experiment_formats import experiment_json
from cli.experiment_reading import load_experiment_report
from cli.report_reading import ReportError
from domain.channels import CHANNELS
from domain.estimates import Z_95, two_sided_p_value
from domain.portal import CODE_TEMPLATE
from domain.strategy_figures import parse_unit_costs
from migrations.tables import CaseRow, ContactAttemptRow
from runtime import settings
from tests.helpers.report_cases import Batch, database_url, prepare_case
from tests.helpers.report_days import NEW_YORK, SHANGHAI

NOW = datetime(2026, 4, 10, 12, tzinfo=UTC)
EXPERIMENT = "firm-early"
COSTS = {
    "CNY": {
        "sms": 10,
        "email": 2,
        "letter": 300,
        "call": 500,
        "field_visit": 10_000,
        "legal": 100_000,
    },
    "USD": {"sms": 1, "email": 1, "letter": 50, "call": 200, "field_visit": 5_000, "legal": 30_000},
}
# fmt: off
# The experiment's cases, as of 2026-04-10 (DPD counted in the borrower's calendar):
#   champion (default)
#     c1  CNY 1,000 due 03-01, opened at DPD 1, paid in full 03-10 (DPD 9)
#     c2  CNY 2,000 due 02-01, opened at DPD 1, paid 500, open: DPD 68 now (rolled to M2)
#     c3  CNY 500 due 2025-09-01, opened at DPD 1, written off 2026-02-28 (DPD 180)
#   challenger (cn-online-lending)
#     d1  CNY 1,000 due 03-01, opened at DPD 1, paid in full 03-05 (DPD 4)
#     d2  CNY 1,000 due 03-01, opened at DPD 1, paid 800, in a plan: DPD 40 now (rolled)
#     d3  USD 600 due 03-20 (New York), opened at DPD 1, settled for 400 on 03-30 (DPD 10)
#   o1  another experiment; n1 in none
CASES = (
    # case id, currency, amount, due date, timezone, opened at, policy, experiment, arm
    ("c1", "CNY", 100_000, "2026-03-01", SHANGHAI, "2026-03-02T02:00Z", "default", EXPERIMENT,
     "champion"),
    ("c2", "CNY", 200_000, "2026-02-01", SHANGHAI, "2026-02-02T02:00Z", "default", EXPERIMENT,
     "champion"),
    ("c3", "CNY", 50_000, "2025-09-01", SHANGHAI, "2025-09-02T02:00Z", "default", EXPERIMENT,
     "champion"),
    ("d1", "CNY", 100_000, "2026-03-01", SHANGHAI, "2026-03-02T02:00Z", "cn-online-lending",
     EXPERIMENT, "challenger"),
    ("d2", "CNY", 100_000, "2026-03-01", SHANGHAI, "2026-03-02T02:00Z", "cn-online-lending",
     EXPERIMENT, "challenger"),
    ("d3", "USD", 60_000, "2026-03-20", NEW_YORK, "2026-03-21T14:00Z", "cn-online-lending",
     EXPERIMENT, "challenger"),
    ("o1", "CNY", 70_000, "2026-03-01", SHANGHAI, "2026-03-02T02:00Z", "default", "other",
     "challenger"),
    ("n1", "CNY", 90_000, "2026-03-01", SHANGHAI, "2026-03-02T02:00Z", "default", None, None),
)
BATCHES = (
    Batch("c1", "2026-03-10T02:00Z", (("p-c1", 100_000),),
          snapshot=("closed", "paid", 9, 0, 100_000)),
    Batch("c2", "2026-03-01T02:00Z", (("p-c2", 50_000),),
          snapshot=("phone", "active", 28, 150_000, 50_000)),
    Batch("c3", "2026-02-28T02:00Z", snapshot=("closed", "written_off", 180, 50_000, 0)),
    Batch("d1", "2026-03-05T02:00Z", (("p-d1", 100_000),),
          snapshot=("closed", "paid", 4, 0, 100_000)),
    Batch("d2", "2026-03-20T02:00Z", (("p-d2", 80_000),),
          snapshot=("reminder", "in_plan", 19, 20_000, 80_000)),
    Batch("d3", "2026-03-30T20:00Z", (("p-d3", 40_000),),
          snapshot=("closed", "settled", 10, 0, 40_000)),
    Batch("o1", "2026-03-05T02:00Z", (("p-o1", 70_000),),
          snapshot=("closed", "paid", 4, 0, 70_000)),
    Batch("n1", "2026-03-05T02:00Z", (("p-n1", 90_000),),
          snapshot=("closed", "paid", 4, 0, 90_000)),
)
# Per case: (channel, outbox status, how many); `skipped` (no address), `blocked` (a rule) and
# `failed` (refused for good) never left, and the portal's sign-in code is no collection
# contact: none of them counts.
CONTACTS = {
    "c1": [("sms", "sent", 2), ("email", "sent", 1), ("sms", "skipped", 1), ("sms", "code", 1)],
    "c2": [("sms", "sent", 2), ("sms", "pending", 1), ("call", "queued", 2),
           ("field_visit", "booked", 1), ("sms", "blocked", 1), ("email", "failed", 1)],
    "c3": [("letter", "sent", 1), ("legal", "referred", 1)],
    "d1": [("sms", "sent", 1)],
    "d2": [("sms", "unconfirmed", 2), ("call", "queued", 1)],
    "d3": [("email", "sent", 1)],
    "o1": [("sms", "sent", 5)],
    "n1": [("sms", "sent", 7)],
}
# fmt: on


def fill(store: Store, tmp_path: Path) -> None:
    activities = CollectionActivities(store, tmp_path / "evidence", WebhookNotifier({}))
    for case_id, currency, amount, due, zone, opened, policy, experiment, arm in CASES:
        prepare_case(activities, case_id, currency, amount, due, zone, opened, policy)
        # As routing records a case's experiment and arm when it is prepared.
        store.update(CaseRow, case_id, experiment=experiment, arm=arm)
    for batch in BATCHES:
        activities.store_case_records(batch.records())
    with store.session() as session:
        for case_id, attempts in CONTACTS.items():
            for channel, status, count in attempts:
                for number in range(count):
                    session.add(
                        ContactAttemptRow(
                            attempt_id=f"{case_id}:{channel}:{status}:{number}",
                            case_id=case_id,
                            loan_id=f"L-{case_id}",
                            channel=channel,
                            template=CODE_TEMPLATE if status == "code" else f"{channel}_1",
                            status="sent" if status == "code" else status,
                            created_at="2026-03-03T02:00:00.000000+00:00",
                        )
                    )


def ratio_se(collected: list[int], owed: list[int]) -> float:
    """The delta-method standard error of sum(collected) / sum(owed), written out."""
    ratio = sum(collected) / sum(owed)
    residuals = sum((y - ratio * x) ** 2 for y, x in zip(collected, owed, strict=True))
    n = len(owed)
    return math.sqrt(residuals / (n - 1) / n) / (sum(owed) / n)


def test_every_figure_of_both_arms_from_a_real_database(store: Store, tmp_path: Path) -> None:
    fill(store, tmp_path)
    report = experiment_json(
        load_experiment_report(store, EXPERIMENT, parse_unit_costs(COSTS), NOW)
    )
    assert report["experiment"] == EXPERIMENT and report["cases"] == 6
    champion, challenger = report["arms"]["champion"], report["arms"]["challenger"]
    assert (champion["policies"], challenger["policies"]) == (["default"], ["cn-online-lending"])
    assert (champion["cases"], challenger["cases"]) == (3, 3)

    # Champion: CNY 1,500 of 3,500 collected.
    assert champion["recovery_rate"] == round(150_000 / 350_000, 4)
    champion_se = ratio_se([100_000, 50_000, 0], [100_000, 200_000, 50_000])
    # Residuals 57,142.86, -35,714.29, -21,428.57: their squares sum to 5e9.
    assert champion_se == pytest.approx(math.sqrt(5e9 / 2 / 3) / (350_000 / 3))
    # 0.4286 - 1.96 x 0.2474 is below 0: the interval is cut there.
    assert champion["recovery_rate_ci95"] == [
        0.0,
        round(150_000 / 350_000 + Z_95 * champion_se, 4),
    ]
    assert (champion["cured"], champion["cure_rate"], champion["written_off"]) == (1, 0.3333, 1)
    # c1 stayed in M1; c2 (DPD 68) and c3 (written off at 180) rolled on.
    assert (champion["entered_m1"], champion["reached_m2"], champion["roll_rate_m1_m2"]) == (
        3,
        2,
        0.6667,
    )
    assert champion["contacts"] == {
        "sms": 5,
        "email": 1,
        "letter": 1,
        "call": 2,
        "field_visit": 1,
        "legal": 1,
    }
    assert champion["contacts_per_case"] == round(11 / 3, 4)
    assert champion["contacts_per_case_by_channel"]["sms"] == round(5 / 3, 4)
    # c1: 2 SMS + 1 email = 22; c2: 3 SMS + 2 calls + a visit = 11,030; c3: letter + legal
    # = 100,300 fen, for 150,000 collected.
    (cny,) = champion["currencies"]
    assert cny["contact_cost_minor"] == 111_352
    assert champion["cost_per_unit_collected"] == pytest.approx(111_352 / 150_000, rel=1e-3)

    # Challenger: CNY 1,800 of 2,000 (0.9) and USD 400 of 600, never added together.
    by_currency = {c["currency"]: c for c in challenger["currencies"]}
    assert by_currency["CNY"]["recovery_rate"] == 0.9
    assert by_currency["USD"]["recovery_rate"] == 0.6667
    assert by_currency["USD"]["collected_minor"] == 40_000
    assert challenger["recovery_rate"] == round(2 / 3 * 0.9 + 1 / 3 * (40_000 / 60_000), 4)
    # One USD case shows no spread: no interval over both currencies.
    assert challenger["recovery_rate_ci95"] is None
    assert (challenger["cured"], challenger["written_off"]) == (2, 0)
    assert (challenger["entered_m1"], challenger["reached_m2"]) == (3, 1)
    assert challenger["contacts"] == dict.fromkeys(CHANNELS, 0) | {"sms": 3, "email": 1, "call": 1}
    assert by_currency["CNY"]["contact_cost_minor"] == 10 + 20 + 500
    assert by_currency["USD"]["contact_cost_minor"] == 1

    # The test compares CNY only (one USD case): 0.9 - 3/7 over sqrt(se_c^2 + se_d^2).
    challenger_se = ratio_se([100_000, 80_000], [100_000, 100_000])
    assert challenger_se == pytest.approx(0.1)
    z = (0.9 - 150_000 / 350_000) / math.sqrt(champion_se**2 + challenger_se**2)
    comparison = report["comparison"]
    assert comparison["currencies"] == ["CNY"]
    assert comparison["recovery_rate_difference"] == round(0.9 - 150_000 / 350_000, 4)
    assert comparison["z"] == pytest.approx(z, rel=1e-3)
    assert comparison["p_value"] == pytest.approx(two_sided_p_value(z), rel=1e-3)
    assert comparison["p_value"] == pytest.approx(0.0773, abs=1e-4)


def test_the_command_in_every_format(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    fill(store, tmp_path)
    costs = tmp_path / "costs.toml"
    costs.write_text(
        "".join(
            f"[{code}]\n" + "".join(f"{channel} = {cost}\n" for channel, cost in by.items())
            for code, by in COSTS.items()
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("DATABASE_URL", database_url(store))
    monkeypatch.setenv(settings.UNIT_COSTS_ENV, str(costs))

    async def no_temporal() -> Any:
        raise AssertionError("report must not connect to Temporal")

    def run(*arguments: str) -> int:
        return asyncio.run(starter.run(["report", "--experiment", *arguments], connect=no_temporal))

    csv_path, html_path = tmp_path / "arms.csv", tmp_path / "arms.html"
    assert run(EXPERIMENT, "--csv", str(csv_path), "--html", str(html_path)) == 0
    text = capsys.readouterr().out
    assert f"Experiment {EXPERIMENT} as of" in text and ": 6 case(s)" in text
    assert "champion (default)" in text and "challenger (cn-online-lending)" in text
    assert "CNY 1,500.00 of CNY 3,500.00" in text
    assert "CNY 1,113.52 of contacts" in text
    assert "p = 0.0773" in text

    rows = list(csv.DictReader(io.StringIO(csv_path.read_text(encoding="utf-8"))))
    cured = [
        (r["arm"], r["numerator"], r["denominator"]) for r in rows if r["figure"] == "cure_rate"
    ]
    assert cured == [("champion", "1", "3"), ("challenger", "2", "3")]
    usd = [r for r in rows if r["figure"] == "recovery_rate" and r["currency"] == "USD"]
    assert [(r["arm"], r["numerator"], r["denominator"]) for r in usd] == [
        ("challenger", "400.00", "600.00")
    ]
    assert float(next(r for r in rows if r["figure"] == "p_value")["value"]) == pytest.approx(
        0.0773, abs=1e-4
    )
    page = html_path.read_text(encoding="utf-8")
    assert "<script" not in page and "Roll rate M1→M2" in page

    assert run(EXPERIMENT, "--json") == 0
    assert json.loads(capsys.readouterr().out)["arms"]["challenger"]["cases"] == 3


def test_an_experiment_without_cases_is_refused_saying_whether_it_is_known(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    fill(store, tmp_path)
    routing = tmp_path / "routing.toml"
    routing.write_text(
        '[[route]]\nexperiment = "fresh"\nchampion = "default"\n'
        'challenger = "cn-online-lending"\nchallenger_share = 0.2\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("DATABASE_URL", database_url(store))
    monkeypatch.setenv(settings.ROUTING_ENV, str(routing))

    async def no_temporal() -> Any:
        raise AssertionError("report must not connect to Temporal")

    def refusal(*arguments: str) -> str:
        run = starter.run(["report", "--experiment", *arguments], connect=no_temporal)
        assert asyncio.run(run) == 2
        return str(capsys.readouterr().err)

    csv_path = tmp_path / "arms.csv"
    unknown = refusal("nope", "--csv", str(csv_path))
    assert "no case of experiment 'nope'" in unknown
    assert f"experiments with cases: {EXPERIMENT}, other" in unknown
    assert "unknown experiment" in unknown and "(it names: fresh)" in unknown
    assert not csv_path.exists()
    fresh = refusal("fresh")
    assert "no case of experiment 'fresh'" in fresh
    assert "names it: no case has been routed to it yet" in fresh
    assert "--as-of: not with --experiment" in refusal(EXPERIMENT, "--as-of", "2026-03-31")


def test_bad_unit_costs_are_refused_before_anything_is_read(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    fill(store, tmp_path)
    costs = tmp_path / "costs.toml"
    costs.write_text("[CNY]\nsms = -1\n", encoding="utf-8")
    monkeypatch.setenv("DATABASE_URL", database_url(store))
    monkeypatch.setenv(settings.UNIT_COSTS_ENV, str(costs))

    async def no_temporal() -> Any:
        raise AssertionError("report must not connect to Temporal")

    assert (
        asyncio.run(starter.run(["report", "--experiment", EXPERIMENT], connect=no_temporal)) == 2
    )
    assert f"{costs}: CNY.sms" in capsys.readouterr().err


def test_a_database_from_before_experiments_is_refused(blank_store: Store) -> None:
    blank_store.migrate("0010_portal")
    with pytest.raises(ReportError, match="records no experiments yet"):
        load_experiment_report(blank_store, EXPERIMENT, parse_unit_costs(COSTS), NOW)
