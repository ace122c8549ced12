"""The broker drops the worker's connection mid-stream: no command and no event is lost."""

from __future__ import annotations

import asyncio
import json

import aio_pika
import pytest
from pymongo import AsyncMongoClient

from tests.integration.test_wallet_pipeline import _drain, _events, _wait_terminal, wallet_command
from tests.support import close_connections_of

pytestmark = [pytest.mark.integration, pytest.mark.chaos]


async def test_connection_drops_lose_no_command_and_no_event(
    make_worker, amqp, namespace, mongo_url
):
    client = AsyncMongoClient(mongo_url, tz_aware=True)
    database = client[f"t_{namespace.replace('-', '_')}"]
    try:
        worker = make_worker()
        worker.start()
        await worker.wait_status("/health/ready", 200)
        channel, events = await _events(amqp, namespace)
        commands = await channel.get_exchange(f"{namespace}.commands")
        bodies: list[bytes] = []

        async def publish(count: int) -> None:
            for _ in range(count):
                bodies.append(wallet_command(count=1))
                await commands.publish(aio_pika.Message(bodies[-1]), "command.wallet.create")

        # Keep commands flowing while the connection is dropped, so every drop hits work
        # in flight however fast the worker is (a fixed batch can finish before the first).
        await publish(100)
        drops = 0
        for _ in range(20):  # a round finds no connection while the worker is reconnecting
            if drops >= 3:
                break
            await publish(150)
            await asyncio.sleep(0.2)
            finished = await database.commands.count_documents({"terminal": True})
            if finished < len(bodies):  # work in flight: drop the connection under it
                drops += close_connections_of(worker.process.pid)
        assert drops >= 3, "the connection was dropped while commands were in flight"
        command_ids = [json.loads(body)["command_id"] for body in bodies]
        await _wait_terminal(database, command_ids, timeout_s=120)
        for _ in range(100):  # the relay publishes what the broker never confirmed
            if await database.outbox.count_documents({}) == 0:
                break
            await asyncio.sleep(0.2)
        assert await database.outbox.count_documents({}) == 0, "every event confirmed"
        created = [m for m in await _drain(events, 3.0) if m.routing_key == "wallet.created"]
        ids_by_command: dict[str, set[str]] = {}
        for message in created:
            event = json.loads(message.body)
            ids_by_command.setdefault(event["command_id"], set()).add(event["event_id"])
        assert set(ids_by_command) == set(command_ids), "no event lost"
        assert all(len(ids) == 1 for ids in ids_by_command.values()), "duplicates share an id"
        assert await database.wallets.count_documents({}) == len(bodies)
        assert worker.terminate() == 0
        output = worker.output()
        disturbed = ('"outcome": "deferred"', '"outcome": "duplicate"', "outbox relayed")
        assert any(mark in output for mark in disturbed), "the drops hit work in progress"
    finally:
        await client.drop_database(database.name)
        await client.close()
