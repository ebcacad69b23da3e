"""`report` says where it wrote its files, and keeps stdout for the JSON."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from activities.store import Store
from cli import main
from tests.helpers.cli import refuse_connect


def test_the_report_says_where_it_wrote_its_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path / 'cases.db'}")
    store.migrate()
    store.dispose()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cases.db'}")
    page, table = tmp_path / "report.html", tmp_path / "report.csv"
    args = ["report", "--json", "--html", str(page), "--csv", str(table)]
    assert asyncio.run(main.run(args, connect=refuse_connect)) == 0
    printed = capsys.readouterr()
    assert page.exists() and table.exists()
    assert f"report: wrote the HTML page to {page}" in printed.err
    assert f"report: wrote the CSV table to {table}" in printed.err
    assert printed.out.startswith("{")  # stdout stays JSON
