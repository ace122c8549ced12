"""Deliveries whose outcome is unknown: a later try through a retry tier, or a dead letter.

    attempt < max_attempts  -> copy to <ns>.<family>.retry.<delay>s (confirmed), ack
    attempts exhausted      -> dead letter (confirmed) plus a `failed` RETRIES_EXHAUSTED
                               event, but only when the journal proves nothing was signed
                               (DESIGN.md rule 3: a signed command is never failed this way)
    poison                  -> dead letter with the reason, plus `rejected` if ids are known
Nothing is ever requeued forever, and nothing is acked before its copy is confirmed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog

from schemas.events import Event, event_id_for
from worker.broker import Broker
from worker.errors import TransientError
from worker.metrics import Metrics
from worker.ports import Delivery, EventSink

__all__ = ["Retrier"]

log = structlog.get_logger()


def _attempt(headers: dict[str, Any] | None) -> int:
    value = (headers or {}).get("x-attempt", 1)
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        return 1


class Retrier:
    def __init__(
        self,
        broker: Broker,
        publish: EventSink,
        metrics: Metrics,
        *,
        max_attempts: int,
        give_up: Callable[[str, str], Any],  # Executor.give_up: async (command_id, reason)
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._broker = broker
        self._publish = publish
        self._metrics = metrics
        self._max_attempts = max_attempts
        self._give_up = give_up
        self._clock = clock or (lambda: datetime.now(UTC))

    async def defer(self, family: str, delivery: Delivery, ids: Any, error: BaseException) -> str:
        """Send the delivery round again later, or dead-letter it; returns the outcome name."""
        attempt = _attempt(delivery.headers)
        reason = f"{type(error).__name__}: {error}"[:300]
        try:
            if attempt < self._max_attempts:
                tiers = self._broker.topology.retry_queues[family]
                delay_s, queue = tiers[min(attempt - 1, len(tiers) - 1)]
                await self._broker.send_copy(
                    delivery,
                    exchange="",
                    routing_key=queue,
                    headers={"x-attempt": attempt + 1, "x-last-error": reason},
                )
                await delivery.ack()
                log.warning("command deferred", attempt=attempt, retry_in_s=delay_s, error=reason)
                return "deferred"
            await self._exhausted(family, delivery, ids, reason)
            await delivery.ack()
            return "exhausted"
        except TransientError as exc:
            # Even the retry copy failed (broker trouble): hand it back; x-delivery-limit bounds it.
            log.warning("command requeued", error=str(exc))
            await _nack(delivery)
            return "requeued"

    async def _exhausted(self, family: str, delivery: Delivery, ids: Any, reason: str) -> None:
        await self.dead_letter(family, delivery, "retries-exhausted", reason)
        if ids.command_id is None:
            log.error("command retries exhausted", error=reason)
            return
        try:
            failed_now = await self._give_up(str(ids.command_id), reason)
        except TransientError as exc:
            # Cannot tell whether anything was signed: no failed event; the dead letter says why.
            log.error("command retries exhausted; journal unreadable", error=str(exc))
            return
        if failed_now is None:  # never claimed: nothing can have been signed
            await self._publish_failed(family, delivery, ids, reason)
        log.error("command retries exhausted", failed_event=failed_now is not False, error=reason)

    async def give_up_permanently(
        self, family: str, delivery: Delivery, ids: Any, error: BaseException
    ) -> str:
        """Dead-letter a delivery that failed permanently; no retry tier, ever."""
        try:
            await self.dead_letter(
                family, delivery, "permanent", f"{type(error).__name__}: {error}"
            )
            await delivery.ack()
            return "dead-lettered"
        except TransientError as exc:
            log.warning("dead letter not confirmed; requeued", error=str(exc))
            await _nack(delivery)
            return "requeued"

    async def poison(self, family: str, delivery: Delivery, ids: Any, reason: str) -> None:
        """Dead-letter what is not a command at all; tell the publisher if we know who it is.

        The caller acks the delivery afterwards.
        """
        await self.dead_letter(family, delivery, "poison", reason)
        if ids.command_id is not None or ids.idempotency_key is not None:
            await self._publish_event(
                family,
                delivery,
                ids,
                "rejected",
                {"code": "POISON", "message": reason, "retry_safe": True},
            )

    async def dead_letter(self, family: str, delivery: Delivery, reason: str, detail: str) -> None:
        """Park a copy in `<queue>.dead` with the reason; the caller acks the delivery after."""
        queue = self._broker.topology.work_queues[family].name
        await self._broker.send_copy(
            delivery,
            exchange=self._broker.topology.dead_letters.name,
            routing_key=f"{queue}.dead",
            headers={
                "x-dead-letter-reason": reason,
                "x-dead-letter-detail": detail[:500],
                "x-original-routing-key": delivery.routing_key or "",
            },
        )
        self._metrics.dead_letters_total.labels(queue, reason).inc()

    async def _publish_failed(self, family: str, delivery: Delivery, ids: Any, reason: str) -> None:
        payload = {
            "code": "RETRIES_EXHAUSTED",
            "message": f"gave up after {self._max_attempts} attempts: {reason}",
            "retry_safe": True,
        }
        try:
            await self._publish_event(family, delivery, ids, "failed", payload)
        except TransientError as exc:
            log.error("failed event not published", error=str(exc))

    async def _publish_event(
        self,
        family: str,
        delivery: Delivery,
        ids: Any,
        state: str,
        payload: dict[str, Any],
    ) -> None:
        event = Event(
            event_id=event_id_for(ids.command_ref, state, 0),
            seq=1,
            type=f"{family}.{state}",
            command_id=ids.command_id,
            idempotency_key=ids.idempotency_key,
            occurred_at=self._clock(),
            payload=payload,
        )
        await self._publish(
            event.type,
            event.model_dump_json().encode(),
            message_id=str(event.event_id),
            correlation_id=delivery.correlation_id or delivery.message_id,
        )
        self._metrics.events_published_total.labels(event.type).inc()


async def _nack(delivery: Delivery) -> None:
    try:
        await delivery.nack(requeue=True)
    except Exception as exc:  # channel already gone: the broker requeues it anyway
        log.warning("nack failed", error=type(exc).__name__)
