"""worker/topology.py: the names and arguments DESIGN.md specifies."""

from __future__ import annotations

from worker.settings import load_settings
from worker.topology import build_topology


def _topology():
    return build_topology(load_settings(environ={}).amqp)


def test_exchanges_and_alternate_exchange() -> None:
    topology = _topology()
    assert (topology.commands.name, topology.commands.type) == ("tron.commands", "topic")
    assert (topology.events.name, topology.events.type) == ("tron.events", "topic")
    assert topology.events.arguments == {"alternate-exchange": "tron.events.unrouted"}
    assert topology.dead_letters.name == "tron.dlx"
    names = [exchange.name for exchange in topology.exchanges]
    assert names.index("tron.events.unrouted") < names.index("tron.events")


def test_one_quorum_work_queue_per_family_with_dead_lettering() -> None:
    topology = _topology()
    assert set(topology.work_queues) == {"wallet", "transfer", "payout", "stake"}
    payout = topology.work_queues["payout"]
    assert payout.name == "tron.payout"
    assert payout.bindings == (("tron.commands", "command.payout.*"),)
    assert payout.arguments == {
        "x-queue-type": "quorum",
        "x-delivery-limit": 10,
        "x-dead-letter-exchange": "tron.dlx",
        "x-dead-letter-routing-key": "tron.payout.dead",
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


def test_dead_and_retry_queues() -> None:
    topology = _topology()
    by_name = {queue.name: queue for queue in topology.queues}
    assert by_name["tron.stake.dead"].bindings == (("tron.dlx", "tron.stake.dead"),)
    assert topology.retry_queues["stake"] == (
        (5, "tron.stake.retry.5s"),
        (30, "tron.stake.retry.30s"),
        (300, "tron.stake.retry.300s"),
    )
    retry = by_name["tron.stake.retry.30s"].arguments
    assert retry["x-message-ttl"] == 30_000
    assert retry["x-dead-letter-exchange"] == ""
    assert retry["x-dead-letter-routing-key"] == "tron.stake"
    assert by_name["tron.events.unrouted"].bindings == (("tron.events.unrouted", ""),)


def test_namespace_prefixes_every_name() -> None:
    settings = load_settings(environ={"TRON_WORKER_AMQP__NAMESPACE": "t-1"})
    topology = build_topology(settings.amqp)
    names = [e.name for e in topology.exchanges] + [q.name for q in topology.queues]
    assert all(name.startswith("t-1.") for name in names)
