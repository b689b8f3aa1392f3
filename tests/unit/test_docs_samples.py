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


def _prose_commands() -> list[tuple[str, str]]:
    """(page, command line) for a span in the text that names a command and an option
    without the `mogulsync` prefix (`sync run --no-bulk`, `runs show --errors`)."""
    tops = "|".join(re.escape(name) for name in typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    span = re.compile(rf"`((?:{tops}) [^`\n]*--[^`\n]*)`")
    return [
        (page.name, f"mogulsync {line}")
        for page in PAGES
        for line in span.findall(_BLOCK.sub("", page.read_text(encoding="utf-8")))
    ]


@pytest.mark.parametrize(("page", "line"), _prose_commands(), ids=lambda value: str(value)[:60])
def test_every_command_named_in_the_text_has_its_options(page: str, line: str) -> None:
    assert _problem(line) is None, f"{page}: {line}: {_problem(line)}"


def test_the_prose_command_check_finds_commands_without_the_prefix() -> None:
    """Not hollow: the prose spans are found (and a wrong one would fail as above)."""
    assert ("errors.md", "mogulsync extract run --streams customerz") in _prose_commands()


#: dotted spans that start like a config section but name something else: a table of the
#: extract's dataset, and files
NOT_CONFIG_KEYS = {
    "chartmogul.customers",
    "chartmogul.duckdb",
    "events.sqlite",
    "events.sqlite-wal",
}
_DOTTED = re.compile(r"`([a-z_]+(?:\.[\w<>*\[\]-]+)+)(?::[^`]*)?`")


def _types_of(annotation: Any) -> list[Any]:
    """The types an annotation may hold: through Annotated, unions and Optional."""
    import types
    import typing

    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _types_of(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [found for arg in typing.get_args(annotation) for found in _types_of(arg)]
    return [annotation]


def _config_key_exists(annotation: Any, parts: list[str]) -> bool:
    """Whether the dotted ``parts`` (`syncs.<name>.bulk`, `alerts.rules[].drift`) name a
    key of the project file's model under ``annotation``."""
    import typing

    from pydantic import BaseModel

    if not parts:
        return True
    part, rest = parts[0], parts[1:]
    for kind in _types_of(annotation):
        if typing.get_origin(kind) is dict:  # any name is a key: `<name>`, `customers`
            if _config_key_exists(typing.get_args(kind)[1], rest):
                return True
        elif isinstance(kind, type) and issubclass(kind, BaseModel):
            name = part.removesuffix("[]")
            for field_name, field in kind.model_fields.items():
                if name not in (field_name, field.alias):
                    continue
                inner = field.annotation
                if part.endswith("[]"):
                    items = [t for t in _types_of(inner) if typing.get_origin(t) is list]
                    inner = typing.get_args(items[0])[0] if items else None
                if inner is not None and _config_key_exists(inner, rest):
                    return True
    return False


def _config_key_problems(text: str) -> list[str]:
    from mogulsync.config.models import AppConfig

    sections = set(AppConfig.model_fields)
    return [
        f"`{key}` is not a key of mogulsync.yml"
        for key in _DOTTED.findall(text)
        if key.split(".")[0] in sections
        and key not in NOT_CONFIG_KEYS
        and not _config_key_exists(AppConfig, key.split("."))
        and not text.count(f"`{key}: unknown key")  # an error message quoting a typo
    ]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_dotted_config_key_in_the_docs_exists(page: str | Path) -> None:
    """`extract.keep_load_packages`, `syncs.<name>.bulk: off`, `alerts.rules[].drift`: a
    key the text names must be one the project file takes."""
    assert _config_key_problems(Path(page).read_text(encoding="utf-8")) == []


def test_the_config_key_check_sees_a_wrong_key() -> None:
    text = "`extract.keep_load_package` `syncs.<name>.bulk: off` `events.retry.max_attempts`"
    text += " `alerts.rules[].drift` `alerts.rules[].drit` `chartmogul.duckdb`"
    assert _config_key_problems(text) == [
        "`extract.keep_load_package` is not a key of mogulsync.yml",
        "`alerts.rules[].drit` is not a key of mogulsync.yml",
    ]


def _documented_defaults() -> list[tuple[str, str, str]]:
    """(section, key, default as written) of each `| key | default | meaning |` table under a
    `## `section`` heading of docs/configuration.md."""
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    rows = []
    for chunk in re.split(r"^## ", text, flags=re.MULTILINE)[1:]:
        section = chunk.splitlines()[0].strip().strip("`")
        _, found, after = chunk.partition("| key | default | meaning |")
        if not found or _section_model(section) is None:
            continue
        # the section's own table: the rows up to the first blank line (a section's later
        # tables, such as alerts' channels and rules, describe other objects)
        table = after.split("\n\n", 1)[0]
        rows += [
            (section, key, default)
            for key, default in re.findall(r"^\| `(\w+)` \| ([^|]+?) \|", table, re.MULTILINE)
        ]
    return rows


def _section_model(section: str) -> Any:
    import typing

    from pydantic import BaseModel

    from mogulsync.config.models import AppConfig

    field = AppConfig.model_fields.get(section)
    if field is None:
        return None
    for kind in _types_of(field.annotation):
        for inner in [kind, *typing.get_args(kind)]:
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner
    return None


def _default_problem(section: str, key: str, written: str) -> str | None:
    """How the default ``written`` for ``section.key`` differs from the model's, or None."""
    from pydantic_core import PydanticUndefined

    from mogulsync.sync.connect import DEFAULT_DATA_SOURCE

    model = _section_model(section)
    field = next(f for name, f in model.model_fields.items() if key in (name, f.alias))
    value = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
    if (section, key) == ("syncs", "data_source") and value is None:
        value = DEFAULT_DATA_SOURCE  # left out, the engine uses this name
    written = written.strip()
    if written == "required":
        ok = value is PydanticUndefined
    elif written == "none":
        ok = value is None
    elif written.startswith("`") and written.endswith("`"):
        literal = yaml.safe_load(written.strip("`"))
        ok = value == literal
    else:
        return None  # prose ("one rule with the defaults below"): not checked
    return None if ok else f"{section}.{key}: the docs say {written}, the code has {value!r}"


def test_every_default_in_the_configuration_tables_is_the_code_s() -> None:
    """docs/configuration.md's `| key | default | meaning |` tables against the config
    models: a changed default must be changed in the docs too."""
    rows = _documented_defaults()
    assert len(rows) > 30  # the tables were found
    problems = [_default_problem(*row) for row in rows]
    assert [problem for problem in problems if problem] == []


def test_the_default_check_sees_a_wrong_default() -> None:
    assert _default_problem("chartmogul", "rate_limit", "`40`") is None
    assert _default_problem("chartmogul", "rate_limit", "`20`") == (
        "chartmogul.rate_limit: the docs say `20`, the code has 40.0"
    )
    assert _default_problem("syncs", "model", "none") is not None
    assert _default_problem("syncs", "data_source", "`mogulsync`") is None


#: `MOGULSYNC_...` variables the docs name; each must be read by the code or the tests
_ENV_NAME = re.compile(r"(?<![{\w])\$?(MOGULSYNC_[A-Z0-9_]+)")


def _env_problems(text: str, code: str) -> list[str]:
    return sorted(
        {
            f"{name} is read by nothing"
            for name in _ENV_NAME.findall(text)
            if f'"{name}"' not in code and f"'{name}'" not in code and f"{name}=" not in code
        }
    )


def test_every_mogulsync_env_variable_in_the_docs_is_read() -> None:
    """`MOGULSYNC_LOG_FORMAT`, `$MOGULSYNC_RATE_LIMIT_FILE`, ...: a variable the docs tell
    a user to set must be one the code reads (`${MOGULSYNC_...}` in a project file is the
    user's own name, not checked)."""
    code = "\n".join(
        path.read_text(encoding="utf-8")
        for folder in ("src", "tests")
        for path in (ROOT / folder).rglob("*.py")
        if path.name != Path(__file__).name
    )
    text = "\n".join(page.read_text(encoding="utf-8") for page in PAGES)
    assert _env_problems(text, code) == []


def test_the_env_check_sees_an_unread_variable() -> None:
    code = 'os.environ.get("MOGULSYNC_LOG_FORMAT")'
    text = "`MOGULSYNC_LOG_FORMAT=json` `$MOGULSYNC_NOPE` `${MOGULSYNC_STATE_URL}`"
    assert _env_problems(text, code) == ["MOGULSYNC_NOPE is read by nothing"]


def _keyword_problems(source: str) -> list[str]:
    """Each keyword a sample passes to a class or function it imported from mogulsync that
    the callable does not take (`ClientSettings(base_ur=...)`)."""
    import ast
    import importlib
    import inspect

    tree = ast.parse(source)
    imported: dict[str, Any] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mogulsync"):
            module = importlib.import_module(str(node.module))
            for alias in node.names:
                imported[alias.asname or alias.name] = getattr(module, alias.name)
    problems = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        if node.func.id not in imported:
            continue
        try:
            parameters = inspect.signature(imported[node.func.id]).parameters
        except (TypeError, ValueError):  # a builtin without a signature
            continue
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
            continue
        problems += [
            f"{node.func.id}() takes no {keyword.arg}="
            for keyword in node.keywords
            if keyword.arg is not None and keyword.arg not in parameters
        ]
    return problems


@pytest.mark.parametrize(("page", "block"), _python_blocks(), ids=lambda value: str(value)[:40])
def test_every_python_sample_passes_keywords_that_exist(page: str, block: str) -> None:
    assert _keyword_problems(block) == [], page


def test_the_keyword_check_sees_a_wrong_keyword() -> None:
    sample = "from mogulsync.chartmogul import ClientSettings\n"
    assert _keyword_problems(sample + "ClientSettings(api_key='k', base_url='x')") == []
    assert _keyword_problems(sample + "ClientSettings(api_key='k', base_ur='x')") == [
        "ClientSettings() takes no base_ur="
    ]


def _sections_table() -> dict[str, set[str]]:
    """docs/configuration.md's "sections whose `${ENV}` must be set" table: each command
    named in a row's first cell → the sections of its second (`none`: none)."""
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    table = text.split("| command | sections whose `${ENV}` must be set |", 1)[1]
    table = table.split("\n\n", 1)[0]
    rows: dict[str, set[str]] = {}
    for commands, sections in re.findall(r"^\| (.+?) \| (.+?) \|$", table, re.MULTILINE):
        if set(commands) <= {"-", "|", " "}:
            continue  # the separator row
        named = (
            set(re.findall(r"`(\w+)`", sections))
            if sections != "none (only `state_dir`)"
            else set()
        )
        for command in re.findall(r"`([a-z -]+?)(?: \.\.\.)?`", commands):
            rows[command] = named
    return rows


def test_the_sections_each_command_reads_are_the_code_s() -> None:
    """Which `${ENV}` a command needs is what its SECTIONS say: `schedule` needed every
    secret of the project while the table had no row for it."""
    from mogulsync.alerts import cli as alerts_cli
    from mogulsync.events import cli as events_cli
    from mogulsync.extract import cli as extract_cli
    from mogulsync.runs import cli as runs_cli
    from mogulsync.serve import cli as serve_cli
    from mogulsync.sync import cli as sync_cli

    code = {
        "sync plan": sync_cli.SECTIONS,
        "sync run": sync_cli.SECTIONS,
        "reconcile": sync_cli.SECTIONS,
        "extract run": extract_cli.RUN_SECTIONS,
        "events serve": events_cli.SECTIONS,
        "events status": events_cli.SECTIONS,
        "events dead-letter": events_cli.SECTIONS,
        "runs list": runs_cli.SECTIONS,
        "runs show": runs_cli.SECTIONS,
        "schedule": serve_cli.SCHEDULE_SECTIONS,
        "alerts test": alerts_cli.SECTIONS,
    }
    documented = _sections_table()
    assert {name: documented.get(name) for name in code} == {
        name: set(sections) for name, sections in code.items()
    }


def _extras_problems(text: str, extras: set[str]) -> list[str]:
    named = {
        *(e for group in re.findall(r"mogulsync\[([\w,-]+)\]", text) for e in group.split(",")),
        *re.findall(r"\(extra `([\w-]+)`", text),
    }
    return sorted(f"no extra {name!r} in pyproject.toml" for name in named - extras)


def test_every_extra_the_docs_install_exists() -> None:
    """`pip install 'mogulsync[snowflake]'`, "(extra `mssql`)": a reader installs them."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = set(project["optional-dependencies"])
    text = "\n".join(page.read_text(encoding="utf-8") for page in LINKED_PAGES)
    assert _extras_problems(text, extras) == []
    assert _extras_problems("mogulsync[dagster,dbtt] (extra `mssql`)", extras) == [
        "no extra 'dbtt' in pyproject.toml"
    ]


def test_make_help_lists_every_target_the_docs_name_and_bench_runs_every_benchmark() -> None:
    """README: `make format`; `make help` did not list it. `make bench` ("run every
    benchmark") left two of bench/ out."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    listed = set(re.findall(r"^([a-z-]+):.*##", makefile, re.MULTILINE))
    text = "\n".join(page.read_text(encoding="utf-8") for page in LINKED_PAGES)
    named = set(re.findall(r"`make ([a-z][a-z-]*)", text))
    assert named - listed == set()
    recipe = makefile.split("\nbench:", 1)[1].split("\n\n", 1)[0]
    benchmarks = {path.name for path in (ROOT / "bench").glob("*.py") if path.name[0] != "_"}
    assert benchmarks - set(re.findall(r"bench/(\w+\.py)", recipe)) == set()


def test_the_readme_and_performance_page_name_every_benchmark() -> None:
    """The README's Benchmarks list ("one-command benchmarks") left
    bench/run_progress_cost.py out, and performance.md gave no command for its figures."""
    benchmarks = {path.name for path in (ROOT / "bench").glob("*.py") if path.name[0] != "_"}
    readme = (ROOT / "README.md").read_text(encoding="utf-8").split("## Benchmarks", 1)[1]
    listed = set(re.findall(r"^\.venv/bin/python bench/(\w+\.py)", readme, re.MULTILINE))
    assert benchmarks - listed == set()
    performance = (ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
    commands = set(re.findall(r"\.venv/bin/python bench/(\w+\.py)", performance))
    assert benchmarks - commands == set()
