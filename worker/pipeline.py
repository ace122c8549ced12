"""What happens to one delivery. For now every command is answered `NOT_IMPLEMENTED`.

The skeleton is real end to end: a delivery becomes exactly one confirmed
`<family>.rejected` event and then an ack. Issue 4 replaces the answer with
decode -> authenticate -> validate -> claim -> dispatch.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog

from schemas.events import Event, rejected_event
from worker.errors import TransientError
from worker.metrics import Metrics

__all__ = ["CommandIds", "Delivery", "EventSink", "Pipeline", "recover_ids"]

log = structlog.get_logger()


class Delivery(Protocol):
    """The part of an AMQP delivery the pipeline uses (aio-pika's IncomingMessage fits)."""

    @property
    def body(self) -> bytes: ...
    @property
    def message_id(self) -> str | None: ...
    @property
    def correlation_id(self) -> str | None: ...

    async def ack(self) -> None: ...
    async def nack(self, *, requeue: bool = True) -> None: ...


class EventSink(Protocol):
    def __call__(
        self,
        routing_key: str,
        body: bytes,
        *,
        message_id: str,
        correlation_id: str | None,
        headers: dict[str, Any] | None = None,
    ) -> Awaitable[None]: ...


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


class Pipeline:
    """Turns a delivery into events and an ack."""

    def __init__(
        self, publish: EventSink, metrics: Metrics, clock: Callable[[], datetime] | None = None
    ) -> None:
        self._publish = publish
        self._metrics = metrics
        self._clock = clock or (lambda: datetime.now(UTC))

    async def process(self, family: str, delivery: Delivery) -> None:
        """Answer the delivery; never raises except on cancellation."""
        ids = recover_ids(delivery.body)
        kind = ids.type or "unknown"
        structlog.contextvars.bind_contextvars(
            family=family, command_ref=ids.command_ref, message_id=delivery.message_id
        )
        started_s = time.monotonic()
        self._metrics.inflight_commands.inc()
        try:
            event = rejected_event(
                family=family,
                command_ref=ids.command_ref,
                command_id=ids.command_id,
                idempotency_key=ids.idempotency_key,
                code="NOT_IMPLEMENTED",
                message=f"command type {kind!r} is not implemented yet",
                occurred_at=self._clock(),
            )
            await self._emit(event, delivery)
            await delivery.ack()
            self._metrics.rejections_total.labels("NOT_IMPLEMENTED").inc()
            self._metrics.commands_total.labels(kind, "rejected").inc()
            log.info("command rejected", code="NOT_IMPLEMENTED", type=kind)
        except TransientError as exc:
            # Not acked: the broker redelivers; x-delivery-limit dead-letters a loop.
            log.warning("command deferred", error=str(exc))
            self._metrics.commands_total.labels(kind, "deferred").inc()
            await _nack_quietly(delivery)
        except Exception:
            log.exception("command handling crashed")
            self._metrics.commands_total.labels(kind, "crashed").inc()
            await _nack_quietly(delivery)
        finally:
            self._metrics.inflight_commands.dec()
            self._metrics.command_duration_seconds.labels(kind).observe(
                time.monotonic() - started_s
            )
            structlog.contextvars.clear_contextvars()

    async def _emit(self, event: Event, delivery: Delivery) -> None:
        headers = {"x-command-message-id": delivery.message_id} if delivery.message_id else {}
        await self._publish(
            event.type,
            event.model_dump_json().encode(),
            message_id=str(event.event_id),
            correlation_id=delivery.correlation_id or delivery.message_id,
            headers=headers,
        )
        self._metrics.events_published_total.labels(event.type).inc()


async def _nack_quietly(delivery: Delivery) -> None:
    try:
        await delivery.nack(requeue=True)
    except Exception as exc:  # channel already gone: the broker requeues it anyway
        log.warning("nack failed", error=type(exc).__name__)
