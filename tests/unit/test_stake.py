"""stake.* over the in-memory twins: one transaction each through the journal and the
follower, figures read after confirmation, refusals before anything is signed, and a
redo after a crash that signs nothing twice."""

from __future__ import annotations

from typing import Any

from tests.unit.test_pipeline import World, command
from tests.unit.test_transfer import _chain, _funded_wallet

TRX = 1_000_000


async def _ready() -> tuple[World, str]:
    world = World()
    wallet = await _funded_wallet(world)
    world.node.accounts[wallet]["balance"] = 10_000 * TRX
    await world.follower.step()
    return world, wallet


async def _stake(world: World, kind: str, key: str, **payload: Any) -> Any:
    body = command(kind, key=key, payload=payload)
    return await world.deliver(body, family="stake", routing_key=f"command.{kind}")


def _payloads(world: World, routing_key: str) -> list[dict[str, Any]]:
    return [e["event"]["payload"] for e in world.events.of(routing_key)]


async def test_a_freeze_is_journaled_confirmed_and_reports_the_frozen_amount() -> None:
    world, wallet = await _ready()
    delivery = await _stake(world, "stake.freeze", "f1", wallet=wallet, amount_sun=500 * TRX,
                            resource="ENERGY")  # fmt: skip
    assert delivery.outcome == "ack"
    [attempt] = world.store.collections["tx_attempts"].values()
    assert attempt["plan"]["contract_type"] == "FreezeBalanceV2Contract"
    await _chain(world)
    [confirmed] = _payloads(world, "stake.confirmed")
    assert confirmed["stake"] == {"frozen_sun": 500 * TRX}
    assert confirmed["txid"] == attempt["txid"]


async def test_refusals_name_what_is_missing_and_sign_nothing() -> None:
    world, wallet = await _ready()
    cases = [
        ("stake.freeze", {"amount_sun": TRX - 1, "resource": "ENERGY"}, "AMOUNT_BELOW_MINIMUM"),
        ("stake.freeze", {"amount_sun": 20_000 * TRX, "resource": "ENERGY"},
         "INSUFFICIENT_BALANCE"),
        ("stake.unfreeze", {"amount_sun": TRX, "resource": "ENERGY"}, "NOT_ENOUGH_FROZEN"),
        ("stake.withdraw_unfrozen", {}, "NOTHING_TO_WITHDRAW"),
        ("stake.claim_rewards", {}, "NOTHING_TO_CLAIM"),
        ("stake.vote", {"votes": [{"witness": world.node.stake.witnesses[0], "count": 1}]},
         "VOTES_ABOVE_TRON_POWER"),
    ]  # fmt: skip
    for index, (kind, payload, _) in enumerate(cases):
        await _stake(world, kind, f"k{index}", wallet=wallet, **payload)
    codes = [p["code"] for p in _payloads(world, "stake.rejected")]
    assert codes == [code for *_, code in cases]
    assert not world.store.collections["tx_attempts"], "nothing signed"


async def test_a_redo_after_journaling_sends_the_same_bytes_and_never_signs_twice() -> None:
    world, wallet = await _ready()
    body = command("stake.freeze", key="f1", payload={"wallet": wallet, "amount_sun": 5 * TRX,
                                                      "resource": "BANDWIDTH"})  # fmt: skip
    await world.deliver(body, family="stake", routing_key="command.stake.freeze")
    await world.deliver(body, family="stake", routing_key="command.stake.freeze")  # duplicate
    assert len(world.store.collections["tx_attempts"]) == 1
    await _chain(world)
    assert len(_payloads(world, "stake.confirmed")) == 1
    frozen = world.node.stake.account_fields(wallet)["frozenV2"]
    assert {"amount": 5 * TRX} in frozen
