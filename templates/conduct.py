"""The rules of conduct on a call, per locale (`templates/{locale}/_conduct.toml`): the desk's
case page shows them beside the call script. They are data, like the notices, so compliance
can change their words without a code change; the leading underscore keeps the files out of
the notice templates that `load_templates` reads."""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path

from domain.errors import InvalidInput
from domain.notices import pick_locale
from templates import DEFAULT_LOCALE, TEMPLATE_DIR

CONDUCT_FILE = "_conduct.toml"


@dataclass(frozen=True)
class ConductRules:
    heading: str
    rules: tuple[str, ...]


def parse_conduct(data: dict[str, object], shown: str) -> ConductRules:
    """The `[conduct]` table: a `heading` and at least one rule, each a non-empty string."""
    table = data.get("conduct")
    if not isinstance(table, dict):
        raise InvalidInput(shown, "missing: the [conduct] table")
    heading, rules = table.get("heading"), table.get("rules")
    if not isinstance(heading, str) or not heading.strip():
        raise InvalidInput(f"{shown}: conduct.heading", "must be a non-empty string")
    if not isinstance(rules, list) or not rules:
        raise InvalidInput(f"{shown}: conduct.rules", "must be a non-empty list of strings")
    if not all(isinstance(rule, str) and rule.strip() for rule in rules):
        raise InvalidInput(f"{shown}: conduct.rules", "every rule must be a non-empty string")
    return ConductRules(heading, tuple(rules))


def load_conduct(directory: Path) -> dict[str, ConductRules]:
    """Every locale folder's rules (a locale folder without them is an error: an agent of that
    locale must never see a page without the rules)."""
    found: dict[str, ConductRules] = {}
    for locale_dir in sorted(path for path in directory.iterdir() if path.is_dir()):
        if locale_dir.name.startswith(("_", ".")):
            continue
        path = locale_dir / CONDUCT_FILE
        shown = f"{locale_dir.name}/{CONDUCT_FILE}"
        if not path.is_file():
            raise InvalidInput(shown, "missing: the rules of conduct for this locale")
        with path.open("rb") as file:
            found[locale_dir.name] = parse_conduct(tomllib.load(file), shown)
    return found


@functools.cache
def shipped_conduct() -> dict[str, ConductRules]:
    return load_conduct(TEMPLATE_DIR)


def conduct_rules(locale: str) -> ConductRules:
    """The rules in the borrower's locale (the agent speaks it), or the default locale's."""
    rules = shipped_conduct()
    return rules[pick_locale(locale, sorted(rules), DEFAULT_LOCALE)]
