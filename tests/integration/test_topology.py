"""The broker topology on the real RabbitMQ: declared as specified, and it routes as designed."""

from __future__ import annotations

import json

import aio_pika
import pytest
from aio_pika.exceptions import ChannelPreconditionFailed

from tests.support import next_message, queue_depth
from worker.broker import Broker, declare_topology
from worker.settings import load_settings
from worker.topology import build_topology

pytestmark = pytest.mark.integration


def _topology(namespace: str, **env: str):
    return build_topology(
        load_settings(environ={"TRON_WORKER_AMQP__NAMESPACE": namespace, **env}).amqp
    )


async def test_redeclaring_same_args_succeeds_and_different_args_fail_406(amqp, namespace):
    topology = _topology(namespace)
    channel = await amqp.channel()
    await declare_topology(channel, topology)
    await declare_topology(channel, topology)  # idempotent as a whole
    assert len(topology.queues) == 4 + 4 + 4 * 3 + 1
    for spec in topology.queues:
        queue = await channel.declare_queue(spec.name, durable=True, arguments=spec.arguments)
        assert queue.declaration_result.message_count == 0
        changed = {**spec.arguments, "x-max-length": 7}
        failing = await amqp.channel()
        with pytest.raises(ChannelPreconditionFailed) as caught:
            await failing.declare_queue(spec.name, durable=True, arguments=changed)
        assert "PRECONDITION_FAILED" in str(caught.value) or "406" in str(caught.value)
    failing = await amqp.channel()
    with pytest.raises(ChannelPreconditionFailed):
        await failing.declare_exchange(topology.events.name, "topic", durable=True)


async def test_commands_route_to_family_queue_and_dead_letter_on_reject(amqp, namespace):
    topology = _topology(namespace)
    channel = await amqp.channel()
    await declare_topology(channel, topology)
    commands = await channel.get_exchange(topology.commands.name)
    await commands.publish(aio_pika.Message(b'{"n": 1}'), routing_key="command.stake.freeze")
    work = await channel.get_queue(f"{namespace}.stake")
    message = await next_message(work)
    assert message.body == b'{"n": 1}'
    await message.reject(requeue=False)
    dead = await next_message(await channel.get_queue(f"{namespace}.stake.dead"))
    assert dead.body == b'{"n": 1}'
    assert dead.headers["x-death"][0]["reason"] == "rejected"
    await dead.ack()
    assert await queue_depth(amqp, f"{namespace}.wallet") == 0, "other families do not see it"


async def test_retry_tier_dead_letters_back_to_the_work_queue(amqp, namespace):
    topology = _topology(namespace, TRON_WORKER_AMQP__RETRY_DELAYS_S="[1]")
    channel = await amqp.channel()
    await declare_topology(channel, topology)
    [(delay_s, retry_queue)] = topology.retry_queues["payout"]
    assert delay_s == 1
    await channel.default_exchange.publish(aio_pika.Message(b"again"), routing_key=retry_queue)
    back = await next_message(await channel.get_queue(f"{namespace}.payout"), timeout_s=15)
    assert back.body == b"again"
    assert back.headers["x-death"][0]["reason"] == "expired"
    await back.ack()


async def test_unrouted_events_go_to_the_alternate_exchange(amqp, namespace, settings):
    amqp_settings = load_settings(environ={"TRON_WORKER_AMQP__NAMESPACE": namespace}).amqp
    broker = Broker(amqp_settings, build_topology(amqp_settings), connection_name="test")
    await broker.connect()
    try:
        assert broker.is_open()
        body = json.dumps({"event_id": "e-1"}).encode()
        await broker.publish_event("wallet.rejected", body, message_id="e-1", correlation_id="c-1")
        channel = await amqp.channel()
        parked = await next_message(await channel.get_queue(f"{namespace}.events.unrouted"))
        assert parked.body == body
        assert parked.routing_key == "wallet.rejected"
        assert parked.message_id == "e-1"
        await parked.ack()
    finally:
        await broker.close()
    assert not broker.is_open()
