"""What the package tells its user to read can be read without a checkout.

A pip install has no docs/ folder, yet messages said "see docs/extract.md", the starter
file "Every key is described in docs/configuration.md" and the Events page "see
docs/operations.md". They name the documentation's web address now (mogulsync._docs); this
checks that no text a user sees names a bare docs/ path, and that every address names a
page and a heading the repository has.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.unit.test_docs_samples import _anchors

ROOT = Path(__file__).parents[2]
PACKAGE = ROOT / "src" / "mogulsync"
_URL = re.compile(
    r"https://github\.com/mogulsync/mogulsync/blob/main/((?:[\w-]+/)*[\w-]+(?:\.[a-z]+)?)"
    r"(?:#([\w-]+))?"
)
_BARE = re.compile(r"(?<![\w/])docs/[\w-]+\.md")


def _texts() -> list[tuple[str, str]]:
    """(where, text) of every string a user can see: the package's string literals but
    docstrings (comments are not in the AST), and its templates and static files."""
    found = []
    for path in sorted(PACKAGE.rglob("*")):
        if "__pycache__" in path.parts or not path.is_file():
            continue
        where = path.relative_to(ROOT).as_posix()
        if path.suffix != ".py":
            found.append((where, path.read_text(encoding="utf-8")))
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        found.extend(
            (f"{where}:{node.lineno}", node.value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
        )
    return found


def _bare_paths(texts: list[tuple[str, str]]) -> list[str]:
    return [f"{where}: {match}" for where, text in texts for match in _BARE.findall(text)]


def test_no_message_names_a_docs_file_a_pip_install_does_not_have() -> None:
    assert _bare_paths(_texts()) == []


def test_the_check_sees_a_bare_path() -> None:
    texts = [
        ("a", "see docs/extract.md"),
        ("b", "https://github.com/mogulsync/mogulsync/blob/main/docs/extract.md#destinations"),
    ]
    assert _bare_paths(texts) == ["a: docs/extract.md"]


def test_every_documentation_address_reaches_a_page_and_heading() -> None:
    problems = []
    addresses = {(path, anchor) for _, text in _texts() for path, anchor in _URL.findall(text)}
    assert ("docs/operations.md", "events-alerts") in addresses
    for path, anchor in sorted(addresses):
        page = ROOT / path
        if not page.is_file():
            problems.append(f"{path}: no such file")
        elif anchor and anchor not in _anchors(page.read_text(encoding="utf-8")):
            problems.append(f"{path}#{anchor}: no such heading")
    assert problems == []
