"""Graceful operations (issue 12): start-up with the broker or the database down, and a
database so slow that leases run out mid-work.

    broker down at start    the worker waits and retries, live 200 / ready 503, and
                            serves once the broker is up, without a restart
    database down at start  the same, for FerretDB
    slow database           latency injected in front of FerretDB (a TCP proxy) with
                            stalls longer than the lease: other workers take commands
                            over, and every transfer is still paid exactly once
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator

import aio_pika
import pytest
from pymongo import AsyncMongoClient
from tronpy.keys import PrivateKey

from devnet.server import Devnet, DevnetConfig
from tests.chaos.stack import Proxy, _stack_script
from tests.chaos.workload import envelope
from tests.integration.test_transfer_pipeline import _post, _until, balance_sun
from tests.integration.test_wallet_pipeline import _events, wallet_command
from tests.support import FerretDBServer, free_port, next_message

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

ENDS = {"confirmed", "failed", "rejected", "needs_attention"}


@pytest.fixture
async def devnet() -> AsyncIterator[Devnet]:
    config = DevnetConfig(port=0, block_interval_s=0.2, solidify_lag_blocks=2)
    async with Devnet(config) as running:
        yield running


async def _stays(worker, path: str, status: int, seconds: float) -> None:  # type: ignore[no-untyped-def]
    """`path` answers `status` for the whole time, and the process keeps running."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert worker.process.poll() is None, worker.output()[-3000:]
        assert await worker.status(path) == status, worker.output()[-3000:]
        await asyncio.sleep(0.3)


async def test_a_worker_started_before_its_broker_waits_then_serves_without_a_restart(
    make_worker, tmp_path, devnet
):
    port = free_port()
    script = _stack_script()
    broker = script.rabbitmq(tmp_path, port, f"late{port}@localhost", free_port())
    worker = make_worker(
        TRON_WORKER_AMQP__URL=f"amqp://guest@127.0.0.1:{port}/",
        TRON_WORKER_AMQP__RECONNECT_INTERVAL_S="0.5",
        TRON_WORKER_TRON__ENDPOINTS=json.dumps([devnet.url]),
    )
    worker.start()
    try:
        await worker.wait_status("/health/live", 200)
        await _stays(worker, "/health/ready", 503, 3)
        assert "dependency not available yet" in worker.output()
        await asyncio.to_thread(script.up, broker, 120.0)
        await worker.wait_status("/health/ready", 200, timeout_s=60)
        connection = await aio_pika.connect(f"amqp://guest:guest@127.0.0.1:{port}/")
        async with connection:
            namespace = worker.env["TRON_WORKER_AMQP__NAMESPACE"]
            channel, events = await _events(connection, namespace)
            commands = await channel.get_exchange(f"{namespace}.commands")
            await commands.publish(
                aio_pika.Message(wallet_command(count=1)), "command.wallet.create"
            )
            assert [m.routing_key for m in await _until(events, {"wallet.created"}, 30)][-1]
        assert await worker.stop() == 0
    finally:
        worker.kill()
        await asyncio.to_thread(script.down, broker, 60.0)


async def test_a_worker_started_before_its_database_waits_then_serves_without_a_restart(
    make_worker, amqp, namespace, tmp_path, devnet
):
    ferretdb = FerretDBServer(tmp_path, free_port())
    worker = make_worker(
        TRON_WORKER_MONGO__URL=ferretdb.url,
        TRON_WORKER_TRON__ENDPOINTS=json.dumps([devnet.url]),
    )
    worker.start()
    try:
        await worker.wait_status("/health/live", 200)
        await _stays(worker, "/health/ready", 503, 3)
        ferretdb.start()
        await worker.wait_status("/health/ready", 200, timeout_s=60)
        channel, events = await _events(amqp, namespace)
        commands = await channel.get_exchange(f"{namespace}.commands")
        await commands.publish(aio_pika.Message(wallet_command(count=1)), "command.wallet.create")
        assert [m.routing_key for m in await _until(events, {"wallet.created"}, 30)]
        assert await worker.stop() == 0
    finally:
        worker.kill()
        ferretdb.stop()


async def test_a_database_stalling_longer_than_the_lease_never_pays_twice(
    make_worker, amqp, namespace, tmp_path, devnet
):
    ferretdb = FerretDBServer(tmp_path, free_port())
    ferretdb.start()
    proxy = Proxy(ferretdb.port)
    await proxy.start()
    database_name = f"t_{namespace.replace('-', '_')}"
    workers = [
        make_worker(
            TRON_WORKER_MONGO__URL=f"mongodb://127.0.0.1:{proxy.port}/",
            TRON_WORKER_TRON__ENDPOINTS=json.dumps([devnet.url]),
            TRON_WORKER_CHAIN__FOLLOWER_INTERVAL_S="0.2",
            TRON_WORKER_CHAIN__MANAGED_REFRESH_S="1",
        )
        for _ in range(2)
    ]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            await worker.wait_status("/health/ready", 200, timeout_s=60)
        channel, events = await _events(amqp, namespace)
        commands = await channel.get_exchange(f"{namespace}.commands")
        await commands.publish(
            aio_pika.Message(wallet_command(count=1, purpose="hot")), "command.wallet.create"
        )
        [created] = (await _until(events, {"wallet.created"}, 30))[-1:]
        hot = json.loads(created.body)["payload"]["addresses"][0]
        await _post(devnet, "/devnet/fund", {"address": hot, "amount_sun": 10_000_000_000})
        rng = random.Random(7)
        sent = []
        for index in range(40):
            to = PrivateKey(rng.randbytes(32)).public_key.to_base58check_address()
            amount = 1_000_000 + index
            sent.append((envelope("transfer.trx", {"wallet": hot, "to": to, "amount_sun": amount}),
                         to, amount))  # fmt: skip
        proxy.latency_s = 0.05
        for command, _, _ in sent[:20]:
            await commands.publish(aio_pika.Message(command.body), "command.transfer.trx")
        await asyncio.sleep(1)
        proxy.latency_s = 3.0  # each database call takes 3 s for 10 s: leases (6 s) run out
        for command, _, _ in sent[20:]:
            await commands.publish(aio_pika.Message(command.body), "command.transfer.trx")
        await asyncio.sleep(10)
        proxy.latency_s = 0.05
        ended: dict[str, set[str]] = {}
        deadline = time.monotonic() + 180
        while len(ended) < len(sent) and time.monotonic() < deadline:
            message = await next_message(events, 180)
            await message.ack()
            event = json.loads(message.body)
            if message.routing_key.split(".", 1)[1] in ENDS:
                ended.setdefault(event["idempotency_key"], set()).add(message.routing_key)
        assert len(ended) == len(sent), f"{len(ended)} of {len(sent)} ended"
        assert all(kinds == {"transfer.confirmed"} for kinds in ended.values()), ended
        for _, to, amount in sent:
            assert await balance_sun(devnet, to) == amount, "paid exactly once"
        client = AsyncMongoClient(ferretdb.url, tz_aware=True)
        try:
            taken = await client[database_name].leases.count_documents({"epoch": {"$gte": 2}})
        finally:
            await client.close()
        assert taken >= 1, "the stall made leases run out and other workers take over"
        for worker in workers:
            assert await worker.stop() == 0
    finally:
        for worker in workers:
            worker.kill()
        await proxy.close()
        ferretdb.stop()
