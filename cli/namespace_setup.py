"""`setup`: register the project's custom search attributes on the connected namespace.

Idempotent: attributes already there are left alone and only the missing ones are added.
An attribute that exists with another type is reported (its type cannot be changed).
Temporal Cloud does not let clients add search attributes through the operator service;
there the operator adds them with `tcld` or in the Cloud UI, and `setup` says how.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from cli.console import EXIT_ERROR, EXIT_OK, err, out
from workflows.search_attributes import INDEXED_TYPES

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


async def set_up_namespace(
    client: Client, wanted: Mapping[str, IndexedValueType.ValueType] = INDEXED_TYPES
) -> int:
    """Add the missing search attributes and report each one; exit 1 on a type conflict
    or when the server does not let clients add them."""
    namespace = client.namespace
    try:
        existing = await list_search_attributes(client)
    except RPCError as error:
        if error.status not in REFUSED:
            raise
        err(f"cannot list the search attributes of {namespace} ({error.message})")
        err(cloud_hint(namespace, wanted))
        return EXIT_ERROR
    check = compare_search_attributes(wanted, existing)
    missing, present, conflicting = check.missing, check.present, check.wrong_type

    refusal = await add_search_attributes(client, missing) if missing else None
    if refusal is not None:
        err(f"cannot add search attributes to {namespace} ({refusal})")
        err(cloud_hint(namespace, missing))
        return EXIT_ERROR

    for name, kind in wanted.items():
        if name in missing:
            out(f"added {name} ({type_name(kind)})")
        elif name in present:
            out(f"already present {name} ({type_name(kind)})")
        else:
            err(
                f"wrong type {name}: {type_name(existing[name])} on the server, "
                f"{type_name(kind)} needed (a type cannot be changed: remove the attribute "
                "from the namespace, then run setup again)"
            )
    summary = f"namespace {namespace}: added {len(missing)}, already present {len(present)}"
    if conflicting:
        summary += f", wrong type {len(conflicting)}"
    out(summary)
    return EXIT_ERROR if conflicting else EXIT_OK
