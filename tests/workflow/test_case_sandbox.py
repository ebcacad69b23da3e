"""The sandbox cases run in (runtime.sandbox): its snippets compiled once, the serialization
context asked directly, the case's definition checked once (workflows.definition), its guard
intact."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from temporalio import workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import _runner as sdk_runner

import worker as worker_module
from runtime import sandbox
from tests.helpers.eventually import eventually
from tests.helpers.sandbox_workflows import CountsSignals, ReadsTheWallClock, SaysHello
from workflows import definition
from workflows.collection_case import CollectionCase


def test_this_sdk_runs_its_snippets_as_the_runner_expects() -> None:
    """If a new SDK changes its sandbox instance, this fails: the worker then falls back to
    the SDK's own runner (slower), and this module should follow the SDK."""
    assert sandbox.SDK_INSTANCE_AS_EXPECTED
    assert isinstance(worker_module.workflow_runner(), sandbox.CaseSandboxRunner)


def test_a_snippet_is_compiled_once() -> None:
    source = f"x_{uuid.uuid4().hex} = 1\n"
    first = sandbox.compiled(source)
    assert sandbox.compiled(source) is first
    scope: dict[str, object] = {}
    exec(first, scope)
    assert len([name for name in scope if name.startswith("x_")]) == 1


async def test_building_a_case_reuses_the_compiled_snippets() -> None:
    runner = worker_module.workflow_runner()
    defn = workflow._Definition.must_from_class(CollectionCase)
    runner.prepare_workflow(defn)
    before = sandbox.compiled.cache_info()
    runner.prepare_workflow(defn)
    after = sandbox.compiled.cache_info()
    # Building an instance runs two snippets (import the workflow, create it), both known.
    assert after.hits - before.hits == 2
    assert after.misses == before.misses


def _built_in_the_sandbox(
    workflow_class: type, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, list[str]]:
    """An instance of `workflow_class` as the worker's sandbox builds it, and the classes
    `@workflow.defn` checked while it was built (on the event loop, as a worker does)."""
    built: list[Any] = []
    checks: list[str] = []
    create = sandbox.CaseSandboxRunner.create_instance
    apply_to_class = workflow._Definition._apply_to_class

    def creating(runner: sandbox.CaseSandboxRunner, details: Any) -> Any:
        built.append(create(runner, details))
        return built[-1]

    def checking(cls: type, **options: Any) -> None:
        checks.append(cls.__name__)
        apply_to_class(cls, **options)

    monkeypatch.setattr(sandbox.CaseSandboxRunner, "create_instance", creating)
    monkeypatch.setattr(workflow._Definition, "_apply_to_class", staticmethod(checking))
    worker_module.workflow_runner().prepare_workflow(
        workflow._Definition.must_from_class(workflow_class)
    )
    return built[0], checks


async def test_a_case_built_in_the_sandbox_takes_over_the_checked_definition(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kept_before = dict(definition._CHECKED)
    instance, checks = _built_in_the_sandbox(CollectionCase, monkeypatch)
    in_sandbox = instance.globals_and_locals["__temporal_workflow_class"]
    checked = workflow._Definition.must_from_class(CollectionCase)
    # What the worker checked is read in the sandbox, never written there.
    assert kept_before == definition._CHECKED
    assert definition._CHECKED[
        ("workflows.collection_case", "CollectionCase", "CollectionCase")
    ] is (checked)
    taken_over = workflow._Definition.must_from_class(in_sandbox)
    # The module ran again in the sandbox (a class of its own), but nothing checked it again.
    assert in_sandbox is not CollectionCase
    assert checks == []
    assert taken_over.cls is in_sandbox
    assert taken_over.run_fn is vars(in_sandbox)["run"] is not CollectionCase.run
    assert workflow._Definition.from_run_fn(taken_over.run_fn) is taken_over
    assert taken_over.name == "CollectionCase"
    assert (taken_over.signals, taken_over.queries, taken_over.updates) == (
        checked.signals,
        checked.queries,
        checked.updates,
    )
    assert (taken_over.arg_types, taken_over.ret_type) == (checked.arg_types, checked.ret_type)


async def test_a_class_with_a_handler_of_its_own_is_checked_again_in_the_sandbox(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    instance, checks = _built_in_the_sandbox(CountsSignals, monkeypatch)
    in_sandbox = instance.globals_and_locals["__temporal_workflow_class"]
    assert checks.count("CountsSignals") == 1
    signal = workflow._Definition.must_from_class(in_sandbox).signals["counted"]
    assert signal.fn is vars(in_sandbox)["counted"] is not CountsSignals.counted


async def test_the_serialization_context_is_the_one_the_sdk_gives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    instance, _ = _built_in_the_sandbox(CollectionCase, monkeypatch)
    sdk_instance = sdk_runner._Instance
    context = instance.get_serialization_context(None)
    assert context == sdk_instance.get_serialization_context(instance, None)
    assert context.workflow_id == "sandbox-validate-workflow_id"
    assert instance.get_external_store_context(None) == (
        sdk_instance.get_external_store_context(instance, None)
    )


async def test_a_workflow_checked_again_runs(time_env: WorkflowEnvironment) -> None:
    task_queue = f"sandbox-{uuid.uuid4()}"
    async with Worker(
        time_env.client,
        task_queue=task_queue,
        workflows=[CountsSignals],
        workflow_runner=worker_module.workflow_runner(),
    ):
        handle = await time_env.client.start_workflow(
            "CountsSignals", id=f"sandbox-{uuid.uuid4()}", task_queue=task_queue
        )
        await handle.signal("counted")
        assert await handle.result() == 1


def _worker(env: WorkflowEnvironment, task_queue: str) -> Worker:
    return Worker(
        env.client,
        task_queue=task_queue,
        workflows=[ReadsTheWallClock, SaysHello],
        workflow_runner=worker_module.workflow_runner(),
    )


async def test_a_workflow_runs_in_it(time_env: WorkflowEnvironment) -> None:
    task_queue = f"sandbox-{uuid.uuid4()}"
    async with _worker(time_env, task_queue):
        said = await time_env.client.execute_workflow(
            "SaysHello", "borrower", id=f"sandbox-{uuid.uuid4()}", task_queue=task_queue
        )
    assert said.startswith("hello borrower at ")


async def test_it_still_refuses_the_wall_clock(own_time_env: WorkflowEnvironment) -> None:
    """The snippets run from code objects inside the same restrictions: a workflow that
    reads the wall clock fails its workflow task, naming the restriction. (On a server of its
    own: a workflow task failing again and again keeps a time-skipping server from skipping.)"""
    task_queue = f"sandbox-{uuid.uuid4()}"
    async with _worker(own_time_env, task_queue):
        handle = await own_time_env.client.start_workflow(
            "ReadsTheWallClock", id=f"sandbox-{uuid.uuid4()}", task_queue=task_queue
        )

        async def task_failures() -> list[str]:
            return [
                event.workflow_task_failed_event_attributes.failure.message
                async for event in handle.fetch_history_events()
                if event.HasField("workflow_task_failed_event_attributes")
            ]

        failures = await eventually(task_failures)
        await handle.terminate("test over")
    assert "datetime.datetime.now" in failures[0]
