"""The idempotency store: commands, leases, transaction attempts, the outbox, wallets.

Every decision two workers could race is an insert under a unique `_id`
(DESIGN.md, "The invariant"); FerretDB does not make conditional updates
atomic, so none is used for a decision. Updates happen only where one writer
owns the document: the lease holder writes its command and its own lease, the
relay writes an event's `published_at`.

Access is by `_id` only, plus scans of two small marker collections: on
FerretDB v1 any other filter reads the whole collection (measured: ~65 µs per
stored document per query), so the hot path must never depend on the size of
the history. The markers hold only what is in flight:
    active   one per non-terminal command (`_id` = command key): what the sweeper looks at
    outbox   one per unpublished event (`_id` = event id): what the relay looks at

`MongoStore` is the real adapter; `MemoryStore` is its in-memory twin, and
tests/integration/test_store_contract.py runs one contract against both.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol

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
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from worker.errors import PermanentError, TransientError

__all__ = ["COLLECTIONS", "CommandStore", "Doc", "MemoryStore", "MongoStore"]

Doc = dict[str, Any]
COLLECTIONS = ("commands", "active", "leases", "tx_attempts", "events", "outbox", "wallets")


class CommandStore(Protocol):
    """What the pipeline, the relay, the sweeper and the handlers need from the database."""

    async def insert(self, collection: str, doc: Doc) -> bool:
        """Insert doc; False when its `_id` already exists (the decision went elsewhere)."""
        ...

    async def get(self, collection: str, doc_id: str) -> Doc | None: ...

    async def set_fields(self, collection: str, doc_id: str, fields: Doc) -> None:
        """Update fields of a document this process is the only writer of."""
        ...

    async def delete(self, collection: str, doc_id: str) -> None: ...

    async def scan(self, collection: str, limit: int) -> list[Doc]:
        """Documents of a small marker collection (`active`, `outbox`), oldest `_id` first."""
        ...

    async def count(self, collection: str) -> int:
        """Size of a small marker collection."""
        ...

    async def command_by_id(self, command_id: str) -> Doc | None:
        """The command with this id (a full read on FerretDB: for rare paths only)."""
        ...

    async def terminal_before(self, cutoff: datetime, limit: int) -> list[Doc]:
        """Terminal commands that ended before cutoff (a full read: the hourly cleanup)."""
        ...


# Bounded retries inside a step: a blip (failover, dropped socket) costs milliseconds,
# not a trip through a retry tier. A retried insert whose first try did land reports
# a duplicate, which every caller already treats as "decided elsewhere": safe.
_retried = retry(
    retry=retry_if_exception_type(TransientError),
    stop=stop_after_attempt(3),
    wait=wait_exponential(multiplier=0.1, max=1.0),
    reraise=True,
)


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

    @_retried
    async def insert(self, collection: str, doc: Doc) -> bool:
        with _mapped():
            try:
                await self._db[collection].insert_one(doc)
            except DuplicateKeyError:
                return False
        return True

    @_retried
    async def get(self, collection: str, doc_id: str) -> Doc | None:
        with _mapped():
            return await self._db[collection].find_one({"_id": doc_id})

    @_retried
    async def set_fields(self, collection: str, doc_id: str, fields: Doc) -> None:
        with _mapped():
            await self._db[collection].update_one({"_id": doc_id}, {"$set": fields})

    @_retried
    async def delete(self, collection: str, doc_id: str) -> None:
        with _mapped():
            await self._db[collection].delete_one({"_id": doc_id})

    @_retried
    async def scan(self, collection: str, limit: int) -> list[Doc]:
        with _mapped():
            cursor = self._db[collection].find({}).sort("_id", ASCENDING).limit(limit)
            return [doc async for doc in cursor]

    @_retried
    async def count(self, collection: str) -> int:
        with _mapped():
            return await self._db[collection].count_documents({})

    @_retried
    async def command_by_id(self, command_id: str) -> Doc | None:
        with _mapped():
            return await self._db.commands.find_one({"command_id": command_id})

    @_retried
    async def terminal_before(self, cutoff: datetime, limit: int) -> list[Doc]:
        query = {"terminal": True, "terminal_at": {"$lt": cutoff}}
        with _mapped():
            return [doc async for doc in self._db.commands.find(query).limit(limit)]


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
        docs[doc["_id"]] = copy.deepcopy(doc)
        return True

    async def get(self, collection: str, doc_id: str) -> Doc | None:
        self._check()
        found = self.collections[collection].get(doc_id)
        return copy.deepcopy(found) if found is not None else None

    async def set_fields(self, collection: str, doc_id: str, fields: Doc) -> None:
        self._check()
        if doc_id in self.collections[collection]:
            self.collections[collection][doc_id].update(copy.deepcopy(fields))

    async def delete(self, collection: str, doc_id: str) -> None:
        self._check()
        self.collections[collection].pop(doc_id, None)

    async def scan(self, collection: str, limit: int) -> list[Doc]:
        self._check()
        docs = self.collections[collection]
        return [copy.deepcopy(docs[key]) for key in sorted(docs)[:limit]]

    async def count(self, collection: str) -> int:
        self._check()
        return len(self.collections[collection])

    async def command_by_id(self, command_id: str) -> Doc | None:
        self._check()
        for doc in self.collections["commands"].values():
            if doc["command_id"] == command_id:
                return copy.deepcopy(doc)
        return None

    async def terminal_before(self, cutoff: datetime, limit: int) -> list[Doc]:
        self._check()
        old = [
            d
            for d in self.collections["commands"].values()
            if d["terminal"] and d["terminal_at"] is not None and d["terminal_at"] < cutoff
        ]
        return copy.deepcopy(old[:limit])
