"""transfer.trx over the in-memory twins: the journal, the chain follower and every fate.

The chain is worker.memory_node.MemoryNode, advanced by hand (3 s blocks); the
follower and the sweeper are stepped by the test, so nothing sleeps. Devnet's
ledger and real crashes are the integration tests' business.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from tests.unit.test_pipeline import NOW, World, command
from worker.errors import NodeUnavailable

A_STRANGER = "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8"
START_BALANCE_SUN = 50_000_000


async def _funded_wallet(world: World) -> str:
    await world.deliver(command(key="make-wallet", payload={"count": 1, "purpose": "hot"}))
    [created] = world.events.of("wallet.created")
    address = created["event"]["payload"]["addresses"][0]
    world.node.accounts[address] = {"address": address, "balance": START_BALANCE_SUN}
    world.node.accounts[A_STRANGER] = {"address": A_STRANGER, "balance": 0}
    return address


def _transfer(wallet: str, key: str = "pay-1", amount_sun: int = 1_000_000, **extra: Any) -> bytes:
    payload = {"wallet": wallet, "to": A_STRANGER, "amount_sun": amount_sun, **extra}
    return command("transfer.trx", key=key, payload=payload)


async def _send(world: World, body: bytes):  # type: ignore[no-untyped-def]
    return await world.deliver(body, family="transfer", routing_key="command.transfer.trx")


async def _follow(world: World) -> None:
    """Let the follower catch up with the solidified chain, then the sweeper wake commands."""
    while await world.follower.step():
        pass
    await world.sweeper.sweep_once()


async def _chain(world: World, blocks: int = 1) -> None:
    world.node.produce(blocks)
    world.node.solidify()
    world.now += timedelta(seconds=3 * blocks)
    await _follow(world)


def _types(world: World) -> list[str]:
    return [
        p["routing_key"] for p in world.events.published if p["routing_key"].startswith("transfer")
    ]


async def _ready() -> tuple[World, str]:
    world = World()
    wallet = await _funded_wallet(world)
    await world.follower.step()  # the follower is running before any transfer
    return world, wallet


async def test_a_transfer_is_journaled_broadcast_acked_then_confirmed_by_the_follower() -> None:
    world, wallet = await _ready()
    delivery = await _send(world, _transfer(wallet))
    assert delivery.outcome == "ack", "acked once journaled: nothing waits for the chain"
    assert _types(world) == ["transfer.accepted", "transfer.broadcast"]
    [attempt] = world.store.collections["tx_attempts"].values()
    assert list(world.node.pending) == [attempt["txid"]]
    [doc] = [d for d in world.store.collections["commands"].values() if d["type"] == "transfer.trx"]
    assert doc["state"] == "broadcast" and doc["terminal"] is False
    await _chain(world)
    assert _types(world)[-1] == "transfer.confirmed"
    confirmed = world.events.of("transfer.confirmed")[0]["event"]["payload"]
    assert confirmed["txid"] == attempt["txid"] and confirmed["block_number"] == 1
    assert confirmed["fee_sun"] == 1000
    assert confirmed["bandwidth_used"] > 0
    [doc] = [d for d in world.store.collections["commands"].values() if d["type"] == "transfer.trx"]
    assert doc["state"] == "completed" and doc["terminal"] is True
    assert world.node.included() == [attempt["txid"]]
    assert world.store.collections["inflight"] == {}


async def test_the_same_transfer_five_times_is_one_transaction_and_identical_events() -> None:
    world, wallet = await _ready()
    body = _transfer(wallet)
    for _ in range(5):
        await _send(world, body)
    await _chain(world)
    for _ in range(2):
        await _send(world, body)
    assert len(world.node.included()) == 1
    confirmed = world.events.of("transfer.confirmed")
    assert len({c["message_id"] for c in confirmed}) == 1 and len(confirmed) == 3
    assert len({c["body"] for c in confirmed}) == 1, "byte-identical re-publications"


async def test_a_dropped_broadcast_is_proven_absent_after_expiry_and_rebuilt_once() -> None:
    world, wallet = await _ready()
    world.node.drop_broadcasts = True
    await _send(world, _transfer(wallet))
    world.node.drop_broadcasts = False
    await _chain(world, 19)  # 57 s: not yet past the 60 s expiration
    assert world.events.of("transfer.confirmed") == []
    assert len(world.store.collections["tx_attempts"]) == 1
    await _chain(world, 2)  # the first block at or past expiration: proven absent
    attempts = sorted(world.store.collections["tx_attempts"].values(), key=lambda a: a["attempt"])
    assert [a["attempt"] for a in attempts] == [1, 2]
    assert attempts[0]["txid"] != attempts[1]["txid"], "a new reference block, a new txid"
    assert world.metrics.rebuilds_total._value.get() == 1
    await _chain(world)
    assert world.node.included() == [attempts[1]["txid"]], "exactly one transfer landed"
    [confirmed] = world.events.of("transfer.confirmed")
    assert confirmed["event"]["payload"]["txid"] == attempts[1]["txid"]
    broadcasts = world.events.of("transfer.broadcast")
    assert len({b["message_id"] for b in broadcasts}) == 2, "one broadcast event per attempt"


async def test_a_lost_response_is_resent_as_the_same_bytes_and_never_rebuilt() -> None:
    world, wallet = await _ready()
    original = world.node.broadcast_hex
    lost = [True]

    async def included_but_reply_lost(transaction_hex: str):  # type: ignore[no-untyped-def]
        reply = await original(transaction_hex)
        if lost[0]:
            lost[0] = False
            raise NodeUnavailable("the reply was lost")
        return reply

    world.node.broadcast_hex = included_but_reply_lost  # type: ignore[method-assign]
    await _send(world, _transfer(wallet))
    assert world.sleeps, "backed off before sending the same bytes again"
    await _chain(world, 25)
    assert len(world.store.collections["tx_attempts"]) == 1
    assert len(world.node.included()) == 1
    assert len(world.events.of("transfer.confirmed")) == 1


async def test_a_node_saying_balance_insufficient_after_journaling_does_not_fail_it() -> None:
    # Attempt 1 landed but its reply was lost; another node now refuses the same bytes.
    world, wallet = await _ready()
    original = world.node.broadcast_hex

    async def landed_then_refused(transaction_hex: str):  # type: ignore[no-untyped-def]
        await original(transaction_hex)
        world.node.refuse_with = "CONTRACT_VALIDATE_ERROR"
        raise NodeUnavailable("the reply was lost")

    world.node.broadcast_hex = landed_then_refused  # type: ignore[method-assign]
    await _send(world, _transfer(wallet))
    assert world.events.of("transfer.failed") == []
    await _chain(world)
    assert len(world.events.of("transfer.confirmed")) == 1, "the follower confirmed attempt 1"


async def test_a_failure_receipt_is_failed_with_the_reason_and_not_retry_safe() -> None:
    world, wallet = await _ready()
    world.node.fail_next = "OUT_OF_ENERGY"
    await _send(world, _transfer(wallet))
    await _chain(world)
    [failed] = world.events.of("transfer.failed")
    payload = failed["event"]["payload"]
    assert payload["code"] == "OUT_OF_ENERGY" and payload["retry_safe"] is False
    assert payload["txid"] == next(iter(world.store.collections["tx_attempts"].values()))["txid"]


async def test_rebuilds_are_capped_then_failed_retry_safe() -> None:
    world, wallet = await _ready()
    world.node.drop_broadcasts = True
    await _send(world, _transfer(wallet))
    for _ in range(3):
        await _chain(world, 21)
    [failed] = world.events.of("transfer.failed")
    assert failed["event"]["payload"]["code"] == "REBUILDS_EXHAUSTED"
    assert failed["event"]["payload"]["retry_safe"] is True
    assert len(world.store.collections["tx_attempts"]) == 3 and world.node.included() == []


async def test_plainly_impossible_transfers_are_rejected_before_signing() -> None:
    world, wallet = await _ready()
    await _send(world, _transfer(wallet, key="too-much", amount_sun=START_BALANCE_SUN + 1))
    new_account = "TXYZopYRdj2D9XRtbG411XZZ3kM5VkAeBf"
    await _send(world, _transfer(A_STRANGER, key="not-ours", to=new_account))
    codes = [r["event"]["payload"]["code"] for r in world.events.of("transfer.rejected")]
    assert codes == ["INSUFFICIENT_BALANCE", "UNKNOWN_WALLET"]
    assert world.store.collections["tx_attempts"] == {} and world.node.pending == {}


async def test_the_follower_makes_one_call_pair_per_block_whatever_is_in_flight() -> None:
    world, wallet = await _ready()
    for index in range(10):
        await _send(world, _transfer(wallet, key=f"many-{index}", amount_sun=1000 + index))
    world.node.calls.clear()
    world.node.produce(5)
    world.node.solidify()
    while await world.follower.step():
        pass
    assert world.node.calls == {"solid_block": 6}, "5 blocks, and one look past the head"
    await world.sweeper.sweep_once()
    assert len(world.events.of("transfer.confirmed")) == 10


async def test_an_attempt_older_than_the_followers_coverage_is_never_called_absent() -> None:
    world = World()
    wallet = await _funded_wallet(world)
    world.node.drop_broadcasts = True
    await _send(world, _transfer(wallet))
    world.node.produce(1)
    world.node.solidify()
    await world.follower.step()  # the follower starts only now: after the reference block
    world.node.produce(25)
    world.node.solidify()
    world.now += timedelta(seconds=80)
    await _follow(world)
    assert len(world.store.collections["tx_attempts"]) == 1, "no rebuild on an unknown fate"
    [attention] = world.events.of("transfer.needs_attention")
    assert attention["event"]["payload"]["code"] == "FATE_UNKNOWN"


async def test_a_journaled_transfer_is_never_failed_by_exhaustion() -> None:
    world, wallet = await _ready()
    world.node.unavailable = False
    body = _transfer(wallet)
    await _send(world, body)
    key = next(
        k for k, d in world.store.collections["commands"].items() if d["type"] == "transfer.trx"
    )
    result = await world.executor.give_up(key, "RETRIES_EXHAUSTED", "x", attention=False)
    assert result in {"resume", "held"}
    assert world.events.of("transfer.failed") == []
    assert json.loads(body)["command_id"]
    assert NOW


async def test_a_transfer_never_signs_after_expiry_and_a_stale_holder_cannot_either() -> None:
    world, wallet = await _ready()
    world.node.unavailable = True  # the first delivery claims it, then cannot build
    first = await _send(world, _transfer(wallet))
    assert first.outcome == "ack" and world.store.collections["tx_attempts"] == {}
    world.node.unavailable = False
    world.now = NOW + timedelta(hours=25)  # past expires_at
    await world.sweeper.sweep_once()
    [failed] = world.events.of("transfer.failed")
    assert failed["event"]["payload"]["code"] == "EXPIRED"
    assert failed["event"]["payload"]["retry_safe"] is True
    [sealed] = world.store.collections["tx_attempts"].values()
    assert sealed["void"] is True and world.node.pending == {}
    # A stale holder that got past its checks cannot journal attempt 1 any more.
    from worker.journal import Journal

    stored = await Journal(world.store, lambda: world.now).record({**sealed, "void": False})
    assert stored["void"] is True


async def test_the_follower_keeps_its_lease_through_a_node_outage() -> None:
    # A failed step used to leave the lease loop, and the follower waited for its own
    # lease to expire (lease_s) before it could walk again.
    import asyncio

    world, _ = await _ready()
    stop = asyncio.Event()
    original = world.node.solid_block
    calls = [0]

    async def down_once(number: int):  # type: ignore[no-untyped-def]
        calls[0] += 1
        if calls[0] == 1:
            raise NodeUnavailable("every endpoint timed out")
        block = await original(number)
        if block is not None:
            stop.set()
        return block

    world.node.solid_block = down_once  # type: ignore[method-assign]
    world.node.produce()
    world.node.solidify()
    await asyncio.wait_for(world.follower.run(stop), timeout=5)
    assert world.metrics.background_errors_total.labels("follower")._value.get() == 1
    assert world.metrics.follower_block._value.get() == 1, "it walked on after the outage"
    assert sorted(world.store.collections["leases"]) == ["chain-follower:1"], "one lease"


async def test_the_follower_decides_every_attempt_in_flight_beyond_one_page() -> None:
    # With more attempts in flight than one scan page, an attempt left out of a block's
    # check could be included unmatched, recorded `seen`, and never decided.
    world, wallet = await _ready()
    for index in range(5):
        await _send(world, _transfer(wallet, key=f"page-{index}", amount_sun=2000 + index))
    inflight = await world.follower._journal.inflight(page_size=2)
    assert len(inflight) == 5


async def test_a_memo_is_part_of_the_balance_the_pre_check_requires() -> None:
    world, wallet = await _ready()
    world.node.accounts[wallet]["balance"] = 1_500_000
    await _send(world, _transfer(wallet, amount_sun=1_000_000, memo="invoice 7"))
    [rejected] = world.events.of("transfer.rejected")
    assert rejected["event"]["payload"]["code"] == "INSUFFICIENT_BALANCE"
    assert "2000000 sun" in rejected["event"]["payload"]["message"], "amount + 1 TRX memo fee"


async def test_wake_ups_that_make_progress_do_not_use_up_the_sweepers_budget() -> None:
    # Every wake-up is a takeover (a new lease epoch). Counted from the claim, a transfer
    # woken more than max_epochs times went to needs_attention although it was fine.
    from tests.unit.test_sweeper import _sweeper

    world, wallet = await _ready()
    await _send(world, _transfer(wallet))
    key = next(
        k for k, d in world.store.collections["commands"].items() if d["type"] == "transfer.trx"
    )
    command_doc = world.store.collections["commands"][key]
    sweeper = _sweeper(world, max_epochs=4)
    for _ in range(8):  # woken with no news yet: it re-sends and waits again
        await world.store.insert(
            "active", {"_id": key, "ref": command_doc["ref"], "marked_at": world.now}
        )
        await sweeper.sweep_once()
    await _chain(world)
    assert world.events.of("transfer.needs_attention") == []
    assert len(world.events.of("transfer.confirmed")) == 1
