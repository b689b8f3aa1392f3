"""``discover``'s catalog: each call hands out its own copy."""

from __future__ import annotations

import copy
import io
import json

from mogulsync.extract import schemas
from mogulsync.extract.airbyte import AirbyteSource, catalog
from mogulsync.extract.schemas import SCHEMA_NAMES, stream_schema


def _streams(message: dict[str, object]) -> dict[str, dict[str, object]]:
    inner = message["catalog"]
    assert isinstance(inner, dict)
    return {stream["name"]: stream for stream in inner["streams"]}


def test_editing_a_catalog_leaves_later_catalogs_and_the_schemas_alone():
    """The schemas share leaf dicts (one string type serves many fields): a caller that edits
    one field of its catalog, as a tool narrowing types or dropping columns would, must not
    change that field's siblings, the next catalog, or the module's schemas."""
    pristine_schemas = {name: stream_schema(name) for name in SCHEMA_NAMES}
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
    assert pristine_schemas == {name: stream_schema(name) for name in SCHEMA_NAMES}


def test_discover_prints_the_same_catalog():
    out = io.StringIO()
    assert AirbyteSource(out).discover({"api_key": "k", "start_date": "2024-01-01T00:00:00Z"}) == 0
    (line,) = out.getvalue().splitlines()
    assert json.loads(line) == catalog()


def test_the_schemas_are_handed_out_as_copies_and_the_module_holds_none_to_edit():
    """No caller can corrupt the schemas: each stream_schema call is a tree of its own (the
    module's schemas share leaf dicts across fields), and the module exposes no mutable
    schema dict to edit in place."""
    customers = stream_schema("customers")
    # uuid and external_id share one leaf dict in the module
    customers["properties"]["uuid"]["type"] = "string"
    customers["properties"]["plans"] = {"type": "integer"}
    assert customers["properties"]["external_id"] == {"type": ["null", "string"]}
    again = stream_schema("customers")
    assert again["properties"]["uuid"] == {"type": ["null", "string"]}
    assert "plans" not in again["properties"]
    assert stream_schema("contacts")["properties"]["uuid"] == {"type": ["null", "string"]}
    exposed = {name for name, value in vars(schemas).items() if not name.startswith("_")}
    assert not {name for name in exposed if isinstance(getattr(schemas, name), dict)}
    assert isinstance(SCHEMA_NAMES, frozenset)
    assert {"customers", "activities", "customer_daily_count"} <= SCHEMA_NAMES
