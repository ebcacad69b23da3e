"""What the collectors see: start the whole stack as `make run` does, sign in to the desk in
headless Chromium as the demo's users and save screenshots into docs/images/ for the README.

    make screenshots

Saves docs/images/desk-queue.png (agent1's queue), docs/images/desk-case.png (the case page
of the task at the top of it, once taken) and docs/images/desk-visits.png (field1's visits on
a phone-sized screen, 390x844), then stops the stack. The demo's `left_to_desk` loans give the
queue its call tasks and field1 its visits. Needs what scripts/screenshots.py needs.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from playwright.async_api import Browser, Page, ViewportSize, async_playwright

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR / "scripts"))

from screenshots import CHROMIUM, require_browser_and_cjk_font  # noqa: E402

IMAGES = PROJECT_DIR / "docs" / "images"
USERS_FILE = PROJECT_DIR / "var" / "desk-users.txt"
DESK = f"http://127.0.0.1:{os.environ.get('WEB_PORT', '8000')}"
STACK_TIMEOUT_SECONDS = 240
# A loan of the demo left to the desk (a Chinese name: the pictures show the CJK font at work).
DESK_CALL, DESK_VISIT = "L-1033", "L-1034"
PHONE: ViewportSize = {"width": 390, "height": 844}


def passwords() -> dict[str, str]:
    """The demo users' passwords, as run.sh wrote them (name, role, password a line)."""
    return {
        name: password
        for name, _, password in (line.split() for line in USERS_FILE.read_text().splitlines())
    }


def shown(user: str, password: str, path: str, pattern: str) -> bool:
    """Whether `path`, signed in as `user`, shows `pattern` yet (the demo's cases take a few
    seconds to reach their stage and be assigned)."""
    with httpx.Client(base_url=DESK, follow_redirects=True, timeout=10) as http:
        token = re.search(r'name="csrf_token" value="([^"]+)"', http.get("/login").text)
        assert token is not None
        form = {"username": user, "password": password, "csrf_token": token.group(1)}
        http.post("/login", data=form)
        return re.search(pattern, http.get(path).text) is not None


async def wait_for_desk() -> dict[str, str]:
    deadline = time.monotonic() + STACK_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            users = passwords()
            if shown("agent1", users["agent1"], "/queue", f'data-loan="{DESK_CALL}"') and shown(
                "field1", users["field1"], "/visits", f'data-visit="{DESK_VISIT}.'
            ):
                return users
        except (OSError, KeyError, ValueError, httpx.HTTPError):
            pass  # the stack is still starting
        await asyncio.sleep(2)
    raise SystemExit(
        f"no call task in agent1's queue and visit of field1 within {STACK_TIMEOUT_SECONDS} s"
    )


async def sign_in(page: Page, user: str, password: str) -> None:
    await page.goto(f"{DESK}/login", wait_until="load")
    await page.fill("#username", user)
    await page.fill("#password", password)
    async with page.expect_navigation(wait_until="load"):
        await page.click("button[type=submit]")


async def agent_pages(browser: Browser, password: str) -> None:
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await sign_in(page, "agent1", password)
    await page.screenshot(path=str(IMAGES / "desk-queue.png"), full_page=True)
    async with page.expect_navigation(wait_until="load"):
        await page.locator(f'[data-loan="{DESK_CALL}"] button[data-action="take"]').click()
    await page.locator('[data-field="status"]').first.wait_for()
    await page.screenshot(path=str(IMAGES / "desk-case.png"), full_page=True)
    await page.close()


async def field_page(browser: Browser, password: str) -> None:
    context = await browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True)
    page = await context.new_page()
    await sign_in(page, "field1", password)
    visit = page.locator(f'[data-visit^="{DESK_VISIT}."]').first
    await visit.wait_for()
    await visit.evaluate("card => card.scrollIntoView()")
    await page.screenshot(path=str(IMAGES / "desk-visits.png"))
    await context.close()


async def take_screenshots() -> None:
    users = await wait_for_desk()
    IMAGES.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        await agent_pages(browser, users["agent1"])
        await field_page(browser, users["field1"])
        await browser.close()
    print("saved docs/images/desk-queue.png, desk-case.png and desk-visits.png")


def main() -> None:
    require_browser_and_cjk_font()
    stack = subprocess.Popen(
        [str(PROJECT_DIR / "scripts" / "run.sh")],
        cwd=PROJECT_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        asyncio.run(take_screenshots())
    finally:
        # Ctrl-C to the whole stack, as an operator stops `make run`.
        os.killpg(stack.pid, signal.SIGINT)
        stack.wait(timeout=60)


if __name__ == "__main__":
    main()
