"""The README and docs/ cannot go stale silently.

- A python block marked `<!-- quote: PATH -->` on the line before its fence quotes the project's
  code: it must appear in PATH, whitespace aside (a line holding only `...` elides code between
  two pieces, which must appear in that order).
- Every python block compiles, and every name it imports from the project exists.
- Every relative link (and its `#anchor`) leads to an existing file (and heading).
- Every `starter.py COMMAND` is a real command, and every `--flag` given to it in a shell
  block is one of its flags; every `make TARGET` is a target of the Makefile.
- The README stays short enough for a newcomer.
"""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from tests.helpers.paths import PROJECT_DIR

PROJECT = PROJECT_DIR
# The project's own interpreter runs starter.py, as an operator would.
PYTHON = PROJECT / ".venv" / "bin" / "python"
README_MAX_LINES = 250
DOCUMENTS = [PROJECT / "README.md", *sorted((PROJECT / "docs").glob("*.md"))]
QUOTE_MARK = re.compile(r"^<!--\s*quote:\s*(\S+)\s*-->$")
FENCE = re.compile(r"^(```+)\s*(\w*)\s*$")
# [text](target) and ![alt](target); the target ends at whitespace or the closing parenthesis.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
STARTER_COMMAND = re.compile(r"starter\.py\s+([a-z][a-z-]*)")
MAKE_TARGET = re.compile(r"\bmake ([a-z][a-z-]*)\b")
INLINE_CODE = re.compile(r"`([^`\n]+)`")
ELISION = "..."


@dataclass(frozen=True)
class Block:
    document: Path
    line: int  # of the opening fence, counted from 1
    language: str
    text: str
    quotes: str | None  # the source file the block quotes, if it is marked as a quote

    @property
    def where(self) -> str:
        return f"{self.document.relative_to(PROJECT)}:{self.line}"


def fenced_blocks(document: Path) -> list[Block]:
    lines = document.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence, language = opening.groups()
        mark = QUOTE_MARK.match(lines[index - 1].strip()) if index > 0 else None
        end = index + 1
        while end < len(lines) and lines[end].strip() != fence:
            end += 1
        blocks.append(
            Block(
                document=document,
                line=index + 1,
                language=language,
                text="\n".join(lines[index + 1 : end]),
                quotes=mark.group(1) if mark else None,
            )
        )
        index = end + 1
    return blocks


def prose(document: Path) -> str:
    """The document without its fenced blocks (links inside code are not links)."""
    text = document.read_text(encoding="utf-8")
    for block in fenced_blocks(document):
        text = text.replace(block.text, "")
    return text


def all_blocks() -> list[Block]:
    return [block for document in DOCUMENTS for block in fenced_blocks(document)]


def python_blocks() -> list[Block]:
    return [block for block in all_blocks() if block.language == "python"]


def quotes() -> list[Block]:
    return [block for block in all_blocks() if block.quotes is not None]


def squeezed(text: str) -> str:
    return " ".join(text.split())


def test_the_documents_are_found_and_some_blocks_quote_the_code() -> None:
    assert PROJECT / "README.md" in DOCUMENTS and len(DOCUMENTS) > 1
    assert quotes(), "no block is marked <!-- quote: PATH -->: the convention went missing"


def test_the_readme_is_short() -> None:
    lines = (PROJECT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines (at most {README_MAX_LINES}): move detail to docs/"
    )


@pytest.mark.parametrize("block", quotes(), ids=lambda block: block.where)
def test_a_quoted_block_appears_in_its_source(block: Block) -> None:
    assert block.quotes is not None
    source = PROJECT / block.quotes
    assert source.is_file(), f"{block.where} quotes {block.quotes}, which does not exist"
    code = squeezed(source.read_text(encoding="utf-8"))
    pieces = re.split(rf"^\s*{re.escape(ELISION)}\s*$", block.text, flags=re.MULTILINE)
    position = 0
    for piece in filter(None, map(squeezed, pieces)):
        found = code.find(piece, position)
        assert found >= 0, (
            f"{block.where} quotes {block.quotes}, which no longer holds:\n{piece}\n"
            "(copy the current code into the document)"
        )
        position = found + len(piece)


@pytest.mark.parametrize("block", python_blocks(), ids=lambda block: block.where)
def test_a_python_block_compiles(block: Block) -> None:
    # Top-level `await` is allowed: short examples show calls on a handle without a function.
    compile(block.text, block.where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


def is_project_module(module: str) -> bool:
    top = module.split(".")[0]
    return (PROJECT / top).is_dir() or (PROJECT / f"{top}.py").is_file()


def project_imports(block: Block) -> list[tuple[str, str]]:
    return [
        (node.module, alias.name)
        for node in ast.walk(ast.parse(block.text))
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
        if is_project_module(node.module)
        for alias in node.names
    ]


@pytest.mark.parametrize("block", python_blocks(), ids=lambda block: block.where)
def test_what_a_python_block_imports_from_the_project_exists(block: Block) -> None:
    for module, name in project_imports(block):
        assert hasattr(importlib.import_module(module), name), (
            f"{block.where}: `from {module} import {name}` no longer works"
        )


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[`*]|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(document: Path) -> set[str]:
    headings = re.findall(r"^#{1,6}\s+(.+)$", prose(document), flags=re.MULTILINE)
    return {slug(heading) for heading in headings}


def relative_links() -> list[tuple[Path, str]]:
    return [
        (document, target)
        for document in DOCUMENTS
        for target in LINK.findall(prose(document))
        if not re.match(r"^[a-z][a-z+.-]*:", target)  # http:, https:, mailto:
    ]


@pytest.mark.parametrize(
    ("document", "target"),
    relative_links(),
    ids=[f"{doc.relative_to(PROJECT)}->{target}" for doc, target in relative_links()],
)
def test_a_relative_link_resolves(document: Path, target: str) -> None:
    path, _, anchor = target.partition("#")
    linked = (document.parent / path).resolve() if path else document
    assert linked.exists(), f"{document.relative_to(PROJECT)} links to {target}: no such file"
    if anchor and linked.suffix == ".md":
        assert anchor in anchors(linked), (
            f"{document.relative_to(PROJECT)} links to {target}: no such heading in {linked.name}"
        )


@cache
def starter_help(*command: str) -> str:
    finished = subprocess.run(
        [
            str(PYTHON if PYTHON.exists() else sys.executable),
            str(PROJECT / "starter.py"),
            *command,
            "--help",
        ],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return finished.stdout


def starter_commands() -> set[str]:
    """The sub-commands `starter.py --help` lists (as `{a,b}` or one per indented line)."""
    text = starter_help()
    commands = {name for group in re.findall(r"\{([a-z,-]+)\}", text) for name in group.split(",")}
    listing = text.split("positional arguments:", 1)[-1].split("options:", 1)[0]
    commands |= set(re.findall(r"^ {2,6}([a-z][a-z-]*)(?:\s|$)", listing, flags=re.MULTILINE))
    return commands


def text_of_every_document() -> str:
    return "\n".join(document.read_text(encoding="utf-8") for document in DOCUMENTS)


def test_every_starter_command_named_exists() -> None:
    commands = starter_commands()
    assert {"open", "pay", "status", "list", "report"} <= commands, commands
    named = set(STARTER_COMMAND.findall(text_of_every_document()))
    assert named, "the documents name no starter.py command"
    assert named <= commands, f"not commands of starter.py: {sorted(named - commands)}"


def flags_given_in_shell_blocks() -> dict[str, set[str]]:
    """command -> the flags the documents' shell blocks give it."""
    given: dict[str, set[str]] = {}
    for block in all_blocks():
        if block.language not in ("sh", "shell", "bash", "console"):
            continue
        for line in block.text.replace("\\\n", " ").splitlines():
            invocation = STARTER_COMMAND.search(line)
            if invocation is None:
                continue
            rest = line[invocation.end() :].split("#", 1)[0]
            flags = re.findall(r"(?:^|\s)(--[a-z][a-z-]*)", rest)
            given.setdefault(invocation.group(1), set()).update(flags)
    return given


def test_every_flag_given_to_a_starter_command_exists() -> None:
    given = {command: flags for command, flags in flags_given_in_shell_blocks().items() if flags}
    assert given, "the documents' shell blocks give no starter.py command a flag"
    with ThreadPoolExecutor(max_workers=4) as pool:
        helps = dict(zip(given, pool.map(starter_help, given), strict=True))
    unknown = {
        command: sorted(
            flag for flag in flags if not re.search(rf"{flag}(?![\w-])", helps[command])
        )
        for command, flags in given.items()
    }
    assert not any(unknown.values()), f"flags the commands do not take: {unknown}"


def test_every_make_target_named_exists() -> None:
    makefile = (PROJECT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, flags=re.MULTILINE))
    code = [block.text for block in all_blocks()] + INLINE_CODE.findall(text_of_every_document())
    named = {target for snippet in code for target in MAKE_TARGET.findall(snippet)}
    assert {"run", "test"} <= named <= targets, f"not targets of the Makefile: {named - targets}"
