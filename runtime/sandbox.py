"""The workflow sandbox, at less cost per case: its snippets compiled once per process, its
payloads' serialization context asked directly, and the workflow's definition checked once.

The SDK's sandbox enters each case through a few lines of source it `exec`s: to build the
case, for every activation, and for every payload it encodes or decodes (to ask the case for
its serialization context). `exec` of a string compiles it anew each time: about 40 times
per `demo` case until its first contact, two fifths of each such call (a serialization-context
call 60 -> 36 us of CPU, measured in one process; issue 19). The snippets are a handful of fixed
strings, so their code objects are kept and reused; what runs, and inside which restrictions,
is the same.

For every payload of a workflow task (several times each: to decode, to encode, for external
storage) the SDK asks the case for the payload's serialization context by entering the sandbox
(another snippet, with the sandbox's import hooks and restricted builtins put in place and taken
away again). The answer is a small record the SDK builds from the case's info and its pending
commands, in SDK code that imports nothing and reads no clock: it is asked directly.

The sandbox runs the workflow's module afresh for every case it builds, and with it
`@workflow.defn`, which checks every member of the class, the inherited ones too (85 for a
case, each through the sandbox's wrapped `isinstance`): about 4.5 ms of CPU per case, an eighth
of the worker's. `defn_checked_once` runs those checks when the worker imports the module, and
a case's class built in the sandbox takes over that checked definition when nothing in it could
differ: the same bases (its handlers are theirs, shared, not sandboxed) and no handler of its
own. The module's code still runs in the sandbox, inside its restrictions, for every case.

This reaches into the SDK's `_Instance` and workflow `_Definition`, which are not public API.
When a new SDK version no longer has them as this module expects, the worker runs the SDK's own
sandbox and checks instead (and says so in its log): slower, never different.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from types import CodeType
from typing import Any, TypeVar

import structlog
from temporalio import workflow
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions
from temporalio.worker.workflow_sandbox import _runner as sdk_runner

log = structlog.get_logger(__name__)

# The SDK's snippets differ only by the workflow class's module and name: a few per process.
SNIPPETS_KEPT = 32
# Workflow classes' definitions as `@workflow.defn` checked them outside the sandbox, by
# module, class and workflow name: one per workflow class of the process.
_CHECKED: dict[tuple[str, str, str], workflow._Definition] = {}
# What marks a member of a workflow class as a handler or the run method for `@workflow.defn`.
HANDLER_MARKS = (
    "__temporal_workflow_run",
    "__temporal_signal_definition",
    "__temporal_query_definition",
    "__temporal_workflow_dynamic_config",
    "_defn",  # an update method
)
Workflow = TypeVar("Workflow", bound=type)


@functools.lru_cache(maxsize=SNIPPETS_KEPT)
def compiled(source: str) -> CodeType:
    """`source` as a code object, compiled once per process."""
    return compile(source, "<workflow sandbox>", "exec")


def _sdk_instance_as_expected() -> bool:
    """Whether the SDK's sandbox instance runs its snippets through `_run_code(code, **globals)`."""
    run_code = getattr(getattr(sdk_runner, "_Instance", None), "_run_code", None)
    if run_code is None:
        return False
    parameters = list(inspect.signature(run_code).parameters.values())
    return [p.name for p in parameters[:2]] == ["self", "code"] and parameters[-1].kind is (
        inspect.Parameter.VAR_KEYWORD
    )


SDK_INSTANCE_AS_EXPECTED = _sdk_instance_as_expected()
if SDK_INSTANCE_AS_EXPECTED:

    class _CompiledOnceInstance(sdk_runner._Instance):
        def _run_code(self, code: Any, **extra_globals: Any) -> None:
            # The SDK hands the snippet to `exec`, which takes a code object as it takes a string.
            snippet = compiled(code) if isinstance(code, str) else code
            super()._run_code(snippet, **extra_globals)  # type: ignore[arg-type]

        def get_serialization_context(self, command_info: Any) -> Any:
            in_sandbox: Any = self.globals_and_locals.get("__temporal_in_sandbox")
            if in_sandbox is None:
                return super().get_serialization_context(command_info)
            return in_sandbox.get_serialization_context(command_info)

        def get_external_store_context(self, command_info: Any) -> Any:
            in_sandbox: Any = self.globals_and_locals.get("__temporal_in_sandbox")
            if in_sandbox is None:
                return super().get_external_store_context(command_info)
            return in_sandbox.get_external_store_context(command_info)


class CaseSandboxRunner(SandboxedWorkflowRunner):
    """`SandboxedWorkflowRunner`, whose cases run the SDK's snippets compiled once (or the
    SDK's own instances, where its sandbox is not as this module expects)."""

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        if not SDK_INSTANCE_AS_EXPECTED:
            return super().create_instance(det)
        return _CompiledOnceInstance(det, self.runner_class, self.restrictions)


def case_sandbox(restrictions: SandboxRestrictions) -> SandboxedWorkflowRunner:
    """The sandbox cases run in: snippets compiled once where the SDK allows it."""
    if not SDK_INSTANCE_AS_EXPECTED:
        log.warning(
            "workflow sandbox: this SDK version runs its snippets otherwise; using its own runner"
        )
    return CaseSandboxRunner(restrictions=restrictions)


def _definition_fields_as_expected() -> bool:
    """Whether the SDK's workflow definition has the fields `defn_checked_once` replaces."""
    names = {field.name for field in dataclasses.fields(workflow._Definition)}
    return {"cls", "run_fn", "signals", "queries", "updates"} <= names


DEFINITION_AS_EXPECTED = _definition_fields_as_expected()


def defn_checked_once(*, name: str) -> Callable[[Workflow], Workflow]:
    """`@workflow.defn(name=name)`, whose checks run once per process (see the module's doc)."""

    def decorator(cls: Workflow) -> Workflow:
        key = (cls.__module__, cls.__qualname__, name)
        checked = _CHECKED.get(key)
        if (
            DEFINITION_AS_EXPECTED
            and checked is not None
            and workflow.unsafe.in_sandbox()
            and _takes_over(cls, checked)
        ):
            return cls
        cls = workflow.defn(name=name)(cls)
        if not workflow.unsafe.in_sandbox():
            _CHECKED[key] = workflow._Definition.must_from_class(cls)
        return cls

    return decorator


def _takes_over(cls: type, checked: workflow._Definition) -> bool:
    """Give `cls`, the checked class built again, the checked definition, when nothing in it
    could differ: the same bases, and no handler of its own but the run method."""
    if cls.__bases__ != checked.cls.__bases__:
        return False
    run_name = checked.run_fn.__name__
    own = vars(cls)
    for member_name, member in own.items():
        if member_name != run_name and any(hasattr(member, mark) for mark in HANDLER_MARKS):
            return False
    run_fn = own.get(run_name)
    if run_fn is None or not hasattr(run_fn, "__temporal_workflow_run"):
        return False
    defn = dataclasses.replace(checked, cls=cls, run_fn=run_fn)
    setattr(cls, "__temporal_workflow_definition", defn)
    setattr(run_fn, "__temporal_workflow_definition", defn)
    # Where the SDK keeps a definition elsewhere, the class is checked afresh as it would be.
    return (
        workflow._Definition.from_class(cls) is defn
        and workflow._Definition.from_run_fn(run_fn) is defn
    )
