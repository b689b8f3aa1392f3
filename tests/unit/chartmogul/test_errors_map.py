"""The status table, the error factory and where each error sits in the hierarchy."""

from __future__ import annotations

import json

import pytest

from mogulsync._redact import Redactor
from mogulsync.chartmogul import errors as cm
from mogulsync.chartmogul.errors_map import (
    OTHER_CLIENT_ERROR,
    OTHER_SERVER_ERROR,
    STATUS_RULES,
    Action,
    already_exists_field,
    build_api_error,
    missing_resource,
    rule_for,
    truncate,
)
from mogulsync.errors import ConfigError, FatalError, RetriableError, SkippableError

KEY = "sk_live_secret_key_123"

EXPECTED = {
    400: (cm.ValidationError, Action.RAISE, False),
    401: (cm.AuthenticationError, Action.RAISE, False),
    402: (cm.RequestFailedError, Action.RAISE, False),
    403: (cm.PermissionDeniedError, Action.RAISE, False),
    404: (cm.NotFoundError, Action.RAISE, False),
    422: (cm.ValidationError, Action.RAISE, False),
    429: (cm.RateLimitedError, Action.RETRY, True),
    500: (cm.ServerError, Action.RETRY, False),
    502: (cm.ServerError, Action.RETRY, False),
    503: (cm.ServerError, Action.RETRY, True),
    504: (cm.ServerError, Action.RETRY, False),
    520: (cm.ServerError, Action.RETRY, False),
    524: (cm.ServerError, Action.RETRY, False),
}


def build(status: int, body: object, endpoint: str = "/customers") -> cm.ChartMogulAPIError:
    text = body if isinstance(body, str) else json.dumps(body)
    return build_api_error(
        status, text, method="POST", endpoint=endpoint, redactor=Redactor([KEY]), body_limit=200
    )


@pytest.mark.parametrize("status", sorted(EXPECTED))
def test_every_table_row(status: int) -> None:
    """Each documented status maps to its class, action and processed flag."""
    rule = rule_for(status)
    assert (rule.error, rule.action, rule.not_processed) == EXPECTED[status]
    assert isinstance(build(status, {"message": "x"}), EXPECTED[status][0])


def test_table_has_no_untested_rows() -> None:
    """The table holds exactly the rows this test file checks."""
    assert set(STATUS_RULES) == set(EXPECTED)


@pytest.mark.parametrize("status", [301, 405, 409, 418])
def test_other_client_statuses_are_fatal(status: int) -> None:
    """Undocumented non-5xx statuses raise UnexpectedStatusError, never retried."""
    assert rule_for(status) is OTHER_CLIENT_ERROR
    error = build(status, "teapot")
    assert isinstance(error, cm.UnexpectedStatusError)
    assert isinstance(error, FatalError)


@pytest.mark.parametrize("status", [501, 505, 599])
def test_other_server_statuses_are_not_retried(status: int) -> None:
    """Other 5xx are ServerErrors that the table does not retry."""
    assert rule_for(status) is OTHER_SERVER_ERROR
    assert OTHER_SERVER_ERROR.action is Action.RAISE
    assert isinstance(build(status, "Not Implemented"), cm.ServerError)


@pytest.mark.parametrize(
    ("error_class", "action_base"),
    [
        (cm.AuthenticationError, ConfigError),
        (cm.PermissionDeniedError, ConfigError),
        (cm.NotFoundError, SkippableError),
        (cm.ValidationError, SkippableError),
        (cm.AlreadyExistsError, SkippableError),
        (cm.RequestFailedError, SkippableError),
        (cm.RateLimitedError, RetriableError),
        (cm.ServerError, RetriableError),
        (cm.TransportError, RetriableError),
        (cm.UnexpectedStatusError, FatalError),
        (cm.ResponseFormatError, SkippableError),
        (cm.JsonImportTimeoutError, RetriableError),
    ],
)
def test_errors_sit_under_the_caller_action(error_class: type, action_base: type) -> None:
    """Each error class says what the caller does, via mogulsync's first-level split."""
    assert issubclass(error_class, action_base)
    assert issubclass(error_class, cm.ChartMogulError)


def test_authentication_error_tells_what_to_fix() -> None:
    """A 401 has the documented user message and carries status and endpoint."""
    error = build(401, {"code": 401, "message": "No valid API key provided", "param": None})
    assert error.user_message == (
        "The ChartMogul API key was rejected; check chartmogul.api_key / CHARTMOGUL_API_KEY."
    )
    assert (error.status, error.method, error.endpoint) == (401, "POST", "/customers")


def test_validation_error_lists_fields() -> None:
    """A 422 carries field errors and names them in the user message."""
    error = build(422, {"errors": {"email": "is invalid"}})
    assert type(error) is cm.ValidationError
    assert error.field_errors == {"email": "is invalid"}
    assert "email: is invalid" in error.user_message


def test_already_exists_is_recognised() -> None:
    """A 422 whose only complaint is a taken external id is AlreadyExistsError."""
    message = "The external ID for this customer already exists in our system."
    error = build(422, {"errors": {"external_id": message}})
    assert isinstance(error, cm.AlreadyExistsError)
    assert (error.field, error.existing_uuid) == ("external_id", None)
    assert message in error.user_message


@pytest.mark.parametrize(
    ("status", "fields", "expected"),
    [
        (422, {"name": "Has already been taken."}, "name"),
        (
            422,
            {"external_id": "A plan with this identifier already exists in our system."},
            "external_id",
        ),
        (422, {"transactions.external_id": "has already been taken"}, "transactions.external_id"),
        (
            422,
            {
                "invoices[INV-1].external_id": "The external ID for this invoice already exists in our system.",
                "invoices[INV-1].line_items.external_id": "The external ID for this line item already exists in our system.",
            },
            "invoices[INV-1].external_id",
        ),
        (422, {"external_id": "taken", "currency": "is invalid"}, None),
        (422, {"external_id": "has already been taken", "currency": "is invalid"}, None),
        (422, {"email": "has already been taken"}, None),
        (400, {"name": "Has already been taken."}, None),
        (422, {}, None),
    ],
)
def test_already_exists_field(status: int, fields: dict[str, str], expected: str | None) -> None:
    """Only duplicates of natural keys, and nothing else, count as already existing."""
    assert already_exists_field(status, fields) == expected


@pytest.mark.parametrize(
    ("endpoint", "message", "expected"),
    [
        ("/data_sources/{uuid}", "Data source not found", "data source"),
        ("/customers/{uuid}", "", "customer"),
        ("/import/customers/{customer_uuid}/invoices", "", "customer"),
        ("/invoices/{uuid}", "Not Found", "invoice"),
        ("/contacts/{into_uuid}/merge/{from_uuid}", "", "contact"),
        ("/subscription_events", "Subscription event not found", "subscription event"),
        ("/activities", "", "activity"),
        ("/plan_groups/{uuid}", "", "plan group"),
        ("", "", "resource"),
    ],
)
def test_missing_resource(endpoint: str, message: str, expected: str) -> None:
    """A 404 names what was missing, from the message or else the path template."""
    assert missing_resource(endpoint, message) == expected


def test_not_found_error_names_the_thing() -> None:
    """NotFoundError.user_message names the missing object."""
    error = build(404, {"error": "Invoice not found"}, endpoint="/invoices/{uuid}")
    assert isinstance(error, cm.NotFoundError)
    assert error.resource == "invoice"
    assert error.user_message == "ChartMogul has no such invoice (POST /invoices/{uuid})."


def test_rate_limit_and_server_errors_carry_retry_after() -> None:
    """Retry-After given to the factory is kept on the error."""
    error = build_api_error(
        429,
        '{"code":429,"message":"Your request rate has exceeded our rate limit.","param":null}',
        method="GET",
        endpoint="/ping",
        redactor=Redactor(),
        body_limit=100,
        retry_after=3.0,
    )
    assert isinstance(error, cm.RateLimitedError)
    assert error.retry_after == 3.0


def test_bodies_are_redacted_and_truncated() -> None:
    """The key echoed in a body never reaches the error; long bodies are cut."""
    error = build(422, {"errors": {"name": f"{KEY} is not allowed"}, "pad": "x" * 500})
    assert KEY not in error.body
    assert KEY not in str(error)
    assert KEY not in json.dumps(error.attrs(), default=str)
    assert error.body.endswith("more characters)")


def test_truncate_keeps_short_text() -> None:
    """Text within the limit is unchanged."""
    assert truncate("abc", 3) == "abc"
    assert truncate("abcd", 3) == "abc... (1 more characters)"
