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


async def test_marker_scan_count_and_delete(store):
    for key in ("b", "a", "c"):
        await store.insert("active", {"_id": key, "created_at": NOW})
    assert [doc["_id"] for doc in await store.scan("active", 2)] == ["a", "b"]
    assert await store.count("active") == 3
    await store.delete("active", "b")
    await store.delete("active", "missing")  # deleting nothing is fine
    assert [doc["_id"] for doc in await store.scan("active", 10)] == ["a", "c"]


async def test_set_fields_and_lookups_by_command_id_and_age(store):
    await store.insert("commands", _command("old-done", terminal=True, at=NOW - timedelta(days=40)))
    await store.insert("commands", _command("new-done", terminal=True, at=NOW))
    await store.insert("commands", _command("running"))
    await store.set_fields("commands", "-:running", {"state": "signed", "events": ["e1"]})
    running = await store.command_by_id("running")
    assert running["state"] == "signed" and running["events"] == ["e1"]
    assert await store.command_by_id("nope") is None
    old = await store.terminal_before(NOW - timedelta(days=30), 10)
    assert [doc["command_id"] for doc in old] == ["old-done"]


async def test_leases_take_over_only_after_expiry_and_fence_the_loser(store):
    clock = [NOW]
    a = Leases(store, owner="a", lease_s=30, clock=lambda: clock[0])
    b = Leases(store, owner="b", lease_s=30, clock=lambda: clock[0])
    command = _command("c9")
    lease_a = await a.acquire("c9", 1)
    assert lease_a is not None
    assert await b.acquire("c9", 1) is None, "epoch 1 is taken"
    assert await b.take_over(command) is None, "a's lease is live"
    assert (await b.latest("c9"))["owner"] == "a"
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
