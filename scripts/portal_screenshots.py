"""What the borrower sees: retake docs/images/portal-home-zh.png and portal-home-en.png, the
borrower's page on a phone (390x844) in Chinese and in English.

    make screenshots

The pictures are taken by the real-browser test tests/e2e/test_portal_browser.py (its own
Temporal dev server, worker, desk and simulated checkout) with PORTAL_SCREENSHOTS set, so they
show the page exactly as that test drives it. Fails if the test fails or skips, or if either
picture was not written anew. Needs what scripts/screenshots.py needs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR / "scripts"))

from screenshots import require_browser_and_cjk_font  # noqa: E402

IMAGES = PROJECT_DIR / "docs" / "images"
PICTURES = ("portal-home-zh.png", "portal-home-en.png")
BROWSER_TEST = "tests/e2e/test_portal_browser.py"


def main() -> None:
    require_browser_and_cjk_font()
    started = time.time()
    # CI=true: without Chromium the test fails instead of skipping, and so does this.
    env = {**os.environ, "PORTAL_SCREENSHOTS": str(IMAGES), "CI": "true"}
    test = [str(PROJECT_DIR / "scripts" / "pytest.sh"), BROWSER_TEST, "-q", "-p", "no:randomly"]
    if subprocess.run(test, cwd=PROJECT_DIR, env=env).returncode != 0:
        raise SystemExit(f"{BROWSER_TEST} failed: no pictures retaken")
    stale = [name for name in PICTURES if (IMAGES / name).stat().st_mtime < started]
    if stale:
        raise SystemExit(f"not retaken: {', '.join(stale)} (did {BROWSER_TEST} skip?)")
    for name in PICTURES:
        print(f"saved {IMAGES / name}")


if __name__ == "__main__":
    main()
