"""A worker on the dev server in front of a database behind the newest revision."""

from __future__ import annotations

import asyncio
import signal

import worker
from migrations import INITIAL_REVISION
from tests.helpers.migrations import HEAD, migrate_to
from tests.helpers.processes import log_lines, process_env, run_process
from tests.helpers.temporal import CaseWorld, DevServer, start_worker_process


# -- worker.py against a database behind the newest revision ---------------------------------------
async def test_worker_refuses_a_database_behind_until_migrated(
    dev_server: DevServer, case_world: CaseWorld
) -> None:
    """The operator's path: the worker refuses, `starter.py migrate`, the worker runs."""
    migrate_to(case_world.database_url, INITIAL_REVISION)
    env = process_env(dev_server, "default")

    code, _, err = await run_process("worker.py", env)
    assert code == worker.EXIT_DATABASE_NOT_READY, err
    (entry,) = [e for e in log_lines(err) if e["level"] == "error"]
    assert (entry["revision"], entry["head"]) == (INITIAL_REVISION, HEAD)
    assert "python starter.py migrate" in entry["event"]
    assert "worker started" not in err
    assert "Traceback" not in err

    code, out, err = await run_process("starter.py", env, "migrate")
    assert code == 0, err
    assert f"{INITIAL_REVISION} -> {HEAD}" in out

    process = await start_worker_process(env)
    process.send_signal(signal.SIGTERM)
    await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0
