"""The database round trips of a happy command, counted over a store twin so they cannot creep
back: FerretDB is this worker's throughput limit, and each call is a round trip."""

from __future__ import annotations

from typing import Any

from tests.unit.test_pipeline import World, command
from worker.store import MemoryStore


class CountingStore(MemoryStore):
    """MemoryStore that records every call as (method, collection)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str]] = []

    def __getattribute__(self, name: str) -> Any:
        attribute = super().__getattribute__(name)
        if name in {"insert", "get", "set_fields", "put", "delete", "scan", "count"}:
            calls = super().__getattribute__("calls")

            async def counted(collection: str, *args: Any, **kwargs: Any) -> Any:
                calls.append((name, collection))
                return await attribute(collection, *args, **kwargs)

            return counted
        return attribute


async def test_a_happy_wallet_create_makes_at_most_ten_database_calls() -> None:
    # Issue 7 took it from 20 to 9; issue 8 added the address lookup record. Before: 20
    # (get command, insert marker, insert command, insert lease, fence read,
    # wallet read, fence read, insert wallet, wallet read, fence read, insert event,
    # insert outbox marker, set events list, fence read, set terminal, delete marker,
    # get event, get outbox, set published, delete outbox).
    store = CountingStore()
    world = World(store=store)
    delivery = await world.deliver(command(payload={"count": 1, "purpose": "deposit"}))
    assert delivery.outcome == "ack"
    assert len(world.events.of("wallet.created")) == 1
    assert store.calls == [
        ("insert", "commands"),  # the claim, which is lease epoch 1
        ("insert", "gates"),  # effects may follow (a give-up cannot fail it any more)
        ("get", "leases"),  # fence before the wallet
        ("insert", "wallets"),
        ("insert", "addresses"),  # which wallet an address is, for transfers (by _id)
        ("get", "leases"),  # fence before the event
        ("insert", "outbox"),
        ("insert", "events"),
        ("set_fields", "commands"),  # state, terminal and event ids, once
        ("delete", "outbox"),  # after the broker's confirm
    ]
    assert len(store.calls) <= 10


async def test_a_duplicate_of_a_finished_command_reads_and_republishes_only() -> None:
    store = CountingStore()
    world = World(store=store)
    body = command(payload={"count": 1, "purpose": "deposit"})
    await world.deliver(body)
    store.calls.clear()
    await world.deliver(body)
    assert store.calls == [
        ("insert", "commands"),
        ("get", "commands"),
        ("get", "events"),
        ("delete", "outbox"),
    ]
