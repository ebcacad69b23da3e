"""The routing file (`runtime.settings.routing_path`: `COLLECTIONS_ROUTING`, default
`policies/routing.toml`), read and checked.

Every policy a rule names must exist, so a typo is refused when a worker starts, not when the
first case of that portfolio is prepared.
"""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path

from domain.errors import InvalidInput
from domain.routing import Route, parse_routing
from policies import POLICY_DIR, available_policies, shown_path

DEFAULT_ROUTING = POLICY_DIR / "routing.toml"


def load_routing(path: Path) -> list[Route]:
    """The rules of the routing file; a missing default file means no rules (every case
    `default`). A mistake is `InvalidInput('<file>: route[i].<key>')`."""
    shown = shown_path(path)
    if not path.exists():
        if path.resolve() == DEFAULT_ROUTING.resolve():
            return []
        raise InvalidInput(shown, "no such file")
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise InvalidInput(shown, f"cannot be read: {error}") from None
    try:
        routes = parse_routing(data)
    except InvalidInput as error:
        raise InvalidInput(f"{shown}: {error.field}", error.problem) from None
    known = set(available_policies())
    for index, rule in enumerate(routes):
        for policy in rule.policies:
            if policy not in known:
                key = "policy" if rule.experiment is None else _arm_key(rule, policy)
                raise InvalidInput(
                    f"{shown}: route[{index}].{key}",
                    f"unknown policy {policy!r}; known: {', '.join(sorted(known))}",
                )
    return routes


@functools.lru_cache(maxsize=8)
def _cached(path: Path, modified_ns: int) -> tuple[Route, ...]:
    return tuple(load_routing(path))


def current_routing(path: Path) -> list[Route]:
    """The routing file as it is now, read again only when it changed (a worker picks up an
    edited file for the cases it prepares next; prepared cases keep their choice)."""
    modified_ns = path.stat().st_mtime_ns if path.exists() else 0
    return list(_cached(path, modified_ns))


def _arm_key(rule: Route, policy: str) -> str:
    assert rule.experiment is not None
    return "champion" if rule.experiment.champion == policy else "challenger"
