"""The project's scripts run as processes, as a deployment runs them, and what they log."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from tests.helpers.paths import PROJECT_DIR
from tests.helpers.temporal import DevServer


def process_env(server: DevServer, namespace: str) -> dict[str, str]:
    """The environment of a script run on `server`; `worker.py` in it is one worker process."""
    return {
        **os.environ,
        "TEMPORAL_ADDRESS": server.address,
        "TEMPORAL_NAMESPACE": namespace,
        "WORKER_PROCESSES": "1",
    }


async def run_process(script: str, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(PROJECT_DIR / script),
        *args,
        cwd=PROJECT_DIR,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def log_lines(stderr: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
