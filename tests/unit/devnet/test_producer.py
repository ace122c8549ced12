"""devnet/producer.py: slot arithmetic, witness rotation and waiting, on a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from devnet.chain import Chain
from devnet.genesis import build_genesis
from devnet.producer import BlockProducer

INTERVAL_MS = 50
START_MS = 1_800_000_000_000  # a multiple of 50


class SteppingClock:
    """A clock that moves forward by step_ms every time it is read, so nothing waits."""

    def __init__(self, now_ms: int, step_ms: int) -> None:
        self.now_ms = now_ms
        self.step_ms = step_ms

    def __call__(self) -> int:
        self.now_ms += self.step_ms
        return self.now_ms


def make_producer(clock: SteppingClock | None = None) -> BlockProducer:
    chain = Chain(build_genesis(), solidify_lag_blocks=2)
    return BlockProducer(chain, INTERVAL_MS, clock or SteppingClock(START_MS, 0))


def test_next_slot_is_the_next_interval_boundary() -> None:
    producer = make_producer()

    assert producer.next_slot_ms(START_MS) == START_MS + 50
    assert producer.next_slot_ms(START_MS + 1) == START_MS + 50
    assert producer.next_slot_ms(START_MS + 49) == START_MS + 50


def test_next_slot_is_after_the_head_even_if_the_clock_went_back() -> None:
    producer = make_producer()
    producer.produce_at(START_MS + 500)

    assert producer.next_slot_ms(START_MS) == START_MS + 550


def test_witnesses_take_turns_by_absolute_slot_number() -> None:
    producer = make_producer()
    witnesses = producer.chain.genesis.witnesses

    blocks = [producer.produce_at(START_MS + INTERVAL_MS * n) for n in range(1, 7)]

    first_slot = (START_MS + INTERVAL_MS) // INTERVAL_MS
    expected = [witnesses[(first_slot + n) % 3].address for n in range(6)]
    assert [b.header.witness_address for b in blocks] == expected
    assert [b.timestamp_ms % INTERVAL_MS for b in blocks] == [0] * 6


async def test_wait_for_number_wakes_on_the_block_it_waits_for() -> None:
    producer = make_producer()
    waiter = asyncio.create_task(producer.wait_for_number(2, timeout_s=5))

    producer.produce_at(START_MS + 50)
    await asyncio.sleep(0)  # let the waiter observe block 1 and wait again
    assert not waiter.done()
    producer.produce_at(START_MS + 100)

    assert (await waiter).number == 2


async def test_wait_for_number_already_reached_returns_at_once() -> None:
    producer = make_producer()
    producer.produce_at(START_MS + 50)

    assert (await producer.wait_for_number(1, timeout_s=0.01)).number == 1


async def test_wait_for_number_times_out() -> None:
    producer = make_producer()

    with pytest.raises(TimeoutError):
        await producer.wait_for_number(1, timeout_s=0.01)


async def test_run_produces_one_block_per_slot_following_the_clock() -> None:
    # Each clock read moves 30 ms, so every computed wait is already over.
    producer = make_producer(SteppingClock(START_MS, 30))
    task = asyncio.create_task(producer.run())
    try:
        await producer.wait_for_number(5, timeout_s=5)
    finally:
        task.cancel()

    chain = producer.chain
    stamps = [chain.block_by_number(n).timestamp_ms for n in range(1, 6)]  # type: ignore[union-attr]
    assert all(t % INTERVAL_MS == 0 for t in stamps)
    assert stamps == sorted(set(stamps))


async def test_paused_producer_lets_slots_pass_empty() -> None:
    producer = make_producer(SteppingClock(START_MS, 30))
    producer.pause()
    task = asyncio.create_task(producer.run())
    for _ in range(20):
        await asyncio.sleep(0)
    assert producer.chain.head_block.number == 0

    producer.resume()
    try:
        block = await producer.wait_for_number(1, timeout_s=5)
    finally:
        task.cancel()
    assert block.timestamp_ms > START_MS + 2 * INTERVAL_MS  # the paused slots were skipped


def test_interval_below_minimum_is_rejected() -> None:
    with pytest.raises(ValueError):
        BlockProducer(Chain(build_genesis(), 0), block_interval_ms=5)
