"""Publish a signed `wallet.create` command with pika and wait for its outcome event.

A plain AMQP client, no code from this repository: what any publisher has to do.

Environment:
    AMQP_URL               broker URL, default amqp://guest:guest@127.0.0.1:5672/
    TRON_NAMESPACE         the worker's amqp.namespace, default `tron`
                           (exchanges <namespace>.commands and <namespace>.events)
    TRON_KEY_ID            your publisher key id, one of the worker's TRON_WORKER_AMQP__HMAC_KEYS
    TRON_HMAC_SECRET       that key id's secret (the HMAC key is its UTF-8 bytes)
    TRON_IDEMPOTENCY_KEY   optional; default a new one. Resend with the same key to retry safely
    TRON_TIMEOUT_S         optional; how long to wait for the outcome, default 60

Run (the worker must be running: it declares the exchanges and queues):
    .venv/bin/python examples/python/publish_wallet_create.py

Prints the command's terminal event (`wallet.created`, `wallet.rejected` or `wallet.failed`)
as JSON on stdout, progress on stderr. Exit status: 0 wallet.created, 1 rejected or failed,
2 no outcome in time or the broker refused something.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pika
import pika.exceptions

TERMINAL = {"wallet.created", "wallet.rejected", "wallet.failed"}


def build_command(idempotency_key: str) -> dict[str, Any]:
    """The envelope: the worker refuses unknown fields, so send exactly these."""
    return {
        "command_id": str(uuid.uuid4()),
        "idempotency_key": idempotency_key,
        "type": "wallet.create",
        "schema_version": 1,
        "issued_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "payload": {"count": 1, "purpose": "deposit", "labels": ["example"]},
    }


def sign(body: bytes, secret: str) -> str:
    """Lowercase hex HMAC-SHA256 of the exact bytes that are published."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def is_ours(event: dict[str, Any], properties: pika.BasicProperties, command_id: str) -> bool:
    # A rejection of a delivery the worker could not authenticate names no command
    # (command_id is null); it still carries our correlation_id.
    return event.get("command_id") == command_id or properties.correlation_id == command_id


def main() -> int:
    url = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    namespace = os.environ.get("TRON_NAMESPACE", "tron")
    key_id, secret = os.environ.get("TRON_KEY_ID"), os.environ.get("TRON_HMAC_SECRET")
    if not key_id or not secret:
        print("set TRON_KEY_ID and TRON_HMAC_SECRET (see the top of this file)", file=sys.stderr)
        return 2
    idempotency_key = os.environ.get("TRON_IDEMPOTENCY_KEY") or f"example-{uuid.uuid4().hex}"
    timeout_s = float(os.environ.get("TRON_TIMEOUT_S", "60"))

    command = build_command(idempotency_key)
    command_id = command["command_id"]
    body = json.dumps(command, separators=(",", ":")).encode()  # these bytes are signed and sent

    try:
        connection = pika.BlockingConnection(pika.URLParameters(url))
    except pika.exceptions.AMQPError as exc:
        where = url.rpartition("@")[2]  # never print the password
        print(f"cannot connect to {where}: {exc!r}", file=sys.stderr)
        return 2
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        # Our own queue, bound BEFORE publishing so no event can be missed; exclusive:
        # the broker deletes it when this connection closes.
        queue = channel.queue_declare(queue="", exclusive=True).method.queue
        channel.queue_bind(queue, exchange=f"{namespace}.events", routing_key="wallet.#")
        channel.basic_publish(
            exchange=f"{namespace}.commands",
            routing_key=f"command.{command['type']}",
            body=body,
            properties=pika.BasicProperties(
                content_type="application/json",
                delivery_mode=pika.DeliveryMode.Persistent,
                message_id=command_id,
                correlation_id=command_id,
                headers={"x-key-id": key_id, "x-signature": sign(body, secret)},
            ),
            # With confirms on, basic_publish returns once the broker confirmed, and raises
            # UnroutableError if no queue is bound for the routing key, NackError if refused.
            mandatory=True,
        )
        print(f"published {command_id} (idempotency key {idempotency_key})", file=sys.stderr)
        return wait_for_outcome(channel, queue, command_id, timeout_s)
    except pika.exceptions.AMQPError as exc:
        print(
            f"the broker refused: {exc!r} (is the worker running with namespace {namespace!r}?)",
            file=sys.stderr,
        )
        return 2
    finally:
        if connection.is_open:
            connection.close()


def wait_for_outcome(channel: Any, queue: str, command_id: str, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    for method, properties, body in channel.consume(queue, auto_ack=True, inactivity_timeout=1):
        if time.monotonic() > deadline:
            break
        if method is None:  # a second without a message
            continue
        event = json.loads(body)
        if not is_ours(event, properties, command_id):
            continue
        print(f"event {event['type']}", file=sys.stderr)
        if event["type"] in TERMINAL:
            print(json.dumps(event, indent=2))
            return 0 if event["type"] == "wallet.created" else 1
    print(f"no outcome for {command_id} within {timeout_s:g} s", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
