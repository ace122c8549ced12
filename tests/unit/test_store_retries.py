"""MongoStore maps PyMongo's errors once and retries transient ones a bounded number of times."""

from __future__ import annotations

import pytest
from pymongo.errors import AutoReconnect, DuplicateKeyError, OperationFailure

from worker.errors import PermanentError, TransientError
from worker.store import MongoStore


class FlakyCollection:
    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.calls = 0

    async def find_one(self, query):
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return {"_id": query["_id"]}

    async def insert_one(self, doc):
        self.calls += 1
        raise DuplicateKeyError("E11000 duplicate key", 11000)


class FakeDatabase:
    def __init__(self, collection: FlakyCollection) -> None:
        self.collection = collection

    def __getitem__(self, name: str) -> FlakyCollection:
        return self.collection


async def test_a_blip_is_retried_inside_the_step() -> None:
    collection = FlakyCollection([AutoReconnect("socket closed")])
    store = MongoStore(FakeDatabase(collection))  # type: ignore[arg-type]
    assert await store.get("commands", "k") == {"_id": "k"}
    assert collection.calls == 2


async def test_a_lasting_outage_is_transient_after_three_tries() -> None:
    collection = FlakyCollection([AutoReconnect("down")] * 5)
    store = MongoStore(FakeDatabase(collection))  # type: ignore[arg-type]
    with pytest.raises(TransientError):
        await store.get("commands", "k")
    assert collection.calls == 3


async def test_refusals_are_permanent_and_not_retried_and_duplicates_are_answers() -> None:
    collection = FlakyCollection([OperationFailure("bad query", 2)])
    store = MongoStore(FakeDatabase(collection))  # type: ignore[arg-type]
    with pytest.raises(PermanentError):
        await store.get("commands", "k")
    assert collection.calls == 1
    assert await store.insert("commands", {"_id": "k"}) is False
