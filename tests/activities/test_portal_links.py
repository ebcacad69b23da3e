"""The borrower's signed link and second factor, through the ASGI app as a phone's browser uses
it, on SQLite and PostgreSQL: what a link shows before the code, tampered and expired links,
the code's limits, one case per session, the caps, the logs and `starter.py portal-link`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlmodel import col, select

from activities.contact_caps import counted_contacts
from activities.portal_links import LINK_SECRET, LinkKeys
from activities.store import Store
from cli.console import UsageError
from cli.portal_link import portal_link
from domain.portal import CODE_TEMPLATE, LINK_TEMPLATE
from migrations.portal_tables import PortalSecretRow
from migrations.tables import ContactAttemptRow, utc_iso
from tests.helpers.desk import Browser, DeskClock
from tests.helpers.desk_rows import add_case
from tests.helpers.portal import KEYS, last_code, link_path, portal_app, sign_in_borrower

PHONE_TAIL = "•••• 8000"
# The loan id holds a "." so no random token (base64url) can contain it by chance.
SECRETS_OF_CASE = ("Name of B-L.p1", "+8613800138000", "L.p1", "1,000")


@pytest.fixture
async def browser(store: Store, desk_clock: DeskClock) -> AsyncIterator[Browser]:
    opened = Browser(portal_app(store, desk_clock))
    yield opened
    await opened.close()


def messages(store: Store, template: str) -> list[ContactAttemptRow]:
    with store.reading() as session:
        return list(
            session.exec(
                select(ContactAttemptRow).where(col(ContactAttemptRow.template) == template)
            ).all()
        )


def shows_nothing_of_the_case(text: str) -> None:
    for secret in SECRETS_OF_CASE:
        assert secret not in text


async def test_a_fresh_link_offers_a_code_and_shows_nothing_of_the_case(
    browser, store, desk_clock
) -> None:
    path = link_path(store, add_case(store, "L.p1"), desk_clock.now)
    page = await browser.get(path)
    assert page.status_code == 200
    assert PHONE_TAIL in page.text
    assert "<title>我的账户</title>" in page.text
    shows_nothing_of_the_case(page.text)
    assert len(path.rsplit("/", 1)[1]) <= 32


async def test_any_one_character_changed_shows_the_generic_page_and_sends_nothing(
    browser, store, desk_clock
) -> None:
    path = link_path(store, add_case(store, "L.p1"), desk_clock.now)
    token = path.rsplit("/", 1)[1]
    for index, char in enumerate(token):
        changed = token[:index] + ("A" if char != "A" else "B") + token[index + 1 :]
        page = await browser.get(f"/p/{changed}")
        assert page.status_code == 200
        assert PHONE_TAIL not in page.text
        shows_nothing_of_the_case(page.text)
        code = await browser.post(f"/p/{changed}/code")
        assert PHONE_TAIL not in code.text
    assert messages(store, CODE_TEMPLATE) == []


async def test_an_expired_link_offers_a_new_one_sent_under_a_limit(
    browser, store, desk_clock
) -> None:
    path = link_path(store, add_case(store, "L.p1"), desk_clock.now, days=30)
    desk_clock.advance(timedelta(days=30))
    page = await browser.get(path)
    assert PHONE_TAIL not in page.text and "/new-link" in page.text
    tampered = await browser.post(f"{path[:-1]}{'A' if path[-1] != 'A' else 'B'}/new-link")
    asked = await browser.post(f"{path}/new-link")
    assert _notice(asked.text) == _notice(tampered.text)
    sent = messages(store, LINK_TEMPLATE)
    assert len(sent) == 1 and sent[0].recipient == "+8613800138000"
    new_path = "/p/" + sent[0].body.rsplit("/p/", 1)[1].split()[0]  # type: ignore[union-attr]
    assert PHONE_TAIL in (await browser.get(new_path)).text
    for _ in range(5):
        await browser.post(f"{path}/new-link")
    assert len(messages(store, LINK_TEMPLATE)) == 3  # three a day per case


def _notice(text: str) -> str:
    start = text.index('role="status">')
    return text[start : text.index("</p>", start)]


async def test_a_session_of_one_case_never_reaches_another(browser, store, desk_clock) -> None:
    path_a = link_path(store, add_case(store, "L.A"), desk_clock.now)
    path_b = link_path(store, add_case(store, "L.B"), desk_clock.now)
    await browser.get(path_b)
    await browser.post(f"{path_b}/code")
    code_b = last_code(store, "C-L.B")
    await browser.get(path_a)
    await browser.post(f"{path_a}/code")
    wrong = await browser.post(f"{path_a}/verify", {"code": code_b})
    assert wrong.status_code == 200 and "/p/home" not in wrong.headers.get("location", "")
    await sign_in_borrower(browser, store, path_a)
    home = await browser.get("/p/home")
    # Loan ids with a dot: no random token on the page (base64url) can hold one by chance.
    assert "L.A" in home.text and "L.B" not in home.text


async def test_five_wrong_codes_pause_the_link(browser, store, desk_clock) -> None:
    path = link_path(store, add_case(store, "L.p1"), desk_clock.now)
    await browser.get(path)
    await browser.post(f"{path}/code")
    right = last_code(store, "C-L.p1")
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    answers = [await browser.post(f"{path}/verify", {"code": wrong}) for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 429]
    paused = await browser.post(f"{path}/verify", {"code": right})
    assert paused.status_code == 429
    desk_clock.advance(timedelta(minutes=16))
    await sign_in_borrower(browser, store, path)


async def test_a_code_expires_after_ten_minutes_and_is_used_once(
    browser, store, desk_clock
) -> None:
    path = link_path(store, add_case(store, "L.p1"), desk_clock.now)
    await browser.get(path)
    await browser.post(f"{path}/code")
    code = last_code(store, "C-L.p1")
    desk_clock.advance(timedelta(minutes=10))
    late = await browser.post(f"{path}/verify", {"code": code})
    assert late.status_code == 200 and "location" not in late.headers
    await sign_in_borrower(browser, store, path)
    again = Browser(browser.app)
    await again.get(path)
    reused = await again.post(f"{path}/verify", {"code": last_code(store, "C-L.p1")})
    assert "location" not in reused.headers
    assert (await again.get("/p/home")).headers["location"] == "/p/again"
    await again.close()


async def test_codes_per_link_are_limited(browser, store, desk_clock) -> None:
    path = link_path(store, add_case(store, "L.p1"), desk_clock.now)
    await browser.get(path)
    answers = [(await browser.post(f"{path}/code")).status_code for _ in range(6)]
    assert answers == [200] * 5 + [429]
    assert len(messages(store, CODE_TEMPLATE)) == 5


async def test_the_portals_messages_count_against_no_cap(browser, store, desk_clock) -> None:
    case = add_case(store, "L.p1")
    await sign_in_borrower(browser, store, link_path(store, case, desk_clock.now))
    with store.session() as session:
        session.add(
            ContactAttemptRow(
                attempt_id="a-sms",
                case_id=case.case_id,
                loan_id=case.loan_id,
                channel="sms",
                template="reminder_friendly",
                recipient="+8613800138000",
                status="sent",
                result="sent",
                created_at=utc_iso(desk_clock.now),
            )
        )
    with store.reading() as session:
        rows = session.exec(select(ContactAttemptRow)).all()
    assert {row.template for row in rows} == {CODE_TEMPLATE, "reminder_friendly"}
    assert len(counted_contacts(rows)) == 1


async def test_no_personal_data_or_code_in_urls_titles_or_logs(
    browser, store, desk_clock, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    path = link_path(store, add_case(store, "L.p1"), desk_clock.now)
    await sign_in_borrower(browser, store, path)
    code = last_code(store, "C-L.p1")
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for secret in (*SECRETS_OF_CASE[:2], code):
        assert secret not in logged and secret not in path


async def test_portal_link_prints_a_url_that_works(browser, store, desk_clock) -> None:
    case = add_case(store, "L.p1")
    url = portal_link(store, KEYS, "L.p1", desk_clock.now)
    assert url.startswith(f"{KEYS.base_url}/p/")
    await sign_in_borrower(browser, store, url.removeprefix(KEYS.base_url))
    with pytest.raises(UsageError, match="no case for loan L9"):
        portal_link(store, KEYS, "L9", desk_clock.now)
    store.update(type(case), case.case_id, closed_at=utc_iso(desk_clock.now))
    with pytest.raises(UsageError, match="closed"):
        portal_link(store, KEYS, "L.p1", desk_clock.now)


def test_without_portal_secret_the_case_database_keeps_one_for_every_process(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker that writes a link and the desk that opens it sign alike with no setting:
    the first to need the secret makes it, the others read it; PORTAL_SECRET overrides it."""
    monkeypatch.delenv("PORTAL_SECRET", raising=False)
    first = LinkKeys.from_env(store)
    again = LinkKeys.from_env(store)
    assert first.secret == again.secret and len(first.secret) >= 32
    assert store.get(PortalSecretRow, LINK_SECRET) is not None
    monkeypatch.setenv("PORTAL_SECRET", "s" * 40)
    assert LinkKeys.from_env(store).secret == "s" * 40
    monkeypatch.setenv("PORTAL_SECRET", "short")
    with pytest.raises(UsageError, match="PORTAL_SECRET"):
        LinkKeys.from_env(store)
