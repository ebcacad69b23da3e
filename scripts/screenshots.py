"""What the operator sees: start the whole stack as `make run` does, open the Temporal UI in
headless Chromium and save screenshots into docs/ for the README.

    make screenshots

Saves docs/ui-cases-by-stage.png (the case list filtered by stage) and docs/ui-case.png (one
case's page: its summary, current details and its input, decoded by the codec server), then
stops the stack. Needs Debian's `chromium` (/usr/bin/chromium), a CJK font (Debian's
`fonts-noto-cjk`: the demo borrowers' names are Chinese, and without it they render as boxes)
and the `playwright` package (`make screenshots` installs it into .venv; its own browser
download is not used).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

from playwright.async_api import Page, async_playwright
from temporalio.client import Client

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from runtime import settings  # noqa: E402

DOCS = PROJECT_DIR / "docs"
UI = "http://localhost:8233"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
STAGE = "phone"
STACK_TIMEOUT_SECONDS = 240
CJK_FONT_PACKAGE = "fonts-noto-cjk"


def require_browser_and_cjk_font() -> None:
    """Refuse before starting the stack, naming what to install, rather than take pictures in
    which the borrowers' names are boxes."""
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"no Chromium at {CHROMIUM}: apt-get install chromium (or set CHROMIUM)")
    try:
        fonts = subprocess.run(
            ["fc-list", ":lang=zh", "family"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        raise SystemExit(
            f"cannot list fonts with fc-list ({error}): apt-get install fontconfig"
        ) from error
    if not fonts.strip():
        raise SystemExit(
            "no CJK font (fc-list :lang=zh finds none), so Chinese names would render as boxes:"
            f" apt-get install {CJK_FONT_PACKAGE}"
        )


async def wait_for_cases(client: Client, query: str, at_least: int) -> None:
    deadline = time.monotonic() + STACK_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            if (await client.count_workflows(query)).count >= at_least:
                return
        except Exception:  # the server is still starting
            pass
        await asyncio.sleep(2)
    raise SystemExit(f"no case matched {query!r} within {STACK_TIMEOUT_SECONDS} s")


async def connect() -> Client:
    deadline = time.monotonic() + STACK_TIMEOUT_SECONDS
    while True:
        try:
            return await settings.connect_client()
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(2)


async def settle(page: Page, shown: str, seconds: float = 3) -> None:
    # A running case's page keeps polling, so "networkidle" never comes: wait for load and for
    # `shown` on the page, then give the UI a moment to decode payloads via the codec server.
    await page.wait_for_load_state("load")
    await page.get_by_text(shown).first.wait_for(timeout=60_000)
    await page.wait_for_timeout(seconds * 1000)


async def take_screenshots(client: Client) -> None:
    query = f'CollectionStage = "{STAGE}" AND ExecutionStatus = "Running"'
    await wait_for_cases(client, query, at_least=2)
    async for execution in client.list_workflows(query, limit=1):
        workflow_id, run_id = execution.id, execution.run_id
    DOCS.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = await browser.new_page(viewport={"width": 1600, "height": 1000})
        await page.goto(f"{UI}/namespaces/default/workflows?query={quote(query)}")
        await settle(page, "collection-L-")
        await page.screenshot(path=str(DOCS / "ui-cases-by-stage.png"))
        await page.goto(f"{UI}/namespaces/default/workflows/{workflow_id}/{run_id}/history")
        await settle(page, "Event History", 8)
        await page.screenshot(path=str(DOCS / "ui-case.png"), full_page=True)
        await browser.close()
    print(f"saved docs/ui-cases-by-stage.png and docs/ui-case.png ({workflow_id})")


async def main() -> None:
    require_browser_and_cjk_font()
    stack = subprocess.Popen(
        [str(PROJECT_DIR / "scripts" / "run.sh")],
        cwd=PROJECT_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        client = await connect()
        await take_screenshots(client)
    finally:
        # Ctrl-C to the whole stack, as an operator stops `make run`.
        os.killpg(stack.pid, signal.SIGINT)
        stack.wait(timeout=60)


if __name__ == "__main__":
    asyncio.run(main())
    sys.stdout.flush()
    os._exit(0)
