"""What happens to one delivery: decode -> authenticate -> validate -> claim -> execute -> ack.

Each step is a small function; a step that refuses the command returns a
rejection, which is published (with confirm) before the ack. Outcomes are
values; exceptions mean "unknown", and `Retrier` turns them into a later
delivery or, once attempts run out, a dead letter.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from schemas.commands import Command, Envelope, expired, parse_envelope, parse_payload
from schemas.errors import InvalidCommand, NotAnEnvelope
from schemas.events import Event, event_id_for
from worker.auth import Authenticator, Unauthenticated
from worker.claims import Claimed, Claims, Conflict, Duplicate
from worker.errors import PermanentError, TransientError
from worker.executor import Executor
from worker.metrics import Metrics
from worker.outbox import Outbox
from worker.ports import Delivery, EventSink
from worker.retries import Retrier

__all__ = ["CommandIds", "Pipeline", "Rejection", "recover_ids"]

log = structlog.get_logger()


@dataclass(frozen=True)
class CommandIds:
    """What can be recovered from a body without trusting it."""

    command_ref: str
    command_id: uuid.UUID | None
    idempotency_key: str | None
    type: str | None


def recover_ids(body: bytes) -> CommandIds:
    """Best-effort ids from any body; a body we cannot read is referred to by its hash."""
    fallback = "body-sha256:" + hashlib.sha256(body).hexdigest()
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return CommandIds(fallback, None, None, None)
    if not isinstance(data, dict):
        return CommandIds(fallback, None, None, None)
    command_id = _as_uuid(data.get("command_id"))
    key = data.get("idempotency_key")
    key = key if isinstance(key, str) and 0 < len(key) <= 255 and key.isprintable() else None
    kind = data.get("type")
    kind = kind if isinstance(kind, str) and len(kind) <= 64 and kind.isprintable() else None
    return CommandIds(str(command_id) if command_id else fallback, command_id, key, kind)


def _as_uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if isinstance(value, str) else None
    except ValueError:
        return None


async def _ack(delivery: Delivery) -> None:
    """Ack; if the channel is gone the broker redelivers, and the redelivery finds the
    command's recorded outcome (a duplicate), so a lost ack costs a little work only."""
    try:
        await delivery.ack()
    except Exception as exc:  # aio-pika raises several kinds here, all meaning "channel gone"
        log.warning(
            "ack lost with the channel; the broker will redeliver", error=type(exc).__name__
        )


@dataclass(frozen=True)
class Rejection:
    """Refused before anything was signed: always safe to correct and resend with a new key."""

    code: str
    message: str
    errors: list[dict[str, str]] = field(default_factory=list)


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
        """Handle one delivery to an ack (or a retry/dead letter); never raises but on cancel."""
        ids = recover_ids(delivery.body)
        kind = ids.type or "unknown"
        structlog.contextvars.bind_contextvars(
            family=family, command_ref=ids.command_ref, message_id=delivery.message_id
        )
        started_s = time.monotonic()
        self._metrics.inflight_commands.inc()
        try:
            async with asyncio.timeout(self._command_timeout_s):
                outcome = await self._steps(family, delivery)
        except PermanentError as exc:
            # Retrying cannot help (the database refused an operation): park it, never retry.
            log.error("command failed permanently", code=exc.code, error=str(exc))
            outcome = await self._retrier.give_up_permanently(family, delivery, ids, exc)
            self._metrics.commands_total.labels(kind, outcome).inc()
        except Exception as exc:
            # TransientError or a bug: the outcome is unknown, so try again later.
            if not isinstance(exc, TransientError):
                log.exception("command handling crashed")
            outcome = await self._retrier.defer(family, delivery, ids, exc)
            self._metrics.commands_total.labels(kind, outcome).inc()
        else:
            await _ack(delivery)
            self._metrics.commands_total.labels(kind, outcome).inc()
            log.info("command handled", outcome=outcome, type=kind)
        finally:
            self._metrics.inflight_commands.dec()
            self._metrics.command_duration_seconds.labels(kind).observe(
                time.monotonic() - started_s
            )
            structlog.contextvars.clear_contextvars()

    async def _steps(self, family: str, delivery: Delivery) -> str:
        try:
            envelope = parse_envelope(delivery.body)
        except NotAnEnvelope as exc:
            await self._retrier.poison(family, delivery, recover_ids(delivery.body), exc.reason)
            return "poison"
        try:
            scope = self._auth.authenticate(delivery, envelope)
            command = self._validate(family, envelope)
        except Unauthenticated as exc:
            return await self._reject(
                family, delivery, envelope, Rejection("UNAUTHENTICATED", str(exc))
            )
        except InvalidCommand as exc:
            rejection = Rejection(
                "INVALID_COMMAND",
                exc.reason,
                [{"field": e["field"], "message": e["message"]} for e in exc.errors],
            )
            return await self._reject(family, delivery, envelope, rejection)
        return await self._claim_and_run(family, delivery, command, scope)

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

    async def _claim_and_run(
        self, family: str, delivery: Delivery, command: Command, scope: str
    ) -> str:
        envelope = command.envelope
        structlog.contextvars.bind_contextvars(command_id=str(envelope.command_id))
        if not self._executor.handles(command.type):
            message = f"command type {command.type!r} is not implemented yet"
            return await self._reject(
                family, delivery, envelope, Rejection("NOT_IMPLEMENTED", message)
            )
        claim = await self._claims.claim(
            command, scope, delivery, expired=expired(envelope, self._clock())
        )
        if claim is None:
            return await self._reject(
                family,
                delivery,
                envelope,
                Rejection("EXPIRED", f"the command expired at {envelope.expires_at.isoformat()}"),
            )
        if isinstance(claim, Conflict):
            return await self._reject(
                family,
                delivery,
                envelope,
                Rejection(
                    "IDEMPOTENCY_CONFLICT",
                    f"idempotency key already used by command {claim.existing['command_id']} "
                    "with a different type or payload",
                ),
                ref_suffix=f":conflict:{command.payload_hash[:16]}",
            )
        if isinstance(claim, Duplicate):
            if claim.existing["terminal"]:
                await self._outbox.flush(claim.existing.get("events", []), again=True)
                return "duplicate"
            lease = await self._claims.take_over(claim.existing)
            if lease is None:
                return "duplicate-in-progress"
            self._metrics.lease_takeovers_total.inc()
            await self._executor.execute(claim.existing, lease)
            return "resumed"
        assert isinstance(claim, Claimed)
        await self._executor.execute(claim.command, claim.lease)
        return "executed"

    async def _reject(
        self,
        family: str,
        delivery: Delivery,
        envelope: Envelope,
        rejection: Rejection,
        ref_suffix: str = "",
    ) -> str:
        """Publish `<family>.rejected` (confirmed) for a command refused before its claim."""
        payload: dict[str, Any] = {
            "code": rejection.code,
            "message": rejection.message,
            "retry_safe": True,
        }
        if rejection.errors:
            payload["errors"] = rejection.errors
        event = Event(
            event_id=event_id_for(f"{envelope.command_id}{ref_suffix}", "rejected", 0),
            seq=1,
            type=f"{family}.rejected",
            command_id=envelope.command_id,
            idempotency_key=envelope.idempotency_key,
            occurred_at=self._clock(),
            payload=payload,
        )
        await self.publish_event(event, delivery)
        self._metrics.rejections_total.labels(rejection.code).inc()
        log.info("command rejected", code=rejection.code, reason=rejection.message)
        return "rejected"

    async def publish_event(self, event: Event, delivery: Delivery) -> None:
        headers = {"x-command-message-id": delivery.message_id} if delivery.message_id else {}
        await self._publish(
            event.type,
            event.model_dump_json().encode(),
            message_id=str(event.event_id),
            correlation_id=delivery.correlation_id or delivery.message_id,
            headers=headers,
        )
        self._metrics.events_published_total.labels(event.type).inc()
