"""Consumes every family's work queue; each delivery runs as a task owned by one TaskGroup.

Concurrency is bounded twice: the broker's prefetch limits what is pushed to
us, and a semaphore limits what runs at once. `stop()` cancels the broker
consumers first (no new deliveries; buffered ones are returned to the queue),
then in-flight deliveries finish; `run()` returns when they have.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from aio_pika.abc import AbstractIncomingMessage, AbstractQueueIterator

from worker.broker import Broker
from worker.pipeline import Delivery

__all__ = ["Consumer"]

log = structlog.get_logger()

Process = Callable[[str, Delivery], Awaitable[None]]


class Consumer:
    def __init__(self, broker: Broker, process: Process, *, max_concurrency: int) -> None:
        self._broker = broker
        self._process = process
        self._slots = asyncio.Semaphore(max_concurrency)
        self._iterators: list[AbstractQueueIterator] = []
        self._started = asyncio.Event()
        self._stopping = False

    async def run(self) -> None:
        """Consume until stop(); returns after every in-flight delivery has finished."""
        async with asyncio.TaskGroup() as deliveries:
            families = list(self._broker.topology.work_queues)
            iterators = []
            for family in families:
                queue = await self._broker.work_queue(family)
                iterators.append(queue.iterator())
            self._iterators = iterators
            async with asyncio.TaskGroup() as loops:
                for family, iterator in zip(families, iterators, strict=True):
                    loops.create_task(self._consume(family, iterator, deliveries))
                self._started.set()
                log.info(
                    "consuming", queues=[q.name for q in self._broker.topology.work_queues.values()]
                )

    async def wait_started(self) -> None:
        await self._started.wait()

    async def stop(self) -> None:
        """Stop taking deliveries; in-flight ones keep running until run() returns."""
        self._stopping = True
        for iterator in self._iterators:
            await iterator.close()

    async def _consume(
        self, family: str, iterator: AbstractQueueIterator, deliveries: asyncio.TaskGroup
    ) -> None:
        async with iterator:
            async for message in iterator:
                if self._stopping:
                    await message.nack(requeue=True)
                    continue
                await self._slots.acquire()
                deliveries.create_task(self._run_one(family, message))

    async def _run_one(self, family: str, message: AbstractIncomingMessage) -> None:
        try:
            await self._process(family, message)
        finally:
            self._slots.release()
