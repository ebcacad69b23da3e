"""The tests' own layout: each test file in the folder of its scope (so `pytest -m <scope>`
runs what its name says), and what tests share in tests/helpers, never in another test."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

from tests.conftest import SCOPES, TESTS_DIR
from tests.helpers.paths import PROJECT_DIR


def python_files() -> list[Path]:
    return sorted(TESTS_DIR.rglob("*.py"))


def imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def is_test_module(module: str) -> bool:
    return module.startswith("tests.") and module.rsplit(".", 1)[-1].startswith("test_")


def test_no_test_module_imports_another() -> None:
    offenders = [
        f"{path.relative_to(PROJECT_DIR)} imports {module}"
        for path in python_files()
        for module in sorted(imported_modules(path))
        if is_test_module(module)
    ]
    assert offenders == [], "move what tests share into tests/helpers:\n" + "\n".join(offenders)


def test_every_test_file_sits_in_a_scope_folder() -> None:
    misplaced = [
        str(path.relative_to(PROJECT_DIR))
        for path in python_files()
        if path.name.startswith("test_")
        and (len(path.relative_to(TESTS_DIR).parts) != 2 or path.parent.name not in SCOPES)
    ]
    assert misplaced == [], f"each test file belongs directly in one of tests/{SCOPES}"


def test_the_helpers_hold_no_tests() -> None:
    helpers = TESTS_DIR / "helpers"
    tests = [
        f"{path.name}::{node.name}"
        for path in sorted(helpers.glob("*.py"))
        for node in ast.parse(path.read_text(encoding="utf-8")).body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    ]
    assert tests == []


def test_every_scope_is_a_folder_and_a_registered_marker() -> None:
    pyproject = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text(encoding="utf-8"))
    markers = pyproject["tool"]["pytest"]["ini_options"]["markers"]
    registered = {marker.split(":", 1)[0] for marker in markers}
    assert set(SCOPES) <= registered
    assert all((TESTS_DIR / scope / "__init__.py").is_file() for scope in SCOPES)
