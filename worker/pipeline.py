"""What happens to one delivery: decode -> authenticate -> validate -> claim -> execute -> ack.

Each step is a small function; a step that refuses the command returns a
rejection, which is published (with confirm) before the ack. Outcomes are
values; exceptions mean "unknown", and `_settle` turns them into a later
delivery, a dead letter with the command given up, or (when even that cannot
be done) a requeue after a backoff. Every delivery ends acked, copied
elsewhere then acked, or nacked for redelivery: none is left unsettled.

Who may speak for a command: an event naming a command (its `command_id`,
`idempotency_key`, and an id derived from its claim) is published only for an
authentic delivery. What fails authentication or cannot be parsed gets a
rejection that names nobody, under an id derived from the body's hash.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog

from schemas.commands import Command, Envelope, expired, parse_envelope, parse_payload
from schemas.documents import command_key, command_ref
from schemas.errors import FieldError, InvalidCommand, NotAnEnvelope
from schemas.events import Event, rejected_event
from worker.auth import Authenticator, Scope
from worker.claims import Claimed, Claims, Conflict, Duplicate, Refused
from worker.errors import PermanentError, TransientError, Unauthenticated
from worker.executor import Executor
from worker.metrics import Metrics
from worker.outbox import Outbox
from worker.ports import Delivery, EventSink
from worker.retries import Retrier
from worker.store import Doc

__all__ = ["Pipeline", "Progress", "Rejection"]

log = structlog.get_logger()


@dataclass(frozen=True)
class Rejection:
    """Refused before anything was signed: always safe to correct and resend with a new key."""

    code: str
    message: str
    errors: list[FieldError] = field(default_factory=list)


@dataclass
class Progress:
    """How far one delivery got: what is known (and trusted) about it so far."""

    family: str
    delivery: Delivery
    type_label: str = "unknown"  # a metric label: only ever a validated type
    envelope: Envelope | None = None
    scope: Scope | None = None  # set once the delivery is authentic
    command: Command | None = None
    claimed: Doc | None = None  # the stored command, once claimed or found

    @property
    def key(self) -> str | None:
        if self.scope is None or self.envelope is None:
            return None
        return command_key(self.scope.key_id, self.envelope.idempotency_key)


async def _ack(delivery: Delivery) -> None:
    """Ack; if the channel is gone the broker redelivers, and the redelivery finds the
    command's recorded outcome (a duplicate), so a lost ack costs a little work only."""
    try:
        await delivery.ack()
    except Exception as exc:  # aio-pika raises several kinds here, all meaning "channel gone"
        log.warning(
            "ack lost with the channel; the broker will redeliver", error=type(exc).__name__
        )


class Pipeline:
    def __init__(
        self,
        *,
        authenticator: Authenticator,
        claims: Claims,
        executor: Executor,
        outbox: Outbox,
        retrier: Retrier,
        publish: EventSink,
        metrics: Metrics,
        command_timeout_s: float,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._command_timeout_s = command_timeout_s
        self._auth = authenticator
        self._claims = claims
        self._executor = executor
        self._outbox = outbox
        self._retrier = retrier
        self._publish = publish
        self._metrics = metrics
        self._clock = clock or (lambda: datetime.now(UTC))

    async def process(self, family: str, delivery: Delivery) -> None:
        """Handle one delivery until it is settled; never raises but on cancel."""
        progress = Progress(family, delivery)
        structlog.contextvars.bind_contextvars(family=family, message_id=delivery.message_id)
        started_s = time.monotonic()
        self._metrics.inflight_commands.inc()
        try:
            try:
                async with asyncio.timeout(self._command_timeout_s):
                    outcome = await self._steps(progress)
            except Exception as exc:
                outcome = await self._settle(progress, exc)
            else:
                await _ack(delivery)
                log.info("command handled", outcome=outcome, type=progress.type_label)
            self._metrics.commands_total.labels(progress.type_label, outcome).inc()
        finally:
            self._metrics.inflight_commands.dec()
            self._metrics.command_duration_seconds.labels(progress.type_label).observe(
                time.monotonic() - started_s
            )
            structlog.contextvars.clear_contextvars()

    # --- the steps ------------------------------------------------------------------------

    async def _steps(self, progress: Progress) -> str:
        body = progress.delivery.body
        try:
            progress.envelope = envelope = parse_envelope(body)
        except NotAnEnvelope as exc:
            await self._retrier.dead_letter(
                progress.family, progress.delivery, "poison", exc.reason
            )
            return await self._reject(progress, Rejection("POISON", exc.reason))
        try:
            progress.scope = self._auth.authenticate(progress.delivery, envelope)
        except Unauthenticated as exc:
            await self._retrier.dead_letter(
                progress.family, progress.delivery, "unauthenticated", str(exc)
            )
            return await self._reject(progress, Rejection("UNAUTHENTICATED", str(exc)))
        structlog.contextvars.bind_contextvars(command_id=str(envelope.command_id))
        try:
            progress.command = self._validate(progress.family, envelope)
        except InvalidCommand as exc:
            errors = [FieldError(field=e["field"], message=e["message"]) for e in exc.errors]
            return await self._reject(progress, Rejection("INVALID_COMMAND", exc.reason, errors))
        progress.type_label = progress.command.type
        if not self._executor.handles(progress.command.type):
            message = f"command type {progress.command.type!r} is not implemented yet"
            return await self._reject(progress, Rejection("NOT_IMPLEMENTED", message))
        return await self._claim_and_run(progress, progress.command, progress.scope)

    def _validate(self, family: str, envelope: Envelope) -> Command:
        if envelope.family != family:
            raise InvalidCommand(
                [
                    {
                        "field": "type",
                        "message": f"a {envelope.type} command does not belong on "
                        f"the {family} queue (routing key command.{envelope.type})",
                    }
                ]
            )
        return Command(envelope, parse_payload(envelope))

    async def _claim_and_run(self, progress: Progress, command: Command, scope: Scope) -> str:
        envelope = command.envelope
        claim = await self._claims.claim(
            command,
            scope.key_id,
            progress.delivery,
            expired=expired(envelope, self._clock()),
            stale=not scope.fresh,
        )
        if isinstance(claim, Refused):
            if claim.code == "EXPIRED":
                message = f"the command expired at {envelope.expires_at.isoformat()}"
            else:
                message = self._auth.stale_message(scope)
            return await self._reject(progress, Rejection(claim.code, message))
        if isinstance(claim, Conflict):
            message = (
                f"idempotency key already used by command {claim.existing['command_id']} "
                "with a different type or payload"
            )
            return await self._reject(progress, Rejection("IDEMPOTENCY_CONFLICT", message))
        if isinstance(claim, Duplicate):
            progress.claimed = existing = claim.existing
            if existing["terminal"]:
                await self._outbox.republish(existing.get("events", []))
                return "duplicate"
            lease = await self._claims.take_over(existing)
            if lease is None:
                # Its holder is alive, or its lease has not run out yet: make sure the
                # sweeper will find it before this delivery goes.
                await self._claims.mark_active(existing)
                return "duplicate-in-progress"
            self._metrics.lease_takeovers_total.inc()
            await self._executor.execute(existing, lease, fresh=False)
            return "resumed"
        progress.claimed = claim.command
        await self._executor.execute(claim.command, claim.lease, fresh=True)
        return "executed"

    # --- refusals ---------------------------------------------------------------------------

    async def _reject(self, progress: Progress, rejection: Rejection) -> str:
        """Publish `<family>.rejected` (confirmed); it names the command only if authentic."""
        body_sha256 = hashlib.sha256(progress.delivery.body).hexdigest()
        envelope, key = progress.envelope, progress.key
        if envelope is not None and key is not None:
            # Keyed by the claim and this body: a redelivery repeats the id, another
            # command (or another tenant's) cannot produce it.
            event_ref = f"{command_ref(key)}:{body_sha256[:16]}"
            command_id, idempotency_key = envelope.command_id, envelope.idempotency_key
        else:
            event_ref, command_id, idempotency_key = f"delivery:{body_sha256}", None, None
        event = rejected_event(
            family=progress.family,
            command_ref=event_ref,
            command_id=command_id,
            idempotency_key=idempotency_key,
            code=rejection.code,
            message=rejection.message,
            occurred_at=self._clock(),
            errors=rejection.errors or None,
        )
        await self._publish_direct(event, progress.delivery)
        self._metrics.rejections_total.labels(rejection.code).inc()
        log.info("command rejected", code=rejection.code, reason=rejection.message)
        return "rejected"

    async def _publish_direct(self, event: Event, delivery: Delivery) -> None:
        headers = {"x-command-message-id": delivery.message_id} if delivery.message_id else {}
        await self._publish(
            event.type,
            event.model_dump_json().encode(),
            message_id=str(event.event_id),
            correlation_id=delivery.correlation_id or delivery.message_id,
            headers=headers,
        )
        self._metrics.events_published_total.labels(event.type).inc()

    # --- when the outcome is unknown ---------------------------------------------------------

    async def _settle(self, progress: Progress, error: Exception) -> str:
        """A later try, or a dead letter and the command given up; never raises."""
        delivery, family = progress.delivery, progress.family
        reason = f"{type(error).__name__}: {error}"[:300]
        try:
            if isinstance(error, PermanentError):
                log.error("command failed permanently", code=error.code, error=reason)
                await self._retrier.dead_letter(family, delivery, "permanent", reason)
                await self._give_up(progress, error.code, reason, attention=True)
            elif self._retrier.attempt(delivery) < self._retrier.max_attempts:
                if not isinstance(error, TransientError | TimeoutError):
                    log.exception("command handling crashed")
                if progress.claimed is not None:
                    await self._claims.mark_active(progress.claimed)
                return await self._retrier.defer(family, delivery, reason)
            else:
                await self._retrier.dead_letter(family, delivery, "retries-exhausted", reason)
                message = f"gave up after {self._retrier.max_attempts} attempts: {reason}"
                await self._give_up(progress, "RETRIES_EXHAUSTED", message, attention=False)
            await _ack(delivery)
            return "dead-lettered"
        except Exception as exc:
            log.warning("delivery handed back for a later try", error=f"{exc!r}"[:300])
            return await self._retrier.requeue_later(delivery)

    async def _give_up(
        self, progress: Progress, code: str, message: str, *, attention: bool
    ) -> None:
        """After the dead letter: end the command, if the delivery was authentic.

        A command that was never claimed is claimed now, failed: a later duplicate then
        finds it ended instead of running beside the `failed` event. If the database is
        still down, only the dead letter speaks (it holds the whole command).
        """
        key, command, scope = progress.key, progress.command, progress.scope
        if key is None or command is None or scope is None:
            log.error("delivery given up", reason=message)
            return
        try:
            result = await self._executor.give_up(key, code, message, attention=attention)
            if result == "unclaimed":
                claim = await self._claims.claim(
                    command, scope.key_id, progress.delivery, expired=False, stale=False
                )
                held = (claim.command, claim.lease) if isinstance(claim, Claimed) else None
                result = await self._executor.give_up(
                    key, code, message, attention=attention, held=held
                )
        except Exception as exc:
            log.error("command given up; its record is unreachable", error=f"{exc!r}"[:300])
            return
        log.error("command given up", result=result, code=code, reason=message)
