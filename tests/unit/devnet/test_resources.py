"""devnet/resources.py: java-tron's 24 h sliding usage window, number for number."""

from __future__ import annotations

from devnet.resources import (
    WINDOW_SIZE_PRECISION,
    WINDOW_SIZE_SLOTS,
    Usage,
    global_limit,
    head_slot,
    increase,
    increase_v2,
    slot_to_ms,
)


def test_slots_are_three_seconds_since_genesis_whatever_the_block_interval() -> None:
    assert WINDOW_SIZE_SLOTS == 28_800
    assert head_slot(1_000_000 + 8_999, 1_000_000) == 2
    assert slot_to_ms(2, 1_000_000) == 1_006_000


def test_usage_decays_linearly_and_is_gone_after_a_day() -> None:
    # Average ceil(265e6 / 28800) = 9202; 9202 * 28800 / 1e6 = 265.0176 -> 265.
    assert increase(265, 0, 0, 0) == 265
    # Half a window later: round(9202 * 0.5) = 4601 -> 132.5088 -> 132.
    assert increase(265, 0, 0, WINDOW_SIZE_SLOTS // 2) == 132
    assert increase(265, 0, 0, WINDOW_SIZE_SLOTS) == 0
    assert increase(0, 265, 7, 7) == 265


def test_usage_adds_to_what_remains() -> None:
    # ceil(264e6 / 28800) = 9167, halved with Math.round: 4584; plus 9202 -> 397.0368.
    assert increase(264, 265, 0, WINDOW_SIZE_SLOTS // 2) == 397


def test_increase_v2_on_a_fresh_counter_sets_the_optimized_full_window() -> None:
    used = increase_v2(Usage(0, 0, 0, False), 300, now_slot=50)

    assert used == Usage(300, 50, WINDOW_SIZE_SLOTS * WINDOW_SIZE_PRECISION, True)
    assert used.window_slots == WINDOW_SIZE_SLOTS


def test_increase_v2_shrinks_the_window_of_old_usage_being_topped_up() -> None:
    first = increase_v2(Usage(0, 0, 0, False), 1_000, now_slot=0)

    later = increase_v2(first, 1_000, now_slot=WINDOW_SIZE_SLOTS // 2)

    # 500 left of the first 1000, plus 1000; window ceil((500 * 14.4e6 + 1000 * 28.8e6) / 1500).
    assert later.usage == 1_500
    assert later.window_v2 == 24_000_000
    assert later.window_slots == 24_000


def test_global_limit_is_the_stake_share_of_the_total() -> None:
    assert global_limit(10_000_000, 43_200_000_000, 100) == 4_320_000_000
    assert global_limit(10_000_000, 43_200_000_000, 0) == 0
