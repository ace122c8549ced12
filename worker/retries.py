"""A delivery's fate at the broker when its command could not finish now.

    attempt < max_attempts  -> copy to <ns>.<family>.retry.<delay>s (confirmed), ack
    attempts exhausted      -> dead letter (confirmed), then the pipeline gives the
                               command up (worker/executor.py decides how)
    poison, unauthenticated -> dead letter with the reason
    even the copy failed    -> wait, then nack for redelivery: the broker's
                               x-delivery-limit bounds the rounds, and the wait keeps
                               a broker whose publish side is down from burning them
                               in milliseconds
Nothing is ever requeued at once or forever, and nothing is acked before its copy is
confirmed. What happens to the command itself is the pipeline's business.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from worker.metrics import Metrics
from worker.ports import BrokerPort, Delivery

__all__ = ["Retrier"]

log = structlog.get_logger()


def _int_header(headers: dict[str, Any] | None, name: str, default: int) -> int:
    try:
        return max(0, int((headers or {}).get(name, default)))
    except (TypeError, ValueError):
        return default


class Retrier:
    def __init__(
        self,
        broker: BrokerPort,
        metrics: Metrics,
        *,
        max_attempts: int,
        requeue_delay_s: float = 1.0,
        requeue_max_delay_s: float = 60.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._broker = broker
        self._metrics = metrics
        self.max_attempts = max_attempts
        self._requeue_delay_s = requeue_delay_s
        self._requeue_max_delay_s = requeue_max_delay_s
        self._sleep = sleep

    def attempt(self, delivery: Delivery) -> int:
        """Which try this delivery is (1 for the first; retry copies count up)."""
        return max(1, _int_header(delivery.headers, "x-attempt", 1))

    async def defer(self, family: str, delivery: Delivery, reason: str) -> str:
        """Copy the delivery to its retry tier, then ack it.

        Raises:
            TransientError: the copy was not confirmed; the delivery is untouched.
        """
        attempt = self.attempt(delivery)
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

    async def dead_letter(self, family: str, delivery: Delivery, reason: str, detail: str) -> None:
        """Park a copy in `<queue>.dead` with the reason; the caller acks the delivery after.

        Raises:
            TransientError: the copy was not confirmed.
        """
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

    def requeue_delay_s(self, delivery: Delivery) -> float:
        """Doubling with each redelivery the broker counted (quorum queues' x-delivery-count)."""
        count = min(_int_header(delivery.headers, "x-delivery-count", 0), 16)
        return float(min(self._requeue_delay_s * 2**count, self._requeue_max_delay_s))

    async def requeue_later(self, delivery: Delivery) -> str:
        """Wait, then hand the delivery back to the broker; never raises."""
        delay_s = self.requeue_delay_s(delivery)
        log.warning("delivery handed back after a wait", delay_s=delay_s)
        await self._sleep(delay_s)
        try:
            await delivery.nack(requeue=True)
        except Exception as exc:  # channel already gone: the broker requeues it anyway
            log.warning("nack failed", error=type(exc).__name__)
        return "requeued"
