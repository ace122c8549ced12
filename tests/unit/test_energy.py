"""The standing energy delegation over the in-memory twins (handlers/energy.py,
worker/standing.py): a hot wallet short of energy is topped up once however many
payouts find it short, the delegation stays for the next batches, and an idle one is
taken back once by a command the worker submits itself. When the staking wallet
cannot lend, burn_fallback decides between burning TRX and NO_ENERGY."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.unit.test_payout import USDT, _lines, _recipient
from tests.unit.test_pipeline import World, command
from tests.unit.test_transfer import START_BALANCE_SUN, _chain
from worker.switches import scope_of

TRX = 1_000_000
IDLE_S = 600


async def _world(burn_fallback: bool, frozen_sun: int = 0) -> tuple[World, str]:
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
            "TRON_WORKER_STAKING__RETURN_AFTER_IDLE_S": str(IDLE_S),
        },
    )
    lending.node.accounts[hot] = {"address": hot, "balance": START_BALANCE_SUN}
    lending.node.accounts[staking] = {"address": staking, "balance": START_BALANCE_SUN}
    lending.node.token_balances[hot] = 1_000_000
    for index in range(10):
        lending.node.accounts[_recipient(index)] = {"balance": 1}
    await lending.follower.step()
    if frozen_sun:
        freeze = {"wallet": staking, "amount_sun": frozen_sun, "resource": "ENERGY"}
        body = command("stake.freeze", key="freeze", payload=freeze)
        await lending.deliver(body, family="stake", routing_key="command.stake.freeze")
        await _chain(lending)
    return lending, hot


async def _lending() -> tuple[World, str, str]:
    world, hot = await _world(burn_fallback=False, frozen_sun=40 * TRX)
    return world, hot, world.executor._chain.rules.staking_wallet  # type: ignore[union-attr]


async def _pay(world: World, hot: str, key: str = "usdt") -> Any:
    payload = {"asset": USDT, "source_wallet": hot, "recipients": _lines(2)}
    body = command("payout.create", key=key, payload=payload)
    return await world.deliver(body, family="payout", routing_key="command.payout.create")


def _contracts(world: World) -> list[str]:
    attempts = world.store.collections["tx_attempts"].values()
    return sorted(a["plan"]["contract_type"] for a in attempts if "contract_type" in a["plan"])


def _delegated_sun(world: World, staking: str, hot: str) -> int:
    entries = world.node.stake.delegated_resource(staking, hot)
    return sum(e.get("frozen_balance_for_energy", 0) for e in entries)


def _completed(world: World) -> list[dict[str, Any]]:
    return [e["event"]["payload"] for e in world.events.of("payout.completed")]


async def _round(world: World) -> None:
    world.standing._next_return_check = 0.0  # due now: the test moves the clock
    await world.standing.round()
    await world.sweeper.sweep_once()


async def test_nothing_to_lend_and_no_burning_allowed_is_no_energy_with_nothing_signed() -> None:
    world, hot = await _world(burn_fallback=False)
    await _pay(world, hot)
    [refused] = [e["event"]["payload"] for e in world.events.of("payout.rejected")]
    assert refused["code"] == "NO_ENERGY" and "can delegate 0 sun" in refused["message"]
    assert not world.store.collections["tx_attempts"]
    assert not world.store.collections["energy"], "a refused top-up decides nothing"


async def test_nothing_to_lend_with_burning_allowed_signs_the_lines_to_burn() -> None:
    world, hot = await _world(burn_fallback=True)
    await _pay(world, hot)
    items = {a["item"] for a in world.store.collections["tx_attempts"].values()}
    assert items == {0, 1}, "the lines, and no delegation"


async def test_a_short_wallet_is_topped_up_before_its_lines_and_the_delegation_stays() -> None:
    world, hot, staking = await _lending()
    await _pay(world, hot)
    [delegation] = [a for a in world.store.collections["tx_attempts"].values() if a["item"] == 100]
    assert delegation["plan"]["fields"]["lock"] is False and delegation["plan"]["receiver"] == hot
    payout = [a for a in world.store.collections["tx_attempts"].values()
              if a["ref"] == delegation["ref"]]  # fmt: skip
    assert [a["item"] for a in payout] == [100], "no line before the energy is there"
    await _chain(world)  # the delegation lands; the follower wakes the payout
    await _chain(world)  # its lines land
    [summary] = _completed(world)
    assert summary["confirmed"] == 2
    assert summary["energy"]["delegate_txid"] == delegation["txid"]
    assert "undelegate_txid" not in summary["energy"]
    assert _delegated_sun(world, staking, hot) == delegation["plan"]["amount_sun"] > 0
    [decision] = world.store.collections["energy"].values()
    assert (decision["_id"], decision["kind"]) == (f"{hot}:1", "topup")
    # The next batch finds the energy there: no second delegation.
    await _pay(world, hot, key="usdt-2")
    await _chain(world)
    assert len(_completed(world)) == 2 and "energy" not in _completed(world)[1]
    assert _contracts(world).count("DelegateResourceContract") == 1


async def test_two_payouts_finding_the_wallet_short_top_it_up_once_and_the_second_waits() -> None:
    world, hot, _ = await _lending()
    await _pay(world, hot, key="first")
    await _pay(world, hot, key="second")
    [second] = [c for c in world.store.collections["commands"].values() if "second" in c["_id"]]
    assert second["state"] == "awaiting_energy" and not second["terminal"]
    assert set(world.store.collections["energy_waiters"]) == {second["_id"]}
    await _chain(world)  # the first's delegation lands
    await _round(world)  # the decision settled: the waiting payout is woken and resumed
    assert not world.store.collections["energy_waiters"]
    await _chain(world)
    assert len(_completed(world)) == 2
    assert _contracts(world).count("DelegateResourceContract") == 1


async def test_an_idle_delegation_is_taken_back_once_by_a_command_of_the_worker() -> None:
    world, hot, staking = await _lending()
    await _pay(world, hot)
    await _chain(world)
    await _chain(world)
    await _round(world)
    assert _contracts(world).count("UnDelegateResourceContract") == 0, "not idle yet"
    world.now += timedelta(seconds=IDLE_S)
    await _round(world)  # decides return 2, submits it; the sweeper runs it
    await _round(world)  # a second look decides nothing more
    await _chain(world)
    assert _contracts(world).count("UnDelegateResourceContract") == 1
    assert _delegated_sun(world, staking, hot) == 0
    back = world.store.collections["commands"][f"worker:energy-return:{hot}:2"]
    assert back["type"] == "stake.undelegate" and back["state"] == "completed"
    [confirmed] = [e["event"] for e in world.events.of("stake.confirmed") if
                   e["event"]["idempotency_key"] == f"energy-return:{hot}:2"]  # fmt: skip
    assert confirmed["payload"]["txid"]
    world.now += timedelta(seconds=IDLE_S)
    await _round(world)
    assert _contracts(world).count("UnDelegateResourceContract") == 1, "nothing left to return"


async def test_a_return_decided_by_a_process_that_died_is_submitted_by_the_next_round() -> None:
    world, hot, staking = await _lending()
    await _pay(world, hot)
    await _chain(world)
    await _chain(world)
    world.now += timedelta(seconds=IDLE_S)
    original = world.standing._submit

    async def dies(decision: dict[str, Any]) -> None:
        raise RuntimeError("SIGKILL between the decision and the command")

    world.standing._submit = dies  # type: ignore[method-assign]
    await _round(world)
    assert world.store.collections["energy"][f"{hot}:2"]["kind"] == "return"
    assert f"worker:energy-return:{hot}:2" not in world.store.collections["commands"]
    world.standing._submit = original  # type: ignore[method-assign]
    await _round(world)
    await _chain(world)
    assert _delegated_sun(world, staking, hot) == 0
    assert _contracts(world).count("UnDelegateResourceContract") == 1


async def test_a_payout_arriving_while_a_return_is_in_flight_waits_then_tops_up_again() -> None:
    world, hot, staking = await _lending()
    await _pay(world, hot)
    await _chain(world)
    await _chain(world)
    world.now += timedelta(seconds=IDLE_S)
    await _round(world)  # return 2 journaled, not yet on chain
    await _pay(world, hot, key="later")
    [later] = [c for c in world.store.collections["commands"].values() if "later" in c["_id"]]
    assert later["state"] == "awaiting_energy"
    await _chain(world)  # the return lands
    await _round(world)  # the payout is woken: the wallet is short again, top-up 3
    assert world.store.collections["energy"][f"{hot}:3"]["kind"] == "topup"
    await _chain(world)
    await _chain(world)
    assert len(_completed(world)) == 2
    assert _contracts(world).count("DelegateResourceContract") == 2
    assert _delegated_sun(world, staking, hot) > 0


async def test_a_refused_return_is_not_decided_again_every_round() -> None:
    world, hot, staking = await _lending()
    await _pay(world, hot)
    await _chain(world)
    await _chain(world)
    await world.switches.pause(scope_of("wallet", staking), by="ops", reason="audit")
    world.now += timedelta(seconds=IDLE_S)
    await _round(world)
    back = world.store.collections["commands"][f"worker:energy-return:{hot}:2"]
    assert back["state"] == "rejected"
    for _ in range(3):
        world.now += timedelta(seconds=IDLE_S)
        await _round(world)
    assert [d["kind"] for d in world.store.collections["energy"].values()] == ["topup", "return"]
    assert _delegated_sun(world, staking, hot) > 0, "left for the operator, who saw the event"
