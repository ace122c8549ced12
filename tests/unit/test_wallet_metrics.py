"""Resource metrics (issue 11): the hot and staking wallets' gauges set by the balance check
round, and the fees and delegated energy the chain follower counts once per decided fate.

Attempts the follower decides are journaled by hand (a `tx_attempts` doc with its plan and
an `inflight` marker) and put in a block as java-tron's JSON, so any contract type and
plan shape can be tried; one TRX transfer runs the whole pipeline.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

import tests.unit.test_pipeline as pipeline_tests
from tests.unit.test_pipeline import World, command
from tests.unit.test_transfer import _chain, _funded_wallet, _send, _transfer
from worker.errors import TransientError
from worker.reconcile import BalanceCheck, bandwidth_available
from worker.wiring import Wired, build_pipeline

A_STRANGER_HEX = "41" + "ab" * 20
FREE_NET_LIMIT = 600
RESOURCE_GAUGES = (
    "tron_worker_wallet_balance_sun",
    "tron_worker_wallet_energy_available",
    "tron_worker_wallet_bandwidth_available",
)


class MetricsWorld(World):
    check: BalanceCheck


@pytest.fixture
async def world(monkeypatch: pytest.MonkeyPatch) -> MetricsWorld:
    """A World whose balance check the test can run, on a node that has getFreeNetLimit."""
    built: list[Wired] = []

    def capture(*args: Any, **kwargs: Any) -> Wired:
        built.append(build_pipeline(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(pipeline_tests, "build_pipeline", capture)
    made = MetricsWorld()
    made.check = built[0].balance_check
    made.node.chain_fees["getFreeNetLimit"] = FREE_NET_LIMIT
    return made


def _sample(world: World, name: str, **labels: str) -> float | None:
    return world.metrics.registry.get_sample_value(name, labels)


async def _wallets(world: World, purpose: str, count: int = 1) -> list[str]:
    before = len(world.events.of("wallet.created"))
    payload = {"count": count, "purpose": purpose}
    await world.deliver(command(key=f"make-{purpose}", payload=payload))
    created = world.events.of("wallet.created")[before:]
    return list(created[0]["event"]["payload"]["addresses"])


def _on_chain(world: World, wallet: str, balance_sun: int, energy: int, free_used: int) -> None:
    world.node.accounts[wallet] = {
        "address": wallet,
        "balance": balance_sun,
        "free_net_usage": free_used,
    }
    world.node.energy[wallet] = energy


# --- the balance check round: wallet resources ----------------------------------------------


async def test_a_round_sets_the_gauges_of_hot_and_staking_wallets_and_not_deposit_ones(
    world: MetricsWorld,
) -> None:
    [hot] = await _wallets(world, "hot")
    staking, unfunded = await _wallets(world, "staking", count=2)
    [deposit] = await _wallets(world, "deposit")
    _on_chain(world, hot, balance_sun=7_000_000, energy=65_000, free_used=250)
    _on_chain(world, staking, balance_sun=9_000_000, energy=1_000, free_used=700)
    _on_chain(world, deposit, balance_sun=5, energy=5, free_used=5)
    calls = dict(world.node.calls)

    # No follower here: no drift judged, but the node readings are shown all the same.
    assert await world.check.check_once() == {}

    def gauges(wallet: str) -> list[float | None]:
        return [_sample(world, name, wallet=wallet) for name in RESOURCE_GAUGES]

    assert gauges(hot) == [7_000_000, 65_000, FREE_NET_LIMIT - 250]
    assert gauges(staking) == [9_000_000, 1_000, 0], "used past the allowance: never negative"
    assert gauges(unfunded) == [0, 0, 0], "not on chain: nothing to spend"
    assert gauges(deposit) == [None, None, None], "deposit wallets are not shown"
    made = {k: v - calls.get(k, 0) for k, v in world.node.calls.items() if v != calls.get(k)}
    assert made == {"account": 3, "account_resource": 2}, (
        "one account read per wallet, resources only for accounts on chain"
    )


async def test_the_follower_process_reads_each_wallet_once_and_still_judges_drift(
    world: MetricsWorld,
) -> None:
    hot = await _funded_wallet(world)
    [staking] = await _wallets(world, "staking")
    _on_chain(world, staking, balance_sun=3, energy=0, free_used=0)
    await world.follower.step()
    await _chain(world)
    accounts = world.node.calls.get("account", 0)
    assert await world.check.check_once() == {hot: 0}, "only hot wallets are judged"
    assert world.node.calls["account"] - accounts == 2
    assert _sample(world, "tron_worker_wallet_balance_sun", wallet=staking) == 3
    assert _sample(world, "tron_worker_wallet_balance_drift_sun", wallet=staking) is None


async def test_a_wallet_that_vanishes_loses_its_series(world: MetricsWorld) -> None:
    kept, gone = await _wallets(world, "hot", count=2)
    for wallet in (kept, gone):
        _on_chain(world, wallet, balance_sun=1_000, energy=10, free_used=0)
    await world.check.check_once()
    assert _sample(world, "tron_worker_wallet_balance_sun", wallet=gone) == 1_000
    wallets = world.store.collections["wallets"]
    [doc_id] = [key for key, doc in wallets.items() if doc["address"] == gone]
    del wallets[doc_id]
    await world.check.check_once()
    assert [_sample(world, name, wallet=gone) for name in RESOURCE_GAUGES] == [None] * 3
    assert _sample(world, "tron_worker_wallet_balance_sun", wallet=kept) == 1_000
    await world.check.check_once()  # nothing left to remove: no error


@pytest.mark.parametrize(
    ("resource", "available"),
    [
        ({"freeNetLimit": 600, "freeNetUsed": 100, "NetLimit": 5_000, "NetUsed": 1_000}, 4_500),
        ({"freeNetLimit": 600}, 600),
        ({"freeNetLimit": 600, "freeNetUsed": 600, "NetLimit": 50, "NetUsed": 10}, 40),
        # After an unfreeze the staked usage can exceed its limit: it eats nothing free.
        ({"freeNetLimit": 600, "freeNetUsed": 100, "NetLimit": 10, "NetUsed": 900}, 500),
        ({}, 0),
    ],
)
def test_bandwidth_available_is_free_left_plus_staked_left(
    resource: dict[str, int], available: int
) -> None:
    assert bandwidth_available(resource) == available


# --- the follower: fees burned, energy delegated ----------------------------------------------


async def _journaled(world: World, plan: dict[str, Any]) -> str:
    """An attempt journaled and in flight, by hand; its txid."""
    txid = uuid.uuid4().hex * 2
    attempt = f"{uuid.uuid4()}:0:1"
    await world.store.insert("tx_attempts", {"_id": attempt, "txid": txid, "plan": plan})
    await world.store.insert(
        "inflight",
        {
            "_id": txid,
            "attempt": attempt,
            "command": f"key-{txid[:8]}",
            "expiration_ms": world.node.genesis_ms + 3_600_000,
            "ref_block_number": 0,
            "at": world.now,
        },
    )
    return txid


def _included(world: World, txid: str, kind: str, fee_sun: int, ret: str = "SUCCESS") -> None:
    """Put the transaction in the newest block as java-tron renders it, with its receipt."""
    block = world.node.blocks[-1]
    value = {"owner_address": A_STRANGER_HEX}
    block.transactions.append(
        {
            "txID": txid,
            "raw_data": {"contract": [{"type": kind, "parameter": {"value": value}}]},
            "ret": [{"contractRet": ret}],
        }
    )
    block.receipts.append({"id": txid, "fee": fee_sun})


def _fees(world: World, asset: str) -> float | None:
    return _sample(world, "tron_worker_fees_burned_sun_total", asset=asset)


def _delegated(world: World) -> float | None:
    return _sample(world, "tron_worker_energy_delegated_total")


def _delegation(resource: int, balance_sun: int) -> dict[str, Any]:
    """A stake.delegate plan as handlers/stake.py journals it."""
    fields = {
        "owner_address": "TLsV52sRDL79HXGGm9yzwKibb6BeruhUzy",
        "receiver_address": "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8",
        "balance": balance_sun,
        "resource": resource,
    }
    return {"command": "stake.delegate", "contract_type": "DelegateResourceContract",
            "fields": fields, "resource": "ENERGY" if resource == 1 else "BANDWIDTH"}  # fmt: skip


async def test_a_confirmed_trx_transfer_counts_its_fee_once() -> None:
    world = World()
    wallet = await _funded_wallet(world)
    await world.follower.step()
    await _send(world, _transfer(wallet))
    await _chain(world)
    assert world.events.of("transfer.confirmed")
    assert _fees(world, "TRX") == 1_000  # every MemoryNode receipt's fee
    await _chain(world)
    assert _fees(world, "TRX") == 1_000


async def test_a_redone_block_counts_each_fate_once(world: MetricsWorld) -> None:
    await world.follower.step()  # the cursor
    usdt = {"token": "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", "symbol": "USDT"}
    paid = await _journaled(world, usdt)
    refused = await _journaled(world, {"amount_sun": 5})
    world.node.produce()
    _included(world, paid, "TriggerSmartContract", fee_sun=13_000_000)
    _included(world, refused, "TransferContract", fee_sun=100_000, ret="FAILED")
    world.node.solidify()
    journal = world.follower._journal
    untrack = journal.untrack

    async def crash_once(inflight: dict[str, Any]) -> None:
        journal.untrack = untrack  # type: ignore[method-assign]
        raise TransientError("the process died after the first fate")

    journal.untrack = crash_once  # type: ignore[method-assign]
    with pytest.raises(TransientError):
        await world.follower.step()
    assert _fees(world, "USDT") == 13_000_000, "counted when its fate was inserted"
    assert await world.follower.step(), "the block again: the cursor had not moved"
    assert _fees(world, "USDT") == 13_000_000, "the redo found the fate: not counted again"
    assert _fees(world, "TRX") == 100_000, "a failed transaction's fee counts too"
    fates = world.store.collections["fates"]
    assert {doc["fate"] for doc in fates.values()} == {"confirmed", "failed"}
    decided = world.metrics.registry.get_sample_value
    assert decided("tron_worker_attempt_fates_total", {"fate": "confirmed"}) == 1
    assert decided("tron_worker_attempt_fates_total", {"fate": "failed"}) == 1


async def test_delegated_energy_is_counted_on_confirmation_only(world: MetricsWorld) -> None:
    await world.follower.step()
    energy = await _journaled(world, _delegation(resource=1, balance_sun=50_000_000))
    failed = await _journaled(world, _delegation(resource=1, balance_sun=7_000_000))
    bandwidth = await _journaled(world, _delegation(resource=0, balance_sun=9_000_000))
    world.node.produce()
    _included(world, energy, "DelegateResourceContract", fee_sun=0)
    _included(world, failed, "DelegateResourceContract", fee_sun=270_000, ret="FAILED")
    _included(world, bandwidth, "DelegateResourceContract", fee_sun=0)
    world.node.solidify()
    assert await world.follower.step()
    assert _delegated(world) == 50_000_000, "energy confirmed; not the failure, not bandwidth"
    assert _fees(world, "TRX") == 270_000, "a system contract's fee is TRX's"


async def test_an_attempt_proven_absent_counts_nothing(world: MetricsWorld) -> None:
    await world.follower.step()
    txid = await _journaled(world, _delegation(resource=1, balance_sun=50_000_000))
    world.store.collections["inflight"][txid]["expiration_ms"] = world.node.genesis_ms
    world.node.produce()
    world.node.solidify()
    assert await world.follower.step()
    [fate] = world.store.collections["fates"].values()
    assert fate["fate"] == "absent"
    assert _delegated(world) == 0 and _fees(world, "TRX") is None


async def test_staked_bandwidth_counts_in_the_bandwidth_gauge(world: MetricsWorld) -> None:
    [hot] = await _wallets(world, "hot")
    _on_chain(world, hot, balance_sun=7_000_000, energy=0, free_used=600)  # free all used
    await world.check.check_once()
    assert _sample(world, "tron_worker_wallet_bandwidth_available", wallet=hot) == 0
    world.node.stake._stake(hot).frozen["BANDWIDTH"] = 100_000_000  # 100 TRX staked
    staked = await world.node.account_resource(hot)
    assert staked["NetLimit"] > 0
    await world.check.check_once()
    shown = _sample(world, "tron_worker_wallet_bandwidth_available", wallet=hot)
    assert shown == staked["NetLimit"] - staked["NetUsed"], "the staked allowance is shown"
