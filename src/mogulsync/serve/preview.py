"""The Preview page's data: the sync's dry-run plan, and for sampled updates which fields
change from what to what, read from ChartMogul's current record (reads only)."""

from __future__ import annotations

import json
import logging
from typing import Any

from pydantic import BaseModel

from mogulsync.chartmogul import ChartMogulClient, ClientSettings
from mogulsync.config import AppConfig
from mogulsync.sync.plan import plan_sync

logger = logging.getLogger(__name__)
#: rows sampled per kind of change
PREVIEW_SAMPLE = 5


async def preview(
    config: AppConfig, name: str, settings: ClientSettings, *, sample: int = PREVIEW_SAMPLE
) -> dict[str, Any]:
    """``sync plan --json``'s object; each sampled update also gets ``changes``."""
    result = (await plan_sync(config, name, settings, sample=sample)).as_dict()
    updates = result["samples"].get("updates", [])
    if updates:
        async with ChartMogulClient(settings) as client:
            for item in updates:
                current = await _current(client, result["object"], item.get("uuid"))
                item["changes"] = _changes(item["payload"], current) + _custom_changes(
                    item.pop("custom", {}), _custom_of(current)
                )
    # typed custom attribute values (dates, decimals) as JSON sees them
    plain: dict[str, Any] = json.loads(json.dumps(result, default=str))
    return plain


async def _current(
    client: ChartMogulClient, object_type: str, uuid: str | None
) -> dict[str, Any] | None:
    """ChartMogul's record as it is now; None when it cannot be read."""
    if not uuid:
        return None
    try:
        if object_type == "customer":
            record: BaseModel = await client.customers.get(uuid)
        elif object_type == "contact":
            record = await client.contacts.get(uuid)
        elif object_type == "plan":
            record = await client.plans.get(uuid)
        else:
            return None
    except Exception as exc:  # a preview shows what it can
        logger.info("preview: %s %s not readable: %s", object_type, uuid, type(exc).__name__)
        return None
    dumped: dict[str, Any] = record.model_dump(mode="json")
    return dumped


def _custom_of(current: dict[str, Any] | None) -> dict[str, Any] | None:
    """The custom attributes of a current customer (``attributes.custom``) or contact."""
    if current is None:
        return None
    attributes = current.get("attributes")
    if isinstance(attributes, dict):
        found = attributes.get("custom")
        return found if isinstance(found, dict) else {}
    found = current.get("custom")
    return found if isinstance(found, dict) else {}


def _custom_changes(new: dict[str, Any], current: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Custom attributes whose value would change (``custom.<key>``)."""
    changes = []
    for key, value in new.items():
        before = None if current is None else current.get(key)
        if current is None or not _same(before, value):
            changes.append({"field": f"custom.{key}", "from": before, "to": value})
    return changes


def _same(before: Any, after: Any) -> bool:
    """Equal as ChartMogul stores them (12 and 12.0 and "12.00" are one number)."""
    if before == after:
        return True
    try:
        return float(str(before)) == float(str(after))
    except ValueError:
        return str(before) == str(after)


def _changes(payload: dict[str, Any], current: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Fields whose value would change: ``[{field, from, to}]`` (``from`` None: unknown)."""
    changes = []
    for field, value in payload.items():
        if field in {"data_source_uuid", "external_id"}:
            continue
        before = None if current is None else current.get(field)
        if isinstance(value, dict) and isinstance(before, dict):
            for key, inner in value.items():
                if before.get(key) != inner:
                    changes.append(
                        {"field": f"{field}.{key}", "from": before.get(key), "to": inner}
                    )
            continue
        if current is None or before != value:
            changes.append({"field": field, "from": before, "to": value})
    return changes
