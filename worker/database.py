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

from prometheus_client import Counter
from pymongo import ASCENDING, AsyncMongoClient, IndexModel, monitoring
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from worker.errors import TransientError
from worker.metrics import Metrics
from worker.settings import MongoSettings

__all__ = ["INDEXES", "RoundTripCounter", "ensure_indexes", "make_client", "ping"]

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


class RoundTripCounter(monitoring.CommandListener):
    """Counts every command the client sends (one round trip each) by its name, so the
    database cost of a command is counted (bench/, /metrics), not estimated."""

    def __init__(self, counter: Counter) -> None:
        self._counter = counter
        self._children: dict[str, Any] = {}  # labels() locks and hashes on every call

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        child = self._children.get(event.command_name)
        if child is None:
            child = self._children[event.command_name] = self._counter.labels(
                command=event.command_name
            )
        child.inc()

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def make_client(settings: MongoSettings, metrics: Metrics | None = None) -> AsyncMongoClient:
    """A client with bounded timeouts; it connects lazily, so this never blocks. With
    metrics, each round trip counts in tron_worker_db_round_trips_total."""
    options: dict[str, Any] = {}
    if metrics is not None:
        options["event_listeners"] = [RoundTripCounter(metrics.db_round_trips_total)]
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
