"""payout.create over the in-memory twins: one transaction per line, each exactly once,
a batch checked before its first signature, and one summary at the end."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.unit.test_pipeline import World, command
from tests.unit.test_transfer import START_BALANCE_SUN, _chain, _funded_wallet
from worker.errors import TransientError

USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"


def _recipient(index: int) -> str:
    from tronpy.keys import PrivateKey

    return PrivateKey(bytes([index + 1]) * 32).public_key.to_base58check_address()


def _lines(count: int, amount: int = 1000) -> list[dict[str, Any]]:
    return [
        {"to": _recipient(i), "amount": amount + i, "reference": f"invoice-{i}"}
        for i in range(count)
    ]


async def _ready(usdt: int = 0) -> tuple[World, str]:
    world = World()
    wallet = await _funded_wallet(world)
    for index in range(100):  # recipients exist: no activation fees in these sums
        world.node.accounts[_recipient(index)] = {"balance": 1}
    world.node.token_balances[wallet] = usdt
    await world.follower.step()
    return world, wallet


async def _pay(world: World, wallet: str | None, lines: list[dict[str, Any]], **extra: Any):  # type: ignore[no-untyped-def]
    key = extra.pop("key", "payout-1")
    payload: dict[str, Any] = {"asset": "TRX", "recipients": lines, **extra}
    if wallet is not None:
        payload["source_wallet"] = wallet
    body = command("payout.create", key=key, payload=payload)
    return await world.deliver(body, family="payout", routing_key="command.payout.create")


def _kinds(world: World) -> list[str]:
    return [
        p["routing_key"] for p in world.events.published if p["routing_key"].startswith("payout")
    ]


async def test_a_three_line_payout_pays_each_line_once_and_ends_with_one_summary() -> None:
    world, wallet = await _ready()
    delivery = await _pay(world, wallet, _lines(3))
    assert delivery.outcome == "ack"
    assert _kinds(world).count("payout.item.broadcast") == 3
    references = {
        b["event"]["payload"]["reference"] for b in world.events.of("payout.item.broadcast")
    }
    assert references == {"invoice-0", "invoice-1", "invoice-2"}
    await _chain(world)
    assert len(world.node.included()) == 3
    assert _kinds(world).count("payout.item.confirmed") == 3
    [completed] = world.events.of("payout.completed")
    summary = completed["event"]["payload"]
    assert (summary["confirmed"], summary["failed"]) == (3, 0)
    assert summary["total_amount_confirmed"] == 1000 + 1001 + 1002
    assert summary["total_fee_sun"] == 3 * 1000
    assert [line["reference"] for line in summary["items"]] == [
        "invoice-0",
        "invoice-1",
        "invoice-2",
    ]
    assert len(
        {e["event"]["seq"] for e in world.events.published if e["routing_key"].startswith("payout")}
    ) == len(_kinds(world)), "one seq per event"


async def test_a_hundred_lines_are_a_hundred_transactions_even_across_a_crash() -> None:
    world, wallet = await _ready()
    original = world.store.insert
    journaled = [0]

    async def dies_mid_batch(collection: str, doc: dict[str, Any]) -> bool:
        if collection == "tx_attempts":
            journaled[0] += 1
            if journaled[0] == 51:
                raise TransientError("the worker died while signing the batch")
        return await original(collection, doc)

    world.store.insert = dies_mid_batch  # type: ignore[method-assign]
    await _pay(world, wallet, _lines(100))
    world.store.insert = original  # type: ignore[method-assign]
    assert 0 < len(world.store.collections["tx_attempts"]) < 100, "stopped mid-batch"
    world.now += timedelta(seconds=31)
    await world.sweeper.sweep_once()  # the retry (or the sweeper) takes it over
    await _chain(world)
    txids = world.node.included()
    assert len(txids) == len(set(txids)) == 100, "one transaction per line"
    owners = {doc["item"] for doc in world.store.collections["tx_attempts"].values()}
    assert owners == set(range(100))
    [completed] = world.events.of("payout.completed")
    assert completed["event"]["payload"]["confirmed"] == 100


async def test_the_batch_is_checked_before_the_first_signature() -> None:
    world, wallet = await _ready()
    half = START_BALANCE_SUN // 2
    await _pay(world, wallet, _lines(3, amount=half), key="too-much")
    await _pay(world, None, _lines(3, amount=half), key="no-hot-wallet-can")
    codes = [r["event"]["payload"]["code"] for r in world.events.of("payout.rejected")]
    assert codes == ["INSUFFICIENT_BALANCE", "INSUFFICIENT_FUNDS"]
    assert world.store.collections["tx_attempts"] == {} and world.node.pending == {}


async def test_without_a_source_the_pool_pays_and_gives_its_reservation_back() -> None:
    from worker.reservations import Reservations, chain_of

    world, wallet = await _ready()
    await _pay(world, None, _lines(2))
    chain = chain_of(wallet, "TRX")
    reservations = Reservations(world.store, lambda: world.now)
    assert await reservations.reserved(chain) == 1000 + 1001, "reserved while in flight"
    await _chain(world)
    [completed] = world.events.of("payout.completed")
    assert completed["event"]["payload"]["source_wallet"] == wallet
    assert await reservations.reserved(chain) == 0, "given back once every line ended"


async def test_two_payouts_racing_for_one_wallet_never_both_count_its_balance() -> None:
    import asyncio

    world, _ = await _ready()
    most = START_BALANCE_SUN * 3 // 4  # either payout fits alone, not both
    first = _pay(world, None, [{"to": _recipient(0), "amount": most, "reference": "a"}], key="a")
    second = _pay(world, None, [{"to": _recipient(1), "amount": most, "reference": "b"}], key="b")
    await asyncio.gather(first, second)
    assert len(world.events.of("payout.item.broadcast")) == 1, "exactly one got the funds"
    [rejected] = world.events.of("payout.rejected")
    assert rejected["event"]["payload"]["code"] == "INSUFFICIENT_FUNDS"


async def test_a_failed_line_is_reported_and_the_rest_complete() -> None:
    world, wallet = await _ready()
    world.node.fail_next = "OUT_OF_ENERGY"
    await _pay(world, wallet, _lines(3))
    await _chain(world)
    [failed] = world.events.of("payout.item.failed")
    assert failed["event"]["payload"]["retry_safe"] is False
    [completed] = world.events.of("payout.completed")
    summary = completed["event"]["payload"]
    assert (summary["confirmed"], summary["failed"]) == (2, 1)
    assert [line["state"] for line in summary["items"]].count("failed") == 1


async def test_a_usdt_payout_signs_each_line_with_its_own_fee_limit() -> None:
    world, wallet = await _ready(usdt=10_000_000)
    await _pay(world, wallet, _lines(3, amount=1_000_000), asset="USDT")
    attempts = list(world.store.collections["tx_attempts"].values())
    assert len(attempts) == 3
    assert {a["plan"]["fee_limit_sun"] for a in attempts} == {7_680_000}
    await _chain(world)
    [completed] = world.events.of("payout.completed")
    assert completed["event"]["payload"]["confirmed"] == 3
    assert completed["event"]["payload"]["asset"] == "USDT"


async def test_a_payout_publishing_twice_pays_once() -> None:
    world, wallet = await _ready()
    lines = _lines(3)
    await _pay(world, wallet, lines)
    await _pay(world, wallet, lines)
    await _chain(world)
    await _pay(world, wallet, lines)
    assert len(world.node.included()) == 3
    assert len({c["message_id"] for c in world.events.of("payout.completed")}) == 1


async def test_a_failed_line_is_announced_before_the_others_finish() -> None:
    world, wallet = await _ready()
    world.node.fail_next = "OUT_OF_ENERGY"  # the first line broadcast fails on chain
    await _pay(world, wallet, _lines(2))
    held_back = dict(list(world.node.pending.items())[1:])  # the second line: not yet
    for txid in held_back:
        del world.node.pending[txid]
    await _chain(world)
    assert len(world.events.of("payout.item.failed")) == 1, "announced at once"
    assert world.events.of("payout.completed") == [], "the other line is still on its way"
    world.node.pending.update(held_back)
    await _chain(world)
    [completed] = world.events.of("payout.completed")
    assert (
        completed["event"]["payload"]["confirmed"],
        completed["event"]["payload"]["failed"],
    ) == (1, 1)
    assert len(world.events.of("payout.item.failed")) == 1, "announced once"
