"""Our client reads every recorded ChartMogul response body it has a model for.

``recorded_bodies.yaml`` holds bodies written from the official clients' recordings of the
real API (and the Airbyte connector's extracted records), keeping their quirks: absent
keys, nulls, ``""`` where a number is usual, fractional MRR, old timestamp spellings,
enum values we have never seen. Each body goes through the same reader the resources use
(``models.reader``) and the named values must come through; error bodies go through the
error-body parser, and list bodies through the page decoder. No HTTP is involved: this
is the decoding half of the client.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from mogulsync.chartmogul import models
from mogulsync.chartmogul._error_bodies import parse_error_body
from mogulsync.chartmogul.pagination import read_page

RECORDED = yaml.safe_load((Path(__file__).parent / "recorded_bodies.yaml").read_text())


def _attribute(found: Any, part: str) -> Any:
    """One step of an ``expect`` path: list index, model extra (``extra``), field or key."""
    if isinstance(found, list):
        return found[int(part)]
    if isinstance(found, BaseModel):
        if part == "extra":
            return found.model_extra or {}
        return getattr(found, part)
    return found[part]


def _plain(value: Any) -> Any:
    """Datetimes and dates as ISO text, so the YAML can name them."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


@pytest.mark.parametrize("entry", RECORDED["models"], ids=lambda entry: entry["name"])
def test_recorded_body_parses(entry: dict[str, Any]) -> None:
    """The body parses into its model and the recorded values come through unchanged."""
    model = getattr(models, entry["model"])
    parsed = models.reader(model, f"recorded {entry['model']}")(entry["body"])
    for path, expected in entry["expect"].items():
        found: Any = parsed
        for part in path.split("."):
            found = _attribute(found, part)
        assert _plain(found) == expected, f"{path} in {entry['name']}"


@pytest.mark.parametrize("entry", RECORDED["lists"], ids=lambda entry: entry["name"])
def test_recorded_list_body_pages(entry: dict[str, Any]) -> None:
    """A recorded list body decodes as a page: items, has_more, cursor and total_pages,
    including pre-cursor bodies that only count pages."""
    model = getattr(models, entry["model"])
    endpoint = f"recorded {entry['key']}"
    page = read_page(entry["body"], entry["key"], models.reader(model, endpoint), endpoint=endpoint)
    found = {
        "items": len(page.items),
        "has_more": page.has_more,
        "cursor": page.cursor,
        "total_pages": page.total_pages,
    }
    assert found == entry["expect"]


@pytest.mark.parametrize("entry", RECORDED["errors"], ids=lambda entry: entry["name"])
def test_recorded_error_body_reads(entry: dict[str, Any]) -> None:
    """Every recorded error body gives its message and the fields it names."""
    parsed = parse_error_body(entry["text"])
    assert (parsed.message, parsed.field_errors) == (entry["message"], entry["fields"])


def test_every_response_model_has_a_recorded_body() -> None:
    """No response model is left without a recorded body to read."""
    response_models = {
        name
        for name, value in vars(models).items()
        if isinstance(value, type)
        and issubclass(value, models.ChartMogulModel)
        and value is not models.ChartMogulModel
    }
    # parts of other bodies, read through their parents
    parts = {"CustomerAddress", "CustomerAttributes", "MetricsEntry", "MetricsSummary"}
    covered = {entry["model"] for entry in RECORDED["models"]}
    assert response_models - parts - covered == set()
