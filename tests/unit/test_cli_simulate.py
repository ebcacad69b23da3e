"""`starter.py simulate`: the contract's JSON, the same bytes for the same arguments (but the
seconds), the text and the HTML page, and bad input refused naming it, with no server."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest

from cli import main as starter
from tests.helpers.cli import refuse_connect, run_cli
from tests.helpers.paths import PROJECT_DIR

DEMO = "data/demo_portfolio.csv"
CONTRACT_KEYS = {
    "cases",
    "recovery_rate",
    "cure_rate",
    "written_off",
    "contacts",
    "contacts_per_case",
    "seconds",
}
SECONDS = re.compile(r'"seconds": [0-9.]+')


def simulate(*args: str, capsys: Any) -> tuple[int, str, str]:
    code = asyncio.run(starter.run(["simulate", *args], connect=refuse_connect))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_same_arguments_print_the_same_bytes_but_the_seconds() -> None:
    arguments = (DEMO, "--policy", "default", "--policy", "firm", "--seed", "7", "--json")
    first, again = run_cli("simulate", *arguments), run_cli("simulate", *arguments)
    assert first.returncode == again.returncode == 0, first.stderr
    assert SECONDS.sub("", first.stdout) == SECONDS.sub("", again.stdout)
    assert len(SECONDS.findall(first.stdout)) == 2
    other = run_cli("simulate", *arguments[:-2], "8", "--json")
    assert SECONDS.sub("", other.stdout) != SECONDS.sub("", first.stdout)


def test_the_json_has_the_contracts_shape_for_every_policy(capsys: Any) -> None:
    code, out, _ = simulate(
        DEMO, "--policy", "default", "--policy", "firm", "--seed", "3", "--json", capsys=capsys
    )
    assert code == 0
    printed = json.loads(out)
    assert (printed["seed"], printed["days"]) == (3, 180)
    assert list(printed["policies"]) == ["default", "firm"]
    for figures in printed["policies"].values():
        assert set(figures) >= CONTRACT_KEYS
        assert figures["cases"] == 35
        assert 0 <= figures["recovery_rate"] <= 1 and 0 <= figures["cure_rate"] <= 1
        assert set(figures["contacts"]) >= {"sms", "email", "letter", "call", "field_visit"}
        assert all(isinstance(n, int) for n in figures["contacts"].values())
        assert figures["contacts_per_case"] == pytest.approx(
            sum(figures["contacts"].values()) / 35, abs=1e-4
        )
        curve = figures["recovery_curve"]
        assert len(curve) == 180 and curve == sorted(curve)
        assert curve[-1] == figures["recovery_rate"]
    assert list(printed["comparisons"]) == ["firm"]
    assert "p_value" in printed["comparisons"]["firm"]


def test_the_text_and_the_html_page(tmp_path: Path, capsys: Any) -> None:
    page = tmp_path / "simulation.html"
    code, out, err = simulate(
        DEMO, "--policy", "default", "--policy", "firm", "--html", str(page), capsys=capsys
    )
    assert code == 0
    assert out.startswith("Simulation of 35 loan(s) of data/demo_portfolio.csv for 180 days")
    assert "recovery rate" in out and "day 180" in out
    assert "Recovery rate, firm − default:" in out
    assert "Simulated in default" in out
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "<script" not in html
    assert html.count("<polyline") == 2 and "Recovery curve" in html
    assert str(page) in err


def test_the_csvs_policy_column_is_ignored_and_days_overdue_count_from_the_start(
    tmp_path: Path, capsys: Any
) -> None:
    portfolio = tmp_path / "loans.csv"
    rows = (PROJECT_DIR / DEMO).read_text(encoding="utf-8").splitlines()
    portfolio.write_text("\n".join(rows[:6]) + "\n", encoding="utf-8")
    arguments = ("--policy", "default", "--start", "2026-05-04", "--json")
    code, out, _ = simulate(str(portfolio), *arguments, capsys=capsys)
    assert code == 0
    printed = json.loads(out)
    assert printed["start"] == "2026-05-04T12:00:00+00:00"
    # Their policy column says `demo` (a 2-second day); under `default` nothing is over in
    # a day.
    code, out, _ = simulate(str(portfolio), *arguments[:-1], "--days", "1", "--json", capsys=capsys)
    assert json.loads(out)["policies"]["default"]["written_off"] == 0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("--policy", "gentle"), "invalid input: policy: unknown policy 'gentle'"),
        (("--policy", "default", "--policy", "default"), "--policy: each policy once"),
        (("--policy", "default", "--behaviour", "nowhere.toml"), "nowhere.toml: cannot read"),
    ],
)
def test_bad_arguments_are_refused_naming_them(
    arguments: tuple[str, ...], message: str, capsys: Any
) -> None:
    code, out, err = simulate(DEMO, *arguments, capsys=capsys)
    assert (code, out) == (2, "")
    assert message in err


def test_a_bad_behaviour_file_is_refused_naming_the_key(tmp_path: Path, capsys: Any) -> None:
    behaviours = tmp_path / "behaviours.toml"
    behaviours.write_text("[default.call]\ndelay_hours = 2\npay_full = 0.7\npay_part = 0.6\n")
    code, out, err = simulate(
        DEMO, "--policy", "default", "--behaviour", str(behaviours), capsys=capsys
    )
    assert (code, out) == (2, "")
    assert f"{behaviours}: default.call: its chances add up to 1.3, more than 1" in err


def test_a_bad_row_is_refused_naming_its_line_and_field(tmp_path: Path, capsys: Any) -> None:
    portfolio = tmp_path / "loans.csv"
    rows = (PROJECT_DIR / DEMO).read_text(encoding="utf-8").splitlines()
    portfolio.write_text("\n".join([*rows[:3], rows[3].replace(",CNY,", ",XYZ,")]) + "\n")
    code, out, err = simulate(str(portfolio), "--policy", "default", capsys=capsys)
    assert (code, out) == (2, "")
    assert "line 4: currency:" in err and "nothing simulated" in err
