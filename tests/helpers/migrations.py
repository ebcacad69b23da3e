"""The case database's revisions: the newest, and moving a database to one."""

from __future__ import annotations

from activities.store import Store
from migrations.revisions import (
    script_directory,
)

# The newest revision: every test upgrades to it.
HEAD = script_directory().get_current_head()


def migrate_to(url: str, revision: str) -> None:
    store = Store.from_url(url)
    store.migrate(revision)
    store.dispose()
