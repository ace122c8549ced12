"""What each resource can do on its own, measured the way the worker uses it.

- RabbitMQ: persistent messages published with confirms (at most `window` unconfirmed,
  as the worker's concurrent tasks publish) into a durable quorum queue (the command
  queues are quorum queues) while a consumer with the worker's prefetch acks each one.
  Rate = messages through (published, confirmed, consumed, acked) per second.
- FerretDB: with the worker's max_concurrency tasks on one client (the worker's own
  client options), inserts of command-sized documents, then find, update ($set) and
  delete of each by `_id`, each phase timed on its own.
- devnet: signed TRX transfers broadcast with that many connections, by
  bench/devnet_broadcast.py's own functions, on a devnet with the money benches' block
  interval.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika
import aiohttp

from bench.common import (
    BLOCK_INTERVAL_S,
    RECIPIENT,
    CpuMeter,
    command_body,
    cpu_seconds,
    stack_pids,
)
from bench.devnet_broadcast import broadcast_all, sign_all, start_devnet
from bench.ferretdb_id_latency import document
from worker.database import make_client
from worker.settings import Settings

__all__ = ["devnet_ceiling", "ferretdb_ceiling", "rabbitmq_ceiling"]


async def rabbitmq_ceiling(settings: Settings, messages: int, window: int) -> dict[str, float]:
    """Messages per second through a quorum queue: publish with confirms, consume with ack."""
    publisher = await aio_pika.connect(settings.amqp.url)
    consumer = await aio_pika.connect(settings.amqp.url)
    name = f"bench-ceiling-{uuid.uuid4().hex[:8]}"
    try:
        channel = await publisher.channel(publisher_confirms=True)
        await channel.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})
        receiving = await consumer.channel()
        await receiving.set_qos(prefetch_count=settings.amqp.prefetch)
        queue = await receiving.get_queue(name)
        received, done = 0, asyncio.Event()

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal received
            await message.ack()
            received += 1
            if received >= messages:
                done.set()

        tag = await queue.consume(on_message)
        _, body = command_body(
            "transfer.trx", {"wallet": RECIPIENT, "to": RECIPIENT, "amount_sun": 1000}
        )
        slots = asyncio.Semaphore(window)

        async def publish() -> None:
            async with slots:
                await channel.default_exchange.publish(
                    aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                    routing_key=name,
                )

        meter = _meter("rabbitmq")
        started = time.perf_counter()
        await asyncio.gather(*(publish() for _ in range(messages)))
        await asyncio.wait_for(done.wait(), timeout=300)
        elapsed_s = time.perf_counter() - started
        meter.stop()
        await queue.cancel(tag)
        await channel.queue_delete(name)
    finally:
        await consumer.close()
        await publisher.close()
    return {
        "messages": messages,
        "window": window,
        "per_s": messages / elapsed_s,
        **_cpu_per_op(meter, messages),
    }


def _meter(server: str) -> CpuMeter:
    """CPU of the server and of this (client) process, from now on."""
    meter = CpuMeter({"server": [stack_pids()[server]], "client": [os.getpid()]}, ["server"])
    meter.start()
    return meter


def _cpu_per_op(meter: CpuMeter, ops: int) -> dict[str, float]:
    return {
        "server_cpu_ms": meter.used_s["server"] / ops * 1000,
        "client_cpu_ms": meter.used_s["client"] / ops * 1000,
    }


async def _concurrently(
    call: Callable[[str], Awaitable[Any]], ids: list[str], concurrency: int
) -> tuple[float, CpuMeter]:
    """Calls per second of call(id) over ids, `concurrency` at a time, and their CPU."""
    pending = iter(ids)

    async def task() -> None:
        for key in pending:
            await call(key)

    meter = _meter("ferretdb")
    started = time.perf_counter()
    await asyncio.gather(*(task() for _ in range(concurrency)))
    elapsed_s = time.perf_counter() - started
    meter.stop()
    return len(ids) / elapsed_s, meter


async def ferretdb_ceiling(settings: Settings, ops: int, concurrency: int) -> dict[str, float]:
    """Inserts, `_id` reads, `_id` updates and `_id` deletes per second."""
    client = make_client(settings.mongo)
    database = client[f"bench_ceiling_{uuid.uuid4().hex[:8]}"]
    collection = database["docs"]
    docs = {str(d["_id"]): d for d in (document(i) for i in range(ops + concurrency * 4))}
    ids = list(docs)
    warmup, timed = ids[: concurrency * 4], ids[concurrency * 4 :]

    async def insert(key: str) -> None:
        await collection.insert_one(dict(docs[key]))

    async def find(key: str) -> None:
        assert await collection.find_one({"_id": key}) is not None

    async def update(key: str) -> None:
        result = await collection.update_one({"_id": key}, {"$set": {"state": "seen"}})
        assert result.matched_count == 1

    async def delete(key: str) -> None:
        assert (await collection.delete_one({"_id": key})).deleted_count == 1

    try:
        await _concurrently(insert, warmup, concurrency)  # opens the pool's connections
        rates = {"concurrency": float(concurrency), "ops": float(ops)}
        for name, call in (
            ("insert", insert),
            ("find", find),
            ("update", update),
            ("delete", delete),
        ):
            rates[name], meter = await _concurrently(call, timed, concurrency)
            for what, ms in _cpu_per_op(meter, len(timed)).items():
                rates[f"{name}_{what}"] = ms
    finally:
        await client.drop_database(database.name)
        await client.close()
    return rates


async def devnet_ceiling(transactions: int, concurrency: int) -> dict[str, float]:
    """Signed transfers a fresh devnet accepts per second, and its CPU per broadcast."""
    process, url = await start_devnet(BLOCK_INTERVAL_S)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{url}/wallet/getnowblock") as response:
                head = await response.json(content_type=None)
        bodies = sign_all(transactions, head)
        cpu_before_s = cpu_seconds(process.pid)
        accepted, elapsed_s = await broadcast_all(url, bodies, concurrency)
        devnet_cpu_s = cpu_seconds(process.pid) - cpu_before_s
    finally:
        process.terminate()
        await process.wait()
    if accepted != transactions:
        raise RuntimeError(f"devnet accepted {accepted} of {transactions} broadcasts")
    return {
        "transactions": transactions,
        "concurrency": concurrency,
        "per_s": accepted / elapsed_s,
        "cpu_ms_per_broadcast": devnet_cpu_s / accepted * 1000,
    }
