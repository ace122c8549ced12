"""One contract, two stores: MemoryStore (the unit-test twin) and MongoStore on FerretDB."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pymongo import AsyncMongoClient

from worker.database import ensure_indexes
from worker.leases import LeaseLost, Leases
from worker.store import MemoryStore, MongoStore

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", pytest.param("mongo", marks=pytest.mark.integration)])
async def store(request):
    if request.param == "memory":
        yield MemoryStore()
        return
    url = request.getfixturevalue("mongo_url")
    client = AsyncMongoClient(url, tz_aware=True, serverSelectionTimeoutMS=5000)
    name = f"store_{uuid.uuid4().hex[:12]}"
    await ensure_indexes(client[name])
    yield MongoStore(client[name])
    await client.drop_database(name)
    await client.close()


def _command(command_id: str, *, terminal: bool = False, at: datetime = NOW) -> dict:
    return {
        "_id": f"-:{command_id}",
        "command_id": command_id,
        "terminal": terminal,
        "terminal_at": at if terminal else None,
        "created_at": at,
        "updated_at": at,
    }


async def test_insert_decides_once_and_get_reads_back(store):
    assert await store.insert("commands", _command("c1")) is True
    assert await store.insert("commands", _command("c1")) is False
    doc = await store.get("commands", "-:c1")
    assert doc["command_id"] == "c1" and doc["created_at"] == NOW
    assert await store.get("commands", "-:nope") is None


async def test_concurrent_inserts_have_one_winner(store):
    results = await asyncio.gather(
        *(
            store.insert(
                "leases",
                {
                    "_id": "c1:1",
                    "command_id": "c1",
                    "epoch": 1,
                    "owner": f"w{i}",
                    "expires_at": NOW,
                },
            )
            for i in range(50)
        )
    )
    assert results.count(True) == 1


async def test_find_by_command_orders_numerically(store):
    for index in (10, 2, 0, 1):
        await store.insert(
            "wallets",
            {"_id": f"c1:{index}", "command_id": "c1", "index": index, "address": f"T{index}"},
        )
    await store.insert("wallets", {"_id": "c2:0", "command_id": "c2", "index": 0, "address": "X"})
    found = await store.find_by_command("wallets", "c1")
    assert [doc["index"] for doc in found] == [0, 1, 2, 10]


async def test_outbox_queries(store):
    for seq in (1, 2):
        await store.insert(
            "events",
            {
                "_id": f"e{seq}",
                "command_id": "c1",
                "seq": seq,
                "created_at": NOW + timedelta(seconds=seq),
                "published_at": None,
            },
        )
    assert await store.count_unpublished() == 2
    assert [d["_id"] for d in await store.unpublished_events(NOW + timedelta(seconds=5), 10)] == [
        "e1",
        "e2",
    ]
    assert [d["_id"] for d in await store.unpublished_events(NOW + timedelta(seconds=1.5), 10)] == [
        "e1"
    ]
    await store.set_fields("events", "e1", {"published_at": NOW})
    assert await store.count_unpublished() == 1


async def test_stale_commands_and_cleanup(store):
    await store.insert("commands", _command("old-done", terminal=True, at=NOW - timedelta(days=40)))
    await store.insert("commands", _command("new-done", terminal=True, at=NOW))
    await store.insert("commands", _command("stuck", at=NOW - timedelta(minutes=5)))
    await store.insert(
        "events",
        {
            "_id": "e-old",
            "command_id": "old-done",
            "seq": 1,
            "created_at": NOW,
            "published_at": NOW,
        },
    )
    stale = await store.stale_commands(NOW - timedelta(minutes=1), 10)
    assert [d["command_id"] for d in stale] == ["stuck"]
    assert await store.delete_terminal_before(NOW - timedelta(days=30)) == 1
    assert await store.get("commands", "-:old-done") is None
    assert await store.get("events", "e-old") is None
    assert await store.get("commands", "-:new-done") is not None


async def test_leases_take_over_only_after_expiry_and_fence_the_loser(store):
    clock = [NOW]
    a = Leases(store, owner="a", lease_s=30, clock=lambda: clock[0])
    b = Leases(store, owner="b", lease_s=30, clock=lambda: clock[0])
    command = _command("c9")
    lease_a = await a.acquire("c9", 1)
    assert lease_a is not None
    assert await b.acquire("c9", 1) is None, "epoch 1 is taken"
    assert await b.take_over(command) is None, "a's lease is live"
    clock[0] = NOW + timedelta(seconds=31)
    lease_b = await b.take_over(command)
    assert lease_b is not None and lease_b.epoch == 2
    with pytest.raises(LeaseLost):
        await a.check(lease_a)
    await b.check(lease_b)
    await b.release(lease_b)
    lease_c = await a.take_over(command)
    assert lease_c is not None and lease_c.epoch == 3, "a released lease is free at once"


async def test_command_without_any_lease_is_free_after_lease_s(store):
    clock = [NOW]
    leases = Leases(store, owner="a", lease_s=30, clock=lambda: clock[0])
    command = _command("c10")
    assert await leases.take_over(command) is None
    clock[0] = NOW + timedelta(seconds=31)
    lease = await leases.take_over(command)
    assert lease is not None and lease.epoch == 1
