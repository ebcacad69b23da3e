"""The worker refuses a namespace that lacks the search attributes cases set.

On the real dev server: `worker.py` as a process against a fresh namespace. Where a server
cannot be made to refuse listing (Temporal Cloud with an API key lacking the rights), a
fake operator service stands in.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from typing import cast

import pytest
from google.protobuf.duration_pb2 import Duration
from structlog.testing import capture_logs
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCStatusCode
from temporalio.testing import WorkflowEnvironment

import worker
from tests.helpers.cli import KEYWORD, FakeOperatorService, operator_client
from tests.helpers.processes import log_lines, process_env, run_process
from tests.helpers.temporal import CaseWorld, DevServer, start_worker_process
from workflows import search_attributes as sa

INT = IndexedValueType.INDEXED_VALUE_TYPE_INT


# -- the check itself, with a fake operator service ------------------------------------------
@pytest.mark.parametrize("refusal", [RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNIMPLEMENTED])
def test_check_warns_and_passes_where_the_server_cannot_list(refusal: RPCStatusCode) -> None:
    service = FakeOperatorService({}, refuse_list=refusal)
    with capture_logs() as logs:
        asyncio.run(worker.check_search_attributes(cast(Client, operator_client(service))))
    (entry,) = logs
    assert entry["log_level"] == "warning"
    assert entry["event"].startswith("cannot list the search attributes of namespace default")
    assert "starting without checking them" in entry["event"]
    assert entry["rpc_status"] == refusal.name


def test_check_names_missing_and_wrong_type_attributes() -> None:
    existing = {**sa.INDEXED_TYPES, "OutstandingMinor": KEYWORD}
    del existing["CollectionStage"], existing["DueDate"]
    service = FakeOperatorService(existing)
    with capture_logs() as logs, pytest.raises(worker.NamespaceNotReady) as refused:
        asyncio.run(worker.check_search_attributes(cast(Client, operator_client(service))))
    message = str(refused.value)
    assert "lacks the search attributes CollectionStage, DueDate" in message
    assert "wrong type OutstandingMinor (Keyword, Int needed)" in message
    assert "python starter.py setup" in message
    assert "remove OutstandingMinor from the namespace first" in message
    (entry,) = logs
    assert entry["log_level"] == "error"
    assert entry["missing"] == ["CollectionStage", "DueDate"]
    assert entry["wrong_type"] == ["OutstandingMinor"]
    assert service.added == []  # the worker only checks; setup is the operator's decision


def test_check_is_silent_when_every_attribute_is_there() -> None:
    # Extra attributes of other systems in the namespace are no concern of ours.
    service = FakeOperatorService({**sa.INDEXED_TYPES, "OtherTeamsAttribute": INT})
    with capture_logs() as logs:
        asyncio.run(worker.check_search_attributes(cast(Client, operator_client(service))))
    assert logs == []


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


async def test_worker_tuning_comes_from_the_environment(
    time_env: WorkflowEnvironment, case_world: CaseWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKER_ACTIVITY_THREADS", "3")
    monkeypatch.setenv("WORKER_WORKFLOW_POLLERS", "2")
    monkeypatch.setenv("WORKER_CACHED_CASES", "50")
    config = worker.create_worker(time_env.client).config()
    assert config["max_concurrent_activities"] == 3
    assert config["max_concurrent_workflow_task_polls"] == 2
    assert config["max_cached_workflows"] == 50
    monkeypatch.setenv("WORKER_WORKFLOW_TASKS", "lots")
    with pytest.raises(ValueError, match=r"^WORKER_WORKFLOW_TASKS: must be a whole number"):
        worker.create_worker(time_env.client)
