"""The borrower's portal as a borrower uses it on a phone: headless Chromium at 390x844 against
the desk served by uvicorn, over cases run by the real workflow on the Temporal dev server.

Borrower A opens the link of the reminder SMS in the outbox, has the code sent, types the code
from the outbox, lands on `/p/home`, proposes a three-installment plan and sees it accepted, and
asks to be called back three hours on; the case (queried through Temporal) is `in_plan` and has
the call back's call queued for then. Borrower B signs in the same way, presses
Pay, pays on the simulated hosted checkout (served on loopback, its signed webhook mounted on
the desk) and is sent back to `/p/home`; the case becomes `paid`.

`PORTAL_SCREENSHOTS=<dir>` also saves borrower A's home page, in Chinese and in English, as
`portal-home-zh.png` and `portal-home-en.png` there (how `docs/images/` got them).

The browser is Debian's `chromium` (playwright's own download is never used). In CI
(`CI=true`) the test fails without it; elsewhere it is skipped, saying what is missing.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from activities.store import Store
from migrations.tables import CaseRow, ContactAttemptRow
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
from tests.helpers.eventually import eventually
from tests.helpers.portal import last_code
from tests.helpers.serving import served_here
from tests.helpers.temporal import CaseWorld, DevServer, make_worker
from web.mounts import desk_app
from web.portal.checkout import WEBHOOK_PATH
from web.portal.simulated_checkout import Simulator, application
from web.settings import WebSettings
from workflows.collection_case import CollectionCase

# The `default` ladder's first step: a friendly reminder SMS at 3 days past due.
SMS_DPD = 3
SECRET_KEY = "sk_test_browser"
WEBHOOK_SECRET = "whsec_browser"
LINK = re.compile(r"https?://\S+?(/p/[A-Za-z0-9_-]+)")
SCREENSHOTS_ENV = "PORTAL_SCREENSHOTS"

try:
    from playwright.async_api import Browser, Page, ViewportSize, async_playwright
except ImportError:  # pragma: no cover - only where the dev dependencies are not installed
    async_playwright = None  # type: ignore[assignment]

PHONE: ViewportSize = {"width": 390, "height": 844}


@asynccontextmanager
async def desk_served(world: CaseWorld, server: DevServer) -> AsyncIterator[str]:
    """The desk with the checkout's webhook mounted, on a loopback port of its own, on the
    test's case database, with the real clock; yields its URL."""
    store = Store.from_url(world.database_url)
    built = desk_app(
        WebSettings(port=0),
        store,
        temporal_client=caching_client(server.address),
        environ={"CHECKOUT_WEBHOOK_SECRET": WEBHOOK_SECRET},
        clock=lambda: datetime.now(UTC),
    )
    served = serve_in_thread(built.app, "127.0.0.1", 0, name="desk")
    try:
        yield served.url
    finally:
        served.stop()
        store.dispose()


async def open_case(server: DevServer, world: CaseWorld, zone: ZoneInfo) -> Any:
    """A case opened at the reminder SMS's days past due, in the borrower's zone `zone`."""
    data = case_input(datetime.now(zone).date() - timedelta(days=SMS_DPD))
    data["borrower"]["timezone"] = zone.key
    return await server.env.client.start_workflow(
        CollectionCase.run, data, id=f"collection-{data['loan_id']}", task_queue=world.task_queue
    )


async def link_in_outbox(world: CaseWorld, loan_id: str) -> tuple[str, str]:
    """The case's id and the link (as a path) the reminder SMS in the outbox carries."""
    store = Store.from_url(world.database_url)

    def sms() -> tuple[str, str] | None:
        with store.reading() as session:
            row = session.exec(
                select(ContactAttemptRow)
                .join(CaseRow, col(CaseRow.case_id) == col(ContactAttemptRow.case_id))
                .where(col(CaseRow.loan_id) == loan_id, col(ContactAttemptRow.channel) == "sms")
            ).first()
        found = LINK.search(row.body or "") if row is not None else None
        return (row.case_id, found.group(1)) if row is not None and found else None

    try:
        found = await eventually(sms, seconds=60)
    finally:
        store.dispose()
    assert found is not None
    return found


async def sign_in(page: Page, desk: str, world: CaseWorld, loan_id: str) -> None:
    """Open the SMS's link, press the button that sends the code, type the code: `/p/home`."""
    case_id, path = await link_in_outbox(world, loan_id)
    await page.goto(desk + path, wait_until="load")
    async with page.expect_navigation(wait_until="load"):
        await page.locator(f'form[action="{path}/code"] button[type=submit]').click()
    store = Store.from_url(world.database_url)
    try:
        code = last_code(store, case_id)
    finally:
        store.dispose()
    await page.fill('input[name="code"]', code)
    async with page.expect_navigation(wait_until="load"):
        await page.locator(f'form[action="{path}/verify"] button[type=submit]').click()
    assert urlsplit(page.url).path == "/p/home", page.url


async def propose_plan(page: Page) -> None:
    await page.fill("#plan-count", "3")
    async with page.expect_navigation(wait_until="load"):
        await page.locator('form[action="/p/plan"] button[type=submit]').click()


async def ask_for_a_call_back(page: Page, at: str) -> None:
    """Today (the form's first day) at `at` on the borrower's clock."""
    await page.fill("#callback-time", at)
    async with page.expect_navigation(wait_until="load"):
        await page.locator('form[action="/p/callback"] button[type=submit]').click()


async def pay_on_checkout(page: Page, provider: str) -> None:
    async with page.expect_navigation(wait_until="load"):
        await page.locator('form[action="/p/pay"] button[type=submit]').click()
    assert page.url.startswith(provider), page.url
    async with page.expect_navigation(wait_until="load"):
        await page.locator('button[type="submit"]').first.click()
    assert urlsplit(page.url).path == "/p/home", page.url


async def screenshots(page: Page, into: Path) -> None:
    """The home page in the borrower's Chinese and, after the language button, in English."""
    into.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(into / "portal-home-zh.png"))
    async with page.expect_navigation(wait_until="load"):
        await page.locator('button[data-action="lang"]').click()
    await page.screenshot(path=str(into / "portal-home-en.png"))


async def status_of(handle: Any) -> str:
    return str((await handle.query(CollectionCase.status))["status"])


async def call_backs_of(handle: Any) -> list[str]:
    contacts = (await handle.query(CollectionCase.status))["contacts"]
    return [c["at"] for c in contacts if c["template"] == "callback"]


async def test_borrowers_sign_in_on_a_phone_propose_a_plan_and_pay(
    dev_server: DevServer, case_world: CaseWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    chromium = browser_or_skip()
    zone = zone_at_local_hour(datetime.now(UTC))
    Store.from_url(case_world.database_url).migrate()
    async with make_worker(dev_server.env.client, case_world):
        planner = await open_case(dev_server, case_world, zone)
        payer = await open_case(dev_server, case_world, zone)
        async with desk_served(case_world, dev_server) as desk:
            simulator = Simulator(SECRET_KEY, WEBHOOK_SECRET, desk + WEBHOOK_PATH)
            async with served_here(application(simulator)) as provider, async_playwright() as pw:
                monkeypatch.setenv("CHECKOUT_BASE_URL", provider)
                monkeypatch.setenv("CHECKOUT_SECRET_KEY", SECRET_KEY)
                browser: Browser = await pw.chromium.launch(
                    executable_path=str(chromium), args=CHROMIUM_ARGS
                )
                try:
                    page = await (await browser.new_context(viewport=PHONE)).new_page()
                    page.set_default_timeout(PAGE_TIMEOUT_MS)
                    await sign_in(page, desk, case_world, planner.id.removeprefix("collection-"))
                    await propose_plan(page)
                    answer = page.locator("[data-answer]").first
                    assert "accepted" in (await answer.get_attribute("class") or ""), (
                        await answer.inner_text()
                    )
                    assert await page.locator("[data-installment]").count() == 3
                    if os.environ.get(SCREENSHOTS_ENV):
                        await screenshots(page, Path(os.environ[SCREENSHOTS_ENV]))
                    # Three hours on, inside the window on the borrower's clock (now 13:xx).
                    await ask_for_a_call_back(page, f"{LOCAL_HOUR + 3}:00")
                    answer = page.locator("[data-answer]").first
                    assert "accepted" in (await answer.get_attribute("class") or ""), (
                        await answer.inner_text()
                    )

                    page = await (await browser.new_context(viewport=PHONE)).new_page()
                    page.set_default_timeout(PAGE_TIMEOUT_MS)
                    await sign_in(page, desk, case_world, payer.id.removeprefix("collection-"))
                    await pay_on_checkout(page, provider)
                    await page.locator("[data-paid]").wait_for()
                finally:
                    await browser.close()
                assert await status_of(planner) == "in_plan"
                [call_back] = await eventually(lambda: call_backs_of(planner), bool, seconds=30)
                local = datetime.fromisoformat(call_back).astimezone(zone)
                assert (local.hour, local.minute) == (LOCAL_HOUR + 3, 0)
                # The webhook reaches the case beside the browser's return: wait for it.
                paid = await eventually(
                    lambda: status_of(payer), lambda status: status == "paid", seconds=30
                )
                assert paid == "paid"
        for handle in (planner, payer):
            await handle.terminate("test over")
