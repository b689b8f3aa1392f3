"""Retries and idempotency against the emulator's one-shot faults (in-process)."""

from __future__ import annotations

import httpx
import pytest

from mogulsync.chartmogul import (
    AlreadyExistsError,
    ChartMogulClient,
    NewCustomer,
    NewPlan,
    PlanUpdate,
    RequestLogEntry,
    ServerError,
    TransportError,
)
from mogulsync.emulator.state import Emulator

pytestmark = pytest.mark.anyio

TEST_ATTEMPTS = 4  # stamina testing mode, see conftest


async def script(admin: httpx.AsyncClient, *faults: dict[str, object]) -> None:
    response = await admin.post("/faults/script", json=list(faults))
    assert response.status_code == 200


def posts(emulator: Emulator, endpoint: str) -> int:
    """How many times the emulator received ``POST <endpoint>``, whatever the outcome."""
    return sum(emulator.stats.by_endpoint[f"POST {endpoint}"].values())


async def new_source(client: ChartMogulClient, name: str = "Warehouse") -> str:
    return (await client.data_sources.create(name)).uuid


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_each_retriable_status_is_retried(
    client: ChartMogulClient, emulator_admin: httpx.AsyncClient, emulator: Emulator, status: int
) -> None:
    """A one-off 500/502/503/504 on a read is retried and the call succeeds."""
    await script(emulator_admin, {"fault": "error", "status": status, "path_pattern": "/ping"})
    assert await client.ping() is True
    assert dict(emulator.stats.by_endpoint["GET /v1/ping"]) == {status: 1, 200: 1}


async def test_rate_limit_is_retried(
    client: ChartMogulClient, emulator_admin: httpx.AsyncClient, emulator: Emulator
) -> None:
    """A 429 is retried, and counted by the emulator."""
    await script(emulator_admin, {"fault": "rate_limit"})
    assert await client.ping() is True
    assert emulator.stats.rate_limited == 1


async def test_dropped_connection_on_a_read_is_retried(
    client: ChartMogulClient, emulator_admin: httpx.AsyncClient, request_log: list[RequestLogEntry]
) -> None:
    """A reset connection on a GET is retried; the log shows both attempts."""
    await script(emulator_admin, {"fault": "drop", "method": "GET"})
    assert (await client.account()).currency == "USD"
    assert [(e.attempt, e.status, e.error_type) for e in request_log] == [
        (1, None, "TransportError"),
        (2, 200, None),
    ]


async def test_retries_run_out(
    client: ChartMogulClient, emulator_admin: httpx.AsyncClient, emulator: Emulator
) -> None:
    """A 503 that never clears raises ServerError after the allowed attempts."""
    await emulator_admin.patch("/faults", json={"error_rate": 1.0, "error_statuses": [503]})
    with pytest.raises(ServerError) as caught:
        await client.ping()
    assert caught.value.status == 503
    assert emulator.stats.requests_total == TEST_ATTEMPTS


async def test_lost_response_on_customer_create_returns_it_once(
    client: ChartMogulClient,
    emulator_admin: httpx.AsyncClient,
    emulator: Emulator,
    request_log: list[RequestLogEntry],
) -> None:
    """The create landed but its answer was lost: the lookup returns it, nothing is re-sent."""
    source = await new_source(client)
    await script(emulator_admin, {"fault": "lost_response", "path_pattern": "^/v1/customers$"})
    customer = await client.customers.create(
        NewCustomer(data_source_uuid=source, external_id="cus-1", name="Acme")
    )
    assert (customer.external_id, customer.name) == ("cus-1", "Acme")
    stored = [row.uuid for row in emulator.store.iter_kind("customer")]
    assert stored == [customer.uuid]
    assert posts(emulator, "/v1/customers") == 1
    assert [(e.method, e.status) for e in request_log[-2:]] == [("POST", None), ("GET", 200)]


async def test_dropped_customer_create_is_sent_again(
    client: ChartMogulClient, emulator_admin: httpx.AsyncClient, emulator: Emulator
) -> None:
    """A create that never reached the store is re-sent after the lookup finds nothing."""
    source = await new_source(client)
    await script(emulator_admin, {"fault": "drop", "method": "POST"})
    customer = await client.customers.create(
        NewCustomer(data_source_uuid=source, external_id="cus-1")
    )
    assert [row.uuid for row in emulator.store.iter_kind("customer")] == [customer.uuid]
    assert posts(emulator, "/v1/customers") == 2


async def test_server_error_on_keyed_create_looks_up_then_resends(
    client: ChartMogulClient, emulator_admin: httpx.AsyncClient, emulator: Emulator
) -> None:
    """A 500 on a plan create with an external id: lookup, then exactly one more POST."""
    source = await new_source(client)
    await script(emulator_admin, {"fault": "error", "status": 500, "method": "POST"})
    plan = await client.plans.create(
        NewPlan(
            data_source_uuid=source,
            name="Gold",
            interval_count=1,
            interval_unit="month",
            external_id="gold",
        )
    )
    assert plan.external_id == "gold"
    assert posts(emulator, "/v1/plans") == 2
    assert len(list(emulator.store.iter_kind("plan"))) == 1


async def test_create_without_natural_key_is_not_resent_after_unknown_outcome(
    client: ChartMogulClient, emulator_admin: httpx.AsyncClient, emulator: Emulator
) -> None:
    """A plan without external id whose answer is lost is reported, not duplicated."""
    source = await new_source(client)
    await script(emulator_admin, {"fault": "lost_response", "method": "POST"})
    with pytest.raises(TransportError) as caught:
        await client.plans.create(
            NewPlan(data_source_uuid=source, name="Gold", interval_count=1, interval_unit="month")
        )
    assert caught.value.may_have_been_sent is True
    assert posts(emulator, "/v1/plans") == 1
    assert len(list(emulator.store.iter_kind("plan"))) == 1


async def test_create_without_natural_key_stops_on_500(
    client: ChartMogulClient, emulator_admin: httpx.AsyncClient, emulator: Emulator
) -> None:
    """A 500 might have been processed, so an unkeyed create raises instead of re-posting."""
    source = await new_source(client)
    await script(emulator_admin, {"fault": "error", "status": 500, "method": "POST"})
    with pytest.raises(ServerError):
        await client.plans.create(
            NewPlan(data_source_uuid=source, name="Gold", interval_count=1, interval_unit="month")
        )
    assert posts(emulator, "/v1/plans") == 1


@pytest.mark.parametrize("fault", [{"fault": "rate_limit"}, {"fault": "error", "status": 503}])
async def test_unprocessed_refusals_are_retried_even_for_unkeyed_creates(
    client: ChartMogulClient,
    emulator_admin: httpx.AsyncClient,
    emulator: Emulator,
    fault: dict[str, object],
) -> None:
    """429 and 503 prove nothing happened, so even an unkeyed create is sent again."""
    source = await new_source(client)
    await script(emulator_admin, {**fault, "method": "POST"})
    await client.plans.create(
        NewPlan(data_source_uuid=source, name="Gold", interval_count=1, interval_unit="month")
    )
    assert posts(emulator, "/v1/plans") == 2
    assert len(list(emulator.store.iter_kind("plan"))) == 1


async def test_lost_response_on_data_source_create(
    client: ChartMogulClient, emulator_admin: httpx.AsyncClient, emulator: Emulator
) -> None:
    """A data source whose answer was lost is found by name."""
    await script(emulator_admin, {"fault": "lost_response", "method": "POST"})
    source = await client.data_sources.create("Billing")
    assert source.name == "Billing"
    assert len(list(emulator.store.iter_kind("data_source"))) == 1


async def test_lost_response_on_delete_counts_as_deleted(
    client: ChartMogulClient, emulator_admin: httpx.AsyncClient
) -> None:
    """A delete whose answer was lost is retried; the 404 then means it worked."""
    source = await new_source(client)
    await script(emulator_admin, {"fault": "lost_response", "method": "DELETE"})
    await client.data_sources.delete(source)
    assert await client.data_sources.find_by_name("Warehouse") is None


async def test_update_is_retried_after_a_lost_response(
    client: ChartMogulClient, emulator_admin: httpx.AsyncClient, emulator: Emulator
) -> None:
    """PATCH sets values, so it is simply sent again."""
    source = await new_source(client)
    plan = await client.plans.create(
        NewPlan(data_source_uuid=source, name="Gold", interval_count=1, interval_unit="month")
    )
    await script(emulator_admin, {"fault": "lost_response", "method": "PATCH"})
    updated = await client.plans.update(plan.uuid, PlanUpdate(name="Platinum"))
    assert updated.name == "Platinum"
    assert sum(emulator.stats.by_endpoint["PATCH /v1/plans/{id}"].values()) == 2


async def test_duplicate_create_reports_the_existing_record(client: ChartMogulClient) -> None:
    """Creating a taken external id raises AlreadyExistsError naming the holder."""
    source = await new_source(client)
    first = await client.customers.create(NewCustomer(data_source_uuid=source, external_id="c"))
    with pytest.raises(AlreadyExistsError) as caught:
        await client.customers.create(NewCustomer(data_source_uuid=source, external_id="c"))
    assert (caught.value.field, caught.value.existing_uuid) == ("external_id", first.uuid)
    assert first.uuid in caught.value.user_message


async def test_tag_add_is_resent_after_a_lost_response(
    client: ChartMogulClient, emulator_admin: httpx.AsyncClient, emulator: Emulator
) -> None:
    """Adding tags twice is harmless, so a lost answer simply leads to a second POST."""
    source = await new_source(client)
    customer = await client.customers.create(NewCustomer(data_source_uuid=source, external_id="c"))
    await script(emulator_admin, {"fault": "lost_response", "path_pattern": "/attributes/tags$"})
    assert await client.tags.add(customer.uuid, ["vip"]) == ["vip"]
    assert sum(emulator.stats.by_endpoint["POST /v1/customers/{id}/attributes/tags"].values()) == 2


async def test_failing_request_hook_does_not_fail_the_call(
    client: ChartMogulClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A request-log callback that raises is logged; the API call still succeeds."""

    def broken(entry: RequestLogEntry) -> None:
        raise RuntimeError(entry.path)

    client.add_request_hook(broken)
    assert await client.ping() is True
    assert "request log hook" in caplog.text
