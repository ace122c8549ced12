"""Shutdown: background loops get what is left of the grace, then are cancelled by name."""

from __future__ import annotations

import asyncio

import structlog

from worker.app import _finish


async def _sees_stop(stop: asyncio.Event) -> None:
    await stop.wait()


async def _stuck_deep() -> None:
    await _stuck_deeper()


async def _stuck_deeper() -> None:
    await asyncio.sleep(3600)


async def test_a_loop_that_overstays_the_grace_is_cancelled_and_named_with_where_it_waits():
    stop = asyncio.Event()
    polite = asyncio.create_task(_sees_stop(stop), name="relay")
    stuck = asyncio.create_task(_stuck_deep(), name="sweeper")
    await asyncio.sleep(0)
    stop.set()
    with structlog.testing.capture_logs() as logs:
        started = asyncio.get_running_loop().time()
        await _finish([polite, stuck], grace_s=0.0)  # at least a second, even when none is left
        waited_s = asyncio.get_running_loop().time() - started
    await asyncio.gather(polite, stuck, return_exceptions=True)
    assert polite.done() and not polite.cancelled()
    assert stuck.cancelled()
    assert 0.9 <= waited_s < 5
    [late] = [entry for entry in logs if entry["event"] == "background task cancelled at shutdown"]
    assert late["task"] == "sweeper"
    assert [step.split(":")[0] for step in late["at"]][:3] == [
        "_stuck_deep",
        "_stuck_deeper",
        "sleep",
    ]


async def test_loops_that_see_stop_in_time_are_left_alone():
    stop = asyncio.Event()
    tasks = [asyncio.create_task(_sees_stop(stop), name=f"loop{i}") for i in range(3)]
    stop.set()
    with structlog.testing.capture_logs() as logs:
        await _finish(tasks, grace_s=5.0)
    assert all(task.done() and not task.cancelled() for task in tasks)
    assert not [entry for entry in logs if "cancelled" in entry["event"]]
