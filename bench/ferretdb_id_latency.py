"""Latency of find, update and delete by `_id` as the collection grows, one client.

The hot path reads and writes by `_id` alone, so each of these must be an index
search, flat in the collection's size; stock FerretDB v1.24.2 scans the table
instead (scripts/stack.py, FERRETDB_PATCH). For each size this fills a fresh
collection in a scratch database of its own (dropped afterwards), then times
single `find_one`, `update_one` and `delete_one` calls by a random string `_id`,
in turn, until --ops calls or --budget-s seconds per operation. It prints the
median of each and the plan FerretDB reports for a find by `_id`. Runs against
mongo.url through the worker's own client options; to measure another server,
set TRON_WORKER_MONGO__URL.

    .venv/bin/python bench/ferretdb_id_latency.py --sizes 1000,10000,50000
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from worker.database import make_client
from worker.settings import load_settings

BATCH = 1000  # documents per insert_many while filling
WARMUP = 5  # untimed calls per operation


def document(i: int) -> dict[str, Any]:
    """About the size and shape of a stored command."""
    return {
        "_id": f"wallet.create:{uuid.UUID(int=i)}",
        "command_id": str(uuid.UUID(int=i)),
        "type": "wallet.create",
        "state": "done",
        "attempt": 1,
        "payload": {"count": 1, "label": "x" * 64},
        "result": {"addresses": ["T" + "a" * 33]},
    }


async def fill(collection: AsyncCollection, size: int) -> float:
    """Insert documents 0..size-1; seconds taken."""
    started = time.perf_counter()
    for first in range(0, size, BATCH):
        docs = [document(i) for i in range(first, min(first + BATCH, size))]
        await collection.insert_many(docs, ordered=False)
    return time.perf_counter() - started


async def timed(
    call: Callable[[str], Awaitable[Any]], ids: list[str], ops: int, budget_s: float
) -> list[float]:
    """Call `call(id)` for successive ids after a warm-up; latencies in seconds."""
    for key in ids[:WARMUP]:
        await call(key)
    latencies_s: list[float] = []
    deadline = time.monotonic() + budget_s
    for key in ids[WARMUP : WARMUP + ops]:
        if time.monotonic() > deadline:
            break
        started = time.perf_counter()
        await call(key)
        latencies_s.append(time.perf_counter() - started)
    return latencies_s


async def plan_of_find(collection: AsyncCollection, key: str) -> str:
    """FerretDB's SQLite plan for a find by `_id` (MongoDB: the winning plan's stage)."""
    explained = await collection.database.command(
        "explain", {"find": collection.name, "filter": {"_id": key}}
    )
    planner = explained["queryPlanner"]
    if "Plan" in planner:
        return "; ".join(step.split("detail=", 1)[-1] for step in planner["Plan"])
    return str(planner["winningPlan"].get("stage"))


async def measure(collection: AsyncCollection, size: int, ops: int, budget_s: float) -> dict:
    """Fill a collection with `size` documents and time each operation on it."""
    fill_s = await fill(collection, size)
    rng = random.Random(size)
    # Three disjoint samples: a delete must not hit a document another call deleted.
    sample = [document(i)["_id"] for i in rng.sample(range(size), 3 * (WARMUP + ops))]
    finds, updates, deletes = (sample[k::3] for k in range(3))

    async def find(key: str) -> None:
        assert await collection.find_one({"_id": key}) is not None

    async def update(key: str) -> None:
        result = await collection.update_one({"_id": key}, {"$set": {"state": "seen"}})
        assert result.matched_count == 1

    async def delete(key: str) -> None:
        assert (await collection.delete_one({"_id": key})).deleted_count == 1

    operations = [("find", find, finds), ("update", update, updates), ("delete", delete, deletes)]
    medians_ms, counts = {}, {}
    for name, call, ids in operations:
        latencies_s = await timed(call, ids, ops, budget_s)
        medians_ms[name] = statistics.median(latencies_s) * 1000
        counts[name] = len(latencies_s)
    return {
        "fill_s": fill_s,
        "medians_ms": medians_ms,
        "counts": counts,
        "plan": await plan_of_find(collection, finds[0]),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="1000,10000,50000", help="comma-separated collection sizes"
    )
    parser.add_argument("--ops", type=int, default=200, help="timed calls per operation")
    parser.add_argument(
        "--budget-s", type=float, default=20.0, help="time limit per operation and size"
    )
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    if min(sizes) < 3 * (WARMUP + args.ops):
        parser.error(f"each size must be at least 3 * ({WARMUP} + --ops) documents")

    settings = load_settings()
    client = make_client(settings.mongo)
    database = client[f"bench_id_latency_{uuid.uuid4().hex[:8]}"]
    try:
        info = await client.admin.command("buildInfo")
        server = f"FerretDB {info['ferretdbVersion']}" if "ferretdbVersion" in info else "MongoDB"
        print(f"{server} at {settings.mongo.url}, one client, median of up to {args.ops} calls")
        print(f"{'documents':>9}  {'find ms':>8}  {'update ms':>9}  {'delete ms':>9}  plan of find")
        for size in sizes:
            result = await measure(database[f"docs_{size}"], size, args.ops, args.budget_s)
            await database.drop_collection(f"docs_{size}")
            medians, counts = result["medians_ms"], result["counts"]
            short = "" if min(counts.values()) == args.ops else f"  (calls: {counts})"
            print(
                f"{size:>9}  {medians['find']:8.2f}  {medians['update']:9.2f}  "
                f"{medians['delete']:9.2f}  {result['plan']}{short}"
                f"  [filled in {result['fill_s']:.1f} s]"
            )
    finally:
        await client.drop_database(database.name)
        await client.close()


if __name__ == "__main__":
    asyncio.run(main())
