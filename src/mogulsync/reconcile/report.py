"""The outcome of a reconcile: counts, per-field drift and samples of each difference."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

#: samples kept per kind of difference (the counts are always complete)
MAX_SAMPLES = 10


@dataclass(slots=True)
class ReconcileReport:
    """What a reconcile found (and, with ``--adopt``, wrote to the sync's state)."""

    sync: str
    #: records in ChartMogul and in the model, with the same mapped values
    in_both: int = 0
    #: model rows ChartMogul lacks
    missing: int = 0
    #: records of the sync's scope that no model row produces
    extra: int = 0
    #: records in both whose mapped values differ
    drifted: int = 0
    #: model rows that could not be mapped (null or repeated key, invalid value)
    invalid: int = 0
    #: drifted records per field
    fields: Counter[str] = field(default_factory=Counter)
    missing_samples: list[str] = field(default_factory=list)
    extra_samples: list[dict[str, Any]] = field(default_factory=list)
    drifted_samples: list[dict[str, Any]] = field(default_factory=list)
    api_calls: int = 0
    duration_s: float = 0.0
    #: True when the sync's state was rebuilt from what was seen
    adopted: bool = False
    #: the run-history record of an adopt or a recorded reconcile
    run_id: str | None = None
    #: alerts that could not be delivered (a recorded reconcile)
    warnings: list[str] = field(default_factory=list)

    @property
    def differs(self) -> bool:
        """Whether ChartMogul and the warehouse disagree anywhere."""
        return bool(self.missing or self.extra or self.drifted)

    @property
    def compared(self) -> int:
        """Records and rows looked at on both sides (each pair once)."""
        return self.in_both + self.drifted + self.missing + self.extra

    def note_missing(self, key: str) -> None:
        """A model row ChartMogul lacks."""
        self.missing += 1
        if len(self.missing_samples) < MAX_SAMPLES:
            self.missing_samples.append(key)

    def note_extra(self, uuid: str, external_id: str | None) -> None:
        """A record no model row produces."""
        self.extra += 1
        if len(self.extra_samples) < MAX_SAMPLES:
            self.extra_samples.append({"uuid": uuid, "external_id": external_id})

    def note_drift(self, key: str, uuid: str, changes: dict[str, tuple[Any, Any]]) -> None:
        """A record whose fields differ: ``changes`` is ``{field: (before, after)}``."""
        self.drifted += 1
        self.fields.update(changes.keys())
        if len(self.drifted_samples) < MAX_SAMPLES:
            self.drifted_samples.append(
                {
                    "key": key,
                    "uuid": uuid,
                    "changes": {
                        name: {"before": before, "after": after}
                        for name, (before, after) in sorted(changes.items())
                    },
                }
            )

    def summary(self) -> dict[str, Any]:
        """The JSON ``mogulsync reconcile --json`` prints."""
        return {
            "sync": self.sync,
            "in_both": self.in_both,
            "missing": self.missing,
            "extra": self.extra,
            "drifted": self.drifted,
            "invalid": self.invalid,
            "fields": dict(sorted(self.fields.items())),
            "samples": {
                "missing": self.missing_samples,
                "extra": self.extra_samples,
                "drifted": self.drifted_samples,
            },
            "api_calls": self.api_calls,
            "duration_s": round(self.duration_s, 3),
            "adopted": self.adopted,
            "run_id": self.run_id,
        }
