"""MongoDB through PyMongo's native async client, and the indexes later issues rely on.

Every decision two workers could race is an insert under a unique `_id`
(DESIGN.md, "The invariant"), and the hot path reads by `_id` only (see
worker/store.py); these secondary indexes are for uniqueness and rare reads.
FerretDB rejects TTL and partial indexes, so none are used: expiry is a
cleanup task.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pymongo import ASCENDING, AsyncMongoClient, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from worker.errors import TransientError
from worker.settings import MongoSettings

__all__ = ["INDEXES", "ensure_indexes", "make_client", "ping"]

INDEXES: dict[str, list[IndexModel]] = {
    # _id = key scope + idempotency key (the claim); command_id for rare lookups by id
    "commands": [
        IndexModel([("command_id", ASCENDING)], name="command_id"),
        IndexModel([("terminal", ASCENDING), ("terminal_at", ASCENDING)], name="cleanup"),
    ],
    # _id = <command_id>:<attempt>; one signed transaction can belong to one attempt only
    "tx_attempts": [IndexModel([("txid", ASCENDING)], name="txid", unique=True)],
    # _id = <command_id>:<index>
    "wallets": [IndexModel([("address", ASCENDING)], name="address", unique=True)],
}


def make_client(settings: MongoSettings) -> AsyncMongoClient:
    """A client with bounded timeouts; it connects lazily, so this never blocks."""
    options: dict[str, Any] = {}
    if settings.password is not None:
        options["password"] = settings.password.get_secret_value()
    if settings.write_concern == "majority":
        options.update(w="majority", journal=True)
    else:
        options.update(w=1)
    return AsyncMongoClient(
        settings.url,
        **options,
        connectTimeoutMS=int(settings.connect_timeout_s * 1000),
        serverSelectionTimeoutMS=int(settings.server_selection_timeout_s * 1000),
        socketTimeoutMS=int(settings.socket_timeout_s * 1000),
        tz_aware=True,
        appname="lucid-tron-worker",
    )


async def ping(client: AsyncMongoClient, timeout_s: float) -> None:
    """Raise TransientError unless the server answers `ping` within timeout_s."""
    try:
        async with asyncio.timeout(timeout_s):
            await client.admin.command("ping")
    except (PyMongoError, TimeoutError) as exc:
        raise TransientError(f"database ping failed: {type(exc).__name__}") from exc


async def ensure_indexes(database: AsyncDatabase) -> None:
    """Create the indexes if missing; idempotent."""
    try:
        for collection, models in INDEXES.items():
            # One index per call: FerretDB v1.24.2 mishandles a createIndexes batch in which
            # some already exist (it drops the connection, or silently skips a new index).
            # tests/integration/test_database_contract.py pins that behaviour.
            for model in models:
                await database[collection].create_indexes([model])
    except PyMongoError as exc:
        raise TransientError(f"cannot create indexes: {type(exc).__name__}: {exc}") from exc
