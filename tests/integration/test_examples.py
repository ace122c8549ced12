"""examples/: a signed wallet.create from plain AMQP clients (pika, amqplib), end to end.

Each example runs as its own process against the real broker and a real worker process
that requires signatures (amqp.require_signature, TRON_WORKER_AMQP__HMAC_KEYS). Signed
with the right secret it gets `wallet.created`; with a wrong one the worker dead-letters
the delivery (reason `unauthenticated`) and answers `wallet.rejected` UNAUTHENTICATED,
which names no command: the example finds it by its AMQP correlation_id.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from typing import Any
from urllib.parse import urlsplit

import aio_pika
import pytest
from pymongo import AsyncMongoClient

from tests.support import ROOT, next_message, npm_ci

pytestmark = pytest.mark.integration

KEY_ID = "example-publisher"
SECRET = "example-hmac-secret-3c9e71a05b2d4f68"
EXAMPLES = {
    "python": [sys.executable, str(ROOT / "examples" / "python" / "publish_wallet_create.py")],
    "node": ["node", str(ROOT / "examples" / "node" / "publish-wallet-create.mjs")],
}


@pytest.fixture(params=sorted(EXAMPLES))
def example(request: pytest.FixtureRequest) -> list[str]:
    if request.param == "node":
        npm_ci(ROOT / "examples" / "node", "to run examples/node")
    return EXAMPLES[request.param]


@pytest.fixture
async def signed_worker(make_worker, amqp, mongo_url, namespace):  # type: ignore[no-untyped-def]
    """A worker process that refuses unsigned commands; its database is dropped after, the
    namespace's queues and exchanges by the `amqp` fixture."""
    worker = make_worker(
        TRON_WORKER_AMQP__REQUIRE_SIGNATURE="true",
        TRON_WORKER_AMQP__HMAC_KEYS=json.dumps({KEY_ID: SECRET}),
    )
    worker.start()
    await worker.wait_status("/health/ready", 200)
    yield worker
    assert await worker.stop() == 0, worker.output()[-3000:]
    client = AsyncMongoClient(mongo_url)
    await client.drop_database(f"t_{namespace.replace('-', '_')}")
    await client.close()


def broker_url(amqp_url: str) -> str:
    """The settings' URL has no password (a secret): give the examples a complete one."""
    parts = urlsplit(amqp_url)
    user = parts.username or "guest"
    password = os.environ.get("TRON_WORKER_AMQP__PASSWORD", "guest")
    return f"{parts.scheme}://{user}:{password}@{parts.hostname}:{parts.port or 5672}{parts.path}"


async def run_example(argv: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *argv,
        env={**os.environ, **env},
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"{argv[-1]} did not exit within 120 s") from None
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def example_env(amqp_url: str, namespace: str, key: str, secret: str) -> dict[str, str]:
    return {
        "AMQP_URL": broker_url(amqp_url),
        "TRON_NAMESPACE": namespace,
        "TRON_KEY_ID": KEY_ID,
        "TRON_HMAC_SECRET": secret,
        "TRON_IDEMPOTENCY_KEY": key,
        "TRON_TIMEOUT_S": "60",
    }


async def test_signed_command_gets_wallet_created(
    example, signed_worker, amqp, amqp_url, namespace
) -> None:
    key = f"example-ok-{uuid.uuid4().hex}"
    status, out, err = await run_example(example, example_env(amqp_url, namespace, key, SECRET))
    assert status == 0, f"stdout:\n{out}\nstderr:\n{err}\nworker:\n{signed_worker.output()[-3000:]}"
    event: dict[str, Any] = json.loads(out)
    assert event["type"] == "wallet.created"
    assert event["idempotency_key"] == key
    assert uuid.UUID(event["command_id"])
    addresses = event["payload"]["addresses"]
    assert len(addresses) == 1 and addresses[0].startswith("T") and len(addresses[0]) == 34
    assert event["payload"]["count"] == 1
    assert f"published {event['command_id']}" in err


async def test_wrong_secret_is_dead_lettered_and_rejected_never_created(
    example, signed_worker, amqp, amqp_url, namespace
) -> None:
    channel = await amqp.channel()
    watch = await channel.declare_queue(exclusive=True)
    await watch.bind(f"{namespace}.events", routing_key="wallet.#")
    key = f"example-forged-{uuid.uuid4().hex}"
    env = example_env(amqp_url, namespace, key, "not-the-" + SECRET)
    status, out, err = await run_example(example, env)

    assert status == 1, f"stdout:\n{out}\nstderr:\n{err}"
    event: dict[str, Any] = json.loads(out)
    assert event["type"] == "wallet.rejected"
    assert event["payload"]["code"] == "UNAUTHENTICATED"
    assert event["payload"]["message"] == "x-signature does not match the body"
    assert event["command_id"] is None and event["idempotency_key"] is None  # names no command

    dead_queue = await channel.declare_queue(f"{namespace}.wallet.dead", passive=True)
    dead = await next_message(dead_queue, timeout_s=10)
    await dead.ack()
    assert json.loads(dead.body)["idempotency_key"] == key
    assert dead.headers["x-dead-letter-reason"] == "unauthenticated"
    assert dead.headers["x-key-id"] == KEY_ID

    # Dead-lettered and acked, so nothing can create it later; the worker's only event about
    # that delivery is the rejection, linked by the correlation_id the example set.
    seen = await _drain(watch, quiet_s=2.0)
    assert [m.routing_key for m in seen] == ["wallet.rejected"]
    assert seen[0].correlation_id == json.loads(dead.body)["command_id"]
    assert json.loads(seen[0].body)["event_id"] == event["event_id"]
    await channel.close()


async def _drain(queue: aio_pika.abc.AbstractQueue, quiet_s: float) -> list[Any]:
    """Messages until none arrives for quiet_s (bounded: the worker is idle otherwise)."""
    found = []
    while True:
        try:
            message = await next_message(queue, quiet_s)
        except AssertionError:
            return found
        await message.ack()
        found.append(message)
