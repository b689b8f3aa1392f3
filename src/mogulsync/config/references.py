"""Names that must point at something: a model's warehouse, a sync's model, ``depends_on``...

Checked on the substituted YAML mapping, not on the validated models, so broken references are
reported together with schema problems elsewhere in the file (one round of fixes, not two).
Entries of the wrong shape are skipped here: the schema reports them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def reference_problems(raw: Mapping[str, Any]) -> list[str]:
    """Every reference in ``raw`` that names nothing, with its YAML path and the known names."""
    warehouses = _names(raw.get("warehouses"))
    models = _section(raw, "models")
    syncs = _section(raw, "syncs")
    problems = [
        _missing(f"models.{name}.warehouse", "warehouse", wanted, warehouses)
        for name, model in models.items()
        if isinstance(wanted := model.get("warehouse"), str) and wanted not in warehouses
    ]
    if not isinstance(raw.get("dbt"), Mapping):
        problems.extend(
            f"models.{name}.dbt: needs a top-level `dbt:` section"
            for name, model in models.items()
            if model.get("dbt") is not None
        )
    for name, sync in syncs.items():
        wanted = sync.get("model")
        if isinstance(wanted, str) and wanted not in models:
            problems.append(_missing(f"syncs.{name}.model", "model", wanted, models))
        lines = sync.get("line_items")
        child = lines.get("model") if isinstance(lines, Mapping) else None
        if isinstance(child, str) and child not in models:
            problems.append(_missing(f"syncs.{name}.line_items.model", "model", child, models))
        problems.extend(
            _missing(f"syncs.{name}.depends_on", "sync", other, syncs)
            for other in _strings(sync.get("depends_on"))
            if other not in syncs
        )
        after = _schedule_after(sync)
        problems.extend(
            _missing(f"syncs.{name}.schedule.after", "sync", other, syncs)
            for other in after
            if other not in syncs
        )
        if name in after:
            problems.append(f"syncs.{name}.schedule.after: a sync cannot run after itself")
        watch = sync.get("reconcile")
        problems.extend(
            _missing(f"syncs.{name}.reconcile.schedule.after", "sync", other, syncs)
            for other in (_schedule_after(watch) if isinstance(watch, Mapping) else [])
            if other not in syncs
        )
    extract = raw.get("extract")
    problems.extend(
        _missing("extract.schedule.after", "sync", other, syncs)
        for other in (_schedule_after(extract) if isinstance(extract, Mapping) else [])
        if other not in syncs
    )
    alerts = raw.get("alerts")
    rules = alerts.get("rules") if isinstance(alerts, Mapping) else None
    for index, rule in enumerate(rules if isinstance(rules, list) else []):
        wanted_syncs = rule.get("syncs") if isinstance(rule, Mapping) else None
        problems.extend(
            _missing(f"alerts.rules.{index}.syncs", "sync", other, syncs)
            for other in _strings(wanted_syncs)
            if other not in syncs
        )
    return problems


def _schedule_after(section: Mapping[str, Any]) -> list[str]:
    """The syncs a ``schedule: {after: [...]}`` waits for."""
    schedule = section.get("schedule")
    return _strings(schedule.get("after")) if isinstance(schedule, Mapping) else []


def _strings(value: Any) -> list[str]:
    """The strings of a YAML list (anything else: none)."""
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _section(raw: Mapping[str, Any], key: str) -> dict[str, Mapping[str, Any]]:
    section = raw.get(key)
    if not isinstance(section, Mapping):
        return {}
    return {str(name): item for name, item in section.items() if isinstance(item, Mapping)}


def _names(section: Any) -> set[str]:
    return {str(name) for name in section} if isinstance(section, Mapping) else set()


def _missing(place: str, kind: str, wanted: str, known: Mapping[str, Any] | set[str]) -> str:
    names = ", ".join(sorted(known)) or "none"
    return f"{place}: no {kind} named `{wanted}` (known: {names})"
