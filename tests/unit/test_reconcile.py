"""worker/reconcile.py over the in-memory twins: unexplained outflows pause their wallet
once, with one event and one count, whatever is redone; and the balance-drift check.

Outside transactions are signed with a managed wallet's own key (as a leaked key or a
second system would) and broadcast to the MemoryNode; foreign contract types are put in
a block as java-tron's JSON. The follower is stepped by the test.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

import tests.unit.test_pipeline as pipeline_tests
from schemas.documents import OutflowDoc
from tests.unit.test_pipeline import World
from tests.unit.test_transfer import A_STRANGER, START_BALANCE_SUN, _funded_wallet, _send, _transfer
from worker.abi import TRANSFER_TOPIC, transfer_call
from worker.errors import NodeUnavailable, TransientError
from worker.ports import BlockRef, SolidBlock
from worker.signer import KeystoreSigner
from worker.switches import scope_of
from worker.txbuild import (
    RawTransaction,
    address_from_base58,
    encode_raw,
    reference_of,
    signed_transaction,
    transfer,
    txid_of,
)
from worker.wiring import Wired, build_pipeline

USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
FEE_SUN = 1000  # every MemoryNode receipt's fee


class ReconcileWorld(World):
    wired: Wired


@pytest.fixture
async def world(monkeypatch: pytest.MonkeyPatch) -> ReconcileWorld:
    """A World whose wiring the test can reach (switches, the balance check)."""
    built: list[Wired] = []

    def capture(*args: Any, **kwargs: Any) -> Wired:
        built.append(build_pipeline(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(pipeline_tests, "build_pipeline", capture)
    made = ReconcileWorld()
    made.wired = built[0]
    return made


async def _ready(world: ReconcileWorld) -> str:
    """A funded hot wallet, and the follower running past one block."""
    wallet = await _funded_wallet(world)
    await world.follower.step()
    await _block(world)
    return wallet


async def _block(world: World) -> None:
    """Make one block of what was broadcast, solidify it, let the follower catch up."""
    world.node.produce()
    world.node.solidify()
    world.now += timedelta(seconds=3)
    while await world.follower.step():
        pass
    await world.sweeper.sweep_once()


def _wallet_doc(world: World, address: str) -> dict[str, Any]:
    return next(w for w in world.store.collections["wallets"].values() if w["address"] == address)


async def _reference(world: World) -> tuple[BlockRef, int]:
    head = await world.node.head()
    return head, head.timestamp_ms + 60_000


async def _outside_trx(world: World, wallet: str, amount_sun: int, to: str = A_STRANGER) -> str:
    """Sign a TRX transfer with the wallet's own key, outside the worker, and broadcast it."""
    reference, expiration_ms = await _reference(world)
    signed = KeystoreSigner(world.keystore).transfer(
        _wallet_doc(world, wallet),
        to=to,
        amount_sun=amount_sun,
        memo=b"",
        reference=reference,
        expiration_ms=expiration_ms,
        timestamp_ms=expiration_ms - 60_000,
    )
    assert (await world.node.broadcast_hex(signed.signed_hex)).accepted
    return signed.txid


async def _outside_usdt(world: World, wallet: str, amount: int) -> str:
    reference, expiration_ms = await _reference(world)
    signed = KeystoreSigner(world.keystore).trigger(
        _wallet_doc(world, wallet),
        contract=USDT,
        data_hex=transfer_call(A_STRANGER, amount),
        fee_limit_sun=30_000_000,
        reference=reference,
        expiration_ms=expiration_ms,
        timestamp_ms=expiration_ms - 60_000,
    )
    assert (await world.node.broadcast_hex(signed.signed_hex)).accepted
    return signed.txid


async def _stranger_pays(world: World, to: str, amount_sun: int) -> str:
    """A stranger's TRX transfer (the MemoryNode checks no signature)."""
    reference, expiration_ms = await _reference(world)
    block_bytes, block_hash = reference_of(reference.number, reference.id)
    contract = transfer(address_from_base58(A_STRANGER), address_from_base58(to), amount_sun)
    raw = encode_raw(
        RawTransaction(block_bytes, block_hash, expiration_ms, expiration_ms - 60_000, contract)
    )
    assert (await world.node.broadcast_hex(signed_transaction(raw, [bytes(65)]).hex())).accepted
    return txid_of(raw)


def _word(address: str) -> str:
    return address_from_base58(address)[1:].hex().rjust(64, "0")


async def _foreign_block(world: World, kind: str, value: dict[str, Any], logs: list[Any]) -> str:
    """A block holding one transaction as java-tron renders it (any contract type)."""
    txid = txid_of(repr((kind, value, len(world.node.blocks))).encode())
    world.node.produce()
    block = world.node.blocks[-1]
    block.transactions.append(
        {
            "txID": txid,
            "raw_data": {"contract": [{"type": kind, "parameter": {"value": value}}]},
            "ret": [{"contractRet": "SUCCESS"}],
        }
    )
    block.receipts.append({"id": txid, "fee": 345_000, "log": logs})
    world.node.solidify()
    while await world.follower.step():
        pass
    return txid


def _attention(world: World) -> list[dict[str, Any]]:
    return [e["event"]["payload"] for e in world.events.of("wallet.needs_attention")]


def _stored_attention(world: World) -> list[dict[str, Any]]:
    events = world.store.collections["events"].values()
    return [e for e in events if e["routing_key"] == "wallet.needs_attention"]


def _links(world: World, wallet: str) -> list[dict[str, Any]]:
    scope = scope_of("wallet", wallet)
    return [d for d in world.store.collections["switches"].values() if d["scope"] == scope]


def _counted(world: World, asset: str) -> float:
    return world.metrics.unexplained_outflow_total.labels(asset)._value.get()


def _redo_last_block(world: World) -> None:
    """Move the cursor back one block, as a crash before it moved (or a takeover) would."""
    cursor = world.store.collections["chain"]["cursor"]
    previous = world.node.blocks[cursor["number"] - 1]
    cursor.update(number=previous.number, block_id=previous.id, timestamp_ms=previous.timestamp_ms)
    world.follower._cursor = None  # what a takeover does


# --- unexplained outflows ------------------------------------------------------------------


async def test_an_unexplained_trx_transfer_pauses_the_wallet_with_one_event_and_count(
    world: ReconcileWorld,
) -> None:
    wallet = await _ready(world)
    txid = await _outside_trx(world, wallet, 7_000_000)
    await _block(world)
    paused = await world.wired.switches.blocking(wallet=wallet)
    assert paused is not None and paused.by == "reconciliation" and txid in paused.reason
    [event] = _attention(world)
    assert event["code"] == "UNEXPLAINED_OUTFLOW"
    assert (event["wallet"], event["txid"]) == (wallet, txid)
    assert (event["asset"], event["amount"], event["pause"]) == ("TRX", 7_000_000, paused.link)
    assert txid in event["message"] and wallet in event["message"]
    assert len(_stored_attention(world)) == 1
    assert _counted(world, "TRX") == 1
    [record] = world.store.collections["outflows"].values()
    parsed = OutflowDoc.from_mongo(record)
    assert OutflowDoc.from_mongo(parsed.to_mongo()) == parsed, "the stored form is its model"
    assert (parsed.id, parsed.pause, parsed.amount) == (txid, paused.link, 7_000_000)
    stored = [e["routing_key"] for e in world.store.collections["events"].values()]
    assert "control.paused" in stored, "the pause is announced too (by the relay)"


async def test_a_redo_of_the_block_pauses_once_and_emits_one_event(world: ReconcileWorld) -> None:
    wallet = await _ready(world)
    await _outside_trx(world, wallet, 1_000_000)
    await _block(world)
    _redo_last_block(world)
    assert await world.follower.step(), "the same block again"
    assert len(_links(world, wallet)) == 1, "one pause link"
    assert len(_stored_attention(world)) == 1, "one stored event"
    assert len({e["message_id"] for e in world.events.of("wallet.needs_attention")}) == 1
    assert _counted(world, "TRX") == 1


async def test_a_redo_after_an_operator_resumed_the_wallet_does_not_pause_it_again(
    world: ReconcileWorld,
) -> None:
    wallet = await _ready(world)
    await _outside_trx(world, wallet, 1_000_000)
    await _block(world)
    switches = world.wired.switches
    paused = await switches.blocking(wallet=wallet)
    assert paused is not None and paused.link is not None
    scope = scope_of("wallet", wallet)
    await switches.resume(scope, lifts=paused.link, reason="key rotated", by="ops")
    _redo_last_block(world)
    assert await world.follower.step()
    assert await switches.blocking(wallet=wallet) is None, "the resume stands"
    assert len(_links(world, wallet)) == 2 and len(_stored_attention(world)) == 1


async def test_a_crash_before_the_pause_is_finished_by_the_redo(
    world: ReconcileWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    wallet = await _ready(world)
    txid = await _outside_trx(world, wallet, 1_000_000)
    switches = world.wired.switches
    pause = switches.pause

    async def down(*args: Any, **kwargs: Any) -> Any:
        raise TransientError("database unavailable")

    monkeypatch.setattr(switches, "pause", down)
    world.node.produce()
    world.node.solidify()
    with pytest.raises(TransientError):
        await world.follower.step()
    assert world.store.collections["outflows"][txid]["pause"] is None, "recorded, not paused"
    assert await switches.blocking(wallet=wallet) is None
    monkeypatch.setattr(switches, "pause", pause)
    world.follower._cursor = None
    assert await world.follower.step()
    assert await switches.blocking(wallet=wallet) is not None
    assert len(_links(world, wallet)) == 1 and len(_stored_attention(world)) == 1
    assert _counted(world, "TRX") == 1, "counted by the insert that won, once"


async def test_a_crash_after_the_pause_finds_it_and_does_not_pause_again(
    world: ReconcileWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    wallet = await _ready(world)
    txid = await _outside_trx(world, wallet, 1_000_000)
    set_fields = world.store.set_fields
    failed: list[str] = []

    async def lost_once(collection: str, doc_id: str, fields: dict[str, Any]) -> None:
        if collection == "outflows" and not failed:
            failed.append(doc_id)
            raise TransientError("database unavailable")
        await set_fields(collection, doc_id, fields)

    monkeypatch.setattr(world.store, "set_fields", lost_once)
    world.node.produce()
    world.node.solidify()
    with pytest.raises(TransientError):
        await world.follower.step()
    world.follower._cursor = None
    assert await world.follower.step()
    [link] = _links(world, wallet)
    assert world.store.collections["outflows"][txid]["pause"] == link["_id"]
    assert [e["pause"] for e in _attention(world)] == [link["_id"]]


async def test_a_journaled_transaction_is_explained_even_when_its_block_is_redone(
    world: ReconcileWorld,
) -> None:
    wallet = await _ready(world)
    await _send(world, _transfer(wallet))
    await _block(world)
    assert world.events.of("transfer.confirmed")
    reconciler = world.follower._reconciler
    assert reconciler is not None
    spent, epoch = reconciler.flows(address_from_base58(wallet).hex()), reconciler.epoch
    assert spent.out_sun == 1_000_000 + FEE_SUN
    _redo_last_block(world)  # no longer in flight: the journal's txid claim explains it
    assert await world.follower.step()
    assert reconciler.flows(address_from_base58(wallet).hex()) == spent, "summed once"
    assert reconciler.epoch == epoch, "a redo is no gap: the baselines stand"
    assert await world.wired.switches.blocking(wallet=wallet) is None
    assert _attention(world) == [] and world.store.collections["outflows"] == {}
    assert _counted(world, "TRX") == 0


async def test_a_transfer_to_a_managed_wallet_is_no_outflow(world: ReconcileWorld) -> None:
    wallet = await _ready(world)
    await _stranger_pays(world, wallet, 5_000_000)
    await _block(world)
    assert await world.wired.switches.blocking(wallet=wallet) is None
    assert _attention(world) == [] and world.store.collections["outflows"] == {}


async def test_an_unexplained_usdt_transfer_is_one_finding_not_one_per_log(
    world: ReconcileWorld,
) -> None:
    wallet = await _ready(world)
    txid = await _outside_usdt(world, wallet, 4_000_000)
    await _block(world)
    [event] = _attention(world)
    assert (event["txid"], event["asset"], event["amount"]) == (txid, "USDT", 4_000_000)
    assert list(world.store.collections["outflows"]) == [txid], "its own Transfer log is it"
    assert _counted(world, "USDT") == 1
    assert await world.wired.switches.blocking(wallet=wallet) is not None


async def test_a_usdt_transfer_log_from_a_managed_wallet_in_anothers_transaction_is_found(
    world: ReconcileWorld,
) -> None:
    """transferFrom by someone holding an approval: the stranger owns the transaction."""
    wallet = await _ready(world)
    usdt_hex = address_from_base58(USDT).hex()
    amount_word = f"{9_000_000:064x}"
    call = "23b872dd" + _word(wallet) + _word(A_STRANGER) + amount_word
    owner = address_from_base58(A_STRANGER).hex()
    log = {
        "address": usdt_hex[2:],
        "topics": [TRANSFER_TOPIC, _word(wallet), _word(A_STRANGER)],
        "data": amount_word,
    }
    value = {"owner_address": owner, "contract_address": usdt_hex, "data": call}
    txid = await _foreign_block(world, "TriggerSmartContract", value, [log])
    [event] = _attention(world)
    assert (event["wallet"], event["txid"], event["asset"]) == (wallet, txid, "USDT")
    assert event["amount"] == 9_000_000
    assert list(world.store.collections["outflows"]) == [f"{txid}:0"]
    assert await world.wired.switches.blocking(wallet=wallet) is not None


async def test_any_contract_a_managed_wallet_owns_unexplained_is_an_outflow(
    world: ReconcileWorld,
) -> None:
    """A delegation (java-tron's JSON, hex addresses) moves `balance` sun of resources."""
    wallet = await _ready(world)
    value = {
        "owner_address": address_from_base58(wallet).hex(),
        "receiver_address": address_from_base58(A_STRANGER).hex(),
        "resource": "ENERGY",
        "balance": 3_000_000,
    }
    txid = await _foreign_block(world, "DelegateResourceContract", value, [])
    [event] = _attention(world)
    assert (event["txid"], event["asset"], event["amount"]) == (txid, "TRX", 3_000_000)
    assert "DelegateResourceContract" in event["message"]


async def test_a_field_it_cannot_read_never_stops_the_follower(world: ReconcileWorld) -> None:
    """Call data that is not hex: still an outflow (amount 0), and the follower walks on."""
    wallet = await _ready(world)
    value = {
        "owner_address": address_from_base58(wallet).hex(),
        "contract_address": address_from_base58(USDT).hex(),
        "data": "a9059cbb" + "zz" * 64,
    }
    txid = await _foreign_block(world, "TriggerSmartContract", value, [])
    [event] = _attention(world)
    assert (event["txid"], event["asset"], event["amount"]) == (txid, "USDT", 0)
    cursor = world.store.collections["chain"]["cursor"]
    assert cursor["number"] == world.node.blocks[-1].number, "it walked on"


async def test_a_strangers_transfer_to_a_stranger_is_none_of_its_business(
    world: ReconcileWorld,
) -> None:
    """A stranger's own transfer to a stranger touches no managed wallet."""
    await _ready(world)
    value = {
        "owner_address": address_from_base58(A_STRANGER).hex(),
        "to_address": address_from_base58(USDT).hex(),
        "amount": 5,
    }
    await _foreign_block(world, "TransferContract", value, [])
    assert _attention(world) == [] and world.store.collections["outflows"] == {}


# --- balance drift ---------------------------------------------------------------------------


def _set_balance(world: World, wallet: str, balance_sun: int) -> None:
    world.node.accounts[wallet]["balance"] = balance_sun


async def test_drift_is_zero_for_journaled_spending_and_inflows_and_shows_a_leak(
    world: ReconcileWorld,
) -> None:
    wallet = await _ready(world)
    check = world.wired.balance_check
    assert await check.check_once() == {wallet: 0}, "the baseline"
    await _send(world, _transfer(wallet, amount_sun=1_000_000))
    await _block(world)
    assert world.events.of("transfer.confirmed")
    balance = START_BALANCE_SUN - 1_000_000 - FEE_SUN
    _set_balance(world, wallet, balance)
    assert await check.check_once() == {wallet: 0}, "the journal explains amount and fee"
    await _stranger_pays(world, wallet, 2_000_000)
    await _block(world)
    balance += 2_000_000
    _set_balance(world, wallet, balance)
    assert await check.check_once() == {wallet: 0}, "an inflow the follower saw"
    await _outside_trx(world, wallet, 3_000_000)
    await _block(world)
    _set_balance(world, wallet, balance - 3_000_000 - FEE_SUN)
    assert await check.check_once() == {wallet: -3_001_000}, "the leak, amount and fee"
    gauge = world.metrics.wallet_balance_drift_sun.labels(wallet)._value.get()
    assert gauge == -3_001_000
    _set_balance(world, wallet, balance - 3_000_000 - FEE_SUN + 500)
    assert await check.check_once() == {wallet: -3_000_500}, "cumulative since the baseline"


async def test_a_wallet_with_an_attempt_in_flight_waits_for_the_next_round(
    world: ReconcileWorld,
) -> None:
    wallet = await _ready(world)
    check = world.wired.balance_check
    assert await check.check_once() == {wallet: 0}
    await _send(world, _transfer(wallet, amount_sun=1_000_000))
    _set_balance(world, wallet, START_BALANCE_SUN - 1_000_000 - FEE_SUN)  # the head view
    assert await check.check_once() == {}, "not judged while its attempt is in flight"
    await _block(world)
    assert await check.check_once() == {wallet: 0}


async def test_only_the_process_following_the_chain_judges(world: ReconcileWorld) -> None:
    wallet = await _ready(world)
    check = world.wired.balance_check
    _set_balance(world, wallet, 1)
    assert await check.check_once() == {wallet: 0}
    world.store.collections["chain"]["cursor"]["number"] += 1  # mid-block: skip, keep
    assert await check.check_once() == {}
    assert check._baselines, "a block in progress keeps the baselines"
    world.store.collections["chain"]["cursor"]["number"] += 20  # another process moved on
    assert await check.check_once() == {}
    assert not check._baselines
    sample = world.metrics.registry.get_sample_value(
        "tron_worker_wallet_balance_drift_sun", {"wallet": wallet}
    )
    assert sample is None, "no stale figure left behind"


async def test_a_gap_in_the_blocks_followed_takes_a_new_baseline(world: ReconcileWorld) -> None:
    wallet = await _ready(world)
    check = world.wired.balance_check
    assert await check.check_once() == {wallet: 0}
    _set_balance(world, wallet, START_BALANCE_SUN - 77)  # moved while another process followed
    reconciler = world.follower._reconciler
    assert reconciler is not None and reconciler.through is not None
    far = reconciler.through + 3
    await reconciler.check_block(SolidBlock(far, "a" * 64, "b" * 64, 0, [], [], "t"), set(), ())
    world.store.collections["chain"]["cursor"]["number"] = far
    assert await check.check_once() == {wallet: 0}, "sums that skipped blocks judge nothing"


async def test_the_balance_loop_counts_a_failure_and_goes_on(world: ReconcileWorld) -> None:
    wallet = await _ready(world)
    check = world.wired.balance_check
    stop = asyncio.Event()
    calls: list[str] = []

    async def down(address: str) -> dict[str, Any] | None:
        calls.append(address)
        if len(calls) > 1:
            stop.set()
        raise NodeUnavailable("account: no endpoint answered")

    world.node.account = down  # type: ignore[method-assign]
    check._interval_s = 0.001
    await asyncio.wait_for(check.run(stop), timeout=5)
    assert calls == [wallet, wallet], "it went on after the first failure"
    assert world.metrics.background_errors_total.labels("balance_check")._value.get() == 2
