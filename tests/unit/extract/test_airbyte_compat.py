"""``discover`` stays backward compatible with Airbyte's source-chartmogul 1.0.13.

Its discovered catalog is vendored in ``source_chartmogul_1_0_13/`` (see the README there);
a connection set up with it must keep working when this source replaces it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.unit.extract._catalog_compat import incompatibilities

from mogulsync.extract import airbyte_protocol as protocol
from mogulsync.extract.airbyte import catalog

VENDORED = Path(__file__).parent / "source_chartmogul_1_0_13"


def _theirs() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((VENDORED / "catalog.json").read_text())
    return loaded


def _ours() -> dict[str, Any]:
    """Our catalog as the platform receives it (JSON: no dict shared between fields)."""
    found: dict[str, Any] = json.loads(json.dumps(catalog()["catalog"]))
    return found


def test_discover_is_backward_compatible_with_source_chartmogul_1_0_13() -> None:
    """Every stream, field, type, format, primary key and sync mode of 1.0.13 is kept."""
    assert incompatibilities(_theirs(), _ours()) == []


def test_the_vendored_catalog_is_the_one_its_manifest_declares() -> None:
    """catalog.json (1.0.13's ``discover`` output) carries its manifest's schemas verbatim,
    so the check above compares with what 1.0.13 ships, not with a hand-made copy."""
    manifest = yaml.safe_load((VENDORED / "manifest.yaml").read_text())
    streams = {stream["name"]: stream for stream in _theirs()["streams"]}
    assert set(streams) == set(manifest["schemas"])
    for name, schema in manifest["schemas"].items():
        assert streams[name]["json_schema"] == schema, name
    # 1.0.13 has no incremental stream: no state it wrote holds a cursor
    assert all(s["supported_sync_modes"] == ["full_refresh"] for s in streams.values())
    assert not any("incremental_sync" in s for s in manifest["definitions"]["streams"].values())


def _stream(catalog: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in catalog["streams"] if s["name"] == name)
    return found


def _props(catalog: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = _stream(catalog, name)["json_schema"]["properties"]
    return found


def _drop_stream(c: dict[str, Any]) -> None:
    c["streams"] = [s for s in c["streams"] if s["name"] != "customer_weekly_count"]


def _drop_nested_field(c: dict[str, Any]) -> None:
    del _props(c, "customers")["attributes"]["properties"]["stripe"]["properties"]["brandID"]


def _narrow_type(c: dict[str, Any]) -> None:
    _props(c, "customers")["mrr"]["type"] = ["null", "number"]


def _add_format(c: dict[str, Any]) -> None:
    _props(c, "activities")["date"]["format"] = "date-time"


def _change_key(c: dict[str, Any]) -> None:
    _stream(c, "customers")["source_defined_primary_key"] = [["uuid"]]


def _close_object(c: dict[str, Any]) -> None:
    _stream(c, "activities")["json_schema"]["additionalProperties"] = False


@pytest.mark.parametrize(
    ("breakage", "reported"),
    [
        (_drop_stream, "customer_weekly_count: stream removed"),
        (_drop_nested_field, "customers.attributes.stripe.brandID: removed"),
        (_narrow_type, "customers.mrr: type ['null', 'number'] lacks ['integer']"),
        (_add_format, "activities.date: format None became 'date-time'"),
        (_change_key, "customers: primary key [['id']] became [['uuid']]"),
        (_close_object, "activities: additionalProperties became false"),
    ],
)
def test_the_check_reports_each_kind_of_breakage(
    breakage: Callable[[dict[str, Any]], None], reported: str
) -> None:
    """Each incompatibility, made in a copy of our catalog, is named by the check."""
    broken = _ours()
    breakage(broken)
    assert incompatibilities(_theirs(), broken) == [reported]


def test_cursor_changes_are_reported_and_new_cursors_allowed() -> None:
    """A cursor where 1.0.13 had none is compatible; a changed or dropped one is not."""
    old = {"streams": [copy.deepcopy(_stream(_ours(), "activities"))]}
    assert old["streams"][0]["default_cursor_field"] == ["date"]
    new = copy.deepcopy(old)
    new["streams"][0]["default_cursor_field"] = ["uuid"]
    new["streams"][0]["supported_sync_modes"] = ["full_refresh"]
    del new["streams"][0]["source_defined_cursor"]
    assert incompatibilities(old, new) == [
        "activities: sync modes ['incremental'] dropped",
        "activities: cursor ['date'] became ['uuid']",
        "activities: no longer source_defined_cursor",
    ]
    assert incompatibilities(_theirs(), _ours()) == []  # theirs had no cursor at all


def test_spec_takes_every_config_source_chartmogul_1_0_13_took() -> None:
    """SPEC requires nothing 1.0.13's did not, and declares its keys alike (type, pattern,
    format, secret), so a connection's stored config stays valid."""
    manifest = yaml.safe_load((VENDORED / "manifest.yaml").read_text())
    theirs = manifest["spec"]["connection_specification"]
    ours = protocol.connection_specification()
    assert set(ours["required"]) <= set(theirs["required"])
    assert ours["additionalProperties"] is True
    for name, their_field in theirs["properties"].items():
        for key in ("type", "pattern", "format", "airbyte_secret"):
            assert ours["properties"][name].get(key) == their_field.get(key), (name, key)
