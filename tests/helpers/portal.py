"""The borrower's portal under test: the desk's app with known link keys and the outbox as
every channel's provider, links made for a case, and `sign_in_borrower`, which opens a link,
asks for the code, reads it from the outbox (`contact_attempts.body`) and enters it, as a
borrower does; pages built on the borrower's session start from there."""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI
from sqlmodel import col, select

from activities.notify import notifier_from_env
from activities.portal_links import LinkKeys, find_link, make_link
from activities.store import Store
from domain.portal import CODE_TEMPLATE
from migrations.portal_tables import PortalCodeRow
from migrations.tables import CaseRow, ContactAttemptRow
from tests.helpers.desk import Browser, DeskClock
from web.app import create_app
from web.settings import WebSettings

KEYS = LinkKeys(secret="portal-test-secret-" + "k" * 32, base_url="http://testserver")
CODE = re.compile(r"\b(\d{6})\b")


def portal_app(store: Store, clock: DeskClock) -> FastAPI:
    """The desk's app, whose portal signs with `KEYS` and sends through the outbox only."""
    return create_app(
        WebSettings(), store=store, clock=clock, link_keys=KEYS, notifier=notifier_from_env({})
    )


def link_path(store: Store, case: CaseRow, at: datetime, *, days: int = 30) -> str:
    """A fresh link to `case` (as `starter.py portal-link` makes one), as a path: `/p/{token}`."""
    return urlsplit(make_link(store, KEYS, case, at=at, days=days)).path


def last_code(store: Store, case_id: str) -> str:
    """The code of the case's latest code message, read from its outbox row."""
    with store.reading() as session:
        # The latest code row (ids grow; two codes may share a moment of the test's clock).
        row = session.exec(
            select(ContactAttemptRow)
            .join(PortalCodeRow, col(PortalCodeRow.attempt_id) == col(ContactAttemptRow.attempt_id))
            .where(
                col(ContactAttemptRow.case_id) == case_id,
                col(ContactAttemptRow.template) == CODE_TEMPLATE,
            )
            .order_by(col(PortalCodeRow.id).desc())
        ).first()
    assert row is not None and row.body is not None, "no code was sent"
    found = CODE.search(row.body)
    assert found is not None
    return found.group(1)


async def sign_in_borrower(browser: Browser, store: Store, path: str) -> httpx.Response:
    """Open the link at `path`, have the code sent, enter it: the 303 to `/p/home`."""
    opened = await browser.get(path)
    assert opened.status_code == 200
    sent = await browser.post(f"{path}/code")
    assert sent.status_code == 200, sent.text
    case_id = _case_of(store, path)
    answer = await browser.post(f"{path}/verify", {"code": last_code(store, case_id)})
    assert answer.status_code == 303 and answer.headers["location"] == "/p/home"
    return answer


def _case_of(store: Store, path: str) -> str:
    link = find_link(store, KEYS.secret, path.rsplit("/", 1)[1])
    assert link is not None
    return link.case_id
