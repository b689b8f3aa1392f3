"""The README's and docs' samples work as written: a reader copies them.

Every `mogulsync ...` command in a code span or block names a command that exists, with
options it has; every ```yaml block validates (a fragment merged over a small project that
holds the warehouse, model and syncs it refers to); every relative link reaches a file of
the repository and, with an anchor, a heading of that page; every ```python block parses
and imports only names mogulsync has.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.main
import yaml

from mogulsync.cli import app
from mogulsync.config import parse_config
from mogulsync.config.loader import ConfigValidationError

ROOT = Path(__file__).parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"```(\w*)\n(.*?)```", re.DOTALL)
_SPAN = re.compile(r"`(mogulsync [^`\n]+)`")


def _commands() -> list[tuple[str, str]]:
    """(page, command line) for every `mogulsync ...` a reader could run."""
    found: dict[tuple[str, str], None] = {}
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for kind, body in _BLOCK.findall(text):
            if kind not in ("", "bash", "console", "sh", "shell"):
                continue
            for line in body.replace("\\\n", " ").splitlines():  # join continued lines
                line = line.strip().removeprefix("$ ").removeprefix(".venv/bin/")
                if line.startswith("mogulsync "):
                    found[(page.name, line)] = None
        for span in _SPAN.findall(_BLOCK.sub("", text)):
            found[(page.name, span)] = None
    return list(found)


def _words(line: str) -> list[str]:
    """The command's words, without comments, shell plumbing and [optional] brackets."""
    line = re.split(r"\s#|\s\||\s&&|\s>", line)[0]
    words = shlex.split(line.replace("[", " ").replace("]", " "))
    return [word for word in words if word not in ("...", "…")]


def _problem(line: str) -> str | None:
    """What in ``line`` the CLI does not have, or None."""
    command: Any = typer.main.get_command(app)
    ctx = typer.Context(command)
    path: list[str] = []
    words = _words(line)[1:]
    while words:
        word = words.pop(0)
        names = {"-h", "--help"}
        for param in command.params:
            names.update(param.opts)
            names.update(param.secondary_opts)
        if word.startswith("-"):
            if word.split("=", 1)[0] not in names:
                return f"`{' '.join(['mogulsync', *path])}` has no option {word}"
            param = next((p for p in command.params if word in p.opts), None)
            if param is not None and not param.is_flag and "=" not in word and words:
                words.pop(0)  # the option's value
            continue
        if not hasattr(command, "commands"):
            continue  # an argument (NAME, RUN_ID, a path)
        sub = command.get_command(ctx, word)
        if sub is None:
            return f"`{' '.join(['mogulsync', *path])}` has no command {word!r}"
        command, ctx = sub, typer.Context(sub, parent=ctx)
        path.append(word)
    return None


@pytest.mark.parametrize(("page", "line"), _commands(), ids=lambda value: str(value)[:60])
def test_every_documented_command_exists_with_its_options(page: str, line: str) -> None:
    assert _problem(line) is None, f"{page}: {line}: {_problem(line)}"


def test_the_command_check_sees_a_wrong_option() -> None:
    """The check is not hollow: a misspelt option or command is caught."""
    assert _problem("mogulsync sync run --alll") == "`mogulsync sync run` has no option --alll"
    assert _problem("mogulsync runs lst") == "`mogulsync runs` has no command 'lst'"
    assert _problem("mogulsync -c x.yml sync run --all --json") is None


#: what a fragment may refer to without defining it
BASE: dict[str, Any] = {
    "chartmogul": {"api_key": "${CHARTMOGUL_API_KEY}"},
    "warehouses": {"main": "duckdb:///:memory:"},
    "models": {"accounts": {"warehouse": "main", "table": "accounts", "primary_key": "id"}},
    "syncs": {
        name: {"model": "accounts", "object": "customer"}
        for name in ("customers", "plans", "invoices", "contacts")
    },
}


def _merge(raw: dict[str, Any]) -> dict[str, Any]:
    """``raw`` over :data:`BASE`: a block's own entries win whole, except a sync's keys,
    which complete the base sync (`{..., schedule: ...}` elides the rest of a sync)."""
    merged = dict(BASE)
    for section, value in raw.items():
        if section == "syncs" and isinstance(value, dict):
            merged[section] = {
                name: {
                    **BASE["syncs"].get(name, {}),
                    **{k: v for k, v in sync.items() if k != "..."},
                }
                for name, sync in value.items()
            }
        elif isinstance(value, dict) and isinstance(BASE.get(section), dict):
            merged[section] = {**BASE[section], **value}
        else:
            merged[section] = value
    return merged


def _yaml_blocks() -> list[tuple[str, str]]:
    return [
        (page.name, body)
        for page in PAGES
        for kind, body in _BLOCK.findall(page.read_text(encoding="utf-8"))
        if kind in ("yaml", "yml")
    ]


@pytest.mark.parametrize(("page", "block"), _yaml_blocks(), ids=lambda value: str(value)[:40])
def test_every_documented_yaml_block_validates(page: str, block: str) -> None:
    raw = yaml.safe_load(block)
    assert isinstance(raw, dict), page
    names = {*re.findall(r"\$\{(\w+)", block), "CHARTMOGUL_API_KEY"}
    env = {name: "https://hooks.example.invalid/x" if "URL" in name else "v" * 24 for name in names}
    env["MOGULSYNC_STATE_URL"] = "postgresql://user@db.example.invalid/state"
    try:
        parse_config(_merge(raw), env=env)
    except ConfigValidationError as exc:
        # a `dbt:` sample names a dbt project this repository does not hold: that is all
        # it may miss
        others = [p for p in exc.problems if "dbt manifest" not in p or "dbt" not in raw]
        assert not others, f"{page}: {others}"


def test_the_yaml_check_sees_a_wrong_key() -> None:
    """The merge does not hide a block's mistakes: a misspelt key still fails."""
    block = {"syncs": {"customers": {"...": None, "schedul": {"every": "15m"}}}}
    with pytest.raises(ConfigValidationError, match="schedul"):
        parse_config(_merge(block), env={"CHARTMOGUL_API_KEY": "k" * 20})


#: a Markdown link or image: [text](target) / ![alt](target)
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*$", re.MULTILINE)
LINKED_PAGES = [*PAGES, *sorted((ROOT / "examples").rglob("*.md"))]


def _anchors(text: str) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces
    as hyphens, a repeated heading numbered (``-1``, ``-2``)."""
    seen: dict[str, int] = {}
    anchors = set()
    for heading in _HEADING.findall(_BLOCK.sub("", text)):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(f"{slug}-{count}" if count else slug)
    return anchors


def _link_problems(page: Path, text: str) -> list[str]:
    """Each relative link of ``text`` (the page at ``page``) to a file that is not in the
    repository, or to an anchor its page does not have."""
    problems = []
    for target in _LINK.findall(_BLOCK.sub("", text)):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue  # https:, mailto: ...: not ours to check offline
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not path:
            anchors = _anchors(text)
        elif linked.is_relative_to(ROOT) and linked.is_file() and linked.suffix == ".md":
            anchors = _anchors(linked.read_text(encoding="utf-8"))
        elif not linked.is_relative_to(ROOT) or not linked.exists():
            problems.append(f"{target}: no such file in the repository")
            continue
        else:
            continue  # a folder, an image: it exists
        if anchor and anchor not in anchors:
            problems.append(f"{target}: {linked.name} has no heading #{anchor}")
    return problems


@pytest.mark.parametrize("page", LINKED_PAGES, ids=lambda page: page.name)
def test_every_relative_link_reaches_a_file_and_heading(page: Path) -> None:
    """A reader follows the links: docs/emulator.md linked a file outside the repository,
    docs/reconcile.md an anchor performance.md does not have."""
    assert _link_problems(page, page.read_text(encoding="utf-8")) == []


def test_the_link_check_sees_a_broken_link() -> None:
    text = "# Top\n[a](sync.md#bulk-import-path) [b](nothing.md) [c](sync.md#nope) [d](#top)\n"
    text += "[e](#gone) [f](../../outside.md) [g](images/run.png)\n"
    assert _link_problems(ROOT / "docs" / "probe.md", text) == [
        "nothing.md: no such file in the repository",
        "sync.md#nope: sync.md has no heading #nope",
        "#gone: probe.md has no heading #gone",
        "../../outside.md: no such file in the repository",
    ]


def _python_blocks() -> list[tuple[str, str]]:
    return [
        (page.name, body)
        for page in LINKED_PAGES
        for kind, body in _BLOCK.findall(page.read_text(encoding="utf-8"))
        if kind in ("python", "py")
    ]


def _import_problems(source: str) -> list[str]:
    """Each name a sample imports from mogulsync that is not there (or a syntax error)."""
    import ast
    import importlib

    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return [f"syntax error: {exc}"]
    problems = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or not node.module:
            continue
        if node.module.split(".")[0] != "mogulsync":
            continue
        try:
            module = importlib.import_module(node.module)
        except ImportError:
            problems.append(f"no module {node.module}")
            continue
        problems.extend(
            f"{node.module} has no {alias.name}"
            for alias in node.names
            if not hasattr(module, alias.name)
        )
    return problems


@pytest.mark.parametrize(("page", "block"), _python_blocks(), ids=lambda value: str(value)[:40])
def test_every_python_sample_parses_and_imports_what_exists(page: str, block: str) -> None:
    assert _import_problems(block) == [], page


def test_the_import_check_sees_a_wrong_name() -> None:
    assert _import_problems("from mogulsync.chartmogul import ChartMogulClientt") == [
        "mogulsync.chartmogul has no ChartMogulClientt"
    ]
    assert _import_problems("from mogulsync.nope import x") == ["no module mogulsync.nope"]
    assert _import_problems("def f(:\n") != []
