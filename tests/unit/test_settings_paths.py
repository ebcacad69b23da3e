"""The places `make run` uses are the checkout's, wherever the settings module sits."""

from __future__ import annotations

import pytest

from runtime import settings
from tests.helpers.paths import PROJECT_DIR


def test_the_project_directory_is_the_checkout() -> None:
    assert settings.PROJECT_DIR == PROJECT_DIR
    assert (settings.PROJECT_DIR / "data" / "demo_portfolio.csv").is_file()


def test_the_var_directory_is_the_checkouts_unless_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("COLLECTIONS_VAR_DIR", raising=False)
    assert settings.var_dir() == PROJECT_DIR / "var"
