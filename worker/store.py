"""The idempotency store: commands, leases, transaction attempts, the event outbox, wallets.

Every decision two workers could race is an insert under a unique `_id`
(DESIGN.md, "The invariant"); FerretDB does not make conditional updates
atomic, so none is used for a decision. Updates happen only where one writer
owns the document: the lease holder writes its command and its own lease, the
relay writes an event's `published_at`.

`MongoStore` is the real adapter; `MemoryStore` is its in-memory twin, and
tests/integration/test_store_contract.py runs one contract against both.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol

from pymongo import ASCENDING, DESCENDING
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

__all__ = ["COLLECTIONS", "ORDER_FIELD", "CommandStore", "MemoryStore", "MongoStore"]

Doc = dict[str, Any]
COLLECTIONS = ("commands", "leases", "tx_attempts", "events", "wallets")
# The numeric field that orders one command's documents in each collection.
ORDER_FIELD = {"leases": "epoch", "tx_attempts": "attempt", "events": "seq", "wallets": "index"}


class CommandStore(Protocol):
    """What the pipeline, the relay and the handlers need from the database."""

    async def insert(self, collection: str, doc: Doc) -> bool:
        """Insert doc; False when its `_id` already exists (the decision went elsewhere)."""
        ...

    async def get(self, collection: str, doc_id: str) -> Doc | None: ...

    async def set_fields(self, collection: str, doc_id: str, fields: Doc) -> None:
        """Update fields of a document this process is the only writer of."""
        ...

    async def find_by_command(self, collection: str, command_id: str) -> list[Doc]:
        """Documents of one command in their ORDER_FIELD order (epoch, attempt, seq, index)."""
        ...

    async def latest_lease(self, command_id: str) -> Doc | None: ...

    async def command_by_id(self, command_id: str) -> Doc | None: ...

    async def unpublished_events(self, created_before: datetime, limit: int) -> list[Doc]: ...

    async def count_unpublished(self) -> int: ...

    async def stale_commands(self, updated_before: datetime, limit: int) -> list[Doc]:
        """Commands not terminal and not touched since updated_before (sweeper candidates)."""
        ...

    async def delete_terminal_before(self, cutoff: datetime) -> int:
        """Delete terminal commands (and their documents) that ended before cutoff."""
        ...


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

    async def insert(self, collection: str, doc: Doc) -> bool:
        with _mapped():
            try:
                await self._db[collection].insert_one(doc)
            except DuplicateKeyError:
                return False
        return True

    async def get(self, collection: str, doc_id: str) -> Doc | None:
        with _mapped():
            return await self._db[collection].find_one({"_id": doc_id})

    async def set_fields(self, collection: str, doc_id: str, fields: Doc) -> None:
        with _mapped():
            await self._db[collection].update_one({"_id": doc_id}, {"$set": fields})

    async def find_by_command(self, collection: str, command_id: str) -> list[Doc]:
        with _mapped():
            cursor = (
                self._db[collection]
                .find({"command_id": command_id})
                .sort(ORDER_FIELD[collection], ASCENDING)
            )
            return [doc async for doc in cursor]

    async def latest_lease(self, command_id: str) -> Doc | None:
        with _mapped():
            cursor = (
                self._db.leases.find({"command_id": command_id}).sort("epoch", DESCENDING).limit(1)
            )
            found = [doc async for doc in cursor]
        return found[0] if found else None

    async def command_by_id(self, command_id: str) -> Doc | None:
        with _mapped():
            return await self._db.commands.find_one({"command_id": command_id})

    async def unpublished_events(self, created_before: datetime, limit: int) -> list[Doc]:
        query = {"published_at": None, "created_at": {"$lt": created_before}}
        with _mapped():
            cursor = self._db.events.find(query).sort("created_at", ASCENDING).limit(limit)
            return [doc async for doc in cursor]

    async def count_unpublished(self) -> int:
        with _mapped():
            return await self._db.events.count_documents({"published_at": None})

    async def stale_commands(self, updated_before: datetime, limit: int) -> list[Doc]:
        query = {"terminal": False, "updated_at": {"$lt": updated_before}}
        with _mapped():
            cursor = self._db.commands.find(query).sort("updated_at", ASCENDING).limit(limit)
            return [doc async for doc in cursor]

    async def delete_terminal_before(self, cutoff: datetime) -> int:
        with _mapped():
            cursor = self._db.commands.find(
                {"terminal": True, "terminal_at": {"$lt": cutoff}}, {"command_id": 1}
            )
            old = [doc async for doc in cursor]
            for doc in old:
                # Dependent documents first: a crash midway leaves the command, so it is retried.
                for collection in ("events", "leases", "tx_attempts"):
                    await self._db[collection].delete_many({"command_id": doc["command_id"]})
                await self._db.commands.delete_one({"_id": doc["_id"]})
        return len(old)


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

    async def find_by_command(self, collection: str, command_id: str) -> list[Doc]:
        self._check()
        mine = [
            d for d in self.collections[collection].values() if d.get("command_id") == command_id
        ]
        return copy.deepcopy(sorted(mine, key=lambda d: d[ORDER_FIELD[collection]]))

    async def latest_lease(self, command_id: str) -> Doc | None:
        leases = await self.find_by_command("leases", command_id)
        return max(leases, key=lambda d: d["epoch"]) if leases else None

    async def command_by_id(self, command_id: str) -> Doc | None:
        self._check()
        for doc in self.collections["commands"].values():
            if doc["command_id"] == command_id:
                return copy.deepcopy(doc)
        return None

    async def unpublished_events(self, created_before: datetime, limit: int) -> list[Doc]:
        self._check()
        pending = [
            d
            for d in self.collections["events"].values()
            if d.get("published_at") is None and d["created_at"] < created_before
        ]
        return copy.deepcopy(sorted(pending, key=lambda d: d["created_at"])[:limit])

    async def count_unpublished(self) -> int:
        self._check()
        return sum(1 for d in self.collections["events"].values() if d.get("published_at") is None)

    async def stale_commands(self, updated_before: datetime, limit: int) -> list[Doc]:
        self._check()
        stale = [
            d
            for d in self.collections["commands"].values()
            if not d["terminal"] and d["updated_at"] < updated_before
        ]
        return copy.deepcopy(sorted(stale, key=lambda d: d["updated_at"])[:limit])

    async def delete_terminal_before(self, cutoff: datetime) -> int:
        self._check()
        old = [
            d
            for d in self.collections["commands"].values()
            if d["terminal"] and d["terminal_at"] is not None and d["terminal_at"] < cutoff
        ]
        for doc in old:
            for collection in ("events", "leases", "tx_attempts"):
                docs = self.collections[collection]
                for key in [k for k, v in docs.items() if v.get("command_id") == doc["command_id"]]:
                    del docs[key]
            del self.collections["commands"][doc["_id"]]
        return len(old)
