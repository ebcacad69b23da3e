"""The borrower's link in a notice (`send_notice`), on real SQLite and PostgreSQL: written in the
transaction that writes the notice's outbox row, once per attempt, and the one every try of the
attempt carries, also when a concurrent try wrote the attempt first."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import SQLModel

from activities.case_activities import CollectionActivities
from activities.notify import ChannelNotifier
from activities.portal_links import LinkKeys, new_link, stored_link_of_attempt
from activities.store import Store
from migrations.portal_tables import PortalLinkRow
from migrations.tables import CaseRow, ContactAttemptRow
from tests.helpers.databases import rows
from tests.helpers.providers import contact, prepare


@pytest.fixture
def activities(store: Store, tmp_path: Path) -> CollectionActivities:
    """Every channel to the outbox only: the outbox row is the delivery."""
    collection = CollectionActivities(store, tmp_path / "evidence", ChannelNotifier({}))
    prepare(collection)
    return collection


def links_of(store: Store, attempt_id: str) -> list[PortalLinkRow]:
    return [link for link in rows(store, PortalLinkRow) if link.attempt_id == attempt_id]


def url_of(store: Store, link: PortalLinkRow) -> str:
    return LinkKeys.from_env(store).url(link.link_id)


def test_a_sent_notice_carries_the_link_written_with_its_outbox_row(
    activities: CollectionActivities, store: Store
) -> None:
    assert activities.send_notice(contact("n-1")).result == "sent"
    [link] = links_of(store, "n-1")
    attempt = store.get(ContactAttemptRow, "n-1")
    assert attempt is not None and attempt.body is not None
    assert url_of(store, link) in attempt.body


def test_a_notice_held_back_by_the_caps_writes_no_link_and_its_next_try_writes_one(
    activities: CollectionActivities, store: Store
) -> None:
    assert activities.send_notice(contact("n-1")).result == "sent"
    # A second SMS the same day: the daily cap of one holds it back, and nothing is written.
    held = activities.send_notice(contact("n-2"))
    assert held.result == "deferred"
    assert links_of(store, "n-2") == [] and store.get(ContactAttemptRow, "n-2") is None
    next_day = replace(contact("n-2"), scheduled_at="2026-11-05T02:00:00+00:00")
    assert activities.send_notice(next_day).result == "sent"
    [link] = links_of(store, "n-2")
    attempt = store.get(ContactAttemptRow, "n-2")
    assert attempt is not None and url_of(store, link) in (attempt.body or "")


def test_a_concurrent_try_that_wrote_the_attempt_first_gives_the_notice_its_link(
    activities: CollectionActivities, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two tries of one attempt at once (a retry while the first still runs): the second to
    reserve finds the first one's row and sends the message with the first one's link, the
    only one written."""
    reserve = activities._reserve
    theirs: list[str] = []

    def first_try_wins(request: Any, case: CaseRow | None, attempt: Any, *with_rows: SQLModel):
        assert case is not None and attempt.body is not None
        [ours] = [row for row in with_rows if isinstance(row, PortalLinkRow)]
        at = datetime.fromisoformat(ours.created_at)
        their_link = new_link(case, at=at, days=30, attempt_id=ours.attempt_id)
        their_body = attempt.body.replace(url_of(store, ours), url_of(store, their_link))
        theirs.append(url_of(store, their_link))
        their_attempt = ContactAttemptRow(**(attempt.model_dump() | {"body": their_body}))
        reserve(request, case, their_attempt, their_link)
        return reserve(request, case, attempt, *with_rows)

    monkeypatch.setattr(activities, "_reserve", first_try_wins)
    assert activities.send_notice(contact("n-1")).result == "sent"
    [link] = links_of(store, "n-1")
    attempt = store.get(ContactAttemptRow, "n-1")
    assert attempt is not None and attempt.status == "sent"
    assert theirs == [url_of(store, link)]
    assert attempt.body is not None and theirs[0] in attempt.body


def test_an_attempt_written_before_notices_carried_links_gets_one_on_its_next_try(
    activities: CollectionActivities, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its first try wrote the outbox row and stopped before sending (the worker died).
    def died(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the worker died before sending")

    monkeypatch.setattr(activities, "_deliver", died)
    with pytest.raises(RuntimeError):
        activities.send_notice(contact("n-1"))
    monkeypatch.undo()
    for link in links_of(store, "n-1"):
        with store.session() as session:
            session.delete(session.get(PortalLinkRow, link.link_id))
    assert stored_link_of_attempt(store, "n-1") is None
    assert activities.send_notice(contact("n-1")).result == "sent"
    [link] = links_of(store, "n-1")
    attempt = store.get(ContactAttemptRow, "n-1")
    assert attempt is not None and url_of(store, link) in (attempt.body or "")
