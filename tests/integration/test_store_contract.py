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
        "ref": command_id,
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
    assert len(doc["nonce"]) == 32, "every insert names its writer"
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


async def test_marker_scan_pages_count_and_delete(store):
    for key in ("b", "a", "c"):
        await store.insert("active", {"_id": key, "created_at": NOW})
    assert [doc["_id"] for doc in await store.scan("active", 2)] == ["a", "b"]
    assert [doc["_id"] for doc in await store.scan("active", 2, after="b")] == ["c"]
    assert await store.count("active") == 3
    await store.delete("active", "b")
    await store.delete("active", "missing")  # deleting nothing is fine
    assert [doc["_id"] for doc in await store.scan("active", 10)] == ["a", "c"]


async def test_set_fields_put_and_lookup_by_age(store):
    await store.insert("commands", _command("old-done", terminal=True, at=NOW - timedelta(days=40)))
    await store.insert("commands", _command("new-done", terminal=True, at=NOW))
    await store.insert("commands", _command("running"))
    await store.set_fields("commands", "-:running", {"state": "signed", "events": ["e1"]})
    running = await store.get("commands", "-:running")
    assert running["state"] == "signed" and running["events"] == ["e1"]
    old = await store.terminal_before(NOW - timedelta(days=30), 10)
    assert [doc["command_id"] for doc in old] == ["old-done"]
    await store.put("leases", {"_id": "x:1", "expires_at": NOW})  # inserts
    await store.put("leases", {"_id": "x:1", "expires_at": NOW + timedelta(seconds=1)})
    assert (await store.get("leases", "x:1"))["expires_at"] == NOW + timedelta(seconds=1)


async def test_leases_take_over_only_after_expiry_and_fence_the_loser(store):
    clock = [NOW]
    a = Leases(store, owner="a", lease_s=30, clock=lambda: clock[0])
    b = Leases(store, owner="b", lease_s=30, clock=lambda: clock[0])
    command = _command("c9")
    lease_a = a.of_claim("c9")  # the claim is epoch 1
    assert await b.take_over(command) is None, "a's lease is live"
    clock[0] = NOW + timedelta(seconds=20)
    await a.renew(lease_a)
    assert (await b.latest("c9"))["owner"] == "a"
    clock[0] = NOW + timedelta(seconds=31)
    assert await b.take_over(command) is None, "renewed: live until 50 s"
    clock[0] = NOW + timedelta(seconds=51)
    lease_b = await b.take_over(command)
    assert lease_b is not None and lease_b.epoch == 2
    assert await a.take_over(command) is None, "epoch 2 is live"
    with pytest.raises(LeaseLost):
        await a.check(lease_a)
    await a.renew(lease_a)  # a stale renewal changes nothing
    assert (await b.latest("c9"))["owner"] == "b"
    await b.check(lease_b)
    await b.release(lease_b)
    lease_c = await a.take_over(command)
    assert lease_c is not None and lease_c.epoch == 3, "a released lease is free at once"


async def test_a_claim_never_renewed_is_free_after_lease_s(store):
    clock = [NOW]
    leases = Leases(store, owner="a", lease_s=30, clock=lambda: clock[0])
    command = _command("c10")
    assert await leases.take_over(command) is None
    clock[0] = NOW + timedelta(seconds=31)
    lease = await leases.take_over(command)
    assert lease is not None and lease.epoch == 2


async def test_gates_decide_once_between_open_and_void(store):
    from worker.records import Gates

    gates = Gates(store, lambda: NOW)
    assert await gates.open("g1", 1) is True
    assert await gates.void("g1", 2) is False, "opened first: cannot be given up"
    assert await gates.open("g1", 2) is True, "a redo finds it open"
    assert await gates.void("g2", 1) is True
    assert await gates.open("g2", 2) is False, "voided first: no effect may start"
    results = await asyncio.gather(
        *(gates.open("g3", 1) if i % 2 else gates.void("g3", 1) for i in range(20))
    )
    assert len(set(results[1::2])) == 1 and results[1::2][0] != results[0::2][0]
