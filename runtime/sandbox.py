"""The workflow sandbox, at less cost per case: its snippets compiled once per process and
its payloads' serialization context asked directly (the workflow's definition is checked once
too: `workflows.definition`).

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

This reaches into the SDK's `_Instance`, which is not public API. When a new SDK version no
longer has it as this module expects, the worker runs the SDK's own sandbox instead (and says
so in its log): slower, never different.
"""

from __future__ import annotations

import functools
import inspect
from types import CodeType
from typing import Any

import structlog
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions
from temporalio.worker.workflow_sandbox import _runner as sdk_runner

log = structlog.get_logger(__name__)

# The SDK's snippets differ only by the workflow class's module and name: a few per process.
SNIPPETS_KEPT = 32


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

        def _in_sandbox(self) -> Any:
            """The case's object inside the sandbox; None until it is built."""
            return self.globals_and_locals.get("__temporal_in_sandbox")

        def get_serialization_context(self, command_info: Any) -> Any:
            if (in_sandbox := self._in_sandbox()) is None:
                return super().get_serialization_context(command_info)
            return in_sandbox.get_serialization_context(command_info)

        def get_external_store_context(self, command_info: Any) -> Any:
            if (in_sandbox := self._in_sandbox()) is None:
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
