"""The collectors' desk as a person uses it: headless Chromium against the desk served by
uvicorn, over a case run by the real workflow on the Temporal dev server.

An agent signs in, takes the call task at the top of the queue, records that the borrower
promised, takes the promise, and sees the case waiting for the promised payment: on the page,
and in the case's own status from Temporal.

The browser is Debian's `chromium` (playwright's own download is never used). In CI
(`CI=true`) the test fails without it; elsewhere it is skipped, saying what is missing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from activities.store import Store
from runtime.serving import serve_in_thread
from tests.helpers.browser import (
    CHROMIUM_ARGS,
    LOCAL_HOUR,
    PAGE_TIMEOUT_MS,
    browser_or_skip,
    caching_client,
    zone_at_local_hour,
)
from tests.helpers.cases import case_input
from tests.helpers.desk import PASSWORD, add_desk_users
from tests.helpers.eventually import eventually
from tests.helpers.temporal import CaseWorld, DevServer, make_worker
from web.app import create_app
from web.queue_reading import read_queue
from web.settings import WebSettings
from workflows.collection_case import CollectionCase

# The `default` ladder's first call task is due at 14 days past due.
CALL_DPD = 14
AGENT = "agent1"

try:
    from playwright.async_api import Browser, Page, async_playwright
except ImportError:  # pragma: no cover - only where the dev dependencies are not installed
    async_playwright = None  # type: ignore[assignment]


@asynccontextmanager
async def desk_served(world: CaseWorld, server: DevServer) -> AsyncIterator[str]:
    """The desk on a loopback port of its own, on the test's case database, with the desk's
    real clock (the dev server's is the wall clock too); yields its URL."""
    store = Store.from_url(world.database_url)
    add_desk_users(store, {AGENT: "agent"})
    app = create_app(
        WebSettings(),
        store=store,
        temporal_client=caching_client(server.address),
        clock=lambda: datetime.now(UTC),
    )
    served = serve_in_thread(app, "127.0.0.1", 0, name="desk")
    try:
        yield served.url
    finally:
        served.stop()
        store.dispose()


async def open_case_with_call_task(
    server: DevServer, world: CaseWorld, zone: ZoneInfo
) -> tuple[Any, str]:
    """A case opened at the call step's days past due; returns its handle and loan id once its
    call task is callable in the desk's queue."""
    today = datetime.now(zone).date()
    data = case_input(today - timedelta(days=CALL_DPD))
    data["borrower"]["timezone"] = zone.key
    handle = await server.env.client.start_workflow(
        CollectionCase.run,
        data,
        id=f"collection-{data['loan_id']}",
        task_queue=world.task_queue,
    )
    store = Store.from_url(world.database_url)
    try:
        await eventually(
            lambda: read_queue(store, user=AGENT, now=datetime.now(UTC)).callable_now,
            seconds=30,
        )
    finally:
        store.dispose()
    return handle, str(data["loan_id"])


async def sign_in(page: Page, desk: str) -> None:
    await page.goto(f"{desk}/login", wait_until="load")
    await page.fill("#username", AGENT)
    await page.fill("#password", PASSWORD)
    async with page.expect_navigation(wait_until="load"):
        await page.click("button[type=submit]")
    assert page.url.endswith("/queue"), page.url


async def submit(page: Page, form: str) -> None:
    """Submit `form` and wait for the page the redirect after it shows."""
    async with page.expect_navigation(wait_until="load"):
        await page.locator(f"{form} button[type=submit]").first.click()


async def agent_takes_promise(page: Page, desk: str, loan_id: str, promise_due: date) -> None:
    await sign_in(page, desk)
    task = page.locator(f'[data-task][data-loan="{loan_id}"]')
    await task.first.wait_for(timeout=PAGE_TIMEOUT_MS)
    async with page.expect_navigation(wait_until="load"):
        await page.locator('button[data-action="take"]').first.click()
    assert f"/cases/{loan_id}" in page.url, page.url

    await page.select_option('form[data-form="outcome"] select[name="outcome"]', "promised")
    await submit(page, 'form[data-form="outcome"]')
    await page.locator("[data-answer].accepted").first.wait_for(timeout=PAGE_TIMEOUT_MS)

    promise = page.locator('form[data-form="promise"]')
    await promise.locator('[name="amount"]').fill("1500.00")
    await promise.locator('[name="due_date"]').fill(promise_due.isoformat())
    await submit(page, 'form[data-form="promise"]')


async def shown_status(page: Page) -> str:
    return (await page.locator('[data-field="status"]').first.inner_text()).strip()


async def test_agent_takes_a_call_and_a_promise_in_the_browser(
    dev_server: DevServer, case_world: CaseWorld
) -> None:
    chromium = browser_or_skip()
    zone = zone_at_local_hour(datetime.now(UTC))
    Store.from_url(case_world.database_url).migrate()
    async with make_worker(dev_server.env.client, case_world):
        handle, loan_id = await open_case_with_call_task(dev_server, case_world, zone)
        async with desk_served(case_world, dev_server) as desk, async_playwright() as playwright:
            browser: Browser = await playwright.chromium.launch(
                executable_path=str(chromium), args=CHROMIUM_ARGS
            )
            try:
                page = await browser.new_page()
                page.set_default_timeout(PAGE_TIMEOUT_MS)
                promise_due = datetime.now(zone).date() + timedelta(days=3)
                await agent_takes_promise(page, desk, loan_id, promise_due)
                answer = page.locator("[data-answer]").first
                assert "accepted" in (await answer.get_attribute("class") or ""), (
                    await answer.inner_text()
                )
                assert await shown_status(page) == "promise_pending"
            finally:
                await browser.close()
        status = await handle.query(CollectionCase.status)
        assert status["status"] == "promise_pending"
        assert status["promise"]["amount_minor"] == 150000
        assert status["promise"]["due_date"] == promise_due.isoformat()
        await handle.terminate("test over")


def test_zone_at_local_hour_puts_every_moment_in_that_hour() -> None:
    start = datetime(2026, 3, 10, tzinfo=UTC)
    for minutes in range(0, 24 * 60, 37):
        moment = start + timedelta(minutes=minutes)
        assert moment.astimezone(zone_at_local_hour(moment)).hour == LOCAL_HOUR
