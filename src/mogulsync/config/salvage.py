"""The part of a broken project file that is still sound, so `check` can go on with it.

`check` reports every problem in one round: the file's own problems (schema, references,
secrets) and the mapping problems that need each model's columns. For the latter it needs a
config, so the entries named by the file's problems are dropped (a sync, a model, a whole
``events:`` section...) and what remains is validated again; entries that referred to a
dropped one are dropped in the next round.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from mogulsync.config.loader import ConfigValidationError, parse_config
from mogulsync.config.models import AppConfig

#: sections whose entries are dropped one by one; any other section is dropped whole
_NAMED_ENTRIES = ("warehouses", "models", "syncs")
#: pruning rounds (each may orphan references: a model's sync, a sync's dependants)
MAX_ROUNDS = 5


def salvage(
    raw: Mapping[str, Any],
    problems: Collection[str],
    env: Mapping[str, str],
    *,
    sections: Collection[str],
    base_dir: Path,
) -> AppConfig | None:
    """A valid config without the entries ``problems`` name, or None if nothing is left.

    ``chartmogul:`` is never needed to compile models: its variables are not required and
    a broken section is replaced by a bare one.
    """
    pruned = copy.deepcopy(dict(raw))
    wanted = [name for name in sections if name != "chartmogul"]
    found = list(problems)
    for _ in range(MAX_ROUNDS):
        dropped = [_prune(pruned, problem) for problem in found]  # every one, no short cut
        if not any(dropped):
            return None
        try:
            return parse_config(pruned, env=env, sections=wanted, base_dir=base_dir)
        except ConfigValidationError as exc:
            found = exc.problems
    return None


def _prune(raw: dict[str, Any], problem: str) -> bool:
    """Drop what ``problem`` (``path.to.key: message``) is about; whether anything went."""
    place, sep, _ = problem.partition(": ")
    if not sep or " " in place:
        return False
    top, _, rest = place.partition(".")
    if top not in raw:
        return False
    if top == "chartmogul":
        bare = {"api_key": "${CHARTMOGUL_API_KEY}"}
        if raw[top] == bare:
            return False
        raw[top] = bare
        return True
    entries = raw[top]
    name = rest.split(".", 1)[0]
    if top in _NAMED_ENTRIES and isinstance(entries, dict) and name in entries:
        del entries[name]
        return True
    del raw[top]
    return True
