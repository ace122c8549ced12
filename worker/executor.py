"""Runs a claimed command under its lease: the handler, its events, the terminal state.

Order is the invariant (DESIGN.md rule 7): the handler's side effects and its
events are stored first, then the command is marked terminal, then the events
are published (fast path; the outbox sweep covers a crash in between). The
command document lists its event ids, so nothing here searches the history.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any

import structlog

from handlers.ports import CommandContext, Completed, Deps, Failed, Handler, KeyMaker, Outcome
from schemas.events import Event, event_id_for
from worker.errors import PermanentError, TransientError
from worker.leases import Lease, LeaseLost, Leases
from worker.metrics import Metrics
from worker.outbox import Outbox, event_doc
from worker.store import CommandStore, Doc

__all__ = ["Executor", "StoreWallets"]

log = structlog.get_logger()


class StoreWallets:
    """The handlers' WalletStore over the `wallets` collection (`_id` = `<command_id>:<i>`)."""

    def __init__(self, store: CommandStore) -> None:
        self._store = store

    async def of_command(self, command_id: str, count: int) -> list[dict[str, Any]]:
        found = [await self._store.get("wallets", f"{command_id}:{i}") for i in range(count)]
        return [record for record in found if record is not None]

    async def add(self, record: dict[str, Any]) -> bool:
        return await self._store.insert("wallets", record)


class Executor:
    def __init__(
        self,
        *,
        store: CommandStore,
        leases: Leases,
        outbox: Outbox,
        handlers: Mapping[str, Handler],
        parse_payload: Callable[[str, dict[str, Any]], Any],
        keys: KeyMaker,
        metrics: Metrics,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._store = store
        self._leases = leases
        self._outbox = outbox
        self._handlers = handlers
        self._parse_payload = parse_payload
        self._keys = keys
        self._metrics = metrics
        self._clock = clock or (lambda: datetime.now(UTC))

    def handles(self, command_type: str) -> bool:
        return command_type in self._handlers

    async def execute(self, command: Doc, lease: Lease) -> Outcome:
        """Run the command to a terminal state; raises TransientError (LeaseLost too)."""
        command = dict(command, events=list(command.get("events", [])))
        context = CommandContext(
            command_id=command["command_id"],
            type=command["type"],
            payload=self._parse_payload(command["type"], command["payload"]),
            idempotency_key=command["idempotency_key"],
            expires_at=command["expires_at"],
        )
        structlog.contextvars.bind_contextvars(command_id=context.command_id, epoch=lease.epoch)
        deps = Deps(
            fence=partial(self._leases.check, lease),
            emit=partial(self._emit, command),
            now=self._clock,
            wallets=StoreWallets(self._store),
            keys=self._keys,
        )
        try:
            async with self._leases.kept(lease):
                await self._leases.check(lease)
                outcome = await self._run_handler(command, context, deps)
                await self._finish(command, lease, outcome)
        except TransientError as exc:
            if not isinstance(exc, LeaseLost):
                # Free the command at once for the retry delivery (or the sweeper).
                await self._leases.release(lease)
            raise
        await self._outbox.flush(command["events"])
        return outcome

    async def give_up(self, command_id: str, reason: str) -> bool | None:
        """After retries ran out: fail a claimed command that signed nothing.

        True: failed now (its event is stored and published); False: it is terminal,
        it signed a transaction, or another worker holds it; None: it was never claimed.
        """
        found = await self._store.command_by_id(command_id)
        if found is None:
            return None
        command = dict(found, events=list(found.get("events", [])))
        if command["terminal"] or await self._store.get("tx_attempts", f"{command_id}:1"):
            return False
        lease = await self._leases.take_over(command)
        if lease is None:
            return False
        message = f"gave up after repeated transient failures: {reason}"
        await self._finish(command, lease, Failed("RETRIES_EXHAUSTED", message, retry_safe=True))
        await self._outbox.flush(command["events"])
        return True

    async def _finish(self, command: Doc, lease: Lease, outcome: Outcome) -> None:
        """Store the failure event (if any), then the terminal state: events come first."""
        if isinstance(outcome, Failed):
            payload = {
                "code": outcome.code,
                "message": outcome.message,
                "retry_safe": outcome.retry_safe,
            }
            await self._emit(command, "failed", payload)
        await self._leases.check(lease)
        now = self._clock()
        await self._store.set_fields(
            "commands",
            command["_id"],
            {
                "state": "completed" if isinstance(outcome, Completed) else "failed",
                "terminal": True,
                "terminal_at": now,
                "updated_at": now,
            },
        )
        await self._store.delete("active", command["_id"])

    async def _run_handler(self, command: Doc, context: CommandContext, deps: Deps) -> Outcome:
        if context.expires_at <= self._clock() and not await self._started(command):
            # Never start a command after its expiry (a replayed dead letter must not pay).
            return Failed("EXPIRED", "the command expired before it started", retry_safe=True)
        try:
            return await self._handlers[context.type](context, deps)
        except PermanentError as exc:
            # Retrying cannot help. Handlers that sign must turn their own errors into
            # outcomes before this point: only they know whether a transaction may land.
            return Failed(exc.code, str(exc), retry_safe=not await self._journaled(command))

    async def _journaled(self, command: Doc) -> bool:
        return await self._store.get("tx_attempts", f"{command['command_id']}:1") is not None

    async def _started(self, command: Doc) -> bool:
        command_id = command["command_id"]
        if command["events"] or await self._store.get("tx_attempts", f"{command_id}:1"):
            return True
        return await self._store.get("wallets", f"{command_id}:0") is not None

    async def _emit(self, command: Doc, state: str, payload: dict[str, Any]) -> None:
        """Store the command's event for `state` once, and list it on the command."""
        event_uuid = event_id_for(command["command_id"], state, 0)
        event_id = str(event_uuid)
        if event_id in command["events"]:
            return
        now = self._clock()
        event = Event(
            event_id=event_uuid,
            seq=len(command["events"]) + 1,
            type=f"{command['type'].split('.', 1)[0]}.{state}",
            command_id=command["command_id"],
            idempotency_key=command["idempotency_key"],
            occurred_at=now,
            payload=payload,
        )
        await self._outbox.add(
            event_doc(
                event_id=event_id,
                command_id=command["command_id"],
                seq=event.seq,
                routing_key=event.type,
                body_json=event.model_dump_json(),
                correlation_id=command.get("correlation_id"),
                created_at=now,
            )
        )
        # The lease holder is the command's only writer, so its in-memory list is current.
        command["events"].append(event_id)
        await self._store.set_fields("commands", command["_id"], {"events": command["events"]})
