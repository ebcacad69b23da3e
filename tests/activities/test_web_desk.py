"""The desk's foundation on SQLite and PostgreSQL: sign-in, sessions, CSRF, the throttle,
single sign-on, roles and the security headers, through the ASGI app as a browser uses it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest
from sqlmodel import select

from activities.store import Store
from migrations.desk_tables import DeskSessionRow, DeskSignInFailureRow, DeskUserRow
from tests.helpers.databases import rows
from tests.helpers.desk import PASSWORD, Browser, DeskClock, add_desk_users, desk_app
from web.desk_store import DeskStore
from web.settings import WebSettings
from web.throttle import FAILURES_PER_USER, WINDOW

PROXY = ("10.1.2.3", 40000)


@pytest.fixture
async def browsers(store: Store, desk_clock: DeskClock) -> AsyncIterator[Callable[..., Browser]]:
    add_desk_users(store)
    opened: list[Browser] = []
    settings = WebSettings(trusted_proxies=frozenset({PROXY[0]}))
    app = desk_app(store, desk_clock, settings)

    def open_browser(client_address: tuple[str, int] = ("127.0.0.1", 50000)) -> Browser:
        browser = Browser(app, client_address)
        opened.append(browser)
        return browser

    yield open_browser
    for browser in opened:
        await browser.close()


async def test_a_right_sign_in_lands_on_the_users_first_page(browsers, store) -> None:
    for user_name, first_page in [
        ("agent1", "/queue"),
        ("field1", "/visits"),
        ("super1", "/supervisor"),
    ]:
        browser = browsers()
        answer = await browser.sign_in(user_name)
        assert (answer.status_code, answer.headers["location"]) == (303, first_page)
        page = await browser.get(first_page)
        assert page.status_code == 200 and user_name in page.text
    assert {row.user_name for row in rows(store, DeskSessionRow)} == {"agent1", "field1", "super1"}


async def test_the_session_cookie_is_http_only_and_same_site_lax(browsers) -> None:
    cookie = (await browsers().sign_in("agent1")).headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "max-age=43200" in cookie
    assert "secure" not in cookie  # plain HTTP on loopback by default


async def test_a_wrong_sign_in_answers_401_and_sets_no_session(browsers, store) -> None:
    browser = browsers()
    for user_name, password in [("agent1", "wrong password!"), ("nobody", PASSWORD), ("", "")]:
        answer = await browser.sign_in(user_name, password)
        assert answer.status_code == 401
        assert 'name="password"' in answer.text and "set-cookie" not in answer.headers
    assert rows(store, DeskSessionRow) == []
    assert (await browser.get("/queue", html=False)).status_code == 401


async def test_unauthenticated_pages_redirect_browsers_and_refuse_others(browsers) -> None:
    browser = browsers()
    for path in ["/queue", "/visits", "/supervisor"]:
        answer = await browser.get(path)
        assert (answer.status_code, answer.headers["location"]) == (303, "/login")
        assert (await browser.get(path, html=False)).status_code == 401
    assert (await browser.get("/")).headers["location"] == "/login"


@pytest.mark.parametrize(
    ("user_name", "refused"),
    [
        ("agent1", ["/visits", "/supervisor"]),
        ("field1", ["/queue", "/supervisor"]),
        ("super1", ["/visits"]),
    ],
)
async def test_each_role_is_refused_the_other_roles_pages(browsers, user_name, refused) -> None:
    browser = browsers()
    await browser.sign_in(user_name)
    for path in refused:
        answer = await browser.get(path)
        assert answer.status_code == 403 and "Not for your role" in answer.text


async def test_the_navigation_shows_the_users_pages_only(browsers) -> None:
    browser = browsers()
    await browser.sign_in("super1")
    page = (await browser.get("/supervisor")).text
    assert 'href="/queue"' in page and 'href="/supervisor"' in page
    assert 'href="/visits"' not in page and 'action="/logout"' in page


async def test_a_post_without_the_right_csrf_token_is_refused_and_changes_nothing(
    browsers, store
) -> None:
    browser = browsers()
    await browser.get("/login")
    for token in ["", "not-the-token"]:
        answer = await browser.post(
            "/login", {"username": "agent1", "password": PASSWORD}, token=token
        )
        assert answer.status_code == 403 and "CSRF" in answer.text
    assert rows(store, DeskSessionRow) == []
    await browser.sign_in("agent1")
    await browser.get("/queue")
    refused = await browser.post("/logout", token="")
    assert refused.status_code == 403
    assert (await browser.get("/queue")).status_code == 200  # still signed in


async def test_sign_out_ends_the_session_row_and_the_cookie_stops_working(browsers, store) -> None:
    browser = browsers()
    await browser.sign_in("agent1")
    kept_cookies = dict(browser.http.cookies)
    await browser.get("/queue")
    answer = await browser.post("/logout")
    assert (answer.status_code, answer.headers["location"]) == (303, "/login")
    assert [row.ended_at is not None for row in rows(store, DeskSessionRow)] == [True]
    replay = browsers()
    replay.http.cookies.update(kept_cookies)
    assert (await replay.get("/queue", html=False)).status_code == 401


async def test_a_disabled_users_session_stops_working_and_they_cannot_sign_in(
    browsers, store, desk_clock
) -> None:
    browser = browsers()
    await browser.sign_in("agent1")
    assert (await browser.get("/queue")).status_code == 200
    DeskStore(store).disable_user("agent1", at=desk_clock())
    assert (await browser.get("/queue", html=False)).status_code == 401
    assert (await browsers().sign_in("agent1")).status_code == 401


async def test_a_session_ends_after_twelve_hours(browsers, desk_clock) -> None:
    browser = browsers()
    await browser.sign_in("agent1")
    desk_clock.advance(timedelta(hours=12))
    assert (await browser.get("/queue", html=False)).status_code == 401


async def test_failed_sign_ins_are_slowed_down_without_checking_the_password(
    browsers, store, desk_clock
) -> None:
    browser = browsers()
    for _ in range(FAILURES_PER_USER):
        assert (await browser.sign_in("agent1", "wrong password!")).status_code == 401
    throttled = await browser.sign_in("agent1", PASSWORD)  # right, but not checked
    assert throttled.status_code == 429
    assert 0 < int(throttled.headers["retry-after"]) <= WINDOW.total_seconds()
    assert len(rows(store, DeskSignInFailureRow)) == FAILURES_PER_USER
    assert (await browsers(("127.0.0.9", 1)).sign_in("agent1")).status_code == 429
    desk_clock.advance(WINDOW)
    assert (await browser.sign_in("agent1")).status_code == 303
    assert rows(store, DeskSignInFailureRow) == []  # a success clears the user's failures


async def test_a_rehash_replaces_a_hash_made_with_weaker_parameters(browsers, store) -> None:
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=8192).hash(PASSWORD)
    DeskStore(store).set_password("agent1", weak, at=DeskClock().now)
    assert (await browsers().sign_in("agent1")).status_code == 303
    with store.session() as session:
        stored = session.exec(select(DeskUserRow).where(DeskUserRow.user_name == "agent1")).one()
    assert stored.password_hash != weak and stored.password_hash.startswith("$argon2id$")


async def test_single_sign_on_trusts_the_header_from_a_trusted_proxy_only(browsers) -> None:
    header = {"X-Forwarded-User": "field1", "Accept": "text/html"}
    proxied = await browsers(PROXY).http.get("/visits", headers=header)
    assert proxied.status_code == 200 and "field1" in proxied.text
    assert (await browsers(PROXY).http.get("/queue", headers=header)).status_code == 403
    direct = await browsers(("10.9.9.9", 1)).http.get("/visits", headers=header)
    assert (direct.status_code, direct.headers["location"]) == (303, "/login")
    unknown = {**header, "X-Forwarded-User": "nobody"}
    assert (await browsers(PROXY).http.get("/visits", headers=unknown)).status_code == 303


async def test_every_response_carries_the_security_headers(browsers) -> None:
    browser = browsers()
    answers = [
        await browser.get("/login"),
        await browser.get("/healthz"),
        await browser.get("/queue"),
    ]
    answers.append(await browser.post("/login", {"username": "x", "password": "y"}, token=""))
    for answer in answers:
        csp = answer.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["cache-control"] == "no-store"
        assert "strict-transport-security" not in answer.headers


async def test_secure_cookies_bring_hsts_and_the_secure_flag(store, desk_clock) -> None:
    add_desk_users(store)
    # A browser sends a Secure cookie (and with it the session's CSRF token) over HTTPS only.
    app = desk_app(store, desk_clock, WebSettings(secure_cookies=True))
    browser = Browser(app, base_url="https://testserver")
    try:
        answer = await browser.sign_in("agent1")
        assert "secure" in answer.headers["set-cookie"].lower()
        assert answer.headers["strict-transport-security"].startswith("max-age=")
    finally:
        await browser.close()


async def test_healthz_and_the_static_files_need_no_sign_in(browsers) -> None:
    browser = browsers()
    health = await browser.get("/healthz")
    assert (health.status_code, health.text) == (200, "ok")
    script = await browser.get("/static/htmx.min.js")
    assert script.status_code == 200 and "htmx" in script.text[:200]
    assert (await browser.get("/static/desk.css")).status_code == 200


async def test_the_view_log_records_who_saw_which_case(store, desk_clock) -> None:
    desk = add_desk_users(store)
    desk.record_view("agent1", "L-1", "case", at=desk_clock())
    desk.record_view("super1", "L-1", "case", at=desk_clock() + timedelta(minutes=1))
    assert [(v.user_name, v.page) for v in desk.views_of_case("L-1")] == [
        ("agent1", "case"),
        ("super1", "case"),
    ]
    assert desk.views_of_case("L-2") == []
