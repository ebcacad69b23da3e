"""`setup`: register the project's custom search attributes on the connected namespace.

Idempotent: attributes already there are left alone and only the missing ones are added.
An attribute that exists with another type is reported (its type cannot be changed).
Temporal Cloud does not let clients add search attributes through the operator service;
there the operator adds them with `tcld` or in the Cloud UI, and `setup` says how.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.client import Client
from temporalio.service import RPCError

from cli.arguments import ClientFactory, CommandSet
from cli.console import EXIT_ERROR, EXIT_OK, err, out
from runtime.namespace import (
    REFUSED,
    add_search_attributes,
    cloud_hint,
    compare_search_attributes,
    list_search_attributes,
    type_name,
)
from workflows.search_attributes import INDEXED_TYPES


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


async def cmd_setup(args: argparse.Namespace, connect: ClientFactory) -> int:
    return await set_up_namespace(await connect())


def register(commands: CommandSet) -> None:
    commands.add(
        "setup",
        cmd_setup,
        "Register the custom search attributes on the namespace (only the missing ones).",
    )
