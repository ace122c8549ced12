"""The database operations the store relies on, pinned against FerretDB v1.24.2 (SQLite).

Locally the database is FerretDB v1.24.2 with the SQLite backend; production is
MongoDB. Each test pins one behaviour through PyMongo's async client; where
FerretDB differs, the test asserts what FerretDB does (and MongoDB's documented
behaviour on the other branch), so an upgrade that changes it is noticed.

Holds on both: unique `_id` and unique secondary indexes raise
DuplicateKeyError 11000, also under 200 concurrent inserts (exactly one wins and
its document is the one stored); unordered `insert_many` inserts the rest and
lists the duplicate in BulkWriteError; `$setOnInsert`/`$inc` upserts; int64
amounts above 2**53 stored, compared, sorted and incremented exactly;
tz-aware datetime range queries sorted both ways; `{field: None}` matches a
missing field; `w="majority", j=True` is accepted.

FerretDB gaps found (v1.24.2, SQLite backend):

1. Updates are read, modify, write-whole-document with no isolation between
   concurrent writers (as DESIGN.md says), measured on a 2-CPU machine:
   - 200 concurrent `$inc: 1` on one document end at 1..51 (about 80 rounds),
     never 200, while every call reports `modified_count == 1`. Counters must
     be inserts.
   - 200 concurrent conditional claims (`find_one_and_update` from `free` to
     `taken`): in one round 1 to 40 callers each got back the document naming
     *itself* as owner (30 warm rounds: 1 winner twice, 2-6 mostly, up to 40);
     the stored document names the last writer only and `epoch` is 1 (the other
     increments are lost). The first round, on a cold pool, has always had one
     winner, and so did every round of some runs with the client pinned to one
     CPU: not deterministic, so that test asserts only stable properties and
     prints the figures.
   - 200 concurrent upserts of one missing `_id`: one inserts, a few others
     (0 to 7 seen) raise DuplicateKeyError (MongoDB retries those itself), and
     increments are lost.
   Hence every racing decision is an insert under a unique `_id`.
2. TTL (`expireAfterSeconds`) and partial (`partialFilterExpression`) indexes
   are rejected with code 238 NotImplemented: expiry is a cleanup task.
3. `createIndexes` naming two or more indexes that already exist panics in the
   server (validateIndexesForCreation deletes from a shrinking slice by the
   original position): the connection is dropped and PyMongo raises
   AutoReconnect. With two existing indexes ahead of two new ones it reports all
   four created but silently skips the first new one, even a unique one. Create
   one index per call: that is idempotent.
4. A unique index accepts any number of documents whose key is missing or null;
   MongoDB rejects the second. Always set unique fields.
5. DuplicateKeyError carries no `keyPattern`/`keyValue` and its message does not
   name the index: tell an `_id` clash from another by reading the `_id` back.
6. Write concern is accepted and ignored.
7. Stock v1.24.2 never uses its own `_id` index (the filter's path expression
   differs from the index's), so every `_id` lookup scans; the stack's build
   patches that (scripts/stack.py, FERRETDB_PATCH). `explain` shows the SQLite
   plan for find, but for update and delete it ignores the statements' `q`
   and explains a filterless SELECT of the whole collection.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, ConnectionFailure, DuplicateKeyError, OperationFailure
from pymongo.results import UpdateResult
from pymongo.write_concern import WriteConcern

from worker.database import INDEXES
from worker.settings import Settings

pytestmark = pytest.mark.integration

RACERS = 200
ROUNDS = 5
BIG_SUN = 2**62 + 1  # not representable as a double: a float anywhere would change it


@pytest.fixture
async def client(mongo_url: str, settings: Settings) -> AsyncIterator[AsyncMongoClient]:
    """The production client options (tz-aware, majority + journal), with room for 200 racers."""
    options: dict[str, Any] = {}
    if settings.mongo.password is not None:
        options["password"] = settings.mongo.password.get_secret_value()
    client: AsyncMongoClient = AsyncMongoClient(
        mongo_url,
        **options,
        w="majority",
        journal=True,
        tz_aware=True,
        maxPoolSize=RACERS,
        serverSelectionTimeoutMS=5000,
        appname="database-contract-test",
    )
    yield client
    await client.close()


@pytest.fixture
async def db(client: AsyncMongoClient) -> AsyncIterator[AsyncDatabase]:
    """A database of the test's own, dropped afterwards."""
    database = client[f"contract_{uuid.uuid4().hex}"]
    yield database
    await client.drop_database(database.name)


@pytest.fixture
async def is_ferretdb(client: AsyncMongoClient) -> bool:
    return "ferretdbVersion" in await client.admin.command("buildInfo")


async def race(calls: Sequence[Awaitable[Any]]) -> list[Any]:
    """Run all calls at once; results (or raised exceptions) in call order."""
    return await asyncio.gather(*calls, return_exceptions=True)


def unexpected(results: list[Any], *allowed: type[BaseException]) -> list[BaseException]:
    return [r for r in results if isinstance(r, BaseException) and not isinstance(r, allowed)]


# --- uniqueness: the claim every racing decision rests on ---------------------------------


async def test_second_insert_of_an_id_raises_duplicate_key(db: AsyncDatabase) -> None:
    await db.commands.insert_one({"_id": "scope:key", "n": 1})
    with pytest.raises(DuplicateKeyError) as caught:
        await db.commands.insert_one({"_id": "scope:key", "n": 2})
    assert caught.value.code == 11000
    assert await db.commands.find_one({"_id": "scope:key"}) == {"_id": "scope:key", "n": 1}


async def test_unique_secondary_index_raises_duplicate_key(db: AsyncDatabase) -> None:
    await db.wallets.create_index("address", unique=True)
    await db.wallets.insert_one({"_id": "w:0", "address": "TA"})
    with pytest.raises(DuplicateKeyError) as caught:
        await db.wallets.insert_one({"_id": "w:1", "address": "TA"})
    assert caught.value.code == 11000
    assert await db.wallets.count_documents({}) == 1


async def test_unordered_insert_many_inserts_the_rest_and_lists_the_duplicate(
    db: AsyncDatabase,
) -> None:
    await db.wallets.create_index("address", unique=True)
    await db.wallets.insert_one({"_id": "w:0", "address": "TA"})
    batch = [
        {"_id": "w:1", "address": "TB"},
        {"_id": "w:2", "address": "TA"},
        {"_id": "w:3", "address": "TC"},
    ]
    with pytest.raises(BulkWriteError) as caught:
        await db.wallets.insert_many(batch, ordered=False)
    details = caught.value.details
    assert [(e["index"], e["code"]) for e in details["writeErrors"]] == [(1, 11000)]
    assert details["nInserted"] == 2
    stored = sorted([d["_id"] async for d in db.wallets.find({})])
    assert stored == ["w:0", "w:1", "w:3"]


async def test_duplicate_key_error_does_not_say_which_index(
    db: AsyncDatabase, is_ferretdb: bool
) -> None:
    """The store must not parse the error to tell an `_id` clash from an address clash."""
    await db.wallets.create_index("address", unique=True)
    await db.wallets.insert_one({"_id": "w:0", "address": "TA"})
    with pytest.raises(DuplicateKeyError) as caught:
        await db.wallets.insert_one({"_id": "w:1", "address": "TA"})
    details = caught.value.details or {}
    if is_ferretdb:
        assert "keyPattern" not in details and "keyValue" not in details
        assert "address" not in str(details.get("errmsg"))
    else:
        assert details["keyPattern"] == {"address": 1}


async def test_unique_index_and_missing_or_null_keys(db: AsyncDatabase, is_ferretdb: bool) -> None:
    """FerretDB lets many documents lack a unique field; MongoDB indexes them all as null."""
    await db.tx_attempts.create_index("txid", unique=True)
    await db.tx_attempts.insert_one({"_id": "c:1"})
    if is_ferretdb:
        await db.tx_attempts.insert_one({"_id": "c:2"})
        await db.tx_attempts.insert_one({"_id": "c:3", "txid": None})
        assert await db.tx_attempts.count_documents({}) == 3
    else:
        with pytest.raises(DuplicateKeyError):
            await db.tx_attempts.insert_one({"_id": "c:2"})


async def test_concurrent_inserts_of_one_id_have_exactly_one_winner(db: AsyncDatabase) -> None:
    for round_no in range(3):
        collection = db[f"claims_{round_no}"]
        started = time.perf_counter()
        results = await race(
            [collection.insert_one({"_id": "k", "racer": i}) for i in range(RACERS)]
        )
        elapsed = time.perf_counter() - started
        assert unexpected(results, DuplicateKeyError) == []
        winners = [i for i, r in enumerate(results) if not isinstance(r, BaseException)]
        assert len(winners) == 1
        assert all(r.code == 11000 for r in results if isinstance(r, DuplicateKeyError))
        assert await collection.count_documents({}) == 1
        assert await collection.find_one({}) == {"_id": "k", "racer": winners[0]}
        print(f"insert race {round_no + 1}: winner racer {winners[0]}, {elapsed:.2f}s")


async def test_concurrent_inserts_under_a_unique_address_have_one_winner(
    db: AsyncDatabase,
) -> None:
    await db.wallets.create_index("address", unique=True)
    results = await race(
        [db.wallets.insert_one({"_id": f"w:{i}", "address": "TA"}) for i in range(RACERS)]
    )
    assert unexpected(results, DuplicateKeyError) == []
    winners = [i for i, r in enumerate(results) if not isinstance(r, BaseException)]
    assert len(winners) == 1
    assert [d["_id"] async for d in db.wallets.find({})] == [f"w:{winners[0]}"]


# --- updates and upserts ----------------------------------------------------------------


async def test_find_one_and_update_matching_nothing_returns_none(db: AsyncDatabase) -> None:
    await db.commands.insert_one({"_id": "c", "state": "taken"})
    variants: list[dict[str, Any]] = [{}, {"upsert": False}]
    for options in variants:
        found = await db.commands.find_one_and_update(
            {"_id": "c", "state": "free"},
            {"$set": {"state": "taken", "owner": 1}},
            return_document=ReturnDocument.AFTER,
            **options,
        )
        assert found is None
    missing = await db.commands.find_one_and_update({"_id": "absent"}, {"$set": {"a": 1}})
    assert missing is None
    assert [d async for d in db.commands.find({})] == [{"_id": "c", "state": "taken"}]


async def test_upsert_inserts_then_updates_without_touching_set_on_insert(
    db: AsyncDatabase,
) -> None:
    def update(step: int) -> dict[str, Any]:
        return {
            "$set": {"state": f"step-{step}"},
            "$inc": {"count": 1, "total_sun": 5},
            "$setOnInsert": {"created_by": step},
        }

    first = await db.counters.update_one({"_id": "k"}, update(1), upsert=True)
    assert first.upserted_id == "k" and first.matched_count == 0
    assert await db.counters.find_one({"_id": "k"}) == {
        "_id": "k",
        "state": "step-1",
        "count": 1,
        "total_sun": 5,
        "created_by": 1,
    }
    second = await db.counters.update_one({"_id": "k"}, update(2), upsert=True)
    assert second.upserted_id is None and second.matched_count == 1
    assert second.modified_count == 1
    assert await db.counters.find_one({"_id": "k"}) == {
        "_id": "k",
        "state": "step-2",
        "count": 2,
        "total_sun": 10,
        "created_by": 1,
    }


async def test_find_one_and_update_upsert_returns_the_new_document(db: AsyncDatabase) -> None:
    after = await db.leases.find_one_and_update(
        {"_id": "c:1"},
        {"$set": {"owner": "a"}, "$inc": {"renewals": 1}, "$setOnInsert": {"epoch": 1}},
        upsert=True,
        return_document=ReturnDocument.AFTER,
    )
    assert after == {"_id": "c:1", "owner": "a", "renewals": 1, "epoch": 1}
    before = await db.leases.find_one_and_update(
        {"_id": "c:2"}, {"$set": {"owner": "b"}}, upsert=True
    )
    assert before is None
    assert await db.leases.find_one({"_id": "c:2"}) == {"_id": "c:2", "owner": "b"}


async def test_int64_amounts_are_exact(db: AsyncDatabase) -> None:
    """Amounts in sun above 2**53 survive storage, $inc, equality, ranges and sorting."""
    near = [BIG_SUN - 1, BIG_SUN, BIG_SUN + 1, 2**63 - 1, 5]  # the first three share a double
    await db.amounts.insert_many([{"_id": i, "sun": v} for i, v in enumerate(near)])
    stored = {d["_id"]: d["sun"] async for d in db.amounts.find({})}
    assert stored == dict(enumerate(near))
    assert all(isinstance(v, int) and not isinstance(v, bool) for v in stored.values())
    assert [d["_id"] async for d in db.amounts.find({"sun": BIG_SUN})] == [1]
    in_range = db.amounts.find({"sun": {"$gt": BIG_SUN - 1, "$lt": 2**63 - 1}}).sort("sun", 1)
    assert [d["_id"] async for d in in_range] == [1, 2]
    descending = db.amounts.find({}).sort("sun", DESCENDING)
    assert [d["_id"] async for d in descending] == [3, 2, 1, 0, 4]
    await db.amounts.update_one({"_id": 1}, {"$inc": {"sun": 1}})
    assert await db.amounts.find_one({"_id": 1}) == {"_id": 1, "sun": BIG_SUN + 1}


# --- queries ----------------------------------------------------------------------------


async def test_datetime_range_queries_sorted_both_ways(db: AsyncDatabase) -> None:
    await db.events.create_index("at")
    base = datetime(2025, 1, 1, tzinfo=UTC)
    docs = [{"_id": i, "at": base + timedelta(minutes=i, microseconds=7001)} for i in range(20)]
    plus_two = timezone(timedelta(hours=2))
    docs.append({"_id": 99, "at": datetime(2025, 1, 1, 2, 30, tzinfo=plus_two)})  # 00:30 UTC
    await db.events.insert_many(docs)

    window = {"at": {"$gte": base + timedelta(minutes=5), "$lt": base + timedelta(minutes=15)}}
    ascending = [d async for d in db.events.find(window).sort("at", ASCENDING).limit(3)]
    descending = [d async for d in db.events.find(window).sort("at", DESCENDING).limit(3)]
    assert [d["_id"] for d in ascending] == [5, 6, 7]
    assert [d["_id"] for d in descending] == [14, 13, 12]
    assert await db.events.count_documents(window) == 10

    at = ascending[0]["at"]
    assert at.tzinfo is not None and at.utcoffset() == timedelta(0)
    # BSON dates hold milliseconds: the extra microsecond is gone
    assert at == base + timedelta(minutes=5, milliseconds=7)
    shifted = await db.events.find_one({"_id": 99})
    assert shifted is not None and shifted["at"] == base + timedelta(minutes=30)
    assert shifted["at"].utcoffset() == timedelta(0)


async def test_none_matches_a_missing_field(db: AsyncDatabase) -> None:
    """The relay finds unpublished events as `published_at: None`, oldest first."""
    now = datetime.now(UTC)
    await db.events.insert_many(
        [
            {"_id": "late", "occurred_at": now + timedelta(seconds=1)},
            {"_id": "null", "occurred_at": now, "published_at": None},
            {"_id": "done", "occurred_at": now, "published_at": now},
        ]
    )
    pending = db.events.find({"published_at": None}).sort("occurred_at", ASCENDING)
    assert [d["_id"] async for d in pending] == ["null", "late"]


async def test_majority_journaled_write_concern_is_accepted(db: AsyncDatabase) -> None:
    strict = db.get_collection("events", write_concern=WriteConcern("majority", j=True))
    result = await strict.insert_one({"_id": "e"})
    assert result.acknowledged and result.inserted_id == "e"
    with pytest.raises(DuplicateKeyError):
        await strict.insert_one({"_id": "e"})


# --- concurrent updates: what FerretDB does not guarantee --------------------------------


async def test_concurrent_conditional_claims(db: AsyncDatabase, is_ferretdb: bool) -> None:
    """200 racing `free -> taken` claims on one document: on FerretDB more than one may win.

    Observed on FerretDB: 1 to 40 callers per round got back a document naming
    themselves as owner; always one on a cold pool, often one with the client
    on a single CPU. That count is not reproducible, so only stable properties
    are asserted: at least one winner, each winner was told it owns the
    document, and the stored document names one of them with `epoch` 1.
    MongoDB: exactly one winner.
    """
    figures = []
    for round_no in range(ROUNDS):
        claims = db[f"claims_{round_no}"]
        await claims.insert_one({"_id": "c", "state": "free", "epoch": 0})
        started = time.perf_counter()
        results = await race(
            [
                claims.find_one_and_update(
                    {"_id": "c", "state": "free"},
                    {"$set": {"state": "taken", "owner": i}, "$inc": {"epoch": 1}},
                    return_document=ReturnDocument.AFTER,
                )
                for i in range(RACERS)
            ]
        )
        elapsed = time.perf_counter() - started
        assert unexpected(results) == []
        winners = {i: doc for i, doc in enumerate(results) if doc is not None}
        assert len(winners) >= 1
        for i, doc in winners.items():
            assert doc == {"_id": "c", "state": "taken", "owner": i, "epoch": 1}
        final = await claims.find_one({"_id": "c"})
        assert final is not None and final["state"] == "taken" and final["epoch"] == 1
        assert final["owner"] in winners
        if not is_ferretdb:
            assert len(winners) == 1
        figures.append(len(winners))
        print(f"claim round {round_no + 1}: {len(winners)} winner(s), {elapsed:.2f}s")
    print(f"claim winners per round: {figures}")


async def test_concurrent_increments_lose_updates_on_ferretdb(
    db: AsyncDatabase, is_ferretdb: bool
) -> None:
    """200 racing `$inc: 1`: every call says it modified, but FerretDB keeps a fraction.

    Observed on FerretDB: final counts of 1 to 51 in every round, also with the
    client pinned to one CPU. So counters are inserts, never `$inc` updates.
    """
    finals = []
    for round_no in range(ROUNDS):
        counter = db[f"counter_{round_no}"]
        await counter.insert_one({"_id": "n", "n": 0})
        started = time.perf_counter()
        results = await race(
            [counter.update_one({"_id": "n"}, {"$inc": {"n": 1}}) for _ in range(RACERS)]
        )
        elapsed = time.perf_counter() - started
        assert unexpected(results) == []
        assert sum(r.modified_count for r in results) == RACERS
        stored = await counter.find_one({"_id": "n"})
        assert stored is not None
        final = stored["n"]
        assert 1 <= final <= RACERS
        finals.append(final)
        print(f"$inc round {round_no + 1}: final {final} of {RACERS}, {elapsed:.2f}s")
    print(f"$inc finals per round: {finals}")
    if is_ferretdb:
        assert min(finals) < RACERS, "FerretDB kept every increment: is $inc atomic now?"
    else:
        assert finals == [RACERS] * ROUNDS


async def test_concurrent_upserts_of_one_id(db: AsyncDatabase, is_ferretdb: bool) -> None:
    """200 racing upserts of a missing `_id`: one inserts; on FerretDB others may raise."""
    results = await race(
        [
            db.counters.update_one(
                {"_id": "k"}, {"$inc": {"n": 1}, "$setOnInsert": {"first": i}}, upsert=True
            )
            for i in range(RACERS)
        ]
    )
    assert unexpected(results, DuplicateKeyError) == []
    updates = {i: r for i, r in enumerate(results) if isinstance(r, UpdateResult)}
    inserters = [i for i, r in updates.items() if r.upserted_id is not None]
    assert len(inserters) == 1
    docs = [d async for d in db.counters.find({})]
    assert len(docs) == 1 and docs[0]["first"] == inserters[0]
    assert 1 <= docs[0]["n"] <= len(updates)
    duplicates = RACERS - len(updates)
    print(f"upsert race: {duplicates} DuplicateKeyError, final n {docs[0]['n']} of {RACERS}")
    if not is_ferretdb:
        assert duplicates == 0 and docs[0]["n"] == RACERS


# --- indexes ------------------------------------------------------------------------------


async def test_ttl_index_is_rejected_by_ferretdb(db: AsyncDatabase, is_ferretdb: bool) -> None:
    if not is_ferretdb:
        assert await db.leases.create_index("expires_at", expireAfterSeconds=60)
        return
    with pytest.raises(OperationFailure) as caught:
        await db.leases.create_index("expires_at", expireAfterSeconds=60)
    assert caught.value.code == 238  # NotImplemented
    assert "expireAfterSeconds" in str(caught.value)


async def test_partial_index_is_rejected_by_ferretdb(db: AsyncDatabase, is_ferretdb: bool) -> None:
    partial: dict[str, Any] = {"partialFilterExpression": {"state": "signed"}}
    if not is_ferretdb:
        assert await db.commands.create_index("updated_at", **partial)
        return
    with pytest.raises(OperationFailure) as caught:
        await db.commands.create_index("updated_at", **partial)
    assert caught.value.code == 238
    assert "partialFilterExpression" in str(caught.value)


async def test_recreating_several_existing_indexes_in_one_call(
    db: AsyncDatabase, is_ferretdb: bool
) -> None:
    """FerretDB panics on two existing indexes in one call, and can silently skip a new one."""
    existing = [IndexModel("a", name="a"), IndexModel("b", name="b")]
    fresh = [IndexModel("u", name="u", unique=True), IndexModel("v", name="v")]
    await db.things.create_indexes(existing)
    if not is_ferretdb:
        await db.things.create_indexes(existing)
        await db.things.create_indexes(existing + fresh)
        assert set(await db.things.index_information()) == {"_id_", "a", "b", "u", "v"}
        return

    with pytest.raises(ConnectionFailure):  # the server's handler panicked and hung up
        await db.things.create_indexes(existing)
    await db.command("ping")  # the server itself survives

    reported = await db.things.create_indexes(existing + fresh)
    assert reported == ["a", "b", "u", "v"]
    assert set(await db.things.index_information()) == {"_id_", "a", "b", "v"}  # no "u"
    await db.things.insert_many([{"u": 1}, {"u": 1}])  # so "unique" u is not enforced
    assert await db.things.count_documents({"u": 1}) == 2


async def test_lookups_by_id_use_the_id_index(db: AsyncDatabase, is_ferretdb: bool) -> None:
    """The hot path reads and writes by a string `_id`: that must be an index search, not a scan.

    FerretDB pushes down only a filter of exactly one string or ObjectId `_id`; its
    explain carries SQLite's plan, which names the collection's `_id_` index. Its explain
    of update and delete ignores `updates[].q` / `deletes[].q` and plans a SELECT of the
    whole collection, so for those only that is pinned. The update and delete handlers
    read through the same pushed-down `_id` query as find and then write
    `WHERE <the same _id expression> = ?` (or `IN (...)`), so the find plan covers the
    expression all three use.
    """
    await db.commands.insert_many([{"_id": f"c:{i}", "n": i} for i in range(50)])
    key = {"_id": "c:7"}
    commands: dict[str, dict[str, Any]] = {
        "find": {"find": "commands", "filter": key},
        "update": {"update": "commands", "updates": [{"q": key, "u": {"$set": {"n": 0}}}]},
        "delete": {"delete": "commands", "deletes": [{"q": key, "limit": 1}]},
    }
    explained = {name: await db.command("explain", cmd) for name, cmd in commands.items()}
    if not is_ferretdb:
        for name, result in explained.items():
            plan = str(result["queryPlanner"]["winningPlan"])
            assert "COLLSCAN" not in plan, name
            assert "IDHACK" in plan or "EXPRESS" in plan, (name, plan)  # 8.0: EXPRESS_*
        return

    found = explained["find"]
    assert found["filterPushdown"] is True
    [step] = found["queryPlanner"]["Plan"]  # one row: no SCAN of the table beside the SEARCH
    search = r"id=\d+ parent=\d+ notused=\d+ detail=SEARCH (\S+) USING INDEX \1__id_ \(<expr>=\?\)"
    assert re.fullmatch(search, step), step  # stock v1.24.2: "detail=SCAN <table>"

    for name in ("update", "delete"):  # not the statement's plan: a plain SELECT of all rows
        result = explained[name]
        assert result["filterPushdown"] is False, name
        [step] = result["queryPlanner"]["Plan"]
        assert re.fullmatch(r"id=\d+ parent=\d+ notused=\d+ detail=SCAN \S+", step), (name, step)


async def test_the_worker_indexes_created_one_per_call_are_idempotent(db: AsyncDatabase) -> None:
    for _ in range(2):
        for collection, models in INDEXES.items():
            for model in models:
                await db[collection].create_indexes([model])
    for collection, models in INDEXES.items():
        info = await db[collection].index_information()
        for model in models:
            spec = model.document
            assert spec["name"] in info, (collection, spec["name"])
            assert info[spec["name"]]["key"] == list(spec["key"].items())
            assert bool(info[spec["name"]].get("unique")) == bool(spec.get("unique"))
