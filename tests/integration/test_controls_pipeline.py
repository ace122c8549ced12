# ruff: noqa: F811  (pytest fixtures imported from the transfer tests)
"""Money controls end to end: RabbitMQ, FerretDB, worker processes and a devnet of its own.

Every refusal has its code, its figures and nothing signed on the devnet ledger; a
daily cap raced by two workers admits exactly what it holds; a pause stops what is
queued and lets what is signed land.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import aio_pika
import pytest
from tronpy.keys import PrivateKey

from devnet.trc20_genesis import DEFAULT_USDT_OWNER_KEY
from tests.integration.test_transfer_pipeline import (  # noqa: F401
    USDT,
    _hot_wallet,
    _post,
    _signer_for,
    _start,
    _until,
    balance_sun,
    call_usdt,
    database,
    devnet,
    transfer_command,
    usdt_balance,
    usdt_command,
)
from tests.support import next_message
from worker.metrics import Metrics
from worker.outbox import Outbox
from worker.store import MongoStore
from worker.switches import Switches, scope_of

pytestmark = pytest.mark.integration


def _switches(database) -> Switches:  # type: ignore[no-untyped-def]
    """Kill switches over the worker's own database, as the CLI throws them."""

    async def never(*args: Any) -> None:
        raise AssertionError("the relay of a running worker publishes these events")

    store = MongoStore(database)
    outbox = Outbox(store, never, Metrics(), sweep_after_s=2.0)
    return Switches(store, outbox, lambda: datetime.now(UTC))


def payout(
    asset: str, lines: list[dict[str, Any]], wallet: str | None = None, key: str = ""
) -> bytes:
    payload: dict[str, Any] = {"asset": asset, "recipients": lines}
    if wallet is not None:
        payload["source_wallet"] = wallet
    return json.dumps(
        {
            "command_id": str(uuid.uuid4()),
            "idempotency_key": key or f"payout-{uuid.uuid4().hex}",
            "type": "payout.create",
            "schema_version": 1,
            "issued_at": datetime.now(UTC).isoformat(),
            "payload": payload,
        }
    ).encode()


async def _blacklist(devnet, holder: str) -> None:  # type: ignore[no-untyped-def]
    """The USDT owner (devnet's public test key) blacklists holder, on chain."""
    from worker.abi import _word_of_address

    owner_key = PrivateKey(bytes.fromhex(DEFAULT_USDT_OWNER_KEY))
    owner = owner_key.public_key.to_base58check_address()
    # addBlackList(address)
    signer, sealed = _signer_for(owner, private_key=bytes.fromhex(DEFAULT_USDT_OWNER_KEY))
    await call_usdt(devnet, signer, sealed, "0ecb93c0" + _word_of_address(holder))


async def _terminal(events, count: int, family: str = "payout", timeout_s: float = 120, seen=None):  # type: ignore[no-untyped-def]
    """The first `count` terminal events of a family, by idempotency key (every routing
    key on the way appended to `seen`)."""
    ended: dict[str, dict[str, Any]] = {}
    terminal = {
        f"{family}.completed",
        f"{family}.confirmed",
        f"{family}.rejected",
        f"{family}.failed",
    }
    while len(ended) < count:
        message = await next_message(events, timeout_s)
        await message.ack()
        if seen is not None:
            seen.append(message.routing_key)
        if message.routing_key in terminal:
            event = json.loads(message.body)
            ended[event["idempotency_key"]] = event
    return ended


async def test_every_policy_refusal_has_its_code_and_figures_and_signs_nothing(
    make_worker,
    amqp,
    namespace,
    devnet,
    database,
):
    denied = PrivateKey.random().public_key.to_base58check_address()
    limits = {"TRX": {"min_item": 1_000, "max_item": 50_000_000, "daily": 30_000_000}}
    worker = await _start(
        make_worker,
        devnet,
        TRON_WORKER_CONTROLS__LIMITS=json.dumps(limits),
        TRON_WORKER_CONTROLS__DENY=json.dumps([denied]),
    )
    commands, events, wallet = await _hot_wallet(amqp, namespace, devnet)
    await _post(devnet, "/devnet/fund", {"address": wallet, "token": "USDT", "amount": 9_000_000})
    listed = PrivateKey.random().public_key.to_base58check_address()
    await _blacklist(devnet, listed)
    someone = PrivateKey.random().public_key.to_base58check_address()
    bodies = [
        (transfer_command(wallet, someone, 999), "AMOUNT_BELOW_MINIMUM", "999 sun"),
        (transfer_command(wallet, someone, 50_000_001), "AMOUNT_ABOVE_LIMIT", "50000000"),
        (transfer_command(wallet, denied, 5_000), "DESTINATION_DENIED", "deny-list"),
        (transfer_command(wallet, USDT, 5_000), "DESTINATION_IS_CONTRACT", USDT),
        (usdt_command(wallet, listed, 1_000), "DESTINATION_BLACKLISTED", listed),
    ]
    for body, *_ in bodies:
        kind = json.loads(body)["type"]
        await commands.publish(aio_pika.Message(body), f"command.{kind}")
    ended = await _terminal(events, len(bodies), family="transfer")
    for body, code, figure in bodies:
        event = ended[json.loads(body)["idempotency_key"]]
        assert event["type"] == "transfer.rejected", event
        assert event["payload"]["code"] == code and figure in event["payload"]["message"], event
    # The daily cap: 20 TRX passes, 20 more would pass the item limit but not the day.
    first = transfer_command(wallet, someone, 20_000_000)
    await commands.publish(aio_pika.Message(first), "command.transfer.trx")
    await _until(events, {"transfer.confirmed"}, 60)
    second = transfer_command(wallet, someone, 20_000_000)
    await commands.publish(aio_pika.Message(second), "command.transfer.trx")
    [capped] = (await _terminal(events, 1, family="transfer")).values()
    assert capped["payload"]["code"] == "DAILY_LIMIT_EXCEEDED"
    assert (
        "20000000 used, 10000000 remaining, this item needs 20000000"
        in capped["payload"]["message"]
    )
    # Paused: the wallet.
    pause = await _switches(database).pause(
        scope_of("wallet", wallet), reason="key rotation", by="test"
    )
    third = transfer_command(wallet, someone, 5_000)
    await commands.publish(aio_pika.Message(third), "command.transfer.trx")
    [paused] = (await _terminal(events, 1, family="transfer")).values()
    assert paused["payload"]["code"] == "PAUSED" and pause["_id"] in paused["payload"]["message"]
    # Nothing of the refused ones was signed: one attempt (the first 20 TRX) in the journal
    # and on the ledger nothing reached the refused destinations.
    assert await database.tx_attempts.count_documents({}) == 1
    assert await balance_sun(devnet, someone) == 20_000_000
    assert await balance_sun(devnet, denied) == 0
    assert await usdt_balance(devnet, listed) == 0
    assert await worker.stop() == 0


async def test_two_workers_race_fifty_payouts_for_a_cap_that_admits_exactly_37(
    make_worker,
    amqp,
    namespace,
    devnet,
    database,
):
    amount = 1_000_000
    cap = {"TRX": {"daily": 37 * amount}}
    environment = {"TRON_WORKER_CONTROLS__LIMITS": json.dumps(cap)}
    first = await _start(make_worker, devnet, **environment)
    commands, events, wallet = await _hot_wallet(amqp, namespace, devnet)
    second = await _start(make_worker, devnet, **environment)
    people = [PrivateKey.random().public_key.to_base58check_address() for _ in range(5)]
    for who in people:  # existing accounts: no activation fees
        await _post(devnet, "/devnet/fund", {"address": who, "amount_sun": 1})
    bodies = [
        payout("TRX", [{"to": people[i % 5], "amount": amount, "reference": f"r{i}"}], wallet)
        for i in range(50)
    ]
    for body in bodies:
        await commands.publish(aio_pika.Message(body), "command.payout.create")
    ended = await _terminal(events, 50)
    paid = [e for e in ended.values() if e["type"] == "payout.completed"]
    refused = [e for e in ended.values() if e["type"] == "payout.rejected"]
    assert len(paid) == 37 and len(refused) == 13, (len(paid), len(refused))
    assert {e["payload"]["code"] for e in refused} == {"DAILY_LIMIT_EXCEEDED"}
    assert all(e["payload"]["confirmed"] == 1 for e in paid)
    received = sum([await balance_sun(devnet, who) - 1 for who in people])
    assert received == 37 * amount, "exactly the cap left the wallet"
    assert await first.stop() == 0 and await second.stop() == 0


async def test_a_redo_after_sigkill_mid_reservation_reserves_once(
    make_worker,
    amqp,
    namespace,
    devnet,
    database,
):
    cap = {"TRX": {"daily": 10_000_000}}
    environment = {"TRON_WORKER_CONTROLS__LIMITS": json.dumps(cap)}
    setup = await _start(make_worker, devnet)
    commands, events, wallet = await _hot_wallet(amqp, namespace, devnet)
    assert await setup.stop() == 0
    doomed = make_worker(
        TRON_WORKER_TRON__ENDPOINTS=json.dumps([devnet.url]),
        TRON_WORKER_CHAIN__FOLLOWER_INTERVAL_S="0.1",
        **environment,
    )
    doomed.start(crash_at="cap")
    someone = PrivateKey.random().public_key.to_base58check_address()
    await commands.publish(
        aio_pika.Message(transfer_command(wallet, someone, 4_000_000)), "command.transfer.trx"
    )
    assert await doomed.exited(timeout_s=60) == -9, "killed right after its cap link"
    survivor = await _start(make_worker, devnet, **environment)
    received = await _until(events, {"transfer.confirmed", "transfer.rejected"}, 90)
    assert received[-1].routing_key == "transfer.confirmed"
    links = [doc async for doc in database.cap_links.find({})]
    assert [link["total"] for link in links] == [4_000_000], "one link, however many runs"
    assert await balance_sun(devnet, someone) == 4_000_000
    assert await survivor.stop() == 0


async def test_a_usdt_pause_rejects_the_queued_payouts_lets_the_signed_land_and_resume_reopens(
    make_worker,
    amqp,
    namespace,
    devnet,
    database,
):
    worker = await _start(make_worker, devnet, TRON_WORKER_WORKER__MAX_CONCURRENCY="2")
    commands, events, wallet = await _hot_wallet(amqp, namespace, devnet)
    await _post(devnet, "/devnet/fund", {"address": wallet, "amount_sun": 900_000_000})
    await _post(devnet, "/devnet/fund", {"address": wallet, "token": "USDT", "amount": 90_000_000})
    people = [PrivateKey.random().public_key.to_base58check_address() for _ in range(20)]
    for who in people:
        await _post(devnet, "/devnet/fund", {"address": who, "token": "USDT", "amount": 1})
    bodies = [
        payout("USDT", [{"to": who, "amount": 1_000_000, "reference": f"r{i}"}], wallet)
        for i, who in enumerate(people)
    ]
    for body in bodies:
        await commands.publish(aio_pika.Message(body), "command.payout.create")
    while True:  # the first line is signed and sent: now throw the switch
        message = await next_message(events, 60)
        await message.ack()
        if message.routing_key == "payout.item.broadcast":
            break
    switches = _switches(database)
    pause = await switches.pause(scope_of("asset", "USDT"), reason="depeg scare", by="test")
    seen: list[str] = []
    ended = await _terminal(events, 20, seen=seen)
    paid = [e for e in ended.values() if e["type"] == "payout.completed"]
    refused = [e for e in ended.values() if e["type"] == "payout.rejected"]
    assert paid and refused and len(paid) + len(refused) == 20
    assert {e["payload"]["code"] for e in refused} == {"PAUSED"}
    assert all(e["payload"]["confirmed"] == 1 for e in paid), "what was signed landed"
    landed = [who for who in people if await usdt_balance(devnet, who) == 1_000_001]
    assert len(landed) == len(paid)
    assert await database.tx_attempts.count_documents({}) == len(paid), "no refused one signed"
    await switches.resume(scope_of("asset", "USDT"), lifts=pause["_id"], reason="ok", by="test")
    after = payout("USDT", [{"to": people[0], "amount": 5, "reference": "after"}], wallet)
    await commands.publish(aio_pika.Message(after), "command.payout.create")
    [again] = (await _terminal(events, 1, seen=seen)).values()
    assert again["type"] == "payout.completed", again
    while not {"control.paused", "control.resumed"} <= set(seen):  # the relay publishes both
        message = await next_message(events, 30)
        await message.ack()
        seen.append(message.routing_key)
    assert await database.outbox.count_documents({}) == 0
    assert await worker.stop() == 0


KEYS = {
    "billing": "billing-secret-0123456789abcdef",
    "boss": "boss-secret-0123456789abcdef",
}


def _signed(body: bytes, key_id: str) -> aio_pika.Message:
    import hashlib
    import hmac

    signature = hmac.new(KEYS[key_id].encode(), body, hashlib.sha256).hexdigest()
    return aio_pika.Message(body, headers={"x-key-id": key_id, "x-signature": signature})


def _decision(kind: str, command_id: str, reason: str) -> bytes:
    return json.dumps(
        {
            "command_id": str(uuid.uuid4()),
            "idempotency_key": f"{kind}-{uuid.uuid4().hex}",
            "type": kind,
            "schema_version": 1,
            "issued_at": datetime.now(UTC).isoformat(),
            "payload": {"command_id": command_id, "reason": reason},
        }
    ).encode()


async def test_approval_waits_refuses_its_own_key_passes_another_cancel_and_expiry_release(
    make_worker,
    amqp,
    namespace,
    devnet,
    database,
):
    from tests.integration.test_wallet_pipeline import _events, wallet_command

    worker = await _start(
        make_worker,
        devnet,
        TRON_WORKER_AMQP__REQUIRE_SIGNATURE="true",
        TRON_WORKER_AMQP__HMAC_KEYS=json.dumps(KEYS),
        TRON_WORKER_CONTROLS__ROLES=json.dumps({"boss": ["approver"]}),
        TRON_WORKER_CONTROLS__LIMITS=json.dumps({"TRX": {"approval_above": 5_000_000}}),
        TRON_WORKER_CONTROLS__APPROVAL_EXPIRY_S="4",
    )
    channel, events = await _events(amqp, namespace)
    commands = await channel.get_exchange(f"{namespace}.commands")
    body = wallet_command(count=1, purpose="hot")
    await commands.publish(_signed(body, "billing"), "command.wallet.create")
    [created] = [m for m in await _until(events, {"wallet.created"}, 30)][-1:]
    wallet = json.loads(created.body)["payload"]["addresses"][0]
    await _post(devnet, "/devnet/fund", {"address": wallet, "amount_sun": 100_000_000})
    someone = PrivateKey.random().public_key.to_base58check_address()
    await _post(devnet, "/devnet/fund", {"address": someone, "amount_sun": 1})
    lines = [{"to": someone, "amount": 6_000_000, "reference": "big"}]

    big = payout("TRX", lines, wallet)
    await commands.publish(_signed(big, "billing"), "command.payout.create")
    [required] = (await _until(events, {"payout.approval_required"}, 30))[-1:]
    assert json.loads(required.body)["payload"]["total_amount"] == 6_000_000
    assert await database.tx_attempts.count_documents({}) == 0, "nothing signed while waiting"
    big_id = json.loads(big)["command_id"]
    own = _decision("payout.approve", big_id, "looks fine to me")
    await commands.publish(_signed(own, "billing"), "command.payout.approve")
    [refused] = (await _terminal(events, 1)).values()
    assert refused["payload"]["code"] == "NOT_APPROVER", refused
    approve = _decision("payout.approve", big_id, "invoice 77 checked")
    await commands.publish(_signed(approve, "boss"), "command.payout.approve")
    ended = await _terminal(events, 1)  # the payout (an approve ends with payout.decided)
    assert {e["type"] for e in ended.values()} == {"payout.completed"}, ended
    assert await balance_sun(devnet, someone) == 6_000_001

    cancelled = payout("TRX", lines, wallet)
    await commands.publish(_signed(cancelled, "billing"), "command.payout.create")
    await _until(events, {"payout.approval_required"}, 30)
    cancel = _decision("payout.cancel", json.loads(cancelled)["command_id"], "sent twice")
    await commands.publish(_signed(cancel, "billing"), "command.payout.cancel")
    [ended_cancelled] = (await _terminal(events, 1)).values()
    assert ended_cancelled["payload"]["code"] == "CANCELLED", ended_cancelled

    lapsed = payout("TRX", lines, wallet)
    await commands.publish(_signed(lapsed, "billing"), "command.payout.create")
    [expired] = (await _terminal(events, 1)).values()
    assert expired["payload"]["code"] == "APPROVAL_EXPIRED", expired
    assert await balance_sun(devnet, someone) == 6_000_001, "only the approved one paid"
    assert await database.tx_attempts.count_documents({}) == 1
    # The cancelled and the lapsed payouts gave back what they counted toward the key's day.
    links = [doc async for doc in database.cap_links.find({})]
    totals = {}
    for link in sorted(links, key=lambda doc: doc["n"]):  # each chain's head total
        totals[link["chain"]] = link["total"]
    assert list(totals.values()) == [6_000_000], totals
    assert await worker.stop() == 0
