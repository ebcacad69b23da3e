"""Recorded histories of the workflow, which the replay tests replay."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle

from tests.helpers.paths import HISTORY_DIR


def workflow_code_version() -> str:
    """A short hash of the workflow's code and the domain it runs, naming recorded histories:
    each version of the code adds its own, none is ever overwritten."""
    digest = hashlib.sha256()
    for path in sorted([*Path("workflows").glob("*.py"), *Path("domain").glob("*.py")]):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:8]


async def save_history(handle: WorkflowHandle[Any, Any], name: str) -> None:
    """With RECORD_HISTORIES=1, keep this run's history for the replay test, beside the
    histories of earlier versions of the workflow (which running cases may still be on)."""
    if os.environ.get("RECORD_HISTORIES") == "1":
        path = HISTORY_DIR / f"{name}@{workflow_code_version()}.json"
        if not path.exists():
            history = await handle.fetch_history()
            path.write_text(history.to_json())
