"""The sandbox cases run in (runtime.sandbox): its snippets compiled once, its guard intact."""

from __future__ import annotations

import uuid

from temporalio import workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import worker as worker_module
from runtime import sandbox
from tests.helpers.eventually import eventually
from tests.helpers.sandbox_workflows import ReadsTheWallClock, SaysHello
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
