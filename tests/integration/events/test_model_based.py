"""Model-based: random Segment calls over HTTP end as the documented mappings say.

A hypothesis state machine sends identify, group, track and bad calls (single and batch,
duplicates, a wrong write key, ``integrations`` switches, timestamps out of order) to a
real ``EventsService`` on loopback, injects emulator faults (5xx, 429, lost answers) for a
forwarder round, restarts the server (the queue file stays) and drains the queue with a
fresh delivery worker, at times while ChartMogul answers after random delays (so entities
delivered in parallel interleave their calls differently). A reference model applies each
accepted call in arrival order, as docs/events.md promises (the events of one entity in
order; entities have no order among each other, so the model accepts any order of theirs
where the documented results differ). After each drain:

- the customers and contacts the emulator holds are exactly the model's (one contact per
  id, under the right customer, newest values winning);
- the dead letters are exactly the calls ChartMogul refuses, each with a reason;
- nothing is pending, and the status counts add up to the calls stored;
- neither the write key nor the API key is in the logs, the responses or the queue file.

Small by default (``make test``): two cases, one entity at a time and 4 entities in
parallel (each its own fixed seed). ``MOGULSYNC_MODEL_EXAMPLES`` and
``MOGULSYNC_MODEL_STEPS`` make a longer hunt, ``MOGULSYNC_MODEL_SEED`` another sequence,
``MOGULSYNC_MODEL_CONCURRENCY`` one case at that concurrency instead of the two,
``MOGULSYNC_MODEL_NO_SHRINK`` the first failure unshrunk (shrinking re-runs every drain).
A hunt past pytest's 300 s timeout needs ``--timeout=0`` (40 examples of 40 steps take
about 2-3 minutes on 2 busy cores).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import stamina
from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from pydantic import SecretStr
from tests.conftest import unlimited_settings

from mogulsync.chartmogul import ChartMogulClient, ClientSettings
from mogulsync.config import parse_config
from mogulsync.config.events import DeliveryConfig
from mogulsync.emulator.server import EmulatorServer
from mogulsync.events.delivery import PlannedEvent
from mogulsync.events.delivery_api import ApiDelivery
from mogulsync.events.forwarder import FETCH_LIMIT, Forwarder, plan_for
from mogulsync.events.mappings import DEFAULT_MAPPINGS
from mogulsync.events.queue import EventQueue
from mogulsync.events.server import EventsService

#: per case (the two default cases together cost what 8 at concurrency 1 did)
EXAMPLES = int(os.environ.get("MOGULSYNC_MODEL_EXAMPLES", "4"))
STEPS = int(os.environ.get("MOGULSYNC_MODEL_STEPS", "20"))
SEED = int(os.environ.get("MOGULSYNC_MODEL_SEED", "20261205"))
WRITE_KEY = "wk-model-5f1d2c"
USERS = ("ada", "bob")
ANONYMOUS = ("anon-1",)
GROUPS = ("acme", "globex")
EMAILS = ("a@x.io", "b@x.io", "c@x.io")
TITLES = ("CTO", "CEO", None)
NAMES = ("Acme Inc", "Globex", None)
#: the name an identify's ``company`` may carry: it names the customer only when creating it
COMPANY_NAMES = {"acme": "Acme Corp", "globex": "Globex Corp"}
#: out of order on purpose: arrival order, not timestamps, decides (docs/events.md)
TIMESTAMPS = ("2024-05-01T00:00:00Z", "2023-01-01T00:00:00Z", "2025-12-31T23:59:59Z")
#: a fault lasts one forwarder round (faults: 5xx, 429, write done but answer lost)
FAULTS = (
    {"error_rate": 1.0},
    {"rate_limit_rate": 1.0},
    {"lost_response_rate": 1.0, "methods": ["POST", "PATCH", "PUT"]},
)
#: (concurrency, seed) per case: entities one at a time, and 4 in parallel (docs/events.md:
#: "different entities in parallel"). A seed-11 hunt at 8 found a group's values dropped
#: when a contact created its company meanwhile (test_parallel_entities.py); the anonymous
#: user's audience trait it saw on a company was a burst's, redelivered onto the company
#: the burst moved them to (test_api_recovery.py; 4 steps fail one at a time too).
CASES = (
    [(int(os.environ["MOGULSYNC_MODEL_CONCURRENCY"]), SEED)]
    if "MOGULSYNC_MODEL_CONCURRENCY" in os.environ
    else [(1, SEED), (4, SEED + 1)]
)
#: the most a jittery drain delays one ChartMogul answer (it reorders parallel calls)
JITTER_MS = 8
#: a safety net for a stuck queue, not a speed limit (a drain takes well under a second)
DRAIN_WAIT_S = 20
#: enough that a fault round never exhausts an event's attempts (only refusals die)
MAX_ATTEMPTS = 1000


@dataclass
class Customer:
    name: str
    email: str | None = None
    custom: dict[str, Any] = field(default_factory=dict)
    #: Until a group names it or a drain shows it, any of these may be its name: whoever
    #: creates it names it (its id, or a contact's company name), and entities have no
    #: order among each other. Empty: ``name`` it is.
    creator_names: set[str] = field(default_factory=set)

    @classmethod
    def new(cls, external_id: str, name: str | None = None) -> Customer:
        return cls(name=external_id, creator_names={external_id, name or external_id})


@dataclass
class Contact:
    customer: str
    fields: dict[str, Any] = field(default_factory=dict)


async def _send_unrecorded(queue: EventQueue, delivery: ApiDelivery) -> None:
    groups: dict[str, list[PlannedEvent]] = {}
    for event in queue.pending(FETCH_LIMIT):
        plan = plan_for(event, DEFAULT_MAPPINGS)
        if plan.entity is not None:
            groups.setdefault(plan.entity, []).append(PlannedEvent(event, plan))
    queue.mark_inflight([item.event.seq for items in groups.values() for item in items])
    for entity, items in groups.items():
        await delivery.deliver(entity, items)


def _switched_off(integrations: dict[str, Any]) -> bool:
    """The documented Integrations rule (docs/events.md)."""
    flags = [integrations[name] for name in ("ChartMogul", "Chart Mogul") if name in integrations]
    flags = [flag for flag in flags if isinstance(flag, bool | dict)]
    if flags:
        return False in flags
    return integrations.get("All") is False


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.text: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.text.append(self.format(record))


class EventsModel(RuleBasedStateMachine):
    """See the module's docstring."""

    #: entities the delivery worker sends in parallel
    concurrency = 1

    def __init__(self) -> None:
        super().__init__()
        self._stack = contextlib.ExitStack()
        self._stack.enter_context(stamina.set_testing(True, attempts=2, cap=True))
        self.server = self._stack.enter_context(EmulatorServer(unlimited_settings()))
        self.root = Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix="evm-")))
        raw = {
            "chartmogul": {
                "api_key": "${CM_KEY}",
                "base_url": self.server.base_url,
                "rate_limit": 10_000,
            },
            "state_dir": str(self.root),
            "events": {"write_keys": ["${WRITE_KEY}"]},
        }
        env = {"CM_KEY": self.server.api_key, "WRITE_KEY": WRITE_KEY}
        self.config = parse_config(raw, env=env)
        self.path = self.root / "events.sqlite"
        self.service: EventsService | None = None
        self._start()
        self.api = self._stack.enter_context(
            httpx.Client(
                base_url=f"{self.server.base_url}/v1", auth=(self.server.api_key, ""), timeout=30
            )
        )
        self.admin = self._stack.enter_context(
            httpx.Client(base_url=f"{self.server.base_url}/_emulator", timeout=30)
        )
        self.logs = _Lines()
        logging.getLogger().addHandler(self.logs)
        self.responses: list[str] = []
        self.count = 0
        # the model
        self.customers: dict[str, Customer] = {}
        self.contacts: dict[str, Contact] = {}
        self.sent: dict[str, dict[str, Any]] = {}  # messageId → message, as accepted
        self.duplicates = 0
        self.expect_dead: set[str] = set()
        self.expect_rejected: set[str] = set()
        self.expect_skipped: set[str] = set()
        self.steps: list[str] = []

    def teardown(self) -> None:
        if os.environ.get("MOGULSYNC_MODEL_VERBOSE"):
            print("steps:", " ".join(self.steps))  # a hunt's own log
        try:
            if self.steps and not self.steps[-1].endswith("drain"):  # every sequence ends checked
                self.drain()
        finally:
            logging.getLogger().removeHandler(self.logs)
            if self.service is not None:
                self.service.stop()
            self._stack.close()

    # -- plumbing -------------------------------------------------------------------------

    def _start(self) -> None:
        service = EventsService(self.config, host="127.0.0.1", port=0, forward=False)
        self.service = service.start()

    def _post(self, path: str, body: dict[str, Any], key: str = WRITE_KEY) -> httpx.Response:
        assert self.service is not None
        response = httpx.post(
            f"{self.service.base_url}{path}", json=body, auth=(key, ""), timeout=30
        )
        self.responses.append(response.text)
        return response

    def _message(self, kind: str, **fields: Any) -> dict[str, Any]:
        self.count += 1
        return {"type": kind, "messageId": f"m{self.count}", **fields}

    def _forwarder_run(self, *, drain: bool, crash: bool = False) -> int:
        """A fresh delivery worker (a restart each time): one round, or until empty; or,
        with ``crash``, what a kill -9 mid-round leaves (events marked in flight and sent,
        their outcome never recorded)."""

        async def run() -> int:
            queue = EventQueue(self.path)
            client_settings = ClientSettings(
                api_key=SecretStr(self.server.api_key),
                base_url=self.server.base_url,
                rate_limit=10_000,
            )
            delivery = ApiDelivery(ChartMogulClient(client_settings), queue, "Segment")
            retry = DeliveryConfig(
                concurrency=self.concurrency,
                coalesce_window_s=0,
                max_attempts=MAX_ATTEMPTS,
                retry_initial_s=0.001,
                retry_max_s=0.001,
            )
            forwarder = Forwarder(queue, delivery, DEFAULT_MAPPINGS, retry)
            try:
                if crash:
                    await _send_unrecorded(queue, delivery)
                    return 0
                if drain:
                    return await forwarder.drain(max_wait_s=DRAIN_WAIT_S)
                await forwarder.run_once()
                return 0
            finally:
                await delivery.aclose()
                queue.close()

        return asyncio.run(run())

    def _accept(self, message: dict[str, Any]) -> None:
        """The model's reading of one accepted message, in arrival order."""
        message_id = message["messageId"]
        if message_id in self.sent:
            self.duplicates += 1
            return
        self.sent[message_id] = message
        integrations = message.get("integrations") or {}
        kind = message["type"]
        if kind not in ("identify", "group") or _switched_off(integrations):
            self.expect_skipped.add(message_id)
        elif kind == "group":
            self._group(message)
        else:
            self._identify(message)

    def _group(self, message: dict[str, Any]) -> None:
        traits = message.get("traits", {})
        if "userId" not in message:
            self.expect_rejected.add(message["messageId"])
            return
        if traits.get("address"):  # ChartMogul refuses the made-up country
            self.expect_dead.add(message["messageId"])
            return
        group = message["groupId"]
        customer = self.customers.setdefault(group, Customer.new(group))
        if traits.get("name"):  # a group's name wins over whoever created it
            customer.name = traits["name"]
            customer.creator_names.clear()
        if "seats" in traits:
            customer.custom["seats"] = traits["seats"]

    def _identify(self, message: dict[str, Any]) -> None:
        traits = message.get("traits", {})
        contact_id = message.get("userId") or message.get("anonymousId")
        fields = {k: traits[k] for k in ("email", "title") if traits.get(k) is not None}
        company = (traits.get("company") or {}).get("id")
        company_name = (traits.get("company") or {}).get("name")
        audience = {k: v for k, v in traits.items() if isinstance(v, bool)}
        if contact_id is None:
            self.expect_rejected.add(message["messageId"])
            return
        if not fields and company is None and not audience:
            self.expect_rejected.add(message["messageId"])
            return
        if company is not None:
            customer = self.customers.setdefault(company, Customer.new(company))
            if company_name and customer.creator_names:
                customer.creator_names.add(company_name)
        contact = self.contacts.get(contact_id)
        if contact is None:  # audiences alone make the person too
            owner = company
            if owner is None:
                owner = contact_id
                own = self.customers.setdefault(owner, Customer(name=owner))
                if fields.get("email"):
                    own.name, own.email = fields["email"], fields["email"]
            contact = self.contacts[contact_id] = Contact(customer=owner)
        if company is not None:
            contact.customer = company  # moved: the old contact merged into the new
        contact.fields.update(fields)
        self.customers[contact.customer].custom.update(audience)

    # -- rules ----------------------------------------------------------------------------

    @rule(
        who=st.sampled_from(USERS + ANONYMOUS),
        email=st.sampled_from((*EMAILS, None)),
        title=st.sampled_from(TITLES),
        company=st.sampled_from((*GROUPS, None)),
        company_named=st.booleans(),
        beta=st.sampled_from((True, False, None)),
        timestamp=st.sampled_from(TIMESTAMPS),
        batch=st.booleans(),
    )
    def identify(
        self,
        who: str,
        email: str | None,
        title: str | None,
        company: str | None,
        company_named: bool,
        beta: bool | None,
        timestamp: str,
        batch: bool,
    ) -> None:
        traits: dict[str, Any] = {}
        if email:
            traits["email"] = email
        if title:
            traits["title"] = title
        if company:
            traits["company"] = {"id": company}
            if company_named:
                traits["company"]["name"] = COMPANY_NAMES[company]
        if beta is not None:
            # one audience per person: two people's events are two entities, delivered in
            # parallel (docs/events.md), so one attribute both set would have no order
            traits[f"beta_{who.replace('-', '_')}"] = beta
        ids = {"anonymousId": who} if who in ANONYMOUS else {"userId": who}
        message = self._message("identify", timestamp=timestamp, traits=traits, **ids)
        self.steps.append(f"identify({message})")
        self._send([message], batch=batch)

    @rule(
        user=st.sampled_from((*USERS, None)),
        group=st.sampled_from(GROUPS),
        name=st.sampled_from(NAMES),
        seats=st.sampled_from((1, 5, None)),
        refused=st.booleans(),
        batch=st.booleans(),
    )
    def group(
        self,
        user: str | None,
        group: str,
        name: str | None,
        seats: int | None,
        refused: bool,
        batch: bool,
    ) -> None:
        traits: dict[str, Any] = {}
        if name:
            traits["name"] = name
        if seats is not None:
            traits["seats"] = seats
        if refused:
            traits["address"] = {"country": "Narnia"}
        ids = {"userId": user} if user else {"anonymousId": "anon-g"}
        message = self._message("group", groupId=group, traits=traits, **ids)
        self.steps.append(f"group({message})")
        self._send([message], batch=batch)

    @rule(
        n=st.integers(1, 3),
        switch=st.sampled_from(({"ChartMogul": False}, {"All": False})),
        envelope=st.booleans(),
    )
    def mixed_batch(self, n: int, switch: dict[str, bool], envelope: bool) -> None:
        """A batch: a track, an identify switched off, ``n`` identifies of one user; with
        ``envelope``, the batch's ``integrations`` turn off those without their own, and
        one identify turns ChartMogul back on."""
        messages = [
            self._message("track", userId="ada", event="Signed Up"),
            self._message("identify", userId="bob", traits={"title": "Off"}, integrations=switch),
        ]
        messages += [
            self._message("identify", userId="ada", traits={"title": f"T{i}"}) for i in range(n)
        ]
        if envelope:
            messages.append(
                self._message(
                    "identify",
                    userId="ada",
                    traits={"email": "a@x.io"},
                    integrations={"All": False, "ChartMogul": True},
                )
            )
        self.steps.append(f"mixed_batch({n}, {switch}, {envelope})")
        shared = {"integrations": {"All": False}} if envelope else {}
        self._send(messages, batch=True, shared=shared)

    def _send(
        self, messages: list[dict[str, Any]], *, batch: bool, shared: dict[str, Any] | None = None
    ) -> None:
        if batch:
            response = self._post("/v1/batch", {"batch": messages, **(shared or {})})
        else:
            [message] = messages
            response = self._post(f"/v1/{message['type']}", message)
        assert (response.status_code, response.json()) == (200, {"success": True})
        for message in messages:
            # the envelope's integrations stand for a message's own missing ones
            self._accept({**(shared or {}), **message})

    @rule(data=st.data())
    def duplicate(self, data: st.DataObject) -> None:
        if not self.sent:
            return
        message_id = data.draw(st.sampled_from(sorted(self.sent)))
        message = self.sent[message_id]
        self.steps.append(f"duplicate({message_id})")
        self._send([message], batch=data.draw(st.booleans()))

    @rule()
    def wrong_write_key(self) -> None:
        message = self._message("identify", userId="ada", traits={"title": "Intruder"})
        self.steps.append("wrong_write_key")
        response = self._post("/v1/identify", message, key="not-the-key")
        assert response.status_code == 401

    @rule()
    def bad_json(self) -> None:
        assert self.service is not None
        self.steps.append("bad_json")
        response = httpx.post(
            f"{self.service.base_url}/v1/batch",
            content=b'{"batch": [',
            auth=(WRITE_KEY, ""),
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        self.responses.append(response.text)
        assert response.status_code == 400

    @rule(fault=st.sampled_from(FAULTS))
    def fault_round(self, fault: dict[str, Any]) -> None:
        """One forwarder round while ChartMogul misbehaves."""
        self.steps.append(f"fault_round({fault})")
        self.admin.put("/faults", json=fault).raise_for_status()
        try:
            self._forwarder_run(drain=False)
        finally:
            self.admin.delete("/faults").raise_for_status()

    @rule()
    def crash_mid_delivery(self) -> None:
        """The worker dies after sending, before recording: the next one checks."""
        self.steps.append("crash_mid_delivery")
        self._forwarder_run(drain=False, crash=True)

    @rule()
    def restart_server(self) -> None:
        self.steps.append("restart_server")
        assert self.service is not None
        self.service.stop()
        self.service = None
        self._start()

    @rule()
    def drain(self) -> None:
        self.steps.append("drain")
        assert self._forwarder_run(drain=True) == 0
        self._check()

    @rule()
    def jittery_drain(self) -> None:
        """A drain while ChartMogul answers each request after a random 0-JITTER_MS ms:
        entities delivered in parallel interleave their calls in other orders."""
        self.steps.append("jittery_drain")
        self.admin.put("/faults", json={"latency_jitter_ms": JITTER_MS}).raise_for_status()
        try:
            assert self._forwarder_run(drain=True) == 0
        finally:
            self.admin.delete("/faults").raise_for_status()
        self._check()

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def secrets_never_shown(self) -> None:
        text = "\n".join([*self.logs.text, *self.responses])
        assert WRITE_KEY not in text
        assert self.server.api_key not in text

    def _check(self) -> None:
        queue = EventQueue(self.path)
        try:
            counts = queue.counts()
            counters = queue.counters()
            by_status = {
                status: {event.message_id: event for event in queue.by_status(status, 10_000)}
                for status in ("dead", "rejected", "skipped")
            }
        finally:
            queue.close()
        assert counts["pending"] == 0, counts
        assert sum(counts.values()) == len(self.sent), (counts, len(self.sent))
        assert counters.get("duplicates", 0) == self.duplicates
        assert counters.get("received", 0) == len(self.sent) + self.duplicates
        assert set(by_status["dead"]) == self.expect_dead
        assert all(event.reason for event in by_status["dead"].values())
        assert set(by_status["rejected"]) == self.expect_rejected
        assert set(by_status["skipped"]) == self.expect_skipped
        assert all(event.reason for event in by_status["rejected"].values())
        self._check_chartmogul()
        stored = self.path.read_bytes()
        assert WRITE_KEY.encode() not in stored
        assert self.server.api_key.encode() not in stored

    def _all(self, path: str, **params: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            query = {**params, "per_page": "200", **({"cursor": cursor} if cursor else {})}
            page = self.api.get(path, params=query).json()
            found += page["entries"]
            cursor = page.get("cursor")
            if not page.get("has_more"):
                return found

    def _check_chartmogul(self) -> None:
        customers = self._all("/customers")
        by_uuid = {c["uuid"]: c["external_id"] for c in customers}
        held = {c["external_id"]: (c["name"], dict(c["attributes"]["custom"])) for c in customers}
        assert len(held) == len(customers), "a customer twice"
        expected = {eid: (c.name, c.custom) for eid, c in self.customers.items()}
        for eid, customer in self.customers.items():
            if eid in held and held[eid][0] in customer.creator_names:
                customer.name = held[eid][0]  # now created: its name is settled
                customer.creator_names.clear()
                expected[eid] = (customer.name, customer.custom)
        for eid in set(self.contacts) & set(expected):
            # A person's own customer: named from the burst that created it (coalescing
            # folds a burst), and never created when the burst also named a company.
            # Whatever was written to it must be there.
            if eid in held:
                held[eid] = (expected[eid][0], held[eid][1])
            elif not expected[eid][1] and self.contacts[eid].customer != eid:
                del expected[eid]
        assert held == expected
        contacts = self._all("/contacts")
        found = {
            c["external_id"]: (
                by_uuid[c["customer_uuid"]],
                {k: c[k] for k in ("email", "title") if c.get(k) is not None},
            )
            for c in contacts
        }
        assert len(found) == len(contacts), "a contact twice"
        assert found == {eid: (c.customer, c.fields) for eid, c in self.contacts.items()}


@pytest.mark.parametrize(
    ("concurrency", "seed_"), CASES, ids=[f"concurrency-{c}" for c, _ in CASES]
)
def test_events_flow_matches_the_model(concurrency: int, seed_: int) -> None:
    """Random Segment calls, faults and restarts end as the documented mappings say."""
    settings_ = settings(
        max_examples=EXAMPLES,
        stateful_step_count=STEPS,
        deadline=None,
        database=None,
        derandomize=False,
        # MOGULSYNC_MODEL_NO_SHRINK: report the first failing sequence as found
        phases=(Phase.generate,)
        if os.environ.get("MOGULSYNC_MODEL_NO_SHRINK")
        else (Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
    )
    machine = type(f"EventsModel{concurrency}", (EventsModel,), {"concurrency": concurrency})
    run_state_machine_as_test(seed(seed_)(machine), settings=settings_)
