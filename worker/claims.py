"""The claim: insert the command under `<scope>:<idempotency key>`; the insert decides.

new key            -> Claimed (with lease epoch 1)
same type+payload  -> Duplicate (terminal: re-publish; else the lease decides)
different payload  -> Conflict (IDEMPOTENCY_CONFLICT; the original is untouched)
unclaimed, expired -> None (EXPIRED)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from schemas.commands import Command
from worker.errors import TransientError
from worker.leases import Lease, Leases
from worker.ports import Delivery
from worker.store import CommandStore, Doc

__all__ = ["Claimed", "Claims", "Conflict", "Duplicate"]


@dataclass(frozen=True)
class Claimed:
    command: Doc
    lease: Lease


@dataclass(frozen=True)
class Duplicate:
    existing: Doc


@dataclass(frozen=True)
class Conflict:
    existing: Doc


class Claims:
    def __init__(
        self, store: CommandStore, leases: Leases, clock: Callable[[], datetime] | None = None
    ) -> None:
        self._store = store
        self._leases = leases
        self._clock = clock or (lambda: datetime.now(UTC))

    async def claim(
        self, command: Command, scope: str, delivery: Delivery, *, expired: bool
    ) -> Claimed | Duplicate | Conflict | None:
        key = f"{scope}:{command.idempotency_key}"
        existing = await self._store.get("commands", key)
        if existing is None:
            if expired:
                return None
            doc = self._document(key, command, scope, delivery)
            # The sweeper's marker goes first: a crash right after the claim must leave
            # something that the sweeper finds (it drops markers of finished commands).
            marker = {
                "_id": key,
                "command_id": doc["command_id"],
                "created_at": doc["created_at"],
                "expires_at": doc["expires_at"],
            }
            await self._store.insert("active", marker)
            if await self._store.insert("commands", doc):
                lease = await self._leases.acquire(doc["command_id"], 1)
                # None: a sweeper already took epoch 1 of our fresh claim; it finishes it.
                return Claimed(doc, lease) if lease is not None else Duplicate(doc)
            existing = await self._store.get("commands", key)
            if existing is None:
                raise TransientError(f"command {key} vanished between insert and read")
        if existing["type"] != command.type or existing["payload_hash"] != command.payload_hash:
            return Conflict(existing)
        return Duplicate(existing)

    async def take_over(self, existing: Doc) -> Lease | None:
        return await self._leases.take_over(existing)

    def _document(self, key: str, command: Command, scope: str, delivery: Delivery) -> Doc:
        envelope = command.envelope
        now = self._clock()
        return {
            "_id": key,
            "command_id": str(envelope.command_id),
            "idempotency_key": envelope.idempotency_key,
            "scope": scope,
            "type": command.type,
            "payload_hash": command.payload_hash,
            "payload": command.normalised_payload(),
            "state": "received",
            "terminal": False,
            "terminal_at": None,
            "issued_at": envelope.issued_at,
            "expires_at": envelope.expires_at,
            "created_at": now,
            "updated_at": now,
            "events": [],
            "message_id": delivery.message_id,
            "correlation_id": delivery.correlation_id or delivery.message_id,
        }
