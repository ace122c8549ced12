"""worker/pipeline.py with in-memory twins: every delivery gets one rejected event, then an ack."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from schemas.events import event_id_for
from worker.errors import TransientError
from worker.metrics import Metrics
from worker.pipeline import Pipeline, recover_ids

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@dataclass
class FakeDelivery:
    body: bytes
    routing_key: str | None = "command.wallet.create"
    message_id: str | None = "m-1"
    correlation_id: str | None = None
    outcome: str | None = None

    async def ack(self) -> None:
        self.outcome = "ack"

    async def nack(self, *, requeue: bool = True) -> None:
        self.outcome = "nack-requeue" if requeue else "nack"


@dataclass
class MemoryEventSink:
    published: list[dict[str, Any]] = field(default_factory=list)
    fail_with: Exception | None = None

    async def __call__(self, routing_key, body, *, message_id, correlation_id, headers=None):
        if self.fail_with is not None:
            raise self.fail_with
        self.published.append(
            {"routing_key": routing_key, "body": json.loads(body), "message_id": message_id,
             "correlation_id": correlation_id, "headers": headers}
        )


def _command(**overrides) -> bytes:
    body = {
        "command_id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
        "idempotency_key": "order-42",
        "type": "wallet.create",
        "schema_version": 1,
        "issued_at": "2026-11-23T12:00:00Z",
        "payload": {"count": 1},
    }
    body.update(overrides)
    return json.dumps(body).encode()


async def test_command_is_rejected_not_implemented_then_acked() -> None:
    sink, delivery = MemoryEventSink(), FakeDelivery(_command(), correlation_id="corr-9")
    metrics = Metrics()
    await Pipeline(sink, metrics, clock=lambda: NOW).process("wallet", delivery)
    assert delivery.outcome == "ack"
    [event] = sink.published
    assert event["routing_key"] == "wallet.rejected"
    body = event["body"]
    assert body["type"] == "wallet.rejected"
    assert body["payload"] == {
        "code": "NOT_IMPLEMENTED",
        "message": "command type 'wallet.create' is not implemented yet",
        "retry_safe": True,
    }
    assert body["command_id"] == "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    assert body["idempotency_key"] == "order-42"
    assert body["event_id"] == event["message_id"]
    assert event["correlation_id"] == "corr-9"
    assert event["headers"] == {"x-command-message-id": "m-1"}
    assert metrics.rejections_total.labels("NOT_IMPLEMENTED")._value.get() == 1


async def test_same_command_twice_gives_the_same_event_id() -> None:
    sink = MemoryEventSink()
    pipeline = Pipeline(sink, Metrics(), clock=lambda: NOW)
    await pipeline.process("wallet", FakeDelivery(_command()))
    await pipeline.process("wallet", FakeDelivery(_command()))
    first, second = (event["body"]["event_id"] for event in sink.published)
    expected = event_id_for("1b4e28ba-2fa1-11d2-883f-0016d3cca427", "rejected", 0)
    assert first == second == str(expected)


async def test_unparseable_body_still_answered_and_acked() -> None:
    sink, delivery = MemoryEventSink(), FakeDelivery(b"\xff not json")
    await Pipeline(sink, Metrics(), clock=lambda: NOW).process("stake", delivery)
    assert delivery.outcome == "ack"
    assert sink.published[0]["body"]["command_id"] is None
    assert sink.published[0]["routing_key"] == "stake.rejected"


async def test_unconfirmed_publish_is_not_acked() -> None:
    sink = MemoryEventSink(fail_with=TransientError("broker gone"))
    delivery = FakeDelivery(_command())
    await Pipeline(sink, Metrics(), clock=lambda: NOW).process("wallet", delivery)
    assert delivery.outcome == "nack-requeue"


def test_recover_ids_ignores_junk_fields() -> None:
    ids = recover_ids(_command(command_id="not-a-uuid", idempotency_key="x" * 300, type=5))
    assert ids.command_id is None and ids.idempotency_key is None and ids.type is None
    assert ids.command_ref.startswith("body-sha256:")
    assert recover_ids(_command()).command_id == uuid.UUID("1b4e28ba-2fa1-11d2-883f-0016d3cca427")
