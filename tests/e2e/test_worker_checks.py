"""The worker refuses a namespace that lacks the search attributes cases set.

On the real dev server: `worker.py` as a process against a fresh namespace. Where a server
cannot be made to refuse listing (Temporal Cloud with an API key lacking the rights), a
fake operator service stands in.
"""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from pathlib import Path

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest

import worker
from tests.helpers.cli import KEYWORD
from tests.helpers.processes import log_lines, process_env, run_process
from tests.helpers.temporal import CaseWorld, DevServer, start_worker_process
from workflows import search_attributes as sa


# -- worker.py against the real dev server --------------------------------------------------
async def fresh_namespace(server: DevServer, **attributes: IndexedValueType.ValueType) -> str:
    """A new namespace on the dev server with only `attributes` as custom search attributes."""
    namespace = f"fresh-{uuid.uuid4().hex[:8]}"
    client = server.env.client
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=namespace, workflow_execution_retention_period=Duration(seconds=86400)
        )
    )
    if attributes:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=attributes)
        )
    return namespace


async def test_worker_refuses_a_namespace_without_the_search_attributes(
    dev_server: DevServer, case_world: CaseWorld
) -> None:
    # One right, one of the wrong type, the rest missing.
    namespace = await fresh_namespace(dev_server, LoanId=KEYWORD, OutstandingMinor=KEYWORD)
    code, _, err = await run_process("worker.py", process_env(dev_server, namespace))
    assert code == worker.EXIT_NAMESPACE_NOT_READY, err
    (entry,) = [e for e in log_lines(err) if e["level"] == "error"]
    assert entry["namespace"] == namespace
    assert entry["missing"] == [
        name for name in sa.INDEXED_TYPES if name not in ("LoanId", "OutstandingMinor")
    ]
    assert entry["wrong_type"] == ["OutstandingMinor"]
    assert "CollectionStage" in entry["event"] and "python starter.py setup" in entry["event"]
    assert "worker started" not in err
    assert "Traceback" not in err


async def test_worker_refuses_a_namespace_that_does_not_exist(
    dev_server: DevServer, case_world: CaseWorld
) -> None:
    env = process_env(dev_server, f"no-such-{uuid.uuid4().hex[:8]}")
    code, _, err = await run_process("worker.py", env)
    assert code == worker.EXIT_NAMESPACE_NOT_READY, err
    assert "does not exist" in err
    assert "worker started" not in err


async def test_worker_starts_once_setup_has_added_the_attributes(
    dev_server: DevServer, case_world: CaseWorld
) -> None:
    """The operator's path: the worker refuses, `starter.py setup`, the worker runs."""
    namespace = await fresh_namespace(dev_server)
    env = process_env(dev_server, namespace)
    code, _, err = await run_process("worker.py", env)
    assert code == worker.EXIT_NAMESPACE_NOT_READY, err

    code, out, err = await run_process("starter.py", env, "setup")
    assert code == 0, err
    assert f"added {len(sa.INDEXED_TYPES)}, already present 0" in out

    process = await start_worker_process(env)
    process.send_signal(signal.SIGTERM)
    await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0


@pytest.mark.parametrize("processes", ["1", "2"])
async def test_worker_refuses_a_broken_routing_file_naming_the_rule(
    tmp_path: Path, processes: str
) -> None:
    """Before it connects anywhere: one process, or the parent of several, which starts no
    child with a setting every child would fail on."""
    routing = tmp_path / "routing.toml"
    routing.write_text(
        '[[route]]\npolicy = "default"\n[[route]]\nexperiment = "e"\nchampion = "default"\n'
        'challenger = "firmer"\nchallenger_share = 0.2\n'
    )
    env = {
        **os.environ,
        "COLLECTIONS_ROUTING": str(routing),
        "WORKER_PROCESSES": processes,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cases.db'}",
        # Nothing listens here: the worker must stop before it tries.
        "TEMPORAL_ADDRESS": "127.0.0.1:1",
    }
    code, _, stderr = await run_process("worker.py", env)
    [refusal] = [line for line in log_lines(stderr) if line.get("level") == "error"]
    assert code == 2
    assert "route[1].challenger: unknown policy 'firmer'" in refusal["event"]
    assert str(routing) in refusal["event"]
