"""worker/reservations.py: insert chains that two workers cannot both overdraw."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from worker.reservations import Reservations
from worker.store import MemoryStore

NOW = datetime(2026, 12, 3, tzinfo=UTC)


async def test_appends_are_sequential_totals_and_a_redo_finds_its_own_link() -> None:
    store = MemoryStore()
    chain = Reservations(store, lambda: NOW)
    first = await chain.append_once("w:TRX", "op-1", 100)
    second = await chain.append_once("w:TRX", "op-2", 50)
    assert (first["n"], first["total"], second["n"], second["total"]) == (1, 100, 2, 150)
    again = await Reservations(store, lambda: NOW).append_once("w:TRX", "op-1", 100)
    assert again["_id"] == first["_id"], "a redo gets the same link, not a second one"
    assert await chain.reserved("w:TRX") == 150


async def test_racing_appends_each_land_once_and_the_total_adds_up() -> None:
    store = MemoryStore()
    workers = [Reservations(store, lambda: NOW) for _ in range(2)]
    await asyncio.gather(*(workers[i % 2].append_once("w:TRX", f"op-{i}", 10) for i in range(40)))
    links = sorted(store.collections["reservations"].values(), key=lambda link: link["n"])
    assert [link["n"] for link in links] == list(range(1, 41))
    assert links[-1]["total"] == 400
    assert len({link["operation"] for link in links}) == 40


async def test_a_crash_between_the_operation_and_its_link_is_finished_by_the_redo() -> None:
    store = MemoryStore()
    await store.insert("reservation_ops", {"_id": "op-1", "chain": "w:TRX", "delta": 70, "from": 0})
    link = await Reservations(store, lambda: NOW).append_once("w:TRX", "op-1", 70)
    assert (link["n"], link["total"]) == (1, 70)
    assert len(store.collections["reservations"]) == 1
