"""Load ``mogulsync.yml``: YAML → ``${ENV}`` substitution → validation, every problem at once.

Secrets (the ChartMogul API key, Segment write keys, webhook URLs) are accepted only as
``${ENV}`` references, so a project file can be committed without leaking them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from mogulsync.config.models import AppConfig
from mogulsync.errors import ConfigError

DEFAULT_CONFIG_PATH = Path("mogulsync.yml")
_ENV_REF = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")
#: YAML paths whose values must come from the environment
_SECRET_PATHS = (
    ("chartmogul", "api_key"),
    ("events", "write_keys", "*"),
    ("events", "webhook_url"),
)


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
    path: Path | str = DEFAULT_CONFIG_PATH, env: Mapping[str, str] | None = None
) -> AppConfig:
    """Read, substitute and validate a project file; raise with every problem at once."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"config file {path} not found",
            hint="Create it (see examples/mogulsync.yml) or pass -c/--config.",
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigValidationError(path, [f"not valid YAML: {exc}"]) from exc
    if not isinstance(raw, dict):
        raise ConfigValidationError(path, ["the file must hold a mapping of sections"])
    return parse_config(raw, env=os.environ if env is None else env, source=path)


def parse_config(
    raw: dict[str, Any], env: Mapping[str, str], source: Path = DEFAULT_CONFIG_PATH
) -> AppConfig:
    """Validate an already-parsed mapping (used by the loader and by tests)."""
    problems = _literal_secrets(raw)
    substituted = _substitute(raw, env, (), problems)
    try:
        config = AppConfig.model_validate(substituted)
    except ValidationError as exc:
        problems.extend(_describe(error) for error in exc.errors(include_url=False))
        raise ConfigValidationError(source, problems) from None
    if problems:
        raise ConfigValidationError(source, problems)
    return config


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
            return env[name]
        if default is not None:
            return default
        problems.append(f"{'.'.join(path)}: environment variable {name} is not set")
        return ""

    return _ENV_REF.sub(replace, value)


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
    return found


def _walk(node: Any, pattern: tuple[str, ...], seen: tuple[str, ...]) -> list[tuple[str, Any]]:
    if not pattern:
        return [(".".join(seen), node)]
    head, rest = pattern[0], pattern[1:]
    if head == "*" and isinstance(node, list):
        return [hit for i, item in enumerate(node) for hit in _walk(item, rest, (*seen, str(i)))]
    if isinstance(node, dict) and head in node:
        return _walk(node[head], rest, (*seen, head))
    return []


def _describe(error: Any) -> str:
    location = ".".join(str(part) for part in error["loc"] if not str(part).startswith("function-"))
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{location}: {message}" if location else message
