"""A signed attempt whose fate the follower cannot decide within the bound goes to
needs_attention (event, metric), and still finishes when the follower decides later."""

from __future__ import annotations

from datetime import timedelta

from tests.unit.test_transfer import _chain, _ready, _send, _transfer, _types


async def test_an_undecided_attempt_needs_attention_after_the_bound_and_finishes_later() -> None:
    world, wallet = await _ready()
    await _send(world, _transfer(wallet))
    assert _types(world) == ["transfer.accepted", "transfer.broadcast"]
    # The follower sees nothing for an hour (no block is solidified).
    world.now += timedelta(minutes=59)
    await world.sweeper.sweep_once()
    assert await world.sweeper._duties[1]() == 0, "not overdue yet"
    world.now += timedelta(minutes=2)
    assert await world.sweeper._duties[1]() == 1
    await world.sweeper.sweep_once()
    [attention] = world.events.of("transfer.needs_attention")
    assert attention["event"]["payload"]["code"] == "FATE_UNDECIDED"
    assert "waited 3660 s" in attention["event"]["payload"]["message"]
    assert world.metrics.needs_attention_total.labels("transfer.trx")._value.get() == 1
    assert await world.sweeper._duties[1]() == 0, "woken once, not every round"
    # The follower catches up: the same attempt is confirmed and the transfer finishes.
    await _chain(world)
    assert _types(world)[-1] == "transfer.confirmed"
    assert len(world.store.collections["tx_attempts"]) == 1
