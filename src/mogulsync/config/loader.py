"""Load ``mogulsync.yml``: YAML → ``${ENV}`` substitution → validation, every problem at once.

Secrets (the ChartMogul API key, Segment write keys, webhook URLs) are accepted only as
``${ENV}`` references, so a project file can be committed without leaking them. A command
names the top-level sections it reads: only there must every ``${ENV}`` be set, so e.g. a
sync runs without the Segment write key used under ``events:``. Relative paths are then
anchored at the project file's directory (see ``_paths.py``).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mogulsync._redact import USERINFO, url_credentials
from mogulsync.config._paths import anchor_paths
from mogulsync.config.dbt_models import resolve_dbt_models
from mogulsync.config.models import AppConfig
from mogulsync.config.references import reference_problems
from mogulsync.config.suggest import suggest_key, without_tags
from mogulsync.config.yaml_file import YamlFileError, read_yaml
from mogulsync.errors import ConfigError

DEFAULT_CONFIG_PATH = Path("mogulsync.yml")
_ENV_REF = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")
#: YAML paths whose values must come from the environment
_SECRET_PATHS = (
    ("chartmogul", "api_key"),
    ("events", "write_keys", "*"),
    ("events", "webhook_url"),
    ("alerts", "channels", "*", "url"),
    ("alerts", "channels", "*", "routing_key"),
    ("alerts", "channels", "*", "password"),
    ("alerts", "channels", "*", "auth_token"),
    ("serve", "tokens", "*", "token"),
)
#: database URLs: written in clear is fine, a password in them must come from the environment
_URL_PATHS = (
    ("warehouses", "*"),  # the ``main: duckdb:///w.duckdb`` shorthand
    ("warehouses", "*", "url"),
    ("state_store", "url"),
    ("extract", "destination"),
)
#: top-level settings every command reads, so their ``${ENV}`` references are always checked
ALWAYS_CHECKED = frozenset({"version", "state_dir"})


class ConfigValidationError(ConfigError):
    """The project file has problems; ``problems`` lists each with its YAML path."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = str(path)
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(
            f"{path} has {len(problems)} problem(s):\n{lines}",
            hint="Fix them and run `mogulsync check` again.",
        )


def load_config(
    path: Path | str = DEFAULT_CONFIG_PATH,
    env: Mapping[str, str] | None = None,
    *,
    sections: Collection[str] | None = None,
    writes_state: bool = True,
) -> AppConfig:
    """Read, substitute and validate a project file; raise with every problem at once.

    ``sections`` are the top-level sections the caller reads (default: all). Unset
    ``${ENV}`` variables are reported only there; elsewhere they become empty values the
    caller never uses, while the structure is still validated everywhere. A caller that
    never writes to ``state_dir`` (``check``, ``alerts test``) passes ``writes_state=False``:
    a ``state_dir`` that cannot be created is then not a problem (a read-only checkout).
    """
    path = Path(path)
    if path.is_dir():  # `-c prod`, as if -c were git's -C: name the file it likely meant
        raise ConfigError(
            f"config file {path} is a directory",
            hint=f"Pass the project file itself: -c {path / DEFAULT_CONFIG_PATH.name}.",
        )
    if not path.is_file():
        raise ConfigError(
            f"config file {path} not found",
            hint="Create a commented starter with `mogulsync init` (or `mogulsync init"
            " --warehouse URL` to read from your warehouse), or pass -c/--config.",
        )
    try:
        raw = read_yaml(path) or {}
    except YamlFileError as exc:
        raise ConfigValidationError(path, [str(exc)]) from None
    if not isinstance(raw, dict):
        raise ConfigValidationError(path, ["the file must hold a mapping of sections"])
    return parse_config(
        raw,
        env=os.environ if env is None else env,
        source=path,
        sections=sections,
        base_dir=path.parent,
        writes_state=writes_state,
    )


def expand_env(value: str, where: str, env: Mapping[str, str] | None = None) -> str:
    """``${VAR}`` and ``${VAR:-default}`` in a command-line value, read as in the project
    file: ``--destination 'postgresql://etl:${PGPASSWORD}@db/x'`` keeps the password out of
    the shell's history and the process list. An unset variable names ``where``."""
    problems: list[str] = []
    expanded = _substitute(value, os.environ if env is None else env, (where,), problems)
    if problems:
        raise ConfigError("; ".join(problems), hint="Export it, or write the value itself.")
    return str(expanded)


def uncreatable(directory: Path) -> str | None:
    """Why ``directory`` (missing) could not be made, judged from its nearest existing
    ancestor; None when it exists or looks creatable. A run would end in a traceback."""
    if directory.exists():
        return None
    ancestor = directory.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"{ancestor} is a file"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"{ancestor} is not writable"
    return None


def parse_config(
    raw: dict[str, Any],
    env: Mapping[str, str],
    source: Path = DEFAULT_CONFIG_PATH,
    *,
    sections: Collection[str] | None = None,
    base_dir: Path | None = None,
    writes_state: bool = True,
) -> AppConfig:
    """Validate an already-parsed mapping (used by the loader and by tests).

    Relative paths resolve from ``base_dir``, by default the current directory.
    """
    try:
        return _parse(
            raw, env, source, sections=sections, base_dir=base_dir, writes_state=writes_state
        )
    except ConfigValidationError as exc:
        secrets = _secret_values(raw, env)
        if not secrets:
            raise
        # A secret variable used where another value belongs (``model: ${API_KEY}``) would
        # otherwise be echoed by "no model named ..."-style problems: show its reference.
        masked = [_masked(problem, secrets) for problem in exc.problems]
        raise ConfigValidationError(source, masked) from None


def _parse(
    raw: dict[str, Any],
    env: Mapping[str, str],
    source: Path,
    *,
    sections: Collection[str] | None,
    base_dir: Path | None,
    writes_state: bool,
) -> AppConfig:
    checked = _checked_sections(sections)
    problems = _literal_secrets(raw)
    # Unset variables outside the caller's sections are collected here and dropped.
    unchecked: list[str] = []
    substituted = {
        key: _substitute(
            value, env, (str(key),), problems if checked is None or key in checked else unchecked
        )
        for key, value in raw.items()
    }
    if checked is None or "chartmogul" in checked:
        problems.extend(_blank_api_key(raw, substituted, problems))
    try:
        config = AppConfig.model_validate(substituted)
    except ValidationError as exc:
        problems.extend(_describe_all(exc.errors(include_url=False)))
        # reported with the schema's problems, so a user fixes the file in one round
        problems.extend(reference_problems(substituted))
        raise ConfigValidationError(source, problems) from None
    problems.extend(reference_problems(substituted))
    if problems:
        raise ConfigValidationError(source, problems)
    config = anchor_paths(config, Path.cwd() if base_dir is None else base_dir)
    state_dir = Path(config.state_dir)
    if state_dir.exists() and not state_dir.is_dir():
        problem = (
            f"state_dir: {state_dir} is a file, not a directory; move it aside or set"
            " state_dir to a directory"
        )
        raise ConfigValidationError(source, [problem])
    blocked = uncreatable(state_dir) if writes_state else None
    if blocked is not None:
        raise ConfigValidationError(
            source, [f"state_dir: {state_dir} cannot be created: {blocked}"]
        )
    if checked is None or "models" in checked:
        config, problems = resolve_dbt_models(config)
        if problems:
            raise ConfigValidationError(source, problems)
    return config


#: variable names that hold secrets wherever they are referenced
_SECRET_NAME = re.compile(r"KEY|TOKEN|PASS|SECRET|WEBHOOK|CREDENTIAL|AUTH", re.IGNORECASE)
#: shorter values are not masked: they would mask common words and digits in messages
_MIN_MASKED = 4


def _secret_values(raw: dict[str, Any], env: Mapping[str, str]) -> dict[str, str]:
    """Each secret value the file's ``${ENV}`` references bring in → its reference.

    Secret: a variable referenced at a secret or URL path, or named like a secret.
    """
    names = {name for name in _referenced(raw) if _SECRET_NAME.search(name)}
    for pattern in (*_SECRET_PATHS, *_URL_PATHS):
        for _dotted, value in _walk(raw, pattern, ()):
            names.update(_referenced(value))
    return {
        env[name]: f"${{{name}}}"
        for name in names
        if name in env and len(env[name].strip()) >= _MIN_MASKED
    }


def _referenced(node: Any) -> set[str]:
    """Names of the variables ``${NAME}`` anywhere in ``node``'s strings."""
    if isinstance(node, dict):
        return {name for item in node.values() for name in _referenced(item)}
    if isinstance(node, list):
        return {name for item in node for name in _referenced(item)}
    if isinstance(node, str):
        return {match.group("name") for match in _ENV_REF.finditer(node)}
    return set()


def _masked(problem: str, secrets: Mapping[str, str]) -> str:
    for value in sorted(secrets, key=len, reverse=True):  # longest first: one may hold another
        problem = problem.replace(value, secrets[value])
    return problem


def _checked_sections(sections: Collection[str] | None) -> frozenset[str] | None:
    """The top-level keys whose unset variables are problems (``None``: every key)."""
    if sections is None:
        return None
    known = frozenset(AppConfig.model_fields)
    unknown = sorted(set(sections) - known)
    if unknown:
        # A caller's mistake, not the user's: fail loudly rather than check nothing.
        msg = f"unknown config sections: {', '.join(unknown)}"
        raise ValueError(msg)
    return ALWAYS_CHECKED | frozenset(sections)


def _substitute(
    value: Any, env: Mapping[str, str], path: tuple[str, ...], problems: list[str]
) -> Any:
    if isinstance(value, dict):
        return {
            key: _substitute(item, env, (*path, str(key)), problems) for key, item in value.items()
        }
    if isinstance(value, list):
        return [_substitute(item, env, (*path, str(i)), problems) for i, item in enumerate(value)]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        name, default = match.group("name"), match.group("default")
        if name in env:
            if not env[name].strip() and _is_secret(path):
                # A common CI mistake (``CHARTMOGUL_API_KEY=`` with no value): say so here
                # rather than let an empty key fail later with a traceback.
                problems.append(
                    f"{'.'.join(path)}: environment variable {name} is set but empty;"
                    " export the secret's value"
                )
            return env[name]
        if default is not None:
            return default
        problems.append(f"{'.'.join(path)}: environment variable {name} is not set")
        return ""

    return _ENV_REF.sub(replace, value)


def _blank_api_key(raw: dict[str, Any], substituted: dict[str, Any], found: list[str]) -> list[str]:
    """``chartmogul.api_key`` given but blank (e.g. ``${KEY:-}``), unless already reported."""
    section = substituted.get("chartmogul")
    key = section.get("api_key") if isinstance(section, dict) else None
    place = "chartmogul.api_key:"
    if not isinstance(key, str) or key.strip() or any(p.startswith(place) for p in found):
        return []
    given = raw["chartmogul"]["api_key"]
    return [f"{place} the API key is empty (`{given}`); write ${{VARIABLE}} and export the key"]


def _is_secret(path: tuple[str, ...]) -> bool:
    """Whether a YAML path is one of ``_SECRET_PATHS`` (``*`` matches any key)."""
    return any(
        len(pattern) == len(path)
        and all(want in ("*", part) for want, part in zip(pattern, path, strict=True))
        for pattern in _SECRET_PATHS
    )


def _literal_secrets(raw: dict[str, Any]) -> list[str]:
    """Secrets written in clear in the file (they must be ${ENV} references)."""
    found: list[str] = []
    for secret_path in _SECRET_PATHS:
        for dotted, value in _walk(raw, secret_path, ()):
            if isinstance(value, str) and value and not _ENV_REF.fullmatch(value.strip()):
                found.append(
                    f"{dotted}: secrets must come from the environment; write ${{VARIABLE}}"
                    " and export the value"
                )
    for url_path in _URL_PATHS:
        for dotted, value in _walk(raw, url_path, ()):
            if isinstance(value, str):
                found.extend(f"{dotted}: {problem}" for problem in _clear_credentials(value))
    return found


def _clear_credentials(url: str) -> list[str]:
    """Credentials a database URL holds in clear (each must be an ${ENV} reference)."""
    problems: list[str] = []
    for part, value in url_credentials(url):
        if _ENV_REF.search(value):
            continue
        if part == USERINFO:
            problems.append(
                "the password in this URL must come from the environment; write it as"
                " ${VARIABLE} (e.g. postgresql://user:${PGPASSWORD}@host/db)"
            )
        else:
            problems.append(
                f"query parameter `{part}` holds a credential, which must come from the"
                f" environment; write it as {part}=${{VARIABLE}}"
            )
    return problems


class Alternatives(list[Any]):
    """Every value one key has in a file: a key written twice (YAML keeps the last) or
    given by a merge (``<<: *base``) and written again. Only the editor's rule builds
    them (:func:`secrets_in_file`): a secret in a value the file overrides is still in it."""


def _walk(
    node: Any, pattern: tuple[str, ...], seen: tuple[str, ...], *, fold: bool = False
) -> list[tuple[str, Any]]:
    """The values at ``pattern`` (``*``: any key or index). ``fold``: keys in any case."""
    if isinstance(node, Alternatives):
        return [hit for item in node for hit in _walk(item, pattern, seen, fold=fold)]
    if not pattern:
        return [(".".join(seen), node)]
    head, rest = pattern[0], pattern[1:]
    if head == "*" and isinstance(node, list):
        return [
            hit
            for i, item in enumerate(node)
            for hit in _walk(item, rest, (*seen, str(i)), fold=fold)
        ]
    if head == "*" and isinstance(node, dict):
        return [
            hit
            for key, item in node.items()
            for hit in _walk(item, rest, (*seen, str(key)), fold=fold)
        ]
    if isinstance(node, dict) and fold:
        return [
            hit
            for key, item in node.items()
            if str(key).lower() == head
            for hit in _walk(item, rest, (*seen, str(key)), fold=fold)
        ]
    if isinstance(node, dict) and head in node:
        return _walk(node[head], rest, (*seen, head))
    return []


#: a union member's tag in an error's location (``list[str]``, ``literal['auto','none']``):
#: pydantic's, not a key of the file
_MEMBER_TAG = re.compile(r"[a-z][a-z0-9_-]*\[.*\]")
#: plain-type member tags, taken as such only where a sibling error shows a union
_SCALAR_TAGS = frozenset({"str", "int", "float", "bool", "none", "bytes"})


def _describe_all(errors: Sequence[Any]) -> list[str]:
    """One problem per place: the errors a union gives (one per member it tried, each
    under the member's tag) become one line at the key, its messages joined by "or"."""
    located = [(_location(error["loc"]), error) for error in errors]
    # a union shows as a bracketed member tag, or as two plain-type tags under one key
    union_places = {tuple(loc) for loc, error in located if len(loc) < len(_plain(error["loc"]))}
    scalar_ends = Counter(
        tuple(loc[:-1]) for loc, _ in located if loc and str(loc[-1]) in _SCALAR_TAGS
    )
    merged: dict[str, list[str]] = {}
    for loc, error in located:
        place_loc = loc
        parent = tuple(loc[:-1])
        if (
            loc
            and str(loc[-1]) in _SCALAR_TAGS
            and (parent in union_places or scalar_ends[parent] > 1)
        ):
            place_loc = loc[:-1]
        place, message = _place_and_message({**error, "loc": tuple(place_loc)})
        messages = merged.setdefault(place, [])
        if message not in messages:
            messages.append(message)
    return [
        f"{place}: {'; or '.join(messages)}" if place else "; or ".join(messages)
        for place, messages in merged.items()
    ]


def _plain(loc: Sequence[Any]) -> list[Any]:
    return [part for part in loc if not str(part).startswith("function-")]


def _location(loc: Sequence[Any]) -> list[Any]:
    """The error's place in the file: pydantic's validator and union tags left out."""
    return [part for part in _plain(loc) if not _MEMBER_TAG.fullmatch(str(part))]


def _place_and_message(error: Any) -> tuple[str, str]:
    loc = without_tags(AppConfig, _plain(error["loc"]))
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        guess = suggest_key(AppConfig, loc)
        message = f"unknown key; did you mean `{guess}`?" if guess else "unknown key"
    return ".".join(str(part) for part in loc), message


#: stands for an ``${ENV}`` reference without a default while a value is searched for text
#: the file itself holds (a reference is fine, its default is written in the file)
_REFERENCE = "\x00ref\x00"
#: keys named like a secret: one written in clear under a key the schema does not know (a
#: typo such as ``apikey:``) is still a secret in the file
_SECRET_KEY_NAME = re.compile(
    r"(api[_-]?key|write[_-]?key|routing[_-]?key|private[_-]?key|password|passwd|secret"
    r"|token|credential)s?$",
    re.IGNORECASE,
)
#: where keys name ChartMogul fields, columns or event paths, not settings
_DATA_KEYS = (
    ("syncs", "*", "mapping"),
    ("syncs", "*", "custom_attribute_types"),
    ("events", "mappings"),
    ("models",),
)


def secrets_in_file(raw: Any) -> list[str]:
    """YAML paths where the file itself holds a secret, each once.

    Stricter than the loader's own refusal (which a file must pass anyway): a reference's
    default counts (``${CHARTMOGUL_API_KEY:-sk_live...}`` holds the key), a value that is
    not text counts (a list holding the key too), a key written in another case
    (``API_KEY:``) counts, and so does a key named like a secret anywhere but in the
    sections that map data. ``raw`` may hold :class:`Alternatives` (every value of a key
    written twice): each is looked at. ``serve``'s settings editor neither shows nor saves
    such a file.
    """
    if not isinstance(raw, dict):
        return []
    found: list[str] = []
    for pattern in _SECRET_PATHS:
        found.extend(dotted for dotted, value in _walk(raw, pattern, (), fold=True) if _held(value))
    for pattern in _URL_PATHS:
        for dotted, value in _walk(raw, pattern, (), fold=True):
            if isinstance(value, str):
                credentials = url_credentials(_own_text(value))
                if any(_held(part, referenced=True) for _name, part in credentials):
                    found.append(dotted)
    skipped = {dotted for pattern in _DATA_KEYS for dotted, _ in _walk(raw, pattern, ())}
    found.extend(_named_secrets(raw, (), skipped))
    unique = list(dict.fromkeys(found))
    # each place once: ``api_key: [sk_live]`` is ``api_key``, not also its item
    return [path for path in unique if not any(path.startswith(f"{p}.") for p in unique)]


def _own_text(value: str) -> str:
    """``value`` with each reference replaced by its default (the file's own text), or by
    a marker when it has none."""

    def replace(match: re.Match[str]) -> str:
        default = match.group("default")
        return _REFERENCE if default is None else default

    return _ENV_REF.sub(replace, value)


def _held(value: Any, *, referenced: bool = False) -> bool:
    """Whether a secret's value is (partly) written in the file rather than referenced.
    ``referenced``: already substituted by :func:`_own_text`."""
    if value is None:
        return False
    if isinstance(value, list):  # a shape the schema refuses, still holding what it holds
        return any(_held(item, referenced=referenced) for item in value)
    if isinstance(value, dict):
        return any(_held(item, referenced=referenced) for item in value.values())
    if not isinstance(value, str):
        return True  # a number or a boolean where a secret belongs
    text = value if referenced else _own_text(value)
    return bool(text.replace(_REFERENCE, "").strip())


def _named_secrets(node: Any, seen: tuple[str, ...], skipped: set[str]) -> list[str]:
    if ".".join(seen) in skipped:
        return []
    items: list[tuple[str, Any]] = []
    if isinstance(node, dict):
        items = [(str(key), value) for key, value in node.items()]
    elif isinstance(node, list):
        items = [(str(index), value) for index, value in enumerate(node)]
    found: list[str] = []
    for key, given in items:
        path = (*seen, key)
        for value in given if isinstance(given, Alternatives) else [given]:
            if isinstance(value, dict | list):
                found.extend(_named_secrets(value, path, skipped))
            if isinstance(value, dict) or not _SECRET_KEY_NAME.search(key):
                continue
            if not isinstance(value, list):
                if _held(value):
                    found.append(".".join(path))
                continue
            found.extend(  # ``passwords: [hunter2]``: its text items
                ".".join((*path, str(index)))
                for index, item in enumerate(value)
                if not isinstance(item, dict | list) and _held(item)
            )
    return found
