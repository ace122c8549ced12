"""The chain follower's gauges that the alerts read: its block's time and the attempts in
flight (deploy/prometheus/alerts.yml: follower lagging, no confirmations)."""

from __future__ import annotations

from tests.unit.test_pipeline import World
from tests.unit.test_transfer import _chain, _funded_wallet, _send, _transfer


def _gauge(world: World, name: str) -> float:
    value = world.metrics.registry.get_sample_value(name)
    assert value is not None, name
    return value


async def test_the_follower_reports_its_blocks_time_and_the_attempts_it_waits_for() -> None:
    world = World()
    wallet = await _funded_wallet(world)
    assert _gauge(world, "tron_worker_follower_block_timestamp_seconds") == 0
    await world.follower.step()  # no cursor yet: it starts at the solidified head
    await _chain(world)
    [block] = world.node.blocks[-1:]
    assert _gauge(world, "tron_worker_follower_block") == block.number
    assert _gauge(world, "tron_worker_follower_block_timestamp_seconds") == (
        block.timestamp_ms / 1000
    )
    assert _gauge(world, "tron_worker_follower_attempts_in_flight") == 0

    await _send(world, _transfer(wallet))
    await _chain(world)  # the block that confirms it counted it in flight as it started
    assert len(world.events.of("transfer.confirmed")) == 1
    assert _gauge(world, "tron_worker_follower_attempts_in_flight") == 1
    await _chain(world)  # the next block starts with nothing left to decide
    assert _gauge(world, "tron_worker_follower_attempts_in_flight") == 0
    assert _gauge(world, "tron_worker_follower_block_timestamp_seconds") == (
        world.node.blocks[-1].timestamp_ms / 1000
    )
