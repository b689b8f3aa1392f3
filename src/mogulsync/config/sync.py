"""``syncs:`` — which model goes to which ChartMogul object, and how."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from mogulsync.config._base import ConfigModel
from mogulsync.config.delete_limit import DEFAULT_DELETE_LIMIT, MaxDeletes
from mogulsync.config.serve import ScheduleConfig
from mogulsync.config.state import DEFAULT_STATE_SCHEMA, SCHEMA_PATTERN

ObjectType = Literal["customer", "contact", "plan", "invoice", "transaction"]
SyncMode = Literal["insert", "update", "upsert"]
MatchKey = Literal["external_id", "email", "uuid"]
AttributeTypeName = Literal["String", "Integer", "Decimal", "Timestamp", "Boolean"]
#: objects whose records can be deleted when their rows leave the model
DELETABLE = ("customer", "contact", "plan", "invoice")

#: which modes and match keys each object supports (checked at load time)
SUPPORTED_MODES: dict[str, tuple[str, ...]] = {
    "customer": ("insert", "update", "upsert"),
    "contact": ("insert", "update", "upsert"),
    "plan": ("insert", "upsert"),
    "invoice": ("insert",),
    "transaction": ("insert",),
}
SUPPORTED_MATCH: dict[str, tuple[str, ...]] = {
    "customer": ("external_id", "email", "uuid"),
    "contact": ("external_id", "email", "uuid"),
    "plan": ("external_id",),
    "invoice": ("external_id",),
    "transaction": ("external_id",),
}


class LineItemsConfig(ConfigModel):
    """Where an invoice's line items come from: a JSON column or a child model."""

    column: str | None = Field(default=None, description="JSON array column on the invoice row")
    model: str | None = Field(default=None, description="child model, one row per line item")
    join_key: str = Field(
        default="invoice_external_id", description="child column holding the invoice's external_id"
    )

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.column is None) == (self.model is None):
            raise ValueError("give exactly one of `column` or `model`")
        return self


class ReconcileWatchConfig(ConfigModel):
    """``reconcile: {schedule: ...}``: `mogulsync serve` compares the sync's model with
    ChartMogul on this schedule; drift alerts follow the ``alerts.rules`` ``drift`` thresholds."""

    schedule: ScheduleConfig = Field(description="when `mogulsync serve` runs the reconcile")


class SyncConfig(ConfigModel):
    """One reverse-ETL sync: model → ChartMogul object."""

    model: str
    object: ObjectType
    mode: SyncMode = "upsert"
    match: MatchKey = "external_id"
    data_source: str | None = Field(
        default=None, description="data source name (created if missing) or its ds_ uuid"
    )
    mapping: dict[str, str] = Field(
        default_factory=dict, description="ChartMogul field → model column"
    )
    custom_attributes: Literal["auto", "none"] | list[str] = "auto"
    custom_attribute_types: dict[str, AttributeTypeName] = Field(
        default_factory=dict,
        description="column → custom attribute type, overriding the warehouse column type",
    )
    on_delete: Literal["ignore", "delete"] = "ignore"
    max_deletes: MaxDeletes = Field(
        default=DEFAULT_DELETE_LIMIT,
        description="on_delete: delete: a run that would delete more records than this (a"
        ' number, or "20%" of the records the sync manages) deletes none and fails; null: no'
        " limit. Default: refused when more than 10 and more than half",
    )
    line_items: LineItemsConfig | None = None
    transactions_column: str | None = Field(
        default=None, description="JSON array column with an invoice's inline transactions"
    )
    depends_on: list[str] = Field(default_factory=list, description="syncs to run first")
    state: Literal["embedded", "warehouse"] = Field(
        default="embedded",
        description="where the snapshot lives: embedded (state_dir or state_store) or in the"
        " model's warehouse, diffed there with SQL",
    )
    state_schema: str = Field(
        default=DEFAULT_STATE_SCHEMA,
        pattern=SCHEMA_PATTERN,
        description="warehouse schema of the snapshot tables (state: warehouse)",
    )
    bulk: Literal["auto", "off"] = Field(
        default="auto",
        description="`auto`: new records go through the bulk JSON import when it pays off;"
        " `off`: always one REST call per row",
    )
    sync_logs: bool = Field(default=True, description="false: no sync log rows for this sync")
    schedule: ScheduleConfig | None = Field(
        default=None, description="when `mogulsync serve` runs it"
    )
    reconcile: ReconcileWatchConfig | None = Field(
        default=None,
        description="drift watch: when `mogulsync serve` runs `reconcile` on this sync",
    )

    @model_validator(mode="after")
    def _mode_and_match_fit_object(self) -> Self:
        if self.mode not in SUPPORTED_MODES[self.object]:
            allowed = ", ".join(SUPPORTED_MODES[self.object])
            raise ValueError(
                f"mode `{self.mode}` is not available for {self.object}s: use {allowed}"
            )
        if self.match not in SUPPORTED_MATCH[self.object]:
            allowed = ", ".join(SUPPORTED_MATCH[self.object])
            raise ValueError(
                f"match `{self.match}` is not available for {self.object}s: use {allowed}"
            )
        if self.match == "uuid" and self.mode != "update":
            raise ValueError("match `uuid` only finds existing records: use mode `update`")
        if self.line_items is not None and self.object != "invoice":
            raise ValueError("`line_items` only applies to invoice syncs")
        if self.transactions_column is not None and self.object != "invoice":
            raise ValueError("`transactions_column` only applies to invoice syncs")
        if self.state == "warehouse" and self.line_items is not None and self.line_items.model:
            # The SQL row hash covers the invoice row's own columns only; a change in a
            # child-model line item would go unseen.
            raise ValueError(
                "state `warehouse` cannot diff child-model line items (line_items.model):"
                " give them as a JSON column (line_items.column) or use state `embedded`"
            )
        limited = self.max_deletes != DEFAULT_DELETE_LIMIT  # a dumped project has the default
        if "max_deletes" in self.model_fields_set and limited and self.on_delete != "delete":
            # a limit that limits nothing would read as a safeguard that is not there
            raise ValueError("`max_deletes` only applies with `on_delete: delete`: remove it")
        if self.on_delete == "delete" and self.object not in DELETABLE:
            raise ValueError(
                f"on_delete `delete` is not available for {self.object}s:"
                f" use it with {', '.join(DELETABLE)}"
            )
        return self
