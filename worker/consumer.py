"""Consumes every family's work queue; each delivery runs as a task owned by one TaskGroup.

Concurrency is bounded twice: the broker's prefetch limits what is pushed to
us, and a semaphore limits what runs at once. `stop()` cancels the broker
consumers first and only then refuses deliveries still waiting for a slot
(nack, requeue): refusing earlier would hand them straight back to us, again
and again, until x-delivery-limit dead-lettered healthy commands. `run()`
returns when every delivery already started has finished. `observe` sees each body
as it arrives, before it waits for a slot (worker/health.py DeliveryAges: its age).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial

import structlog
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, ConsumerTag

from worker.broker import Broker
from worker.ports import Delivery

__all__ = ["Consumer"]

log = structlog.get_logger()

Process = Callable[[str, Delivery], Awaitable[None]]


class Consumer:
    def __init__(
        self,
        broker: Broker,
        process: Process,
        *,
        max_concurrency: int,
        observe: Callable[[bytes], None] | None = None,  # must not raise
    ) -> None:
        self._broker = broker
        self._process = process
        self._observe = observe
        self._slots = asyncio.Semaphore(max_concurrency)
        self._consumers: list[tuple[AbstractQueue, ConsumerTag]] = []
        self._deliveries: asyncio.TaskGroup | None = None
        self._stop_requested = asyncio.Event()
        self._cancelled = False  # True once the broker confirmed every consumer cancel
        self._running = 0  # deliveries taken and not yet finished

    @property
    def idle(self) -> bool:
        """No delivery is being handled right now (burst mode asks before it stops)."""
        return self._running == 0

    async def run(self) -> None:
        """Consume until stop(); returns after every started delivery has finished."""
        async with asyncio.TaskGroup() as deliveries:
            self._deliveries = deliveries
            for family in self._broker.topology.work_queues:
                queue = await self._broker.work_queue(family)
                tag = await queue.consume(partial(self._on_delivery, family))
                self._consumers.append((queue, tag))
            log.info("consuming", queues=[queue.name for queue, _ in self._consumers])
            await self._stop_requested.wait()
            for queue, tag in self._consumers:
                try:
                    await queue.cancel(tag)
                except Exception as exc:
                    # The channel is gone (the broker is down): the consumer went with it,
                    # and the robust queue forgot it before asking, so it is not restored.
                    log.warning("consumer not cancelled: its channel is closed",
                                queue=queue.name, error=type(exc).__name__)  # fmt: skip
            self._cancelled = True
            # Leaving the block waits for the deliveries already running.

    def stop(self) -> None:
        """Ask run() to cancel the consumers and drain."""
        self._stop_requested.set()

    async def _on_delivery(self, family: str, message: AbstractIncomingMessage) -> None:
        # Runs as aiormq's per-delivery task; the real work becomes a task of our TaskGroup.
        if self._observe is not None:
            self._observe(message.body)
        await self._slots.acquire()
        if self._cancelled or self._deliveries is None:
            self._slots.release()
            await message.nack(requeue=True)
            return
        self._running += 1
        self._deliveries.create_task(self._run_one(family, message))

    async def _run_one(self, family: str, message: AbstractIncomingMessage) -> None:
        try:
            await self._process(family, message)
        except Exception:
            # A bug past the pipeline's own handling must not take the whole worker down
            # (it would cancel every other delivery), nor hold a prefetch slot for good:
            # log it and hand the delivery back (a no-op if it was settled already).
            log.exception("delivery crashed", family=family)
            try:
                await message.nack(requeue=True)
            except Exception as exc:
                log.warning("nack after a crash failed", error=type(exc).__name__)
        finally:
            self._running -= 1
            self._slots.release()
