"""The package graph: each package in the ring it serves, and no package cycles.

Read off the source with `ast`, so it holds for every import, including those inside
functions (a deferred import is still a dependency).
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

from tests.helpers.paths import PROJECT_DIR

ROOT = PROJECT_DIR
PACKAGES = (
    "domain",
    "contracts",
    "runtime",
    "workflows",
    "activities",
    "migrations",
    "policies",
    "templates",
    "cli",
    "web",
)
ENTRY_MODULES = ("worker", "starter")
OURS = (*PACKAGES, *ENTRY_MODULES)

# What each part may import of the project (besides itself). The rings of docs/architecture.md:
# the domain decides and imports nothing of ours; the workflow orchestrates with the domain and
# the contracts only (it runs in Temporal's sandbox); the activities do all I/O.
ALLOWED: dict[str, set[str]] = {
    "domain": set(),
    "contracts": {"domain"},
    "runtime": set(),
    "templates": {"domain"},
    "policies": {"domain", "templates"},
    "workflows": {"domain", "contracts"},
    "migrations": {"domain", "contracts"},
    "activities": {"domain", "contracts", "runtime", "migrations", "policies", "templates"},
    "web": {
        "domain",
        "contracts",
        "runtime",
        "migrations",
        "policies",
        "templates",
        "activities",
        "workflows",
    },
    "cli": {
        "web",
        "domain",
        "contracts",
        "runtime",
        "migrations",
        "policies",
        "templates",
        "activities",
        "workflows",
    },
    "worker": {"domain", "contracts", "runtime", "migrations", "activities", "workflows"},
    "starter": {"domain", "contracts", "runtime", "activities", "cli", "policies"},
}


def modules_of(part: str) -> list[Path]:
    if part in ENTRY_MODULES:
        return [ROOT / f"{part}.py"]
    return sorted((ROOT / part).rglob("*.py"))


def imports_of(path: Path) -> set[str]:
    """The project's top-level packages that `path` imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found |= {name.split(".")[0] for name in names} & set(OURS)
    return found


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for part in OURS:
        graph[part] = set().union(*(imports_of(path) for path in modules_of(part))) - {part}
    return graph


def test_every_part_of_the_project_is_known_to_this_test() -> None:
    tops = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert tops - {"tests"} == set(PACKAGES)


def test_each_part_imports_only_the_rings_it_serves() -> None:
    graph = package_graph()
    strays = {part: sorted(graph[part] - ALLOWED[part]) for part in OURS}
    assert {part: found for part, found in strays.items() if found} == {}


def test_the_packages_have_no_cycle() -> None:
    # Raises CycleError, naming the cycle, if there is one.
    order = list(graphlib.TopologicalSorter(package_graph()).static_order())
    assert order.index("domain") < order.index("workflows") < order.index("worker")
    assert order.index("cli") < order.index("starter")


def test_the_rules_catch_a_forbidden_import(tmp_path: Path) -> None:
    stray = tmp_path / "stray.py"
    stray.write_text("def later() -> None:\n    from activities import store\n")
    assert imports_of(stray) == {"activities"}


# Rooms a newcomer can read in one sitting (the samples' modules stay under a few hundred lines).
MODULE_LINES_MAX = 400
FUNCTION_LINES_MAX = 60


def project_modules() -> list[Path]:
    modules = [path for part in OURS for path in modules_of(part)]
    modules += sorted((ROOT / "scripts").rglob("*.py"))
    # Revisions are written once and never change: they are history, not rooms.
    return [path for path in modules if "versions" not in path.parts]


def test_no_module_or_function_is_too_long_to_read_in_one_sitting() -> None:
    long_modules, long_functions = {}, {}
    for path in project_modules():
        text = path.read_text(encoding="utf-8")
        name = str(path.relative_to(ROOT))
        if (lines := len(text.splitlines())) > MODULE_LINES_MAX:
            long_modules[name] = lines
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > FUNCTION_LINES_MAX:
                    long_functions[f"{name}:{node.name}"] = length
    assert (long_modules, long_functions) == ({}, {})
