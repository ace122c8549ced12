"""Lent energy for token payouts over the in-memory twins: when the staking wallet cannot
lend, burn_fallback decides between burning TRX and NO_ENERGY before anything is signed."""

from __future__ import annotations

from typing import Any

from tests.unit.test_payout import USDT, _lines, _recipient
from tests.unit.test_pipeline import World, command
from tests.unit.test_transfer import START_BALANCE_SUN


async def _world(burn_fallback: bool) -> tuple[World, str]:
    world = World(environ={"TRON_WORKER_STAKING__ENERGY_POLICY": "off"})
    await world.deliver(command(key="hot", payload={"count": 1, "purpose": "hot"}))
    await world.deliver(command(key="staking", payload={"count": 1, "purpose": "staking"}))
    hot, staking = (
        e["event"]["payload"]["addresses"][0] for e in world.events.of("wallet.created")
    )
    # Rebuild the world's pipeline with the delegate policy over the same store and node.
    lending = World(
        store=world.store,
        environ={
            "TRON_WORKER_STAKING__WALLET": staking,
            "TRON_WORKER_STAKING__ENERGY_POLICY": "delegate",
            "TRON_WORKER_STAKING__BURN_FALLBACK": str(burn_fallback).lower(),
        },
    )
    lending.node.accounts[hot] = {"address": hot, "balance": START_BALANCE_SUN}
    lending.node.accounts[staking] = {"address": staking, "balance": START_BALANCE_SUN}
    lending.node.token_balances[hot] = 1_000_000
    for index in range(10):
        lending.node.accounts[_recipient(index)] = {"balance": 1}
    await lending.follower.step()
    return lending, hot


async def _pay(world: World, hot: str) -> Any:
    payload = {"asset": USDT, "source_wallet": hot, "recipients": _lines(2)}
    body = command("payout.create", key="usdt", payload=payload)
    return await world.deliver(body, family="payout", routing_key="command.payout.create")


async def test_nothing_to_lend_and_no_burning_allowed_is_no_energy_with_nothing_signed() -> None:
    world, hot = await _world(burn_fallback=False)
    await _pay(world, hot)
    [refused] = [e["event"]["payload"] for e in world.events.of("payout.rejected")]
    assert refused["code"] == "NO_ENERGY" and "can delegate 0 sun" in refused["message"]
    assert not world.store.collections["tx_attempts"]


async def test_nothing_to_lend_with_burning_allowed_signs_the_lines_to_burn() -> None:
    world, hot = await _world(burn_fallback=True)
    await _pay(world, hot)
    items = {a["item"] for a in world.store.collections["tx_attempts"].values()}
    assert items == {0, 1}, "the lines, and no delegation"
