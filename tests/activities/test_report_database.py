"""The portfolio report read from a real case database (SQLite and PostgreSQL), and the report
command over it."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from activities.case_activities import CollectionActivities
from activities.notify import WebhookNotifier
from activities.store import Store
from cli import main as starter
from cli.report import run_report
from cli.report_formats import report_json
from cli.report_reading import ReportError, load_report
from domain.report import (
    AsOf,
)
from migrations.tables import CaseRow
from tests.helpers.report_cases import Batch, database_url, prepare_case
from tests.helpers.report_days import AS_OF_DAY, LATER, NEW_YORK, SHANGHAI

# Eight cases in CNY and USD, in Shanghai and New York; the figures below are as of 2026-03-31.
#   paid      CNY 5,000 due 02-20, opened at DPD 0, promise pr-1 kept, paid by 03-10 (DPD 18)
#   phone     CNY 3,000 due 02-15, opened at DPD 5, paid 500, pr-2 broken, pr-3 pending; DPD 44
#   usd       USD 1,200 due 01-10, opened at DPD 5, paid 200, plan pl-1 broken; DPD 80
#   writeoff  CNY 800 due 2025-09-01, opened at DPD 44, written off at DPD 181
#   plan      USD 600 due 03-20, opened at DPD 1, plan pl-3 completed 03-30 (DPD 10)
#   demo      CNY 100 due 03-28 under `demo` (a fast clock): DPD 95 by its own count, in legal
#   later     CNY 1,000 opened 04-02, after the report's day
#   closes    CNY 2,000 due 03-01, opened at DPD 1; 500 paid on 04-01 in Shanghai (still 03-31
#             in UTC), the rest on 04-03 (closed then); pr-4 made 03-29, kept 04-03
# fmt: off
PORTFOLIO_CASES = (
    # case id, currency, amount, due date, timezone, opened at, policy
    ("paid", "CNY", 500_000, "2026-02-20", SHANGHAI, "2026-02-20T02:00Z", "default"),
    ("phone", "CNY", 300_000, "2026-02-15", SHANGHAI, "2026-02-20T00:00Z", "default"),
    ("usd", "USD", 120_000, "2026-01-10", NEW_YORK, "2026-01-15T15:00Z", "default"),
    ("writeoff", "CNY", 80_000, "2025-09-01", SHANGHAI, "2025-10-15T00:00Z", "default"),
    ("plan", "USD", 60_000, "2026-03-20", NEW_YORK, "2026-03-21T14:00Z", "default"),
    ("demo", "CNY", 10_000, "2026-03-28", SHANGHAI, "2026-03-28T02:00Z", "demo"),
    ("later", "CNY", 100_000, "2026-03-25", SHANGHAI, "2026-04-02T00:00Z", "default"),
    ("closes", "CNY", 200_000, "2026-03-01", SHANGHAI, "2026-03-02T00:00Z", "default"),
)


PORTFOLIO_BATCHES = (
    Batch("paid", "2026-03-01T02:00Z", events=(("promise_made", "pr-1"),)),
    Batch("paid", "2026-03-05T02:00Z", (("p-1", 200_000),), (("promise_kept", "pr-1"),),
          ("reminder", "active", 13, 300_000, 200_000)),
    Batch("paid", "2026-03-10T03:00Z", (("p-2", 300_000),), (("closed", "paid"),),
          ("closed", "paid", 18, 0, 500_000)),
    Batch("phone", "2026-03-05T02:00Z", events=(("promise_made", "pr-2"),)),
    Batch("phone", "2026-03-12T02:00Z", payments=(("p-3", 50_000),)),
    Batch("phone", "2026-03-18T02:00Z", events=(("promise_broken", "pr-2"),)),
    Batch("phone", "2026-03-20T02:00Z", snapshot=("phone", "active", 33, 250_000, 50_000)),
    Batch("phone", "2026-03-25T02:00Z", events=(("promise_made", "pr-3"),)),
    Batch("usd", "2026-02-01T15:00Z", events=(("plan_agreed", "pl-1"),)),
    Batch("usd", "2026-02-15T15:00Z", payments=(("p-4", 20_000),)),
    Batch("usd", "2026-03-01T15:00Z", events=(("plan_broken", "pl-1"),)),
    Batch("usd", "2026-03-15T15:00Z", snapshot=("legal", "active", 64, 100_000, 20_000)),
    Batch("writeoff", "2026-02-28T16:00Z", snapshot=("closed", "written_off", 181, 80_000, 0)),
    Batch("plan", "2026-03-22T14:00Z", events=(("plan_agreed", "pl-3"),)),
    Batch("plan", "2026-03-30T20:00Z", (("p-5", 60_000),), (("plan_completed", "pl-3"),),
          ("closed", "plan_completed", 10, 0, 60_000)),
    Batch("demo", "2026-03-28T02:05Z", snapshot=("legal", "active", 95, 10_000, 0)),
    Batch("later", "2026-04-02T01:00Z", (("p-6", 10_000),), (("promise_made", "pr-9"),)),
    Batch("closes", "2026-03-11T02:00Z", snapshot=("reminder", "active", 10, 200_000, 0)),
    Batch("closes", "2026-03-29T02:00Z", events=(("promise_made", "pr-4"),)),
    Batch("closes", "2026-03-31T16:30Z", (("p-7", 50_000),),
          snapshot=("reminder", "promise_pending", 31, 150_000, 50_000)),
    Batch("closes", "2026-04-03T01:00Z", (("p-8", 150_000),), (("promise_kept", "pr-4"),),
          ("closed", "paid", 33, 0, 200_000)),
)


def fill_portfolio(store: Store, tmp_path: Path) -> None:
    """The portfolio above, written by the real activities: `prepare_case` opens each case,
    `store_case_records` writes its payments, audit events and snapshots."""
    activities = CollectionActivities(store, tmp_path / "evidence", WebhookNotifier({}))
    for case_id, currency, amount, due, timezone, opened_at, policy in PORTFOLIO_CASES:
        prepare_case(activities, case_id, currency, amount, due, timezone, opened_at, policy)
    for batch in PORTFOLIO_BATCHES:
        activities.store_case_records(batch.records())


EXPECTED_PORTFOLIO = [
    {
        "stage": "phone",
        "bucket": "M2",
        "currency": "CNY",
        "cases": 1,
        "overdue_minor": 300_000,
        "outstanding_minor": 250_000,
    },
    {
        "stage": "legal",
        "bucket": "M3",
        "currency": "USD",
        "cases": 1,
        "overdue_minor": 120_000,
        "outstanding_minor": 100_000,
    },
    {
        "stage": "legal",
        "bucket": "M4+",
        "currency": "CNY",
        "cases": 1,
        "overdue_minor": 10_000,
        "outstanding_minor": 10_000,
    },
    {
        "stage": "closed",
        "bucket": "M1",
        "currency": "CNY",
        "cases": 1,
        "overdue_minor": 500_000,
        "outstanding_minor": 0,
    },
    {
        "stage": "closed",
        "bucket": "M1",
        "currency": "USD",
        "cases": 1,
        "overdue_minor": 60_000,
        "outstanding_minor": 0,
    },
    {
        "stage": "closed",
        "bucket": "M4+",
        "currency": "CNY",
        "cases": 1,
        "overdue_minor": 80_000,
        "outstanding_minor": 80_000,
    },
    {
        "stage": "unknown",
        "bucket": "M1",
        "currency": "CNY",
        "cases": 1,
        "overdue_minor": 200_000,
        "outstanding_minor": 200_000,
    },
]


def by_part(
    *, principal: int = 0, interest: int = 0, fees: int = 0, penalty: int = 0
) -> dict[str, int]:
    return {
        "principal_minor": principal,
        "interest_minor": interest,
        "fees_minor": fees,
        "penalty_minor": penalty,
    }


EXPECTED_CURRENCIES = [
    # paid + phone + writeoff + demo + closes (none of its payments by the end of 03-31 there)
    {
        "currency": "CNY",
        "cases": 5,
        "overdue_minor": 1_090_000,
        "outstanding_minor": 540_000,
        "collected_minor": 550_000,
        "recovery_rate": 0.5046,
        # No row has parts: the payments paid principal, and `writeoff` owed it all.
        "collected_by_part": by_part(principal=550_000),
        "written_off_cases": 1,
        "charged_off_minor": 80_000,
        "charged_off_by_part": by_part(principal=80_000),
        "recovered_minor": 0,
        "recovered_by_part": by_part(),
    },
    {
        "currency": "USD",
        "cases": 2,
        "overdue_minor": 180_000,
        "outstanding_minor": 100_000,
        "collected_minor": 80_000,
        "recovery_rate": 0.4444,
        "collected_by_part": by_part(principal=80_000),
        "written_off_cases": 0,
        "charged_off_minor": 0,
        "charged_off_by_part": by_part(),
        "recovered_minor": 0,
        "recovered_by_part": by_part(),
    },
]


EXPECTED_ROLL_RATES = [
    # M0: paid, demo. M1: paid, phone, usd, plan, demo, closes (writeoff came in at DPD 44).
    {"from": "M0", "to": "M1", "cases": 2, "rolled": 2, "rate": 1.0},
    {"from": "M1", "to": "M2", "cases": 6, "rolled": 3, "rate": 0.5},
    {"from": "M2", "to": "M3", "cases": 4, "rolled": 3, "rate": 0.75},
    {"from": "M3", "to": "M4+", "cases": 3, "rolled": 2, "rate": 0.6667},
]


EXPECTED_PROMISES = {"made": 4, "kept": 1, "broken": 1, "pending": 2, "rate": 0.5}


EXPECTED_PLANS = {"made": 2, "completed": 1, "broken": 1, "pending": 0, "rate": 0.5}




def test_every_figure_from_a_real_database(store: Store, tmp_path: Path) -> None:
    fill_portfolio(store, tmp_path)
    report = report_json(load_report(store, AsOf(now=LATER, day=AS_OF_DAY)))
    assert report["as_of"] == "2026-03-31"
    assert report["cases"] == 7
    assert report["portfolio"] == EXPECTED_PORTFOLIO
    assert report["currencies"] == EXPECTED_CURRENCIES
    assert report["roll_rates"] == EXPECTED_ROLL_RATES
    assert report["promises"] == EXPECTED_PROMISES
    assert report["plans"] == EXPECTED_PLANS



def test_without_as_of_everything_recorded_counts(store: Store, tmp_path: Path) -> None:
    fill_portfolio(store, tmp_path)
    report = report_json(load_report(store, AsOf(now=LATER)))
    assert report["as_of"] == LATER.isoformat() and report["cases"] == 8
    cells = {(c["stage"], c["bucket"], c["currency"]): c["cases"] for c in report["portfolio"]}
    # `closes` is paid (closed 04-03 in Shanghai, DPD 33); `later` is in grace at DPD 16.
    assert cells[("closed", "M2", "CNY")] == 1 and cells[("grace", "M1", "CNY")] == 1
    assert report["promises"] == {"made": 5, "kept": 2, "broken": 1, "pending": 2, "rate": 0.6667}
    cny = report["currencies"][0]
    assert (cny["collected_minor"], cny["overdue_minor"]) == (760_000, 1_190_000)



def test_the_report_command_in_every_format(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    fill_portfolio(store, tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url(store))

    async def no_temporal() -> Any:
        raise AssertionError("report must not connect to Temporal")

    csv_path, html_path = tmp_path / "report.csv", tmp_path / "report.html"
    run = starter.run(
        ["report", "--as-of", "2026-03-31", "--csv", str(csv_path), "--html", str(html_path)],
        connect=no_temporal,
    )
    assert asyncio.run(run) == 0
    text = capsys.readouterr().out
    assert (
        "Portfolio report as of the end of 2026-03-31 in each borrower's calendar: 7 case(s)"
        in text
    )
    assert re.search(r"phone\s+M2\s+1\s+CNY 3,000.00\s+CNY 2,500.00", text)
    assert re.search(r"unknown\s+M1\s+1\s+CNY 2,000.00\s+CNY 2,000.00", text)
    assert "unknown: open that day, in a stage not on record" in text
    assert re.search(r"CNY\s+5\s+CNY 10,900.00\s+CNY 5,500.00\s+CNY 5,400.00\s+50.5%", text)
    assert re.search(r"USD\s+2\s+USD 1,800.00\s+USD 800.00\s+USD 1,000.00\s+44.4%", text)
    assert re.search(r"CNY\s+collected\s+CNY 5,500.00\s+CNY 0.00\s+CNY 0.00\s+CNY 0.00", text)
    assert re.search(r"CNY\s+charged off at write-off\s+CNY 800.00\s+(CNY 0.00\s+){3}CNY 800", text)
    assert re.search(r"M3\s+M4\+\s+3\s+2\s+66.7%", text)
    assert re.search(r"promises kept\s+4\s+1\s+1\s+2\s+50.0%", text)
    assert re.search(r"plans completed\s+2\s+1\s+1\s+0\s+50.0%", text)

    rows = list(csv.DictReader(io.StringIO(csv_path.read_text(encoding="utf-8"))))
    assert [r["figure"] for r in rows] == (
        ["portfolio"] * 7
        + ["currency"] * 2
        + ["roll_rate"] * 4
        + ["promise_kept", "plan_completed"]
        + ["collected_by_part", "charged_off_by_part", "recovered_by_part"] * 2
    )
    assert {r["as_of"] for r in rows} == {"2026-03-31"}
    assert rows[0] == {
        "figure": "portfolio",
        "stage": "phone",
        "bucket": "M2",
        "to_bucket": "",
        "currency": "CNY",
        "cases": "1",
        "overdue": "3000.00",
        "outstanding": "2500.00",
        "collected": "",
        "numerator": "",
        "denominator": "",
        "rate": "",
        "as_of": "2026-03-31",
        "principal": "",
        "interest": "",
        "fees": "",
        "penalty": "",
    }
    usd = rows[8]
    assert (usd["currency"], usd["overdue"], usd["collected"], usd["rate"]) == (
        "USD",
        "1800.00",
        "800.00",
        "0.4444",
    )
    m1 = rows[10]
    assert (m1["bucket"], m1["to_bucket"], m1["numerator"], m1["denominator"], m1["rate"]) == (
        "M1",
        "M2",
        "3",
        "6",
        "0.5",
    )
    promises = rows[13]
    assert (promises["figure"], promises["numerator"], promises["denominator"]) == (
        "promise_kept",
        "1",
        "2",
    )
    assert (promises["rate"], promises["cases"]) == ("0.5", "")
    charged_off = rows[16]
    assert (charged_off["figure"], charged_off["currency"], charged_off["cases"]) == (
        "charged_off_by_part",
        "CNY",
        "1",
    )
    parts = ("principal", "interest", "fees", "penalty")
    assert [charged_off[part] for part in parts] == ["800.00", "0.00", "0.00", "0.00"]

    page = html_path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    # Counts by bucket and by stage, outstanding and recovery per currency, rolls, commitments.
    charts = re.findall(r"<svg .*?</svg>", page, re.DOTALL)
    # By part: collected per currency, charged off in CNY (the written-off case).
    assert len(charts) == 11 and page.count("<svg") == 11
    for chart in charts:
        assert ElementTree.fromstring(chart).tag == "{http://www.w3.org/2000/svg}svg"
    for figure in (
        "CNY 5,500.00",
        "USD 800.00",
        "50.5%",
        "44.4%",
        "66.7% (2 of 3)",
        "Outstanding by bucket, CNY",
        "Recovery, USD: 44.4% collected",
        "Collected by part, USD",
        "Charged off by part, CNY: CNY 0.00 recovered since",
        "M3 → M4+",
    ):
        assert figure in page, figure
    # Self-contained: nothing is fetched.
    assert not re.search(r"<script|<link|src=|@import|url\(", page)

    assert asyncio.run(starter.run(["report", "--as-of", "2026-03-31", "--json"], no_temporal)) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["roll_rates"] == EXPECTED_ROLL_RATES
    assert answer["portfolio"] == EXPECTED_PORTFOLIO



# `wo` (CNY 1,000: principal 800, interest 100, fees 100) accrued penalty and paid 300 before
# its write-off on 03-10, owing principal 750 and penalty 30 then; 100 came back on 03-20 and
# 80 on 04-05, after the report's day. `old` (USD) was paid before payments had allocations.
PARTS_CASES = (
    ("wo", "CNY", 100_000, "2026-01-01", SHANGHAI, "2026-01-05T00:00Z", "default"),
    ("old", "USD", 50_000, "2026-02-01", NEW_YORK, "2026-02-05T15:00Z", "default"),
)
PARTS_BATCHES = (
    Batch(
        "wo",
        "2026-02-01T02:00Z",
        (("p-a", 30_000),),
        snapshot=("phone", "active", 31, 78_000, 30_000),
        allocations={"p-a": by_part(principal=5_000, interest=10_000, fees=10_000, penalty=5_000)},
        balance=by_part(principal=75_000, penalty=3_000),
    ),
    Batch(
        "wo",
        "2026-03-10T02:00Z",
        events=(("closed", "written_off"),),
        snapshot=("closed", "written_off", 68, 78_000, 30_000),
        balance=by_part(principal=75_000, penalty=3_000),
    ),
    Batch(
        "wo",
        "2026-03-20T02:00Z",
        (("p-b", 10_000),),
        snapshot=("closed", "written_off", 68, 68_000, 40_000),
        allocations={"p-b": by_part(principal=7_000, penalty=3_000)},
        balance=by_part(principal=68_000),
    ),
    Batch(
        "wo",
        "2026-04-05T02:00Z",
        (("p-c", 8_000),),
        snapshot=("closed", "written_off", 68, 60_000, 48_000),
        allocations={"p-c": by_part(principal=8_000)},
        balance=by_part(principal=60_000),
    ),
    Batch("old", "2026-02-20T15:00Z", (("p-d", 20_000),)),
)


def fill_parts(store: Store, tmp_path: Path) -> None:
    activities = CollectionActivities(store, tmp_path / "evidence", WebhookNotifier({}))
    for case_id, currency, amount, due, timezone, opened_at, policy in PARTS_CASES:
        prepare_case(activities, case_id, currency, amount, due, timezone, opened_at, policy)
    for batch in PARTS_BATCHES:
        activities.store_case_records(batch.records())


def test_collected_charged_off_and_recovered_by_part(store: Store, tmp_path: Path) -> None:
    fill_parts(store, tmp_path)
    cny, usd = report_json(load_report(store, AsOf(now=LATER, day=AS_OF_DAY)))["currencies"]
    assert cny["collected_minor"] == 40_000
    assert cny["collected_by_part"] == by_part(
        principal=12_000, interest=10_000, fees=10_000, penalty=8_000
    )
    # What `wo` owed at its write-off: its latest balance and every payment since.
    assert (cny["written_off_cases"], cny["charged_off_minor"]) == (1, 78_000)
    assert cny["charged_off_by_part"] == by_part(principal=75_000, penalty=3_000)
    # Recovered by the end of 03-31: the payment of 03-20 only.
    assert cny["recovered_minor"] == 10_000
    assert cny["recovered_by_part"] == by_part(principal=7_000, penalty=3_000)
    # A payment recorded without an allocation paid principal.
    assert usd["collected_by_part"] == by_part(principal=20_000)
    assert (usd["written_off_cases"], usd["charged_off_minor"]) == (0, 0)

    cny, _ = report_json(load_report(store, AsOf(now=LATER)))["currencies"]
    assert cny["collected_by_part"]["principal_minor"] == 20_000
    assert cny["charged_off_by_part"] == by_part(principal=75_000, penalty=3_000)
    assert cny["recovered_by_part"] == by_part(principal=15_000, penalty=3_000)

    text = run_report(
        as_of="2026-03-31",
        as_json=False,
        csv_path=str(tmp_path / "r.csv"),
        html_path=str(tmp_path / "r.html"),
        database_url=database_url(store),
        now=LATER,
    )
    assert re.search(
        r"CNY\s+charged off at write-off\s+CNY 750.00\s+CNY 0.00\s+CNY 0.00\s+CNY 30.00\s+CNY 780",
        text,
    )
    assert re.search(r"CNY\s+recovered after write-off\s+CNY 70.00\s+(CNY 0.00\s+){2}CNY 30", text)
    rows = list(csv.DictReader((tmp_path / "r.csv").open(encoding="utf-8", newline="")))
    recovered = [r for r in rows if r["figure"] == "recovered_by_part" and r["currency"] == "CNY"]
    assert [(r["principal"], r["penalty"]) for r in recovered] == [("70.00", "30.00")]
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Charged off by part, CNY: CNY 100.00 recovered since" in page


def test_a_rate_with_nothing_to_count_is_null_in_every_format(store: Store, tmp_path: Path) -> None:
    activities = CollectionActivities(store, tmp_path / "evidence", WebhookNotifier({}))
    prepare_case(activities, "fresh", "CNY", 100_000, "2026-03-25", SHANGHAI, "2026-03-26T02:00Z")
    as_of = "2026-03-31"
    text = run_report(
        as_of=as_of,
        as_json=False,
        csv_path=str(tmp_path / "r.csv"),
        html_path=str(tmp_path / "r.html"),
        database_url=database_url(store),
        now=LATER,
    )
    assert re.search(r"M2\s+M3\s+0\s+0\s+—", text)
    assert re.search(r"promises kept\s+0\s+0\s+0\s+0\s+—", text)
    answer = json.loads(
        run_report(
            as_of=as_of,
            as_json=True,
            csv_path=None,
            html_path=None,
            database_url=database_url(store),
            now=LATER,
        )
    )
    assert answer["promises"]["rate"] is None and answer["plans"]["rate"] is None
    assert [r["rate"] for r in answer["roll_rates"]] == [None, 0.0, None, None]
    rows = list(csv.DictReader((tmp_path / "r.csv").open(encoding="utf-8", newline="")))
    # The figures by part follow the others.
    plans = rows[-4]
    assert plans["figure"] == "plan_completed" and plans["rate"] == ""
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "— (0 of 0)" in page



def test_the_report_refuses_what_it_cannot_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    missing = tmp_path / "none.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{missing}")
    assert asyncio.run(starter.run(["report"])) == 1
    assert f"report: no case database at {missing}" in capsys.readouterr().err
    assert not missing.exists()  # looking did not create it

    missing.touch()
    assert asyncio.run(starter.run(["report"])) == 1
    assert "has no cases table yet" in capsys.readouterr().err

    assert asyncio.run(starter.run(["report", "--as-of", "yesterday"])) == 2
    assert "--as-of: 'yesterday' is not a date (YYYY-MM-DD)" in capsys.readouterr().err
    out_file = tmp_path / "no-such-dir" / "r.csv"
    assert asyncio.run(starter.run(["report", "--csv", str(out_file)])) == 2
    assert f"--csv: the directory of {out_file} does not exist" in capsys.readouterr().err
    assert asyncio.run(starter.run(["report", "--html", str(tmp_path)])) == 2
    assert f"--html: {tmp_path} is a directory" in capsys.readouterr().err



def test_a_bad_stored_row_is_named(store: Store, tmp_path: Path) -> None:
    fill_portfolio(store, tmp_path)
    store.update(CaseRow, "demo", timezone="Mars/Olympus")
    with pytest.raises(ReportError, match="case demo: timezone 'Mars/Olympus' is not an IANA"):
        load_report(store, AsOf(now=LATER))
