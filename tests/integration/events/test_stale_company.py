"""A contact's company deleted in ChartMogul by someone else while its uuid is remembered."""

from __future__ import annotations

import httpx
import pytest

from .conftest import Harness, call, entries

ACME_GROUP = {"type": "group", "userId": "ada", "groupId": "acme", "traits": {"name": "Acme"}}


def _identify(title: str) -> dict[str, object]:
    traits = {"email": "ada@acme.io", "title": title, "company": {"id": "acme"}}
    return {"type": "identify", "userId": "ada", "traits": traits}


@pytest.mark.anyio
async def test_a_contact_of_a_company_deleted_in_chartmogul_lands_on_it_re_created(
    harness: Harness, api: httpx.Client
) -> None:
    """The stale company uuid is forgotten and the company resolved afresh, not dead-lettered."""
    await harness.send(ACME_GROUP, _identify("CTO"))
    await harness.forwarder.drain(max_wait_s=10)
    [customer] = entries(api, "/customers", external_id="acme")
    assert call(api, "DELETE", f"/customers/{customer['uuid']}").status_code == 204
    await harness.send(_identify("CEO"))
    await harness.forwarder.drain(max_wait_s=10)
    [again] = entries(api, "/customers", external_id="acme")
    [contact] = entries(api, "/contacts")
    assert (contact["customer_uuid"], contact["title"]) == (again["uuid"], "CEO")
    assert harness.queue.counts().get("dead", 0) == 0
