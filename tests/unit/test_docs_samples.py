"""The README's and docs' samples work as written: a reader copies them.

Every `mogulsync ...` command in a code span or block names a command that exists, with
options it has; every ```yaml block validates (a fragment merged over a small project that
holds the warehouse, model and syncs it refers to).
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
