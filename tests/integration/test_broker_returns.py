"""Unroutable publishes on the real RabbitMQ: a `basic.return` is a failure, never a confirm.

The callers ack the original delivery once `send_copy` returns, so a copy the broker could
not route (a retry tier or `.dead` queue that is missing) must raise, or the command is lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.support import next_message, queue_depth
from worker.broker import Broker
from worker.errors import TransientError
from worker.settings import load_settings
from worker.topology import build_topology

pytestmark = pytest.mark.integration


@dataclass
class FakeDelivery:
    """The part of an incoming message `send_copy` reads."""

    body: bytes = b'{"command_id": "c-1"}'
    headers: dict[str, Any] = field(default_factory=lambda: {"x-key-id": "k-1"})
    message_id: str | None = "m-1"
    correlation_id: str | None = "corr-1"
    content_type: str | None = "application/json"
    routing_key: str | None = "command.payout.create"

    async def ack(self) -> None:
        raise AssertionError("send_copy never acks")

    async def nack(self, *, requeue: bool = True) -> None:
        raise AssertionError("send_copy never nacks")


@pytest.fixture
async def broker(amqp, namespace: str) -> AsyncIterator[Broker]:  # type: ignore[no-untyped-def]
    # Depends on `amqp` so the namespace is deleted after the broker has closed.
    settings = load_settings(environ={"TRON_WORKER_AMQP__NAMESPACE": namespace}).amqp
    connected = Broker(settings, build_topology(settings), connection_name="test-returns")
    await connected.connect()
    try:
        yield connected
    finally:
        await connected.close()


async def _delete_queue(amqp, name: str) -> None:  # type: ignore[no-untyped-def]
    channel = await amqp.channel()
    await channel.queue_delete(name)
    await channel.close()


async def test_copy_to_a_missing_retry_tier_is_unroutable(broker: Broker, amqp) -> None:  # type: ignore[no-untyped-def]
    [(_, missing), *_] = broker.topology.retry_queues["payout"]
    await _delete_queue(amqp, missing)
    with pytest.raises(TransientError, match="unroutable") as caught:
        await broker.send_copy(FakeDelivery(), exchange="", routing_key=missing, headers={})
    assert missing in str(caught.value)
    assert broker.is_open(), "a return does not close the publishing channel"


async def test_copy_to_a_missing_dead_letter_queue_is_unroutable(broker: Broker, amqp) -> None:  # type: ignore[no-untyped-def]
    dead = f"{broker.topology.work_queues['payout'].name}.dead"
    await _delete_queue(amqp, dead)
    with pytest.raises(TransientError, match="unroutable") as caught:
        await broker.send_copy(
            FakeDelivery(),
            exchange=broker.topology.dead_letters.name,
            routing_key=dead,
            headers={"x-dead-letter-reason": "poison"},
        )
    assert dead in str(caught.value)
    assert broker.is_open()


async def test_copies_to_existing_queues_are_confirmed_and_arrive(broker: Broker, amqp) -> None:  # type: ignore[no-untyped-def]
    # The longest tier: the copy must not expire back to the work queue while we look.
    *_, (_, tier) = broker.topology.retry_queues["payout"]
    dead = f"{broker.topology.work_queues['payout'].name}.dead"
    delivery = FakeDelivery()
    await broker.send_copy(delivery, exchange="", routing_key=tier, headers={"x-attempt": 2})
    await broker.send_copy(
        delivery,
        exchange=broker.topology.dead_letters.name,
        routing_key=dead,
        headers={"x-dead-letter-reason": "poison"},
    )
    channel = await amqp.channel()
    retried = await next_message(await channel.get_queue(tier))
    assert (retried.body, retried.message_id, retried.correlation_id) == (
        delivery.body,
        "m-1",
        "corr-1",
    )
    assert retried.headers["x-attempt"] == 2 and retried.headers["x-key-id"] == "k-1"
    parked = await next_message(await channel.get_queue(dead))
    assert parked.body == delivery.body
    assert parked.headers["x-dead-letter-reason"] == "poison"


async def test_concurrent_copies_with_one_message_id_each_get_their_own_outcome(
    broker: Broker, amqp
) -> None:  # type: ignore[no-untyped-def]
    # aiormq matches a return to its publish by message_id; two copies of one command
    # (a duplicate delivery) in flight at once must not swap outcomes.
    [(_, missing), *_, (_, tier)] = broker.topology.retry_queues["payout"]
    await _delete_queue(amqp, missing)
    lost, kept = await asyncio.gather(
        broker.send_copy(FakeDelivery(), exchange="", routing_key=missing, headers={}),
        broker.send_copy(FakeDelivery(), exchange="", routing_key=tier, headers={}),
        return_exceptions=True,
    )
    assert isinstance(lost, TransientError) and "unroutable" in str(lost), lost
    assert kept is None, kept
    assert await queue_depth(amqp, tier) == 1


async def test_an_event_nobody_listens_to_is_parked_not_returned(
    broker: Broker, amqp, namespace: str
) -> None:  # type: ignore[no-untyped-def]
    await broker.publish_event(
        "stake.confirmed", b'{"event_id": "e-1"}', message_id="e-1", correlation_id="c-1"
    )
    channel = await amqp.channel()
    parked = await next_message(await channel.get_queue(f"{namespace}.events.unrouted"))
    assert parked.routing_key == "stake.confirmed"
    assert parked.message_id == "e-1"


async def test_an_event_without_its_alternate_exchange_is_unroutable(
    broker: Broker, amqp, namespace: str
) -> None:  # type: ignore[no-untyped-def]
    # Events are acked-after-publish too (the outbox marks them sent): a return must raise.
    channel = await amqp.channel()
    await channel.exchange_delete(f"{namespace}.events.unrouted")
    await channel.close()
    with pytest.raises(TransientError, match="unroutable"):
        await broker.publish_event(
            "stake.confirmed", b'{"event_id": "e-2"}', message_id="e-2", correlation_id="c-2"
        )
