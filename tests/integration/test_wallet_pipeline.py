"""wallet.create through the real pipeline: RabbitMQ, FerretDB, a worker process."""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import aio_pika
import pytest
from pymongo import AsyncMongoClient

from tests.support import TEST_MASTER_KEYS, next_message
from worker.broker import declare_topology
from worker.keystore import Keystore
from worker.settings import load_settings
from worker.topology import build_topology

pytestmark = pytest.mark.integration


def wallet_command(count: int = 2, key: str | None = None, **payload) -> bytes:
    return json.dumps(
        {
            "command_id": str(uuid.uuid4()),
            "idempotency_key": key or f"wallets-{uuid.uuid4().hex}",
            "type": "wallet.create",
            "schema_version": 1,
            "issued_at": datetime.now(UTC).isoformat(),
            "payload": {"count": count, "purpose": "deposit", **payload},
        }
    ).encode()


async def _events(amqp, namespace):
    """A queue seeing every event; declares the topology first, as a worker would."""
    channel = await amqp.channel()
    settings = load_settings(environ={"TRON_WORKER_AMQP__NAMESPACE": namespace})
    await declare_topology(channel, build_topology(settings.amqp))
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(f"{namespace}.events", routing_key="#")
    return channel, queue


async def _drain(queue, quiet_s: float = 1.0) -> list:
    """Messages until none arrives for quiet_s."""
    found = []
    while True:
        try:
            message = await next_message(queue, quiet_s)
        except AssertionError:
            return found
        await message.ack()
        found.append(message)


@pytest.fixture
async def database(mongo_url, namespace):
    client = AsyncMongoClient(mongo_url, tz_aware=True)
    yield client[f"t_{namespace.replace('-', '_')}"]
    await client.drop_database(f"t_{namespace.replace('-', '_')}")
    await client.close()


async def test_wallet_create_once_under_five_deliveries(make_worker, amqp, namespace, database):
    worker = make_worker()
    worker.start()
    await worker.wait_status("/health/ready", 200)
    channel, events = await _events(amqp, namespace)
    commands = await channel.get_exchange(f"{namespace}.commands")
    body = wallet_command(count=3, labels=["a", "b", "c"])
    for _ in range(5):
        await commands.publish(aio_pika.Message(body, message_id="m-1"), "command.wallet.create")
    created = [m for m in await _drain(events, 3.0) if m.routing_key == "wallet.created"]
    assert len(created) >= 1
    assert {m.message_id for m in created} == {created[0].message_id}, "one event id"
    assert len({m.body for m in created}) == 1, "byte-identical re-publications"
    event = json.loads(created[0].body)
    sent = json.loads(body)
    assert event["command_id"] == sent["command_id"]
    assert event["payload"]["count"] == 3
    wallets = [doc async for doc in database.wallets.find({"command_id": sent["command_id"]})]
    assert sorted(w["address"] for w in wallets) == sorted(event["payload"]["addresses"])
    assert [w["label"] for w in sorted(wallets, key=lambda w: w["index"])] == ["a", "b", "c"]
    for wallet in wallets:
        assert set(wallet["encrypted_key"]) >= {"kek_id", "ciphertext", "wrapped_dek"}
    assert await database.commands.count_documents({"command_id": sent["command_id"]}) == 1
    assert worker.terminate() == 0


async def test_burst_drains_the_backlog_and_every_stored_document_is_its_model(
    make_worker, amqp, namespace, database
):
    """A worker in burst mode exits 0 by itself once drained: nothing to poll for. What it
    left in FerretDB parses as schemas/documents.py says (the models are the truth)."""
    from schemas.documents import DOCUMENTS

    channel, events = await _events(amqp, namespace)
    commands = await channel.get_exchange(f"{namespace}.commands")
    bodies = [wallet_command(count=1) for _ in range(20)]
    for body in [*bodies, bodies[0], bodies[1], b"not json"]:
        await commands.publish(aio_pika.Message(body), "command.wallet.create")
    worker = make_worker()
    worker.start(burst=True)
    assert worker.wait_exit(timeout_s=120) == 0, worker.output()[-3000:]
    assert "burst: everything drained" in worker.output()
    received = await _drain(events, 1.0)
    created = {
        json.loads(m.body)["command_id"] for m in received if m.routing_key == "wallet.created"
    }
    assert created == {json.loads(body)["command_id"] for body in bodies}
    assert [m.routing_key for m in received].count("wallet.rejected") == 1, "the poison"
    assert await database.outbox.count_documents({}) == 0
    assert await database.commands.count_documents({"terminal": True}) == 20
    for collection, model in DOCUMENTS.items():
        async for doc in database[collection].find({}):
            model.from_mongo(doc)


async def test_idempotency_conflict_leaves_the_original(make_worker, amqp, namespace, database):
    worker = make_worker()
    worker.start()
    await worker.wait_status("/health/ready", 200)
    channel, events = await _events(amqp, namespace)
    commands = await channel.get_exchange(f"{namespace}.commands")
    first = wallet_command(count=1, key="same-key")
    await commands.publish(aio_pika.Message(first), "command.wallet.create")
    assert (await next_message(events, 20)).routing_key == "wallet.created"
    second = wallet_command(count=2, key="same-key")
    await commands.publish(aio_pika.Message(second), "command.wallet.create")
    rejected = await next_message(events, 20)
    assert rejected.routing_key == "wallet.rejected"
    assert json.loads(rejected.body)["payload"]["code"] == "IDEMPOTENCY_CONFLICT"
    original = await database.commands.find_one({"idempotency_key": "same-key"})
    assert original["command_id"] == json.loads(first)["command_id"]
    assert await database.wallets.count_documents({}) == 1
    assert worker.terminate() == 0
    await asyncio.sleep(0)


async def _wait_terminal(database, command_ids: list[str], timeout_s: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        done = await database.commands.count_documents(
            {"command_id": {"$in": command_ids}, "terminal": True}
        )
        if done == len(command_ids):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"only {done} of {len(command_ids)} commands finished")


@pytest.mark.parametrize("crash_at", ["claim", "wallet:3"])
async def test_sigkill_then_restart_completes_each_command_once(
    make_worker, amqp, namespace, database, crash_at
):
    channel, events = await _events(amqp, namespace)
    commands = await channel.get_exchange(f"{namespace}.commands")
    bodies = [wallet_command(count=4) for _ in range(3)]
    command_ids = [json.loads(body)["command_id"] for body in bodies]
    for body in bodies:
        await commands.publish(aio_pika.Message(body), "command.wallet.create")
    doomed = make_worker(TRON_WORKER_WORKER__MAX_CONCURRENCY="1", TRON_WORKER_AMQP__PREFETCH="1")
    doomed.start(crash_at=crash_at)
    assert doomed.wait_exit() == -9, "killed by its planted SIGKILL"
    claimed = await database.commands.count_documents({"command_id": {"$in": command_ids}})
    assert claimed >= 1, "the crash came after a claim"
    assert await database.commands.count_documents({"terminal": True}) == 0
    if crash_at == "wallet:3":
        assert await database.wallets.count_documents({}) == 3, "died mid-way through a command"
    survivor = make_worker()
    survivor.start()
    await _wait_terminal(database, command_ids)
    for command_id in command_ids:
        wallets = [w async for w in database.wallets.find({"command_id": command_id})]
        assert sorted(w["index"] for w in wallets) == [0, 1, 2, 3]
    created = [m for m in await _drain(events, 2.0) if m.routing_key == "wallet.created"]
    by_command = {}
    for message in created:
        event = json.loads(message.body)
        by_command.setdefault(event["command_id"], set()).add(event["event_id"])
    assert set(by_command) == set(command_ids), "every command announced"
    assert all(len(ids) == 1 for ids in by_command.values()), "one event id per command"
    assert survivor.terminate() == 0


async def test_two_workers_500_commands_each_executed_once(make_worker, amqp, namespace, database):
    channel, events = await _events(amqp, namespace)
    commands = await channel.get_exchange(f"{namespace}.commands")
    bodies = [wallet_command(count=1) for _ in range(500)]
    command_ids = [json.loads(body)["command_id"] for body in bodies]
    workers = [make_worker(), make_worker()]
    for worker in workers:
        worker.start()
    for worker in workers:
        await worker.wait_status("/health/ready", 200)
    for body in bodies:
        await commands.publish(aio_pika.Message(body), "command.wallet.create")
    # Half of them again, as a publisher retrying after a timeout would.
    for body in bodies[::2]:
        await commands.publish(aio_pika.Message(body), "command.wallet.create")
    await _wait_terminal(database, command_ids, timeout_s=240)
    assert await database.wallets.count_documents({}) == 500
    assert len(await database.wallets.distinct("command_id")) == 500
    created = [m for m in await _drain(events, 3.0) if m.routing_key == "wallet.created"]
    ids_by_command: dict[str, set[str]] = {}
    for message in created:
        event = json.loads(message.body)
        ids_by_command.setdefault(event["command_id"], set()).add(event["event_id"])
    assert set(ids_by_command) == set(command_ids)
    assert all(len(ids) == 1 for ids in ids_by_command.values())
    outputs = [worker.output() for worker in workers]
    assert all('"outcome": "executed"' in output for output in outputs), "both did work"
    for worker in workers:
        assert worker.terminate() == 0


async def test_poison_and_expired_commands_while_the_worker_keeps_consuming(
    make_worker, amqp, namespace, database
):
    worker = make_worker()
    worker.start()
    await worker.wait_status("/health/ready", 200)
    channel, events = await _events(amqp, namespace)
    commands = await channel.get_exchange(f"{namespace}.commands")
    await commands.publish(aio_pika.Message(b"{not json"), "command.wallet.create")
    expired = json.loads(wallet_command())
    expired["issued_at"] = "2026-01-01T00:00:00Z"
    await commands.publish(aio_pika.Message(json.dumps(expired).encode()), "command.wallet.create")
    good = wallet_command(count=1)
    await commands.publish(aio_pika.Message(good), "command.wallet.create")
    received = await _drain(events, 3.0)
    kinds = {(m.routing_key, json.loads(m.body)["payload"].get("code")) for m in received}
    assert ("wallet.rejected", "EXPIRED") in kinds
    assert ("wallet.created", None) in kinds
    dead = await channel.get_queue(f"{namespace}.wallet.dead")
    parked = await next_message(dead, 10)
    assert parked.body == b"{not json"
    assert parked.headers["x-dead-letter-reason"] == "poison"
    assert "JSON" in parked.headers["x-dead-letter-detail"]
    await parked.ack()
    assert await database.commands.count_documents({}) == 1, "only the good one was claimed"
    assert worker.terminate() == 0


async def test_no_private_key_or_master_key_in_logs_events_or_dead_letters(
    make_worker, amqp, namespace, database
):
    hmac_secret = "publisher-hmac-secret-0123456789"
    worker = make_worker(
        TRON_WORKER_AMQP__REQUIRE_SIGNATURE="true",
        TRON_WORKER_AMQP__HMAC_KEYS=json.dumps({"billing": hmac_secret}),
    )
    worker.start()
    await worker.wait_status("/health/ready", 200)
    channel, events = await _events(amqp, namespace)
    commands = await channel.get_exchange(f"{namespace}.commands")
    bodies = [wallet_command(count=3) for _ in range(2)]
    for body in bodies:
        signature = hmac.new(hmac_secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {"x-key-id": "billing", "x-signature": signature}
        await commands.publish(aio_pika.Message(body, headers=headers), "command.wallet.create")
    await commands.publish(
        aio_pika.Message(b"junk", headers={"x-key-id": "billing"}), "command.wallet.create"
    )
    await commands.publish(
        aio_pika.Message(
            wallet_command(), headers={"x-key-id": "billing", "x-signature": "0" * 64}
        ),
        "command.wallet.create",
    )
    received = await _drain(events, 3.0)
    assert sum(m.routing_key == "wallet.created" for m in received) >= 2
    assert any(json.loads(m.body)["payload"].get("code") == "UNAUTHENTICATED" for m in received)
    dead = await next_message(await channel.get_queue(f"{namespace}.wallet.dead"), 10)
    assert worker.terminate() == 0
    keystore = Keystore(
        load_settings(environ={"TRON_WORKER_KEYSTORE__MASTER_KEYS": TEST_MASTER_KEYS}).keystore
    )
    private_keys = []
    async for wallet in database.wallets.find({}):
        private_keys.append(keystore.decrypt(wallet["encrypted_key"], wallet["address"]).reveal())
    assert len(private_keys) == 6
    captured = "\n".join(
        [
            worker.output(),
            *(m.body.decode() for m in received),
            json.dumps({k: str(v) for k, v in dead.headers.items()}),
            json.dumps([str(h) for m in received for h in (m.headers or {}).values()]),
        ]
    ).lower()
    master_key = json.loads(TEST_MASTER_KEYS)["local-dev"]
    for secret in [master_key, hmac_secret]:
        assert secret.lower() not in captured
    for key in private_keys:
        assert key.hex() not in captured
        assert base64.b64encode(key).decode().lower() not in captured
    assert "wallet.created" in captured or "created" in captured, "the capture is not empty"


async def test_keys_rotate_rewraps_every_wallet_on_the_real_database(
    make_worker, amqp, namespace, database
):
    worker = make_worker()
    worker.start()
    await worker.wait_status("/health/ready", 200)
    channel, events = await _events(amqp, namespace)
    commands = await channel.get_exchange(f"{namespace}.commands")
    await commands.publish(aio_pika.Message(wallet_command(count=3)), "command.wallet.create")
    assert (await next_message(events, 20)).routing_key == "wallet.created"
    assert worker.terminate() == 0
    new_key = base64.b64encode(b"n" * 32).decode()
    old_keys = json.loads(TEST_MASTER_KEYS)
    env = {
        **worker.env,
        "TRON_WORKER_KEYSTORE__MASTER_KEYS": json.dumps({**old_keys, "kek-2": new_key}),
        "TRON_WORKER_KEYSTORE__ACTIVE_KEY_ID": "kek-2",
    }
    rotate = [sys.executable, "-m", "worker", "keys", "rotate"]
    run = functools.partial(subprocess.run, env=env, capture_output=True, text=True, timeout=60)
    first = await asyncio.to_thread(run, rotate)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip().endswith(
        "rotated 3 data keys to kek-2; 0 already current; 0 failed"
    )
    again = await asyncio.to_thread(run, rotate)
    assert "rotated 0 data keys to kek-2; 3 already current" in again.stdout
    only_new = Keystore(
        load_settings(
            environ={
                "TRON_WORKER_KEYSTORE__MASTER_KEYS": json.dumps({"kek-2": new_key}),
                "TRON_WORKER_KEYSTORE__ACTIVE_KEY_ID": "kek-2",
            }
        ).keystore
    )
    async for wallet in database.wallets.find({}):
        assert wallet["encrypted_key"]["kek_id"] == "kek-2"
        only_new.unlock(wallet["encrypted_key"], wallet["address"])  # derives its address
    assert new_key not in first.stdout + first.stderr + again.stdout + again.stderr
