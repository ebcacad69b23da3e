"""The workflow's helper modules the sandbox shares between cases (worker.workflow_runner).

A shared module is imported once per worker process: any state it kept at module level would
be seen by every case, which the sandbox exists to prevent. So every module of `workflows` but
the workflow's own is shared, and holds only values nothing can change.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import types
from dataclasses import fields, is_dataclass
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
from temporalio.common import Priority, RetryPolicy

import workflows
from worker import SHARED_WORKFLOW_MODULES
from workflows import case_base

SANDBOXED = {"workflows.collection_case"}
UNCHANGEABLE = (
    int,
    float,
    str,
    bytes,
    bool,
    type(None),
    timedelta,
    timezone,
    frozenset,
    TypeVar,
    types.UnionType,
    type(annotations),
    EnumTypeWrapper,
)
# Options handed to the SDK with each command; nothing in the workflow assigns to them.
SDK_OPTIONS = (RetryPolicy, Priority)


def unchangeable(value: Any) -> bool:
    if isinstance(value, tuple):
        return all(unchangeable(item) for item in value)
    if isinstance(value, (*UNCHANGEABLE, type, types.ModuleType)):
        return True
    if isinstance(value, types.MappingProxyType):
        return all(unchangeable(item) for item in value.values())
    if isinstance(value, SDK_OPTIONS):
        return True
    if callable(value):
        return True
    if is_dataclass(value) and not isinstance(value, type):
        frozen = type(value).__dataclass_params__.frozen  # type: ignore[attr-defined]
        return bool(frozen) and all(unchangeable(getattr(value, f.name)) for f in fields(value))
    return False


def test_every_module_of_the_workflows_package_but_the_workflows_own_is_shared() -> None:
    modules = {f"workflows.{info.name}" for info in pkgutil.iter_modules(workflows.__path__)}
    assert set(SHARED_WORKFLOW_MODULES) == modules - SANDBOXED


# The one exception, and why: the definitions `@workflow.defn` checked when the worker imported
# a workflow module, written only outside the sandbox (tests/workflow/test_case_sandbox.py
# builds a case and finds it unchanged), read by the case's class built again in a sandbox.
WRITTEN_OUTSIDE_THE_SANDBOX = {"workflows.definition._CHECKED"}


def test_a_shared_module_keeps_nothing_a_case_could_change() -> None:
    changeable = {
        f"{name}.{attribute}"
        for name in SHARED_WORKFLOW_MODULES
        for attribute, value in vars(importlib.import_module(name)).items()
        if not attribute.startswith("__") and not unchangeable(value)
    }
    assert changeable == WRITTEN_OUTSIDE_THE_SANDBOX


def test_the_check_tells_a_list_from_a_tuple() -> None:
    assert unchangeable(("a", 1, timedelta(seconds=1)))
    assert not unchangeable(["a"])
    assert not unchangeable({"a": 1})


def test_the_bundle_of_changes_stands_for_a_fixed_set() -> None:
    """A case begun with ALL_CHANGES_SO_FAR skips the markers of exactly these changes. Adding
    a change to the set would make running cases of this version replay it as taken: a new
    change is asked on its own (`workflow.patched`), or a new bundle id takes it in."""
    assert (
        "all-changes-to-2026-12-04",
        frozenset(
            {
                "stage-follows-ladder",
                "audit-case-completed",
                "refused-sends-do-not-count",
                "calendar-days-past-due",
                "audit-deferrals",
                "contact-records-given-back",
                "call-task-sla",
                "assign-collector",
                "strategy-arm",
                "callback-request",
                "wrong-number-retires-phone",
                "visit-outcomes-act",
            }
        ),
    ) == (case_base.ALL_CHANGES_SO_FAR, case_base.CHANGES_SO_FAR)


def test_every_change_the_workflow_asks_is_in_the_bundle_or_asked_on_its_own() -> None:
    """Each `_changed("…")` of the workflow's modules names a change of the bundle (changes
    made after it would appear here beside it, asked with `workflow.patched`)."""
    asked = {
        match
        for path in Path(workflows.__path__[0]).glob("*.py")
        for match in re.findall(r'_changed\("([^"]+)"\)', path.read_text())
    }
    assert asked == set(case_base.CHANGES_SO_FAR)
