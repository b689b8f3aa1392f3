"""The order ``sync run --all`` runs syncs in: dependencies first, then parents first."""

from __future__ import annotations

from collections.abc import Mapping

from mogulsync.config import AppConfig
from mogulsync.errors import ConfigError
from mogulsync.runs.models import RunStatus

#: a parent that ended so did not complete: its ``depends_on`` children are skipped
#: (a ``partial`` parent completed: its children run, and rows naming its failed rows fail)
NOT_COMPLETED = frozenset({RunStatus.FAILED, RunStatus.SKIPPED, RunStatus.INTERRUPTED})

#: parents before children: invoices need customers and plans, transactions need invoices
OBJECT_ORDER = {"plan": 0, "customer": 1, "contact": 2, "invoice": 3, "transaction": 4}


def run_order(config: AppConfig) -> list[str]:
    """Every sync, each after its ``depends_on`` and after the objects it needs."""
    pending = sorted(config.syncs, key=lambda name: (OBJECT_ORDER[config.syncs[name].object], name))
    done: list[str] = []
    while pending:
        ready = [name for name in pending if set(config.syncs[name].depends_on) <= set(done)]
        if not ready:
            raise ConfigError(
                f"syncs {', '.join(pending)} depend on each other in a cycle",
                hint="Remove one of the depends_on entries.",
            )
        done.append(ready[0])
        pending.remove(ready[0])
    return done


def skip_reason(config: AppConfig, name: str, ended: Mapping[str, RunStatus]) -> str | None:
    """Why sync ``name`` must not run, given how the syncs run before it ended (or None)."""
    sync = config.syncs.get(name)
    if sync is None:  # an unknown name: the run itself says so (exit 4)
        return None
    for parent in sync.depends_on:
        status = ended.get(parent)
        if status in NOT_COMPLETED:
            assert status is not None
            return f"skipped: it depends on `{parent}`, which {_HOW[status]}"
    return None


_HOW = {
    RunStatus.FAILED: "failed",
    RunStatus.SKIPPED: "was skipped",
    RunStatus.INTERRUPTED: "was interrupted",
}
