"""The case database of a test: SQLite under the test's folder, or a schema of its own on
PostgreSQL (needs `TEST_POSTGRES_URL`; dropped afterwards), made by the migrations
(`Store.migrate`) as every deployed database is, so the tests run on the schema the revisions
make. `blank_store` and `store` are registered as fixtures by tests/conftest.py."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import SQLModel, select

from activities.store import Store

POSTGRES_ENV = "TEST_POSTGRES_URL"
POSTGRES_EXAMPLE = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def sqlite_store(directory: Path) -> Store:
    store = Store.from_url(f"sqlite:///{directory / 'collections.db'}")
    store.migrate()
    return store


@pytest.fixture(params=["sqlite", "postgresql"])
def blank_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A case database with nothing in it yet (no table, no revision): for `store` and for
    the tests of the migrations themselves."""
    if request.param == "sqlite":
        store = Store.from_url(f"sqlite:///{tmp_path / 'collections.db'}")
        yield store
        store.dispose()
        return
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV}, for example {POSTGRES_EXAMPLE}")
    schema = f"test_{uuid.uuid4().hex[:16]}"
    admin = Store.from_url(url)
    try:
        with admin.engine.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except OperationalError as error:
        # The variable says PostgreSQL is meant to be tested: an unreachable server is a failure.
        pytest.fail(f"{POSTGRES_ENV} is set but PostgreSQL is unreachable: {error}")
    store = Store.from_url(url, schema=schema)
    try:
        yield store
    finally:
        store.dispose()
        with admin.engine.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def store(blank_store: Store) -> Store:
    blank_store.migrate()
    return blank_store


def rows(store: Store, model: type[SQLModel]) -> list[Any]:
    with store.session() as session:
        return list(session.exec(select(model)).all())
