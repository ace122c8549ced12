"""A backlog older than the signature window, seen by a real worker process and its /health."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta

import aio_pika
import aiohttp
import pytest

from tests.support import next_message

pytestmark = pytest.mark.integration

SECRET = b"backlog-test-secret"


async def test_an_old_unclaimed_command_is_rejected_and_health_says_why(
    make_worker, amqp, namespace
):
    worker = make_worker(
        TRON_WORKER_AMQP__REQUIRE_SIGNATURE="true",
        TRON_WORKER_AMQP__HMAC_KEYS=json.dumps({"billing": SECRET.decode()}),
    )
    worker.start()
    await worker.wait_status("/health/ready", 200)
    channel = await amqp.channel()
    events = await channel.declare_queue(exclusive=True)
    await events.bind(f"{namespace}.events", routing_key="wallet.#")
    body = json.dumps(
        {
            "command_id": str(uuid.uuid4()),
            "idempotency_key": f"key-{uuid.uuid4().hex}",
            "type": "wallet.create",
            "schema_version": 1,
            "issued_at": (datetime.now(UTC) - timedelta(minutes=10)).isoformat(),
            "payload": {"count": 1},
        }
    ).encode()
    headers = {
        "x-key-id": "billing",
        "x-signature": hmac.new(SECRET, body, hashlib.sha256).hexdigest(),
    }
    commands = await channel.get_exchange(f"{namespace}.commands")
    await commands.publish(
        aio_pika.Message(body, message_id="old-1", headers=headers),
        routing_key="command.wallet.create",
    )
    message = await next_message(events, 20)
    await message.ack()
    assert json.loads(message.body)["payload"]["code"] == "UNAUTHENTICATED"
    async with aiohttp.ClientSession() as http:
        async with http.get(worker.sidecar_url + "/health") as response:
            detail = await response.json()
        async with http.get(worker.sidecar_url + "/metrics") as response:
            metrics_text = await response.text()
    assert 595 <= detail["oldest_queued_command_age_s"] <= 660, detail
    assert detail["signature_skew_s"] == 300.0
    assert detail["backlog_outside_skew_window"] is True
    assert detail["status"] == "ready", "a backlog never makes the worker unready"
    assert "tron_worker_oldest_queued_command_age_seconds 6" in metrics_text
    assert worker.terminate() == 0
