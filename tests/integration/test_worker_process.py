"""The worker as a real process against the real RabbitMQ, FerretDB and devnet."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import aio_pika
import pytest
from tronpy.keys import PrivateKey

from tests.support import ROOT, FerretDBServer, free_port, next_message, queue_depth
from worker.broker import declare_topology
from worker.settings import load_settings
from worker.topology import build_topology

pytestmark = pytest.mark.integration


SENDER = PrivateKey(b"\x01" * 32).public_key.to_base58check_address()


def _command() -> bytes:
    """A stake.claim_rewards without its wallet: INVALID_COMMAND, one event, before any claim
    or node call (every type has a handler now, so NOT_IMPLEMENTED cannot serve here)."""
    return json.dumps(
        {
            "command_id": str(uuid.uuid4()),
            "idempotency_key": f"key-{uuid.uuid4().hex}",
            "type": "stake.claim_rewards",
            "schema_version": 1,
            "issued_at": datetime.now(UTC).isoformat(),
            "payload": {"wallet_typo": SENDER},
        }
    ).encode()


async def test_command_gets_exactly_one_rejected_event_and_is_acked(make_worker, amqp, namespace):
    worker = make_worker()
    worker.start()
    await worker.wait_status("/health/ready", 200)
    channel = await amqp.channel()
    events = await channel.declare_queue(exclusive=True)
    await events.bind(f"{namespace}.events", routing_key="stake.#")
    body = _command()
    commands = await channel.get_exchange(f"{namespace}.commands")
    await commands.publish(
        aio_pika.Message(body, message_id="msg-1", correlation_id="corr-1"),
        routing_key="command.stake.claim_rewards",
    )
    message = await next_message(events, 20)
    await message.ack()
    event = json.loads(message.body)
    sent = json.loads(body)
    assert message.routing_key == "stake.rejected"
    assert event["type"] == "stake.rejected"
    assert event["command_id"] == sent["command_id"]
    assert event["idempotency_key"] == sent["idempotency_key"]
    assert event["payload"]["code"] == "INVALID_COMMAND"
    assert message.message_id == event["event_id"]
    assert message.correlation_id == "corr-1"
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    # Give a duplicate every chance to show up, then stop the worker: an unacked
    # command would return to its queue when the worker's channel closes.
    await asyncio.sleep(1.5)
    assert await events.get(fail=False) is None, "exactly one event"
    assert worker.terminate() == 0
    assert await queue_depth(amqp, f"{namespace}.stake") == 0, "the command was acked"


async def test_sigterm_exits_zero_without_task_warnings(make_worker, amqp):
    worker = make_worker()
    worker.start()
    await worker.wait_status("/health/ready", 200)
    assert worker.terminate() == 0
    output = worker.output()
    assert "Task was destroyed" not in output
    assert "Traceback" not in output
    assert "Unclosed" not in output
    assert '"worker stopped"' in output


async def test_readiness_follows_ferretdb_without_restarting_worker(make_worker, amqp, tmp_path):
    ferretdb = FerretDBServer(tmp_path, free_port())
    ferretdb.start()
    try:
        worker = make_worker(TRON_WORKER_MONGO__URL=ferretdb.url)
        worker.start()
        await worker.wait_status("/health/ready", 200)
        ferretdb.stop()
        await worker.wait_status("/health/ready", 503, timeout_s=30)
        assert await worker.status("/health/live") == 200
        ferretdb.start()
        await worker.wait_status("/health/ready", 200, timeout_s=60)
        assert worker.terminate() == 0
    finally:
        ferretdb.stop()


def test_bad_env_override_stops_startup_with_one_line():
    env = {**os.environ, "TRON_WORKER_SIDECAR__PORT": "eighty"}
    result = subprocess.run(
        [sys.executable, "-m", "worker", "run"], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "settings error: sidecar.port = 'eighty' (from environment TRON_WORKER_SIDECAR__PORT): "
        "Input should be a valid integer, unable to parse string as an integer"
    ]


def test_bad_settings_file_value_stops_startup_with_one_line(tmp_path):
    bad = tmp_path / "settings.toml"
    bad.write_text((ROOT / "settings.toml").read_text().replace('level = "info"', 'level = "loud"'))
    env = {**os.environ, "TRON_WORKER_SETTINGS_FILE": str(bad)}
    result = subprocess.run(
        [sys.executable, "-m", "worker", "run"], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"settings error: log.level = 'loud' (from {bad}): Input should be")


async def test_sigterm_under_load_loses_nothing(make_worker, amqp, namespace):
    """Every command ends either answered (its event published) or back in its queue."""
    channel = await amqp.channel()
    settings = load_settings(environ={"TRON_WORKER_AMQP__NAMESPACE": namespace})
    await declare_topology(channel, build_topology(settings.amqp))
    events = await channel.declare_queue(exclusive=True)
    await events.bind(f"{namespace}.events", routing_key="#")
    commands = await channel.get_exchange(f"{namespace}.commands")
    sent = set()
    # Queued before the worker starts, so it is surely mid-way when SIGTERM lands.
    for _ in range(1000):
        body = _command()
        sent.add(json.loads(body)["command_id"])
        await commands.publish(aio_pika.Message(body), routing_key="command.stake.claim_rewards")
    worker = make_worker(TRON_WORKER_WORKER__MAX_CONCURRENCY="2", TRON_WORKER_AMQP__PREFETCH="4")
    worker.start()
    first = await next_message(events, 20)
    await first.nack(requeue=True)
    assert worker.terminate() == 0
    answered = []
    remaining = -1
    # The broker returns the worker's unacked deliveries once it has seen the
    # connection close, which is asynchronous: poll until the books balance.
    for _ in range(100):
        while (message := await events.get(fail=False)) is not None:
            answered.append(json.loads(message.body)["command_id"])
            await message.ack()
        remaining = await queue_depth(amqp, f"{namespace}.stake")
        if len(answered) + remaining >= len(sent):
            break
        await asyncio.sleep(0.1)
    assert set(answered) <= sent
    assert len(answered) == len(set(answered)), "no command answered twice"
    assert 0 < len(answered) and 0 < remaining, "stopped mid-way, as intended"
    assert len(answered) + remaining == len(sent), "answered or still queued: nothing lost"
    assert await queue_depth(amqp, f"{namespace}.stake.dead") == 0, "nothing dead-lettered"
    assert "Task was destroyed" not in worker.output()
