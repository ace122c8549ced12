"""Block production on the wall clock, one block per slot, witnesses taking turns.

Like java-tron, time is cut into slots of `block_interval_ms`; a block's
timestamp is the start of its slot, so timestamps follow the wall clock and
are multiples of the interval. The witness of a slot is chosen round-robin by
the slot's absolute number. A slot that passes while the event loop is busy,
or while production is paused, is simply missed, as a real network misses it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import structlog

from devnet.chain import Block, Chain
from devnet.genesis import Witness

__all__ = ["MIN_BLOCK_INTERVAL_MS", "BlockProducer", "wall_clock_ms"]

MIN_BLOCK_INTERVAL_MS = 10

log = structlog.get_logger(__name__)


def wall_clock_ms() -> int:
    """Return the wall-clock time in whole milliseconds, as java-tron timestamps are."""
    return time.time_ns() // 1_000_000


class BlockProducer:
    """Drives a Chain: decides when the next slot is and which witness signs it."""

    def __init__(
        self,
        chain: Chain,
        block_interval_ms: int,
        clock_ms: Callable[[], int] = wall_clock_ms,
    ) -> None:
        if block_interval_ms < MIN_BLOCK_INTERVAL_MS:
            raise ValueError(f"block interval must be at least {MIN_BLOCK_INTERVAL_MS} ms")
        self.chain = chain
        self.block_interval_ms = block_interval_ms
        self._clock_ms = clock_ms
        self._witnesses = chain.genesis.witnesses
        self._paused = False
        self._new_block = asyncio.Event()

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        """Stop producing blocks (slots pass empty) until resume(); for fault injection."""
        self._paused = True

    def resume(self) -> None:
        """Produce blocks again from the next slot."""
        self._paused = False

    def witness_for_slot(self, slot_ms: int) -> Witness:
        """Pick the witness whose turn the slot starting at slot_ms is."""
        slot_number = slot_ms // self.block_interval_ms
        return self._witnesses[slot_number % len(self._witnesses)]

    def next_slot_ms(self, now_ms: int) -> int:
        """Return the start of the first slot after both now_ms and the head block."""
        start_ms = max(now_ms, self.chain.head_block.timestamp_ms)
        return (start_ms // self.block_interval_ms + 1) * self.block_interval_ms

    def produce_at(self, slot_ms: int) -> Block:
        """Produce the block of the slot starting at slot_ms and wake waiters."""
        block = self.chain.produce_block(slot_ms, self.witness_for_slot(slot_ms))
        # Swap the event before setting it, so a waiter that wakes and waits
        # again blocks on the next block rather than spinning on this one.
        event, self._new_block = self._new_block, asyncio.Event()
        event.set()
        log.debug(
            "block produced",
            number=block.number,
            block_id=block.block_id.hex(),
            timestamp_ms=block.timestamp_ms,
        )
        return block

    def produce_current_slot(self) -> Block | None:
        """Produce the block of the slot now in progress, unless the head is that recent.

        A fresh chain's head is block 0 at the genesis time; until a block
        follows the wall clock, every transaction would fail java-tron's
        expiration window check. Starting with this block avoids that.
        """
        slot_ms = self._clock_ms() // self.block_interval_ms * self.block_interval_ms
        if slot_ms <= self.chain.head_block.timestamp_ms:
            return None
        return self.produce_at(slot_ms)

    async def run(self) -> None:
        """Produce a block at every slot boundary until cancelled."""
        while True:
            slot_ms = self.next_slot_ms(self._clock_ms())
            await asyncio.sleep(max(0, slot_ms - self._clock_ms()) / 1000)
            if not self._paused:
                self.produce_at(slot_ms)

    async def wait_for_number(self, number: int, timeout_s: float) -> Block:
        """Wait until the head reaches block number; TimeoutError after timeout_s."""
        async with asyncio.timeout(timeout_s):
            while self.chain.head_block.number < number:
                await self._new_block.wait()
        return self.chain.head_block
