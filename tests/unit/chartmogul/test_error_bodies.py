"""Every documented ChartMogul error body shape yields a message and field errors."""

from __future__ import annotations

import json

import pytest

from mogulsync.chartmogul._error_bodies import parse_error_body


def test_shape_1_code_message_param() -> None:
    """Shape 1 names the offending parameter."""
    body = {"code": 400, "message": 'Parameter "name" is missing', "param": "name"}
    parsed = parse_error_body(json.dumps(body))
    assert parsed.message == 'Parameter "name" is missing'
    assert parsed.field_errors == {"name": 'Parameter "name" is missing'}


def test_shape_1_without_param_has_no_field_errors() -> None:
    """A shape-1 body with a null param (401, 429) is a message only."""
    parsed = parse_error_body('{"code":401,"message":"No valid API key provided","param":null}')
    assert parsed.message == "No valid API key provided"
    assert parsed.field_errors == {}


def test_shape_2_errors_map() -> None:
    """Shape 2 maps each field to its message; list values are joined."""
    body = {"errors": {"name": "Has already been taken.", "email": ["is invalid", "is long"]}}
    parsed = parse_error_body(json.dumps(body))
    assert parsed.field_errors == {
        "name": "Has already been taken.",
        "email": "is invalid; is long",
    }
    assert parsed.message == "name: Has already been taken.; email: is invalid; is long"


def test_shape_3_error_with_details() -> None:
    """Shape 3 keeps the error text and reads fields from error_details."""
    body = {
        "error": "Invoice not found",
        "error_details": [{"param": "invoice", "code": "invalid", "message": "Invoice not found"}],
    }
    parsed = parse_error_body(json.dumps(body))
    assert parsed.message == "Invoice not found"
    assert parsed.field_errors == {"invoice": "Invoice not found"}


def test_shape_3_plain_error() -> None:
    """A bare shape-3 body is a message without fields."""
    parsed = parse_error_body('{"error":"Data source not found"}')
    assert (parsed.message, parsed.field_errors) == ("Data source not found", {})


def test_shape_4_rails_arrays_and_details() -> None:
    """Shape 4 reads the Rails arrays; error_details do not overwrite them."""
    body = {
        "name": ["Name can't be blank"],
        "plan_ids": ["Plan ids can't be blank"],
        "error_details": [
            {"param": "name", "code": "blank", "message": "different wording"},
            {"param": "plan_ids", "code": "blank", "message": "Plan ids can't be blank"},
        ],
    }
    parsed = parse_error_body(json.dumps(body))
    assert parsed.field_errors == {
        "name": "Name can't be blank",
        "plan_ids": "Plan ids can't be blank",
    }
    assert "Name can't be blank" in parsed.message


def test_shape_5_message_only() -> None:
    """Shape 5 is a message without fields."""
    parsed = parse_error_body('{"message":"Status transition is not allowed"}')
    assert (parsed.message, parsed.field_errors) == ("Status transition is not allowed", {})


@pytest.mark.parametrize("text", ["Internal Server Error", "Gateway Timeout Error\n"])
def test_shape_6_plain_text(text: str) -> None:
    """Shape 6 (gateway errors) keeps the text as the message."""
    parsed = parse_error_body(text)
    assert (parsed.message, parsed.field_errors) == (text.strip(), {})


def test_batch_invoice_errors_are_keyed_by_record() -> None:
    """Per-invoice errors of an import are keyed invoices[<external id>].<field>."""
    body = {
        "invoices": [
            {"external_id": "INV-1", "errors": {}},
            {
                "external_id": "INV-2",
                "errors": {"external_id": "The external ID for this invoice already exists."},
            },
        ]
    }
    parsed = parse_error_body(json.dumps(body))
    assert parsed.field_errors == {
        "invoices[INV-2].external_id": "The external ID for this invoice already exists."
    }


@pytest.mark.parametrize("text", ["", "   ", "[1, 2]", "null"])
def test_empty_or_odd_bodies_never_raise(text: str) -> None:
    """Bodies that are empty or not objects still give a message."""
    parsed = parse_error_body(text)
    assert parsed.message
    assert parsed.field_errors == {}
