"""Runs a claimed command under its lease: the handler, its events, the terminal state.

Order is the invariant (DESIGN.md rule 7): every effect and every event is
stored after a fencing check, the events before the state they announce; the
command document is written once, at the end (state, terminal flag and event
list together); then the events are published (fast path; the outbox relay
covers a crash in between). The executor knows no command family: the
registry (handlers.COMMAND_TYPES) gives each type's payload model, handler and
"has effects" test.

Giving up is decided by the gate (worker/records.py): a command is failed by
giving up only if voiding its gate succeeds, i.e. no effect ever started; one
that may have effects is resumed, or, when that cannot help, goes to
`needs_attention`. It is never failed beside something it already did.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import structlog

from handlers.ports import (
    Approvals,
    ChainRules,
    CommandContext,
    CommandType,
    Completed,
    Controls,
    Deps,
    Failed,
    Journal,
    KeyMaker,
    NeedsAttention,
    Outcome,
    Pending,
    Pool,
    Rejected,
    Signer,
    StandingEnergy,
)
from worker.errors import LeaseLost, PermanentError, TransientError
from worker.leases import Lease, Leases
from worker.metrics import Metrics
from worker.outbox import Outbox, command_event, event_doc
from worker.ports import TronNode
from worker.records import Commands, Gates, StoreWallets
from worker.store import Doc

__all__ = ["ChainServices", "Executor"]

log = structlog.get_logger()

_STATES = {Completed: "completed", Failed: "failed", Rejected: "rejected"}


class _Emitted(list[Doc]):
    """The events one execution stored, in order; the lock keeps `seq` unique when a
    handler emits for several items at once."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = asyncio.Lock()


@dataclass(frozen=True)
class ChainServices:
    """What handlers that move money get besides the store: node, journal, signer, rules."""

    node: TronNode
    journal: Journal
    signer: Signer
    rules: ChainRules
    sleep: Callable[[float], Awaitable[None]]
    pool: Pool | None = None
    controls: Controls | None = None
    approvals: Approvals | None = None
    energy: StandingEnergy | None = None


class Executor:
    def __init__(
        self,
        *,
        commands: Commands,
        gates: Gates,
        wallets: StoreWallets,
        leases: Leases,
        outbox: Outbox,
        types: Mapping[str, CommandType],  # type: ignore[type-arg]
        keys: KeyMaker,
        metrics: Metrics,
        chain: ChainServices | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._chain = chain
        self._commands = commands
        self._gates = gates
        self._wallets = wallets
        self._leases = leases
        self._outbox = outbox
        self._types = types
        self._keys = keys
        self._metrics = metrics
        self._clock = clock or (lambda: datetime.now(UTC))

    def handles(self, command_type: str) -> bool:
        return command_type in self._types

    async def execute(self, command: Doc, lease: Lease, *, fresh: bool) -> Outcome | None:
        """Run the command to its end under `lease`; None when there was nothing to do.

        fresh: this worker's claim insert just landed, so its document is current; any
        other holder (a takeover) re-reads the command first.

        Raises:
            TransientError: the outcome is unknown (LeaseLost: someone else carries on).
        """
        if not fresh:
            current = await self._commands.get(command["_id"])
            if current is None:
                raise TransientError(f"command {command['_id']} vanished under its lease")
            command = current
            if command["terminal"]:
                return None
        command = dict(command, events=list(command.get("events", [])))
        structlog.contextvars.bind_contextvars(ref=command["ref"], epoch=lease.epoch)
        emitted = _Emitted()
        try:
            async with self._leases.kept(lease):
                outcome = await self._run(command, lease, emitted)
                if outcome is not None:
                    await self._finish(command, lease, outcome, emitted, unmark=not fresh)
        except TransientError as exc:
            if not isinstance(exc, LeaseLost):
                # Free the command at once for the retry delivery (or the sweeper).
                await self._leases.release(lease)
            raise
        if isinstance(outcome, (Pending, NeedsAttention)):
            # Whoever wakes it (the follower's marker, then the sweeper, or an operator's
            # resolve) may take it at once.
            await self._leases.release(lease)
        await self._outbox.flush(emitted)
        return outcome

    async def give_up(
        self,
        key: str,
        code: str,
        message: str,
        *,
        attention: bool,
        held: tuple[Doc, Lease] | None = None,
    ) -> str:
        """End a command that cannot go on; what happened, as a word.

        "failed"     it had no effect and never will (gate voided): `failed`, retry_safe
        "attention"  it may have effects and `attention` was asked: `needs_attention`
        "resume"     it may have effects: left active, for the sweeper to finish
        "terminal"   it had already ended;  "held": another worker holds it
        "unclaimed"  there is no such claim
        """
        if held is not None:
            command, lease = held
        else:
            found = await self._commands.get(key)
            if found is None:
                return "unclaimed"
            if found["terminal"]:
                return "terminal"
            taken = await self._leases.take_over(found)
            if taken is None:
                return "held"
            lease, command = taken, await self._commands.get(key) or found
            if command["terminal"]:
                return "terminal"
        command = dict(command, events=list(command.get("events", [])))
        outcome: Outcome
        emitted = _Emitted()
        if await self._gates.void(command["ref"], lease.epoch):
            outcome = Failed(code, message, retry_safe=True)
            if command["type"] in self._types:
                await self._release(*self._bound(command, lease, emitted))
        elif attention:
            outcome = NeedsAttention(code, message)
        else:
            await self._commands.mark_active(command)
            await self._leases.release(lease)
            return "resume"
        await self._finish(command, lease, outcome, emitted, unmark=True)
        await self._outbox.flush(emitted)
        return "failed" if isinstance(outcome, Failed) else "attention"

    async def _run(self, command: Doc, lease: Lease, emitted: _Emitted) -> Outcome | None:
        entry, context, deps = self._bound(command, lease, emitted)
        ref = command["ref"]
        if context.expires_at <= self._clock() and not await self._gates.is_open(ref):
            # Never start a command after its expiry (a replayed dead letter must not pay).
            if await self._gates.void(ref, lease.epoch):
                return Failed("EXPIRED", "the command expired before it started", retry_safe=True)
        if not await self._gates.open(ref, lease.epoch):
            log.info("command was given up meanwhile; its give-up finishes it")
            return None
        try:
            return await entry.handle(context, deps)
        except PermanentError as exc:
            # Retrying cannot help. A command with stored effects is never failed here:
            # only its handler could say what they mean.
            if await entry.has_effects(context, deps):
                return NeedsAttention(exc.code, str(exc))
            await self._release(entry, context, deps)
            return Failed(exc.code, str(exc), retry_safe=True)

    async def _release(self, entry: CommandType, context: CommandContext[Any], deps: Deps) -> None:  # type: ignore[type-arg]
        """Best effort: a reservation left behind is conservative (it refuses, never pays)."""
        if entry.release is None:
            return
        try:
            await entry.release(context, deps)
        except Exception as exc:
            self._metrics.background_errors_total.labels("release").inc()
            log.warning("reservations not given back", error=f"{type(exc).__name__}: {exc}")

    def _bound(
        self, command: Doc, lease: Lease, emitted: _Emitted
    ) -> tuple[CommandType, CommandContext[Any], Deps]:  # type: ignore[type-arg]
        """The command's type, its context and the ports bound to its lease."""
        entry = self._types[command["type"]]
        context: CommandContext[Any] = CommandContext(
            ref=command["ref"],
            command_id=command["command_id"],
            type=command["type"],
            payload=entry.payload.model_validate(command["payload"]),
            idempotency_key=command["idempotency_key"],
            expires_at=command["expires_at"],
            epoch=lease.epoch,
            scope=command.get("scope") or "-",
        )
        chain = self._chain
        deps = Deps(
            fence=partial(self._leases.check, lease),
            emit=partial(self._emit, command, lease, emitted),
            now=self._clock,
            wallets=self._wallets,
            keys=self._keys,
            command_key=command["_id"],
            node=chain.node if chain else None,
            journal=chain.journal if chain else None,
            signer=chain.signer if chain else None,
            chain=chain.rules if chain else None,
            sleep=chain.sleep if chain else None,
            count_rebuild=self._metrics.rebuilds_total.inc,
            pool=chain.pool if chain else None,
            controls=chain.controls if chain else None,
            approvals=chain.approvals if chain else None,
            energy=chain.energy if chain else None,
        )
        return entry, context, deps

    async def _finish(
        self, command: Doc, lease: Lease, outcome: Outcome, emitted: _Emitted, *, unmark: bool
    ) -> None:
        """Store the outcome's event (after its fence), then write the command once."""
        emit = partial(self._emit, command, lease, emitted)
        if isinstance(outcome, Pending):
            # progress_epoch: this epoch made progress, so the sweeper's budget of
            # takeovers counts from here (a chain-driven command is woken once per fate).
            await self._commands.write(
                command,
                {
                    "state": outcome.state,
                    "events": command["events"],
                    "progress_epoch": lease.epoch,
                },
            )
            # Unmark, then look for news: a wake-up that raced this write is never lost.
            await self._commands.unmark(command["_id"])
            if await outcome.news():
                await self._commands.mark_active(command)
            return
        if isinstance(outcome, Failed):
            payload: dict[str, Any] = {"code": outcome.code, "message": outcome.message}
            payload.update(outcome.details or {})
            await emit("failed", {**payload, "retry_safe": outcome.retry_safe})
        elif isinstance(outcome, Rejected):
            await emit(
                "rejected", {"code": outcome.code, "message": outcome.message, "retry_safe": True}
            )
        elif isinstance(outcome, NeedsAttention):
            await emit("needs_attention", {"code": outcome.code, "message": outcome.message})
            self._metrics.needs_attention_total.labels(command["type"]).inc()
            log.error("command needs attention", code=outcome.code, reason=outcome.message)
        terminal = not isinstance(outcome, NeedsAttention)
        await self._commands.write(
            command,
            {
                "state": _STATES.get(type(outcome), "needs_attention"),
                "terminal": terminal,
                "terminal_at": self._clock() if terminal else None,
                "events": command["events"],
            },
        )
        if unmark or not terminal:
            await self._commands.unmark(command["_id"])

    async def _emit(
        self,
        command: Doc,
        lease: Lease,
        emitted: _Emitted,
        state: str,
        payload: dict[str, Any],
        *,
        attempt: int = 0,
        item: int = 0,
    ) -> None:
        """Store the command's event for (state, attempt, item) once, after the fence."""
        async with emitted.lock:
            now = self._clock()
            event = command_event(
                command, state, payload, occurred_at=now, attempt=attempt, item=item
            )
            if str(event.event_id) in command["events"]:
                return
            await self._leases.check(lease)  # events only after the check
            doc = await self._outbox.add(
                event_doc(event, correlation_id=command.get("correlation_id"), created_at=now)
            )
            command["events"].append(doc["_id"])
            emitted.append(doc)
