"""`tron-worker pause|resume|controls|attention` as an operator runs them: the real entry
point in a subprocess, against FerretDB."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from schemas.documents import CommandDoc, EventDoc
from tests.support import ROOT
from tests.unit.test_cli_controls import add_command
from worker.store import MongoStore
from worker.switches import SIGNED_CONTINUE

pytestmark = pytest.mark.integration


@pytest.fixture
async def database(mongo_url: str) -> AsyncIterator[AsyncDatabase]:
    name = f"t_cli_{uuid.uuid4().hex[:10]}"
    client: AsyncMongoClient = AsyncMongoClient(mongo_url, tz_aware=True)
    yield client[name]
    await client.drop_database(name)
    await client.close()


def tron_worker(database: AsyncDatabase, *args: str) -> tuple[int, dict]:
    """`python -m worker <args> --json` on the test's database: exit code and its JSON."""
    done = subprocess.run(
        [sys.executable, "-m", "worker", *args],
        env={**os.environ, "TRON_WORKER_MONGO__DATABASE": database.name},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.stdout.count("\n") == 1, (done.stdout, done.stderr)
    return done.returncode, json.loads(done.stdout)


async def test_pause_and_resume_store_their_links_and_events(database: AsyncDatabase) -> None:
    code, paused = tron_worker(
        database, "pause", "--asset", "USDT", "--reason", "test", "--by", "ci", "--json"
    )
    assert code == 0, paused
    assert paused["link"]["id"] == "asset:USDT:1" and paused["note"] == SIGNED_CONTINUE
    link = await database.switches.find_one({"_id": "asset:USDT:1"})
    assert link is not None
    assert (link["scope"], link["paused"], link["by"], link["reason"]) == (
        "asset:USDT",
        True,
        "ci",
        "test",
    )
    [event] = [doc async for doc in database.events.find({"routing_key": "control.paused"})]
    EventDoc.from_mongo(event)
    assert json.loads(event["body_json"])["payload"]["link"] == "asset:USDT:1"
    assert await database.outbox.find_one({"_id": event["_id"]}) is not None, "left for the relay"

    code, refused = tron_worker(database, "resume", "--asset", "USDT", "--reason", "ok", "--json")
    assert code == 1 and refused["current"]["link"] == "asset:USDT:1"
    code, resumed = tron_worker(
        database, "resume", "--asset", "USDT", "--lifts", "asset:USDT:1", "--reason", "ok",
        "--by", "ci", "--json",
    )  # fmt: skip
    assert code == 0, resumed
    assert await database.switches.count_documents({}) == 2
    assert await database.events.count_documents({"routing_key": "control.resumed"}) == 1
    code, listed = tron_worker(database, "controls", "list", "--json")
    assert code == 0
    assert [(c["scope"], c["state"], c["link"]) for c in listed["controls"]] == [
        ("asset:USDT", "resumed", "asset:USDT:2")
    ]


async def test_attention_resolve_ends_the_command_once(database: AsyncDatabase) -> None:
    await add_command(MongoStore(database), "stuck-1")
    code, listed = tron_worker(database, "attention", "list", "--json")
    assert code == 0 and [c["key"] for c in listed["commands"]] == ["-:stuck-1"]
    code, resolved = tron_worker(
        database, "attention", "resolve", "--outcome", "failed", "--reason", "refunded",
        "--by", "ci", "--json", "--", "-:stuck-1",
    )  # fmt: skip
    assert code == 0, resolved
    command = await database.commands.find_one({"_id": "-:stuck-1"})
    assert command is not None
    assert CommandDoc.from_mongo(command).state == "failed"
    assert command["events"][-1] == resolved["event_id"]
    failed = await database.events.find_one({"_id": resolved["event_id"]})
    assert failed is not None and failed["routing_key"] == "transfer.failed"
    resolution = await database.resolutions.find_one({"_id": "-:stuck-1"})
    assert resolution is not None and resolution["by"] == "ci"
    code, again = tron_worker(
        database, "attention", "resolve", "stuck-1", "--outcome", "completed",
        "--reason", "x", "--json",
    )  # fmt: skip
    assert code == 1 and again["resolution"]["by"] == "ci"
