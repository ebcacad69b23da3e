"""Escalation policies shipped as TOML files in this folder, validated at load."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

from domain.caps import Rule, policy_rules
from domain.errors import InvalidInput
from domain.policy import Policy, parse_policy
from templates import check_templates

POLICY_DIR = Path(__file__).parent
# TOML files of this folder that configure something else than a policy (`policies.routing`,
# `policies.unit_costs`).
NOT_POLICIES = frozenset({"routing", "unit_costs"})


def available_policies() -> list[str]:
    return sorted(path.stem for path in POLICY_DIR.glob("*.toml") if path.stem not in NOT_POLICIES)


def shown_path(path: Path) -> str:
    """A configuration file's path as errors name it: relative to the checkout when inside."""
    resolved = path.resolve()
    checkout = POLICY_DIR.parent
    return str(resolved.relative_to(checkout)) if resolved.is_relative_to(checkout) else str(path)


def load_policy(name: str) -> Policy:
    """Load and validate `policies/{name}.toml`; an unknown name is `InvalidInput('policy')`,
    a mistake in the file is `InvalidInput('policies/{name}.toml: <key>')`."""
    return _load(name)[0]


def rules(name: str) -> list[Rule]:
    """Every contact rule of policy `name`, its figure and (from the file's `[sources]`) where
    the figure comes from: the rows of the README's compliance table."""
    policy, sources = _load(name)
    return [replace(rule, source=sources.get(rule.name, "")) for rule in policy_rules(policy)]


def _load(name: str) -> tuple[Policy, dict[str, str]]:
    if name not in available_policies():
        raise InvalidInput(
            "policy", f"unknown policy {name!r}; known: {', '.join(available_policies())}"
        )
    data = _policy_data(name, seen=())
    # Where each rule's figure comes from: documentation, not a rule, so not in the Policy
    # (which every case carries in its history).
    raw_sources = data.pop("sources", {})
    try:
        policy = parse_policy(data)
        sources = _sources(raw_sources, policy)
    except InvalidInput as error:
        raise InvalidInput(f"policies/{name}.toml: {error.field}", error.problem) from None
    if policy.name != name:
        raise InvalidInput(f"policies/{name}.toml: name", f"must be {name!r}")
    # Every step's template has a text for its channel in every locale a borrower may have.
    for index, step in enumerate(policy.ladder):
        try:
            check_templates([(step.template, step.channel)])
        except InvalidInput as error:
            raise InvalidInput(
                f"policies/{name}.toml: ladder[{index}].template", str(error)
            ) from None
    return policy, sources


def _sources(raw: Any, policy: Policy) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise InvalidInput("sources", "must be a table of rule names and citations")
    names = {rule.name for rule in policy_rules(policy)}
    for key, value in raw.items():
        if key not in names:
            raise InvalidInput(f"sources.{key}", "is not a rule of this policy")
        if not isinstance(value, str) or not value:
            raise InvalidInput(f"sources.{key}", "must be a non-empty string")
    return dict(raw)


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
