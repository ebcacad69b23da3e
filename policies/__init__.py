"""Escalation policies shipped as TOML files in this folder, validated at load."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from domain.errors import InvalidInput
from domain.policy import Policy, parse_policy
from templates import check_templates

POLICY_DIR = Path(__file__).parent


def available_policies() -> list[str]:
    return sorted(path.stem for path in POLICY_DIR.glob("*.toml"))


def load_policy(name: str) -> Policy:
    """Load and validate `policies/{name}.toml`; an unknown name is `InvalidInput('policy')`."""
    if name not in available_policies():
        raise InvalidInput(
            "policy", f"unknown policy {name!r}; known: {', '.join(available_policies())}"
        )
    data = _policy_data(name, seen=())
    try:
        policy = parse_policy(data)
    except InvalidInput as error:
        raise InvalidInput(f"policies/{name}.toml: {error.field}", error.problem) from None
    if policy.name != name:
        raise InvalidInput(f"policies/{name}.toml: name", f"must be {name!r}")
    try:
        check_templates((step.template, step.channel) for step in policy.ladder)
    except InvalidInput as error:
        raise InvalidInput(f"policies/{name}.toml: ladder", str(error)) from None
    return policy


def _policy_data(name: str, seen: tuple[str, ...]) -> dict[str, Any]:
    """The file's keys over those of the policy it `extends`, minus the keys it lists `without`."""
    if name in seen:
        raise InvalidInput(f"policies/{name}.toml: extends", "policies extend each other in a loop")
    with (POLICY_DIR / f"{name}.toml").open("rb") as file:
        data = tomllib.load(file)
    base_name = data.pop("extends", None)
    without = data.pop("without", [])
    if base_name is None:
        return data
    if base_name not in available_policies():
        raise InvalidInput(f"policies/{name}.toml: extends", f"unknown policy {base_name!r}")
    merged = {**_policy_data(base_name, (*seen, name)), **data}
    for key in without:
        merged.pop(key, None)
    return merged
