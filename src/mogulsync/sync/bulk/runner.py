"""Send a run's spooled new rows as bulk JSON imports, and map the outcome back to rows.

Flow per run: below ``min_rows`` everything goes over REST (cheaper). Otherwise, for
customers and plans, one listing learns which external ids already exist and their uuids
(those rows go over REST carrying the uuid, so an upsert is one update and an insert
reports the duplicate); right after ``reconcile --adopt``, what the adopt listed may stand
in for it (:mod:`mogulsync.sync.bulk.adopted`). The remaining groups are packed into
batches and up to
``max_imports`` imports run at once. A batch whose serialized body is over ``max_bytes``
is split before anything is sent. Each batch's rows are marked in flight right before its
POST, which carries a deterministic external id (``mogulsync-<run id>-<n>``) so a lost
answer is looked up, never re-sent.

Narrowing: a batch the endpoint refuses as a whole (400/413/422) or an import that ends
``failed`` is split in halves by groups and retried; a single group that still fails, and
rows whose failure the import does not pin on them, are re-sent one row per REST request
as rows in flight (so "already exists" resolves to the record that landed). An import
whose outcome is unknown (no answer, polling timed out) leaves its rows in flight: the
next run resolves them by lookup over REST. Each row of a batch is reported exactly once,
even when an unexpected error cuts a batch short (the rows already reported are not
reported again as unresolved).

After the imports, customers, plans and invoices that were imported learn their uuids
from one listing of the data source when it is cheap (:mod:`mogulsync.sync.bulk.learn`).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from mogulsync.chartmogul import ChartMogulAPIError, ChartMogulClient
from mogulsync.chartmogul.models import JsonImport
from mogulsync.errors import ConfigError, FatalError, MogulsyncError
from mogulsync.sync.batch import Classified
from mogulsync.sync.bulk.adopted import AdoptedScope, vouched
from mogulsync.sync.bulk.batches import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_GROUPS,
    Batch,
    Group,
    Member,
    Packer,
)
from mogulsync.sync.bulk.eligibility import row_ref
from mogulsync.sync.bulk.existing import existing_records
from mogulsync.sync.bulk.learn import LEARNABLE, Learnt, learn_uuids, listing_budget
from mogulsync.sync.bulk.payloads import NotBulkableError, body_size, encoded_size, records_for
from mogulsync.sync.bulk.results import Problem, Verdict, judge
from mogulsync.sync.bulk.spool import Spool
from mogulsync.sync.diff import Prior, RowStatus

#: fewer eligible rows than this: REST is cheaper than an import plus its polling
DEFAULT_MIN_ROWS = 50
#: imports in flight at once
DEFAULT_MAX_IMPORTS = 4
#: listing the data source is worth it while it costs at most one page per this many rows
DEFAULT_LISTING_RATIO = 20
#: statuses with which the endpoint refuses a whole import (nothing was stored)
WHOLE_BATCH_REFUSED = frozenset({400, 413, 422})
#: an import that ended in any other status than this is narrowed down
COMPLETED = "completed"
#: rows handed to REST at a time
_REST_CHUNK = 100


@dataclass(frozen=True, slots=True)
class BulkSettings:
    """Tuning of the bulk path (the defaults follow ChartMogul's advice)."""

    min_rows: int = DEFAULT_MIN_ROWS
    max_bytes: int = DEFAULT_MAX_BYTES
    max_groups: int = DEFAULT_MAX_GROUPS
    max_imports: int = DEFAULT_MAX_IMPORTS
    listing_ratio: int = DEFAULT_LISTING_RATIO
    #: how long to poll one import (None: the client's json_import_polling.timeout_s)
    wait_timeout_s: float | None = None


class BulkHost(Protocol):
    """What the runner needs from the engine's run."""

    @property
    def stopped(self) -> bool:
        """A fatal error ended the run: start nothing new."""
        ...

    def stop(self, exc: MogulsyncError) -> None:
        """Record a fatal error."""
        ...

    def mark_inflight(self, items: Sequence[Classified]) -> None:
        """These rows may reach ChartMogul from now on."""
        ...

    def imported(self, item: Classified) -> None:
        """The row's records were imported."""
        ...

    def rejected(self, item: Classified, problems: Sequence[Problem]) -> None:
        """The import refused the row."""
        ...

    def unresolved(self, item: Classified, exc: BaseException) -> None:
        """The row's outcome is unknown: it stays in flight for the next run."""
        ...

    async def send_rest(self, items: Sequence[Classified], *, marked: bool) -> None:
        """Send rows one per REST request (``marked``: already in flight)."""
        ...

    def learned(self, kind: str, data_source: str, found: Sequence[Learnt]) -> None:
        """uuids found for rows already reported imported: keep them (no new outcome)."""
        ...

    def flush(self) -> None:
        """Commit results gathered so far."""
        ...


class BulkRunner:
    """Imports one run's spooled rows."""

    def __init__(
        self,
        host: BulkHost,
        client: ChartMogulClient,
        *,
        object_type: str,
        data_source_uuid: str,
        run_id: str,
        settings: BulkSettings,
        adopted: AdoptedScope | None = None,
    ) -> None:
        self.host = host
        self.client = client
        self.object_type = object_type
        self.data_source_uuid = data_source_uuid
        self.run_id = run_id
        self.settings = settings
        #: what an adopt just before this run saw of the data source (may spare the listing)
        self.adopted = adopted
        self._numbers = itertools.count(1)
        self._slots = asyncio.Semaphore(settings.max_imports)
        self._tasks: set[asyncio.Task[None]] = set()
        #: imports sent (for tests and logs)
        self.imports = 0
        #: external id → keys of the rows imported by this run (uuids learnt at the end)
        self._landed: dict[str, list[str]] = {}

    async def run(self, spool: Spool) -> None:
        """Import (or send over REST) every spooled row."""
        if len(spool) < self.settings.min_rows:
            for _, rows in spool.groups():
                await self.host.send_rest(rows, marked=False)
            return
        try:
            await self._import_all(spool)
        finally:
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._landed and not self.host.stopped:
            await self._learn()

    async def _learn(self) -> None:
        """Find the imported records' uuids when one listing costs little enough."""
        imported = sum(len(keys) for keys in self._landed.values())
        budget = listing_budget(imported, self.settings.listing_ratio)
        try:
            found = await learn_uuids(
                self.client, self.object_type, self.data_source_uuid, self._landed,
                max_pages=budget,
            )  # fmt: skip
        except MogulsyncError:
            return  # only an optimisation: the rows are found by external id later
        if found:
            self.host.learned(self.object_type, self.data_source_uuid, found)

    async def _import_all(self, spool: Spool) -> None:
        absent = await vouched(self.client, self.adopted, self.object_type, self.data_source_uuid)
        existing = None if absent is not None else await self._existing(len(spool))
        packer = Packer(max_bytes=self.settings.max_bytes, max_groups=self.settings.max_groups)
        rest: list[Classified] = []
        for key, rows in spool.groups():
            if self.host.stopped:
                return
            if absent is not None:  # the adopt's note: only rows it found absent
                importable = key in absent
            else:
                importable = existing is not None and key not in existing
            if importable:
                closed = self._place(key, rows, packer, rest)
                if closed is not None:
                    await self._submit(closed)
            elif existing is not None and key in existing:
                rest.extend(known(item, existing[key]) for item in rows)
            else:  # unknown: REST finds (and updates) a record that exists
                rest.extend(rows)
            if len(rest) >= _REST_CHUNK:
                await self.host.send_rest(rest, marked=False)
                rest = []
        last = packer.finish()
        if last is not None and not self.host.stopped:
            await self._submit(last)
        if rest and not self.host.stopped:
            await self.host.send_rest(rest, marked=False)

    async def _existing(self, rows: int) -> dict[str, str] | None:
        budget = max(1, rows // self.settings.listing_ratio)
        return await existing_records(
            self.client, self.object_type, self.data_source_uuid, max_pages=budget
        )

    def _place(
        self, key: str, rows: list[Classified], packer: Packer, rest: list[Classified]
    ) -> Batch | None:
        """Put a group in the packer (or its rows in ``rest``); a batch it closed."""
        group = self._group(key, rows, rest)
        if group is None:
            return None
        if not packer.fits_alone(group):
            rest.extend(member.item for member in group.members)
            return None
        return packer.add(group)

    def _group(self, key: str, rows: list[Classified], rest: list[Classified]) -> Group | None:
        members: list[Member] = []
        for item in rows:
            try:
                members.append(Member(item, records_for(self.object_type, item.row)))
            except NotBulkableError:
                rest.append(item)  # REST names the exact field
        if not members:
            return None
        return Group(key, members, sum(encoded_size(member.records) for member in members))

    async def _submit(self, batch: Batch) -> None:
        await self._slots.acquire()
        task = asyncio.ensure_future(self._guarded(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guarded(self, batch: Batch) -> None:
        handled: set[str] = set()  # keys of the batch's rows already reported
        try:
            await self._import(batch, handled)
        except Exception as exc:  # an edge: never lose a row's outcome, nor report it twice
            for member in batch.members:
                if member.item.row.key not in handled:
                    self.host.unresolved(member.item, exc)
            # a fatal error of ours (ChartMogul unreachable) keeps its own message
            fatal = exc if isinstance(exc, FatalError) else None
            self.host.stop(fatal or FatalError(f"bulk import failed: {type(exc).__name__}: {exc}"))
        finally:
            self._slots.release()
            self.host.flush()

    async def _import(self, batch: Batch, handled: set[str], *, tried: bool = False) -> None:
        """Import a batch (``tried``: an earlier import of these rows may have stored some).

        Every row reported (or handed to REST) goes into ``handled`` first.
        """
        items = [member.item for member in batch.members]
        name = f"mogulsync-{self.run_id}-{next(self._numbers)}"
        request = batch.request(name)
        if body_size(request) > self.settings.max_bytes:
            await self._split_unsent(batch, handled, tried=tried)  # estimate short: split
            return
        # Mark before sending: from here on these rows may land; a crash leaves them in
        # flight and the next run resolves them by lookup instead of importing again.
        self.host.mark_inflight(items)
        self.imports += 1
        try:
            created = await self.client.json_imports.create(self.data_source_uuid, request)
        except ChartMogulAPIError as exc:
            if exc.status in WHOLE_BATCH_REFUSED:
                await self._narrow(batch, handled, tried=tried)
                return
            self._unknown(items, exc, handled)
            return
        except MogulsyncError as exc:
            self._unknown(items, exc, handled)
            return
        try:
            done = await self.client.json_imports.wait(
                self.data_source_uuid, created.id, timeout_s=self.settings.wait_timeout_s
            )
        except MogulsyncError as exc:
            self._unknown(items, exc, handled)
            return
        if done.status != COMPLETED:
            await self._narrow(batch, handled, tried=True)  # a failed import may have stored part
            return
        await self._conclude(batch, done, handled)

    async def _conclude(self, batch: Batch, done: JsonImport, handled: set[str]) -> None:
        """Report each row of a completed import; resend the unattributed over REST."""
        items = [member.item for member in batch.members]
        retry: list[Classified] = []
        verdicts = judge(self.object_type, batch, done)
        for item in items:
            key = item.row.key
            verdict = verdicts[key]
            if verdict.verdict is Verdict.IMPORTED:
                handled.add(key)
                self._note_landed(item)
                self.host.imported(item)
            elif verdict.verdict is Verdict.REJECTED:
                handled.add(key)
                self.host.rejected(item, verdict.problems)
            else:
                retry.append(in_flight(item))
        if retry:
            await self._rest(retry, handled, marked=True)

    def _note_landed(self, item: Classified) -> None:
        ref = row_ref(item)
        if ref is not None and self.object_type in LEARNABLE:
            self._landed.setdefault(ref, []).append(item.row.key)

    async def _rest(self, items: Sequence[Classified], handled: set[str], *, marked: bool) -> None:
        """Hand rows of a batch to REST one by one, so ``handled`` is exact at any instant."""
        if not marked:
            if self.host.stopped:
                handled.update(item.row.key for item in items)  # never sent: next run sends
                return
            self.host.mark_inflight(items)
        for item in items:
            handled.add(item.row.key)
            await self.host.send_rest([item], marked=True)

    async def _narrow(self, batch: Batch, handled: set[str], *, tried: bool) -> None:
        """Halve a refused batch; a single group goes row by row over REST.

        Its rows are resent as in flight only if an import may have stored them: a batch
        refused as a whole stored nothing, so "already exists" there is not ours.
        """
        if len(batch.groups) <= 1 or self.host.stopped:
            items = [in_flight(m.item) if tried else m.item for m in batch.members]
            await self._rest(items, handled, marked=True)
            return
        for half in batch.halves():
            await self._import(half, handled, tried=tried)

    async def _split_unsent(self, batch: Batch, handled: set[str], *, tried: bool) -> None:
        """Halve a batch too big to send; one group too big goes over REST."""
        if len(batch.groups) <= 1:
            items = [in_flight(m.item) if tried else m.item for m in batch.members]
            await self._rest(items, handled, marked=tried)
            return
        for half in batch.halves():
            await self._import(half, handled, tried=tried)

    def _unknown(self, items: Sequence[Classified], exc: MogulsyncError, handled: set[str]) -> None:
        for item in items:
            handled.add(item.row.key)
            self.host.unresolved(item, exc)
        if isinstance(exc, ConfigError | FatalError):
            self.host.stop(exc)


def known(item: Classified, uuid: str) -> Classified:
    """A new row whose record the listing found: REST updates (or refuses) it by ``uuid``.

    Not in flight: this sync never sent it, so insert mode must still report the duplicate.
    """
    status = item.prior.status if item.prior is not None else RowStatus.FAILED
    return Classified(item.row, item.change, Prior(None, status, uuid, row_ref(item)))


def in_flight(item: Classified) -> Classified:
    """The row as the next run would see it: in flight, maybe landed (REST looks it up)."""
    prior = Prior(None, RowStatus.INFLIGHT, None, row_ref(item))
    return Classified(item.row, item.change, prior)
