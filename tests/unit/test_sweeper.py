"""worker/sweeper.py and the outbox relay over the in-memory twins."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from tests.unit.test_pipeline import NOW, World, command
from worker.errors import TransientError
from worker.leases import Leases
from worker.sweeper import Sweeper


def _sweeper(world: World, max_epochs: int = 4) -> Sweeper:
    leases = Leases(world.store, owner="sweeper", lease_s=30, clock=lambda: world.now)
    return Sweeper(
        world.store,
        leases,
        world.executor,
        world.metrics,
        lease_s=30,
        max_epochs=max_epochs,
        retention_days=30,
        clock=lambda: world.now,
    )


async def _crash_after_claim(world: World, body: bytes, at: str = "wallets") -> None:
    """The claim is stored, then the worker dies at its insert into `at`: nothing after it
    is written, not even the release of its lease (a SIGKILL releases nothing)."""
    original_insert, original_put = world.store.insert, world.store.put

    async def insert(collection, doc):
        if collection == at:
            raise TransientError("the process died here")
        return await original_insert(collection, doc)

    async def put(collection, doc):
        if collection == "leases":
            raise TransientError("the process is dead")
        return await original_put(collection, doc)

    world.store.insert, world.store.put = insert, put  # type: ignore[method-assign]
    await world.deliver(body)
    world.store.insert, world.store.put = original_insert, original_put  # type: ignore[method-assign]


async def test_sweeper_finishes_a_command_whose_worker_died() -> None:
    world = World()
    body = command()
    await _crash_after_claim(world, body)
    [doc] = world.store.collections["commands"].values()
    assert doc["terminal"] is False and "-:order-42" in world.store.collections["active"]
    sweeper = _sweeper(world)
    assert await sweeper.sweep_once() == 0, "too young: its lease may still be live"
    world.now = NOW + timedelta(seconds=31)
    assert await sweeper.sweep_once() == 1
    [doc] = world.store.collections["commands"].values()
    assert doc["terminal"] is True and doc["state"] == "completed"
    assert world.store.collections["active"] == {}, "the marker goes with the terminal state"
    assert len(world.store.collections["wallets"]) == 2
    assert world.metrics.lease_takeovers_total._value.get() == 1
    [created] = world.events.of("wallet.created")
    assert created["event"]["command_id"] == json.loads(body)["command_id"]


async def test_a_stopping_sweeper_takes_over_nothing_more_and_leaves_the_marker() -> None:
    world = World()
    await _crash_after_claim(world, command())
    world.now = NOW + timedelta(seconds=31)
    stop = asyncio.Event()
    stop.set()
    assert await _sweeper(world).sweep_once(stop=stop) == 0
    [doc] = world.store.collections["commands"].values()
    assert doc["terminal"] is False and "-:order-42" in world.store.collections["active"]
    assert await _sweeper(world).sweep_once() == 1, "the next worker finishes it"


async def test_sweeper_gives_up_after_max_epochs_with_a_failed_event() -> None:
    world = World()
    await _crash_after_claim(world, command(), at="gates")  # died before any effect
    [doc] = world.store.collections["commands"].values()
    for epoch in (2, 3, 4):  # three more workers died holding it
        await world.store.insert(
            "leases",
            {
                "_id": f"{doc['ref']}:{epoch}",
                "ref": doc["ref"],
                "epoch": epoch,
                "owner": "x",
                "expires_at": NOW,
            },
        )
    world.now = NOW + timedelta(seconds=31)
    assert await _sweeper(world, max_epochs=4).sweep_once() == 0
    [failed] = world.events.of("wallet.failed")
    assert failed["event"]["payload"]["code"] == "RETRIES_EXHAUSTED"
    [doc] = world.store.collections["commands"].values()
    assert doc["state"] == "failed" and doc["terminal"] is True


async def test_relay_publishes_what_the_fast_path_could_not() -> None:
    world = World()
    world.events.fail = True
    delivery = await world.deliver(command())
    assert delivery.outcome == "ack", "deferred to a retry tier, the original acked"
    assert len(world.store.collections["outbox"]) == 1, "stored, not yet confirmed"
    world.events.fail = False
    world.now = NOW + timedelta(seconds=5)
    assert await world.outbox.flush_pending() == 1
    assert world.store.collections["outbox"] == {}
    [created] = world.events.of("wallet.created")
    assert created["message_id"] in world.store.collections["events"]


async def test_cleanup_deletes_old_terminal_commands_but_keeps_wallets() -> None:
    world = World()
    await world.deliver(command())
    sweeper = _sweeper(world)
    world.now = NOW + timedelta(days=29)
    assert await sweeper.cleanup_once() == 0, "inside retention"
    world.now = NOW + timedelta(days=31)
    assert await sweeper.cleanup_once() == 1
    for collection in ("commands", "events", "leases", "gates", "outbox", "active"):
        assert world.store.collections[collection] == {}, collection
    assert len(world.store.collections["wallets"]) == 2, "wallets are what it made"
