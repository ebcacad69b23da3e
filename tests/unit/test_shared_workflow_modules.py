"""The workflow's helper modules the sandbox shares between cases (worker.workflow_runner).

A shared module is imported once per worker process: any state it kept at module level would
be seen by every case, which the sandbox exists to prevent. So every module of `workflows` but
the workflow's own is shared, and holds only values nothing can change.
"""

from __future__ import annotations

import importlib
import pkgutil
import types
from dataclasses import fields, is_dataclass
from datetime import timedelta, timezone
from typing import Any, TypeVar

from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
from temporalio.common import Priority, RetryPolicy

import workflows
from worker import SHARED_WORKFLOW_MODULES

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


def test_a_shared_module_keeps_nothing_a_case_could_change() -> None:
    changeable = {
        f"{name}.{attribute}"
        for name in SHARED_WORKFLOW_MODULES
        for attribute, value in vars(importlib.import_module(name)).items()
        if not attribute.startswith("__") and not unchangeable(value)
    }
    assert changeable == set()


def test_the_check_tells_a_list_from_a_tuple() -> None:
    assert unchangeable(("a", 1, timedelta(seconds=1)))
    assert not unchangeable(["a"])
    assert not unchangeable({"a": 1})
