"""``discover``'s catalog: each call hands out its own copy."""

from __future__ import annotations

import copy
import io
import json

from mogulsync.extract.airbyte import AirbyteSource, catalog
from mogulsync.extract.schemas import SCHEMAS


def _streams(message: dict[str, object]) -> dict[str, dict[str, object]]:
    inner = message["catalog"]
    assert isinstance(inner, dict)
    return {stream["name"]: stream for stream in inner["streams"]}


def test_editing_a_catalog_leaves_later_catalogs_and_the_schemas_alone():
    """The schemas share leaf dicts (one string type serves many fields): a caller that edits
    one field of its catalog, as a tool narrowing types or dropping columns would, must not
    change that field's siblings, the next catalog, or the module's schemas."""
    pristine_schemas = copy.deepcopy(SCHEMAS)
    first = catalog()
    pristine = copy.deepcopy(first)
    customers = _streams(first)["customers"]["json_schema"]
    assert isinstance(customers, dict)
    properties = customers["properties"]
    # uuid and external_id are both nullable strings in the module's schemas
    assert properties["uuid"] == properties["external_id"] == {"type": ["null", "string"]}
    properties["uuid"]["type"] = "string"
    properties["uuid"]["maxLength"] = 36
    del properties["email"]
    _streams(first)["activities"]["supported_sync_modes"].append("cdc")

    assert properties["external_id"] == {"type": ["null", "string"]}
    assert catalog() == pristine
    assert pristine_schemas == SCHEMAS


def test_discover_prints_the_same_catalog():
    out = io.StringIO()
    assert AirbyteSource(out).discover({"api_key": "k", "start_date": "2024-01-01T00:00:00Z"}) == 0
    (line,) = out.getvalue().splitlines()
    assert json.loads(line) == catalog()
