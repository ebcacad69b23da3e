"""The revisions' line, and a migrate that cannot reach its database: no database."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli import main as starter
from migrations import INITIAL_REVISION, head_revision
from migrations.revisions import (
    script_directory,
)
from tests.helpers.migrations import HEAD


# -- the revisions ------------------------------------------------------------------------------
def test_revisions_form_one_line_each_in_a_file_named_by_its_id() -> None:
    scripts = list(script_directory().walk_revisions())
    assert [script.revision for script in reversed(scripts)][:5] == [
        INITIAL_REVISION,
        "0002_delivery_receipts",
        "0003_borrowers",
        "0004_borrower_channels",
        "0005_payments_by_case",
    ]
    assert scripts[0].revision == HEAD
    assert head_revision() == scripts[0].revision  # one head: a branch would raise here
    for script in scripts:
        assert script.path is not None
        assert Path(script.path).stem == script.revision


async def test_starter_migrate_hides_the_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Nothing listens on port 1: the command fails, naming the database without its password.
    monkeypatch.setenv("DATABASE_URL", "postgresql://collector:s3cret@127.0.0.1:1/cases")
    assert await starter.run(["migrate"]) == 1
    captured = capsys.readouterr()
    assert "case database postgresql+psycopg://collector:***@127.0.0.1:1/cases: cannot migrate" in (
        captured.err
    )
    assert "s3cret" not in captured.err + captured.out
