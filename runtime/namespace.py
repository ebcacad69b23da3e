"""The namespace's custom search attributes: which the system needs and which the server has.

Shared by the worker (which refuses to start without them) and `starter.py setup` (which adds
them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import structlog
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

# Temporal Cloud endpoints: namespace endpoints (mTLS) and regional API-key endpoints.
CLOUD_HOST_SUFFIXES = (".tmprl.cloud", ".api.temporal.io")
# How a server refuses to let a client add search attributes (Temporal Cloud, or a
# cluster whose authorizer keeps it for administrators).
REFUSED = (RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNIMPLEMENTED)


def type_name(value: IndexedValueType.ValueType) -> str:
    """A value type as the `temporal` CLI and tcld spell it: Keyword, Int, KeywordList, ..."""
    words = IndexedValueType.Name(value).removeprefix("INDEXED_VALUE_TYPE_").split("_")
    return "".join(word.capitalize() for word in words)


def on_temporal_cloud(client: Client) -> bool:
    target = client.service_client.config.target_host
    host = target.rpartition(":")[0] or target
    return host.endswith(CLOUD_HOST_SUFFIXES)


def cloud_hint(namespace: str, missing: Mapping[str, IndexedValueType.ValueType]) -> str:
    """How to add `missing` where clients may not: tcld commands, or the Cloud UI."""
    commands = "\n".join(
        f"  tcld namespace search-attributes add --namespace {namespace} "
        f"--search-attribute {name}={type_name(kind)}"
        for name, kind in missing.items()
    )
    return (
        "Temporal Cloud does not let clients add search attributes: add them with tcld "
        f"(or in the Cloud UI: Namespaces > {namespace} > Edit > Custom Search Attributes), "
        f"then run setup again to check them:\n{commands}"
    )


async def list_search_attributes(client: Client) -> dict[str, IndexedValueType.ValueType]:
    """The namespace's custom search attributes and their types.

    Raises `RPCError`; its status is in `REFUSED` where the server does not let this client
    list them (Temporal Cloud with an API key lacking the rights, an authorizer).
    """
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    return dict(listed.custom_attributes)


@dataclass(frozen=True)
class AttributeCheck:
    """How a namespace's search attributes compare with the ones the system needs."""

    missing: dict[str, IndexedValueType.ValueType]
    present: list[str]
    # Name -> the type the server has; the needed type is in `wanted`.
    wrong_type: dict[str, IndexedValueType.ValueType]

    @property
    def complete(self) -> bool:
        return not self.missing and not self.wrong_type


def compare_search_attributes(
    wanted: Mapping[str, IndexedValueType.ValueType],
    existing: Mapping[str, IndexedValueType.ValueType],
) -> AttributeCheck:
    return AttributeCheck(
        missing={name: kind for name, kind in wanted.items() if name not in existing},
        present=[name for name, kind in wanted.items() if existing.get(name) == kind],
        wrong_type={
            name: existing[name]
            for name, kind in wanted.items()
            if name in existing and existing[name] != kind
        },
    )


async def add_search_attributes(
    client: Client, missing: Mapping[str, IndexedValueType.ValueType]
) -> str | None:
    """Add `missing` to the namespace: None once done, else why the server refused."""
    if on_temporal_cloud(client):
        return "Temporal Cloud"
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )
    except RPCError as error:
        if error.status not in REFUSED:
            raise
        return error.message
    return None


class NamespaceNotReady(Exception):
    """The namespace lacks what cases need (search attributes, or the namespace itself)."""


async def check_search_attributes(
    client: Client, wanted: Mapping[str, IndexedValueType.ValueType]
) -> None:
    """Refuse to run cases in a namespace that lacks the search attributes they set.

    Without them every case fails its workflow tasks over and over, visible only as
    warnings in the worker's log; better to stop at once and say what to do. Raises
    `NamespaceNotReady` (after logging the error); where the server does not let this
    client list the attributes, logs a warning and returns, so the worker still starts.
    """
    existing = await _listed_search_attributes(client)
    if existing is None:
        return
    check = compare_search_attributes(wanted, existing)
    if check.complete:
        return
    message = _attributes_not_ready_message(client.namespace, check, wanted)
    structlog.get_logger("worker").error(
        message,
        namespace=client.namespace,
        missing=list(check.missing),
        wrong_type=list(check.wrong_type),
    )
    raise NamespaceNotReady(message)


async def _listed_search_attributes(
    client: Client,
) -> dict[str, IndexedValueType.ValueType] | None:
    """The namespace's search attributes; None (after a warning) where the server refuses to
    list them. Raises `NamespaceNotReady` where the namespace does not exist."""
    log = structlog.get_logger("worker")
    namespace = client.namespace
    try:
        return await list_search_attributes(client)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            message = f"namespace {namespace} does not exist ({error.message})"
            log.error(message, namespace=namespace)
            raise NamespaceNotReady(message) from None
        if error.status not in REFUSED:
            raise
        log.warning(
            f"cannot list the search attributes of namespace {namespace} "
            f"({error.message}); starting without checking them: if cases fail their "
            "workflow tasks, run `python starter.py setup` to check and add them",
            namespace=namespace,
            rpc_status=error.status.name if error.status else None,
        )
        return None


def _attributes_not_ready_message(
    namespace: str,
    check: AttributeCheck,
    wanted: Mapping[str, IndexedValueType.ValueType],
) -> str:
    """What the namespace lacks or has wrong, and what the operator should do about it."""
    problems = []
    if check.missing:
        problems.append(f"lacks the search attributes {', '.join(check.missing)}")
    if check.wrong_type:
        problems.append(
            "has search attributes of the wrong type "
            + ", ".join(
                f"{name} ({type_name(kind)}, {type_name(wanted[name])} needed)"
                for name, kind in check.wrong_type.items()
            )
        )
    message = (
        f"namespace {namespace} {' and '.join(problems)}: run `python starter.py setup` "
        "against it (it adds the missing ones, or on Temporal Cloud prints the tcld "
        "commands), then start the worker again"
    )
    if check.wrong_type:
        # setup cannot fix these: a search attribute's type is fixed once registered.
        message += (
            f" (remove {', '.join(check.wrong_type)} from the namespace first: "
            "a search attribute's type cannot be changed)"
        )
    return message
