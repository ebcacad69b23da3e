"""The case database's URLs, read without a database."""

from __future__ import annotations

from activities.store import normalize_url


def test_postgres_urls_use_psycopg() -> None:
    assert normalize_url("postgresql://root@127.0.0.1:5432/test") == (
        "postgresql+psycopg://root@127.0.0.1:5432/test"
    )
    assert normalize_url("postgresql+psycopg://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert normalize_url("sqlite:///var/x.db") == "sqlite:///var/x.db"
