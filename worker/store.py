"""The idempotency store: commands, leases, transaction attempts, the outbox, wallets.

Every decision two workers could race is an insert under a unique `_id`
(DESIGN.md, "The invariant"); FerretDB does not make conditional updates
atomic, so none is used for a decision. Updates happen only where one writer
owns the document: the lease holder writes its command (once, when it ends) and
its own lease. Events are never updated: a published event's marker is deleted.

Access is by `_id` only, plus paged scans of two small marker collections: on
FerretDB v1 any other filter reads the whole collection (measured: ~65 µs per
stored document per query), so the hot path must never depend on the size of
the history. The markers hold only what is in flight:
    active   a non-terminal command some delivery let go of (`_id` = command key)
    outbox   one per unpublished event (`_id` = event id): what the relay looks at

Every inserted document carries a `nonce`: a retried insert whose first try
landed (the reply was lost) finds its own nonce and reports success, instead
of taking its own write for someone else's decision.

`MongoStore` is the real adapter; `MemoryStore` is its in-memory twin, and
tests/integration/test_store_contract.py runs one contract against both.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol, TypeVar

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    ConnectionFailure,
    DuplicateKeyError,
    ExecutionTimeout,
    OperationFailure,
    PyMongoError,
    WriteConcernError,
)

from worker.errors import PermanentError, TransientError
from worker.settings import STORE_ATTEMPTS

T = TypeVar("T")

__all__ = ["COLLECTIONS", "CommandStore", "Doc", "MemoryStore", "MongoStore", "with_nonce"]

Doc = dict[str, Any]
COLLECTIONS = (
    "commands",
    "active",
    "leases",
    "gates",
    "tx_attempts",
    "events",
    "outbox",
    "wallets",
    "addresses",
    "txids",
    "inflight",
    "fates",
    "seen",
    "chain",
    "reservations",
    "reservation_ops",
    "payout_sources",
    "switches",  # kill switches (worker/switches.py)
    "cap_links",  # daily caps (worker/caps.py)
    "cap_ops",
    "cap_resv",
    "outflows",  # unexplained outflows found by reconciliation
    "resolutions",  # operators' resolutions of needs_attention
    "approvals",  # payouts awaiting approval, by command_id
    "decisions",  # approvals: approve, cancel or expire, first insert wins
    "energy",  # standing energy delegations: top-ups and returns (worker/standing.py)
    "energy_use",  # when each hot wallet last asked for energy
    "energy_waiters",  # payouts waiting for another's energy decision to settle
)


class CommandStore(Protocol):
    """What the pipeline, the relay, the sweeper and the handlers need from the database."""

    async def insert(self, collection: str, doc: Doc) -> bool:
        """Insert doc; False when its `_id` already exists (the decision went elsewhere)."""
        ...

    async def get(self, collection: str, doc_id: str) -> Doc | None: ...

    async def set_fields(self, collection: str, doc_id: str, fields: Doc) -> None:
        """Update fields of a document this process is the only writer of."""
        ...

    async def put(self, collection: str, doc: Doc) -> None:
        """Insert or replace a document this process is the only writer of (a lease)."""
        ...

    async def delete(self, collection: str, doc_id: str) -> None: ...

    async def scan(self, collection: str, limit: int, after: str | None = None) -> list[Doc]:
        """A page of a small marker collection (`active`, `outbox`): `_id` > after, in order."""
        ...

    async def count(self, collection: str) -> int:
        """Size of a small marker collection."""
        ...

    async def terminal_before(self, cutoff: datetime, limit: int) -> list[Doc]:
        """Terminal commands that ended before cutoff (a full read: the hourly cleanup)."""
        ...


def with_nonce(doc: Doc) -> Doc:
    """A copy of doc that names its writer, so a retried insert can recognise itself."""
    return doc if "nonce" in doc else {**doc, "nonce": uuid.uuid4().hex}


# Bounded retries inside a step: a blip (failover, dropped socket) costs milliseconds,
# not a trip through a retry tier. STORE_ATTEMPTS also bounds the worst-case store call
# that worker.settings checks lease_s against (waits 0.1 s, then 0.2 s: its
# STORE_BACKOFF_TOTAL_S). A plain loop: building a tenacity retrier for every call
# cost 6% of the worker's CPU (bench/, docs/performance.md).
async def _retried(call: Callable[[int], Awaitable[T]]) -> T:
    """call(try number), retried while it fails transiently, up to STORE_ATTEMPTS tries."""
    for number in range(1, STORE_ATTEMPTS + 1):
        try:
            with _mapped():
                return await call(number)
        except TransientError:
            if number == STORE_ATTEMPTS:
                raise
            await asyncio.sleep(0.1 * 2 ** (number - 1))
    raise AssertionError("unreachable")


@contextmanager
def _mapped() -> Iterator[None]:
    """PyMongo's exceptions mapped once to the worker's classes."""
    try:
        yield
    except (ConnectionFailure, ExecutionTimeout, WriteConcernError) as exc:
        raise TransientError(f"database unavailable: {type(exc).__name__}") from exc
    except OperationFailure as exc:
        raise PermanentError(f"database refused the operation: {exc.code} {exc}") from exc
    except PyMongoError as exc:
        raise TransientError(f"database error: {type(exc).__name__}") from exc


class MongoStore:
    def __init__(self, database: AsyncDatabase) -> None:
        self._db = database
        self._handles: dict[str, Any] = {}  # a Collection per name: building one costs

    def _c(self, collection: str) -> Any:
        handle = self._handles.get(collection)
        if handle is None:
            handle = self._handles[collection] = self._db[collection]
        return handle

    async def insert(self, collection: str, doc: Doc) -> bool:
        doc = with_nonce(doc)

        async def insert_once(number: int) -> bool:
            try:
                await self._c(collection).insert_one(dict(doc))
            except DuplicateKeyError:
                if number == 1:
                    return False
                # An earlier try may have landed with its reply lost: ours, or not?
                stored = await self._c(collection).find_one({"_id": doc["_id"]})
                return stored is not None and stored.get("nonce") == doc["nonce"]
            return True

        return await _retried(insert_once)

    async def get(self, collection: str, doc_id: str) -> Doc | None:
        return await _retried(lambda _: self._c(collection).find_one({"_id": doc_id}))

    async def set_fields(self, collection: str, doc_id: str, fields: Doc) -> None:
        await _retried(lambda _: self._c(collection).update_one({"_id": doc_id}, {"$set": fields}))

    async def put(self, collection: str, doc: Doc) -> None:
        await _retried(
            lambda _: self._c(collection).replace_one({"_id": doc["_id"]}, doc, upsert=True)
        )

    async def delete(self, collection: str, doc_id: str) -> None:
        await _retried(lambda _: self._c(collection).delete_one({"_id": doc_id}))

    async def scan(self, collection: str, limit: int, after: str | None = None) -> list[Doc]:
        query = {} if after is None else {"_id": {"$gt": after}}

        async def page(_: int) -> list[Doc]:
            cursor = self._c(collection).find(query).sort("_id", ASCENDING).limit(limit)
            return [doc async for doc in cursor]

        return await _retried(page)

    async def count(self, collection: str) -> int:
        return await _retried(lambda _: self._c(collection).count_documents({}))

    async def terminal_before(self, cutoff: datetime, limit: int) -> list[Doc]:
        query = {"terminal": True, "terminal_at": {"$lt": cutoff}}

        async def page(_: int) -> list[Doc]:
            return [doc async for doc in self._c("commands").find(query).limit(limit)]

        return await _retried(page)


class MemoryStore:
    """The in-memory twin of MongoStore, for unit tests; same contract, no server."""

    def __init__(self) -> None:
        self.collections: dict[str, dict[str, Doc]] = {name: {} for name in COLLECTIONS}
        self.fail_next: Callable[[], Exception] | None = None  # lets tests inject an outage

    def _check(self) -> None:
        if self.fail_next is not None:
            factory, self.fail_next = self.fail_next, None
            raise factory()

    async def insert(self, collection: str, doc: Doc) -> bool:
        self._check()
        docs = self.collections[collection]
        if doc["_id"] in docs:
            return False
        docs[doc["_id"]] = copy.deepcopy(with_nonce(doc))
        return True

    async def get(self, collection: str, doc_id: str) -> Doc | None:
        self._check()
        found = self.collections[collection].get(doc_id)
        return copy.deepcopy(found) if found is not None else None

    async def set_fields(self, collection: str, doc_id: str, fields: Doc) -> None:
        self._check()
        if doc_id in self.collections[collection]:
            self.collections[collection][doc_id].update(copy.deepcopy(fields))

    async def put(self, collection: str, doc: Doc) -> None:
        self._check()
        self.collections[collection][doc["_id"]] = copy.deepcopy(doc)

    async def delete(self, collection: str, doc_id: str) -> None:
        self._check()
        self.collections[collection].pop(doc_id, None)

    async def scan(self, collection: str, limit: int, after: str | None = None) -> list[Doc]:
        self._check()
        docs = self.collections[collection]
        keys = sorted(key for key in docs if after is None or key > after)
        return [copy.deepcopy(docs[key]) for key in keys[:limit]]

    async def count(self, collection: str) -> int:
        self._check()
        return len(self.collections[collection])

    async def terminal_before(self, cutoff: datetime, limit: int) -> list[Doc]:
        self._check()
        old = [
            d
            for d in self.collections["commands"].values()
            if d["terminal"] and d["terminal_at"] is not None and d["terminal_at"] < cutoff
        ]
        return copy.deepcopy(old[:limit])
