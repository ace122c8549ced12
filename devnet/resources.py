"""Resource usage arithmetic: java-tron's sliding 24 h window, in slots of 3 s.

Ported rule for rule from ResourceProcessor: usage is stored as "bytes used",
decays linearly to zero over the window, and is re-averaged whenever it is
touched. Time is the head slot, `(head block time - genesis time) / 3000`,
whatever devnet's block interval: resource windows follow the wall clock, as
on mainnet. All integer steps mirror Java's long arithmetic; the one float
step (the decay factor) mirrors Math.round on a double.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "BLOCK_PRODUCED_INTERVAL_MS",
    "PRECISION",
    "TRX_PRECISION",
    "WINDOW_SIZE_PRECISION",
    "WINDOW_SIZE_SLOTS",
    "Usage",
    "global_limit",
    "head_slot",
    "increase",
    "increase_v2",
    "slot_to_ms",
]

BLOCK_PRODUCED_INTERVAL_MS = 3_000
WINDOW_SIZE_SLOTS = 24 * 3600 * 1000 // BLOCK_PRODUCED_INTERVAL_MS  # 28 800
PRECISION = 1_000_000
WINDOW_SIZE_PRECISION = 1_000
TRX_PRECISION = 1_000_000


def head_slot(head_timestamp_ms: int, genesis_timestamp_ms: int) -> int:
    """ChainBaseManager.getHeadSlot: 3-second slots since genesis."""
    return (head_timestamp_ms - genesis_timestamp_ms) // BLOCK_PRODUCED_INTERVAL_MS


def slot_to_ms(slot: int, genesis_timestamp_ms: int) -> int:
    """Wallet.getAccount's conversion of a stored slot back to milliseconds."""
    return genesis_timestamp_ms + BLOCK_PRODUCED_INTERVAL_MS * slot


def _java_round(value: float) -> int:
    """Math.round(double): floor(x + 0.5)."""
    return math.floor(value + 0.5)


def _divide_ceil(numerator: int, denominator: int) -> int:
    return numerator // denominator + (1 if numerator % denominator > 0 else 0)


def _decayed(average: int, last_slot: int, now_slot: int, window: int) -> int:
    if last_slot == now_slot:
        return average
    if last_slot + window > now_slot:
        decay = (window - (now_slot - last_slot)) / window
        return _java_round(average * decay)
    return 0


def increase(
    last_usage: int, usage: int, last_slot: int, now_slot: int, window: int = WINDOW_SIZE_SLOTS
) -> int:
    """ResourceProcessor.increase: decay last_usage to now_slot, then add usage."""
    average_last = _divide_ceil(last_usage * PRECISION, window)
    average_new = _divide_ceil(usage * PRECISION, window)
    average = _decayed(average_last, last_slot, now_slot, window) + average_new
    return average * window // PRECISION


@dataclass(frozen=True, slots=True)
class Usage:
    """A per-account usage counter with its window, as Account stores it (V2 layout)."""

    usage: int
    last_slot: int
    window_size: int  # the stored field: slots, or slots x 1000 when optimized
    window_optimized: bool

    @property
    def window_slots(self) -> int:
        """AccountCapsule.getWindowSize."""
        if self.window_size == 0:
            return WINDOW_SIZE_SLOTS
        if self.window_optimized:
            if self.window_size < WINDOW_SIZE_PRECISION:
                return WINDOW_SIZE_SLOTS
            return self.window_size // WINDOW_SIZE_PRECISION
        return self.window_size

    @property
    def window_v2(self) -> int:
        """AccountCapsule.getWindowSizeV2: the window in slots x 1000."""
        if self.window_size == 0:
            return WINDOW_SIZE_SLOTS * WINDOW_SIZE_PRECISION
        if self.window_optimized:
            return self.window_size
        return self.window_size * WINDOW_SIZE_PRECISION


def increase_v2(current: Usage, usage: int, now_slot: int) -> Usage:
    """ResourceProcessor.increaseV2 (CancelAllUnfreezeV2 on): add usage, reshape the window.

    Returns the new counter: usage, last slot `now_slot` and the new window.
    """
    old_window = current.window_slots
    average_last = _divide_ceil(current.usage * PRECISION, old_window)
    average_new = _divide_ceil(usage * PRECISION, WINDOW_SIZE_SLOTS)
    average_last = _decayed(average_last, current.last_slot, now_slot, old_window)
    new_usage = (average_last * old_window + average_new * WINDOW_SIZE_SLOTS) // PRECISION
    remain_usage = average_last * old_window // PRECISION
    full_window_v2 = WINDOW_SIZE_SLOTS * WINDOW_SIZE_PRECISION
    if remain_usage == 0:
        return Usage(new_usage, now_slot, full_window_v2, True)
    remain_window = current.window_v2 - (now_slot - current.last_slot) * WINDOW_SIZE_PRECISION
    new_window = _divide_ceil(remain_usage * remain_window + usage * full_window_v2, new_usage)
    return Usage(new_usage, now_slot, min(new_window, full_window_v2), True)


def global_limit(frozen_sun: int, total_limit: int, total_weight: int) -> int:
    """calculateGlobalNetLimitV2 / EnergyLimitV2: the share of total_limit a stake buys."""
    if total_weight == 0:
        return 0
    weight = frozen_sun / TRX_PRECISION
    return int(weight * (total_limit / total_weight))
