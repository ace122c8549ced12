"""The claim: insert the command under `<scope>:<idempotency key>`; the insert decides.

The insert comes first (no read before it), and a landed insert is lease epoch 1:

new key, fresh      -> Claimed (this worker holds epoch 1)
same type+payload   -> Duplicate (terminal: re-publish; else the lease decides)
different payload   -> Conflict (IDEMPOTENCY_CONFLICT; the original is untouched)
unclaimed, expired  -> Refused EXPIRED
unclaimed, stale    -> Refused UNAUTHENTICATED (outside the signature's skew window)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from schemas.commands import Command
from schemas.documents import command_key, command_ref
from worker.errors import TransientError
from worker.leases import Lease, Leases
from worker.ports import Delivery
from worker.records import Commands
from worker.store import Doc

__all__ = ["Claimed", "Claims", "Conflict", "Duplicate", "Refused"]


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


@dataclass(frozen=True)
class Refused:
    code: str


class Claims:
    def __init__(
        self, commands: Commands, leases: Leases, clock: Callable[[], datetime] | None = None
    ) -> None:
        self._commands = commands
        self._leases = leases
        self._clock = clock or (lambda: datetime.now(UTC))

    async def claim(
        self, command: Command, scope: str, delivery: Delivery, *, expired: bool, stale: bool
    ) -> Claimed | Duplicate | Conflict | Refused:
        key = command_key(scope, command.idempotency_key)
        if not expired and not stale:
            doc = self._document(key, command, scope, delivery)
            if await self._commands.insert(doc):
                return Claimed(doc, self._leases.of_claim(doc["ref"]))
        existing = await self._commands.get(key)
        if existing is None:
            if expired or stale:
                return Refused("EXPIRED" if expired else "UNAUTHENTICATED")
            raise TransientError(f"command {key} vanished between insert and read")
        if existing["type"] != command.type or existing["payload_hash"] != command.payload_hash:
            return Conflict(existing)
        return Duplicate(existing)

    async def claim_own(self, command: Command, scope: str) -> Doc:
        """A command the worker submits itself (an idle energy return): claimed like a
        delivery's, or the stored one when an earlier try already claimed it."""
        key = command_key(scope, command.idempotency_key)
        doc = self._document(key, command, scope, None)
        if await self._commands.insert(doc):
            return doc
        existing = await self._commands.get(key)
        if existing is None:
            raise TransientError(f"command {key} vanished between insert and read")
        return existing

    async def take_over(self, existing: Doc) -> Lease | None:
        return await self._leases.take_over(existing)

    async def mark_active(self, existing: Doc) -> None:
        await self._commands.mark_active(existing)

    def _document(self, key: str, command: Command, scope: str, delivery: Delivery | None) -> Doc:
        envelope = command.envelope
        now = self._clock()
        return {
            "_id": key,
            "ref": command_ref(key),
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
            "message_id": delivery.message_id if delivery else str(envelope.command_id),
            "correlation_id": (delivery.correlation_id or delivery.message_id)
            if delivery
            else str(envelope.command_id),
        }
