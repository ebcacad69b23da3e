"""`@workflow.defn` for the case, its checks run once per worker process.

The sandbox runs the workflow's module afresh for every case it builds, and with it
`@workflow.defn`, which checks every member of the class, the inherited ones too (85 for a
case, each through the sandbox's wrapped `isinstance`): about 4.5 ms of CPU per case, an eighth
of the worker's (issue 19). `defn_checked_once` runs those checks when the worker imports the
module, and the case's class built again in a sandbox takes over that checked definition when
nothing in it could differ: the same bases (its handlers are theirs: shared modules, not
sandboxed) and no handler of its own. The module's code still runs in the sandbox, inside its
restrictions, for every case.

This reaches into the SDK's workflow `_Definition`, which is not public API. When a new SDK
version keeps it otherwise, the class is checked afresh, as `@workflow.defn` would.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TypeVar

from temporalio import workflow

# Workflow classes' definitions as `@workflow.defn` checked them outside the sandbox, by
# module, class and workflow name: written when the worker imports a workflow module, never
# from inside a sandbox, so no case can change what another case's class takes over.
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
