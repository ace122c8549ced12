"""transfer.trx end to end: RabbitMQ, FerretDB, a worker process, and a devnet of its own.

Each test runs a private in-process devnet with fast blocks, so balances start
known and faults touch nobody else; the worker reaches it over loopback.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aio_pika
import aiohttp
import pytest
from tronpy.keys import PrivateKey

from devnet.server import Devnet, DevnetConfig
from tests.integration.test_wallet_pipeline import _events, database, wallet_command  # noqa: F401
from tests.support import TEST_MASTER_KEYS, next_message

pytestmark = pytest.mark.integration

FUNDED_SUN = 100_000_000
AMOUNT_SUN = 2_345_678


@pytest.fixture
async def devnet() -> AsyncIterator[Devnet]:
    config = DevnetConfig(port=0, block_interval_s=0.1, solidify_lag_blocks=2)
    async with Devnet(config) as running:
        yield running


def transfer_command(wallet: str, to: str, amount_sun: int, key: str | None = None) -> bytes:
    return json.dumps(
        {
            "command_id": str(uuid.uuid4()),
            "idempotency_key": key or f"pay-{uuid.uuid4().hex}",
            "type": "transfer.trx",
            "schema_version": 1,
            "issued_at": datetime.now(UTC).isoformat(),
            "payload": {"wallet": wallet, "to": to, "amount_sun": amount_sun, "memo": "rent"},
        }
    ).encode()


async def _post(devnet: Devnet, path: str, body: dict[str, Any]) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.post(devnet.url + path, json=body) as response:
            assert response.status == 200, await response.text()
            return await response.json()


async def fault_counters(devnet: Devnet) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.get(devnet.url + "/devnet/faults") as response:
            return await response.json()


async def balance_sun(devnet: Devnet, address: str) -> int:
    account = await _post(devnet, "/wallet/getaccount", {"address": address, "visible": True})
    return int(account.get("balance", 0))


async def _until(events, routing_keys: set[str], timeout_s: float = 60.0):  # type: ignore[no-untyped-def]
    """Events, in order, up to and including the first whose routing key is in routing_keys."""
    seen = []
    while True:
        message = await next_message(events, timeout_s)
        await message.ack()
        seen.append(message)
        if message.routing_key in routing_keys:
            return seen


async def _start(make_worker, devnet: Devnet, **env: str):  # type: ignore[no-untyped-def]
    worker = make_worker(
        TRON_WORKER_TRON__ENDPOINTS=json.dumps([devnet.url]),
        TRON_WORKER_CHAIN__FOLLOWER_INTERVAL_S="0.1",
        TRON_WORKER_WORKER__SWEEP_INTERVAL_S="0.2",
        **env,
    )
    worker.start()
    await worker.wait_status("/health/ready", 200)
    return worker


async def _hot_wallet(amqp, namespace, devnet: Devnet):  # type: ignore[no-untyped-def]
    channel, events = await _events(amqp, namespace)
    commands = await channel.get_exchange(f"{namespace}.commands")
    await commands.publish(aio_pika.Message(wallet_command(count=1)), "command.wallet.create")
    [created] = [m for m in await _until(events, {"wallet.created"}, 30)]
    wallet = json.loads(created.body)["payload"]["addresses"][0]
    await _post(devnet, "/devnet/fund", {"address": wallet, "amount_sun": FUNDED_SUN})
    return commands, events, wallet


async def test_a_transfer_lands_once_with_balances_exact_to_the_sun(
    make_worker,
    amqp,
    namespace,
    devnet,
    database,  # noqa: F811
):
    worker = await _start(make_worker, devnet)
    commands, events, wallet = await _hot_wallet(amqp, namespace, devnet)
    recipient = PrivateKey.random().public_key.to_base58check_address()  # a new account
    body = transfer_command(wallet, recipient, AMOUNT_SUN)
    for _ in range(5):  # the same command, published five times
        await commands.publish(aio_pika.Message(body), "command.transfer.trx")
    received = await _until(events, {"transfer.confirmed", "transfer.failed"})
    kinds = [m.routing_key for m in received]
    assert kinds[-1] == "transfer.confirmed", kinds
    assert kinds.index("transfer.accepted") < kinds.index("transfer.broadcast")
    confirmed = json.loads(received[-1].body)["payload"]
    assert await balance_sun(devnet, recipient) == AMOUNT_SUN
    spent = FUNDED_SUN - await balance_sun(devnet, wallet)
    assert spent == AMOUNT_SUN + confirmed["fee_sun"], "the sender paid the amount and the fee"
    assert confirmed["fee_sun"] > 0, "activating a new account costs a fee"
    assert confirmed["block_number"] > 0 and confirmed["bandwidth_used"] > 0
    attempts = [doc async for doc in database.tx_attempts.find({})]
    assert len(attempts) == 1 and attempts[0]["txid"] == confirmed["txid"]
    info = await _post(
        devnet, "/walletsolidity/gettransactioninfobyid", {"value": confirmed["txid"]}
    )
    assert info["blockNumber"] == confirmed["block_number"]
    assert await worker.stop() == 0


@pytest.mark.parametrize("stage", ["claimed", "journaled", "broadcast", "seen", "event"])
async def test_a_sigkill_at_each_step_still_pays_exactly_once(
    make_worker, amqp, namespace, devnet, stage
):
    """Kill the worker at each step between two writes, restart it: one transaction on
    the chain (the recipient got the amount exactly once), one terminal event."""
    setup = await _start(make_worker, devnet)
    commands, events, wallet = await _hot_wallet(amqp, namespace, devnet)
    assert await setup.stop() == 0
    recipient = PrivateKey.random().public_key.to_base58check_address()
    doomed = make_worker(
        TRON_WORKER_TRON__ENDPOINTS=json.dumps([devnet.url]),
        TRON_WORKER_CHAIN__FOLLOWER_INTERVAL_S="0.1",
        TRON_WORKER_WORKER__SWEEP_INTERVAL_S="0.2",
    )
    doomed.start(crash_at=f"transfer:{stage}")
    body = transfer_command(wallet, recipient, AMOUNT_SUN)
    await commands.publish(aio_pika.Message(body), "command.transfer.trx")
    assert await doomed.exited(timeout_s=60) == -9, "killed by its planted SIGKILL"
    survivor = await _start(make_worker, devnet)
    received = await _until(events, {"transfer.confirmed", "transfer.failed"}, 90)
    assert received[-1].routing_key == "transfer.confirmed", [m.routing_key for m in received]
    # Give any second terminal event (or a second payment) time to show up.
    more = []
    with pytest.raises(AssertionError):
        while True:
            message = await next_message(events, 3.0)
            await message.ack()
            more.append(message.routing_key)
    terminal = [m.routing_key for m in received] + more
    assert terminal.count("transfer.failed") == 0
    confirmed_ids = {m.message_id for m in received if m.routing_key == "transfer.confirmed"}
    assert len(confirmed_ids) == 1, "one terminal event (re-publications share its id)"
    assert await balance_sun(devnet, recipient) == AMOUNT_SUN, "paid exactly once"
    assert await survivor.stop() == 0


async def test_a_dropped_broadcast_is_proven_absent_and_rebuilt_once(
    make_worker,
    amqp,
    namespace,
    devnet,
    database,  # noqa: F811
):
    """devnet accepts attempt 1 and never includes it: after its expiry the follower
    proves it absent, attempt 2 is built and lands; exactly one transfer."""
    worker = await _start(make_worker, devnet, TRON_WORKER_CHAIN__EXPIRATION_S="10")
    commands, events, wallet = await _hot_wallet(amqp, namespace, devnet)
    await _post(devnet, "/devnet/faults", {"drop_broadcast": {"next": 1}})
    recipient = PrivateKey.random().public_key.to_base58check_address()
    await commands.publish(
        aio_pika.Message(transfer_command(wallet, recipient, AMOUNT_SUN)), "command.transfer.trx"
    )
    received = await _until(events, {"transfer.confirmed", "transfer.failed"}, 90)
    assert received[-1].routing_key == "transfer.confirmed", [m.routing_key for m in received]
    attempts = sorted(
        [doc async for doc in database.tx_attempts.find({})], key=lambda a: a["attempt"]
    )
    assert [a["attempt"] for a in attempts] == [1, 2]
    assert (await fault_counters(devnet))["drop_broadcast"]["next"] == 0, "one was dropped"
    fates = {doc["_id"]: doc["fate"] async for doc in database.fates.find({})}
    assert fates == {attempts[0]["_id"]: "absent", attempts[1]["_id"]: "confirmed"}
    assert json.loads(received[-1].body)["payload"]["txid"] == attempts[1]["txid"]
    assert await balance_sun(devnet, recipient) == AMOUNT_SUN, "exactly one transfer landed"
    assert await worker.stop() == 0


async def test_a_lost_response_is_not_rebuilt(
    make_worker,
    amqp,
    namespace,
    devnet,
    database,  # noqa: F811
):
    """devnet includes attempt 1 but the reply is lost: the same bytes go again (seen as a
    duplicate), there is no second attempt, and one transfer lands."""
    worker = await _start(make_worker, devnet, TRON_WORKER_CHAIN__EXPIRATION_S="10")
    commands, events, wallet = await _hot_wallet(amqp, namespace, devnet)
    await _post(devnet, "/devnet/faults", {"lost_response": {"next": 1, "mode": "disconnect"}})
    recipient = PrivateKey.random().public_key.to_base58check_address()
    await commands.publish(
        aio_pika.Message(transfer_command(wallet, recipient, AMOUNT_SUN)), "command.transfer.trx"
    )
    received = await _until(events, {"transfer.confirmed", "transfer.failed"}, 90)
    assert received[-1].routing_key == "transfer.confirmed", [m.routing_key for m in received]
    assert (await fault_counters(devnet))["lost_response"]["next"] == 0, "a reply was lost"
    assert await database.tx_attempts.count_documents({}) == 1
    assert await balance_sun(devnet, recipient) == AMOUNT_SUN
    assert await worker.stop() == 0


USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"


async def usdt_balance(devnet: Devnet, holder: str) -> int:
    from worker.abi import balance_of

    answer = await _post(
        devnet,
        "/wallet/triggerconstantcontract",
        {
            "owner_address": holder,
            "contract_address": USDT,
            "data": balance_of(holder),
            "visible": True,
        },
    )
    return int(answer["constant_result"][0], 16)


def usdt_command(wallet: str, to: str, amount: int, token: str = "USDT") -> bytes:
    return json.dumps(
        {
            "command_id": str(uuid.uuid4()),
            "idempotency_key": f"usdt-{uuid.uuid4().hex}",
            "type": "transfer.trc20",
            "schema_version": 1,
            "issued_at": datetime.now(UTC).isoformat(),
            "payload": {"wallet": wallet, "to": to, "token": token, "amount": amount},
        }
    ).encode()


async def test_a_usdt_transfer_lands_once_with_token_and_trx_exact(
    make_worker, amqp, namespace, devnet
):
    worker = await _start(make_worker, devnet)
    commands, events, wallet = await _hot_wallet(amqp, namespace, devnet)
    await _post(devnet, "/devnet/fund", {"address": wallet, "token": "USDT", "amount": 50_000_000})
    recipient = PrivateKey.random().public_key.to_base58check_address()
    trx_before = await balance_sun(devnet, wallet)
    body = usdt_command(wallet, recipient, 12_345_678)
    for _ in range(2):
        await commands.publish(aio_pika.Message(body), "command.transfer.trc20")
    received = await _until(events, {"transfer.confirmed", "transfer.failed", "transfer.rejected"})
    kinds = [m.routing_key for m in received]
    assert kinds[-1] == "transfer.confirmed", (kinds, received[-1].body)
    confirmed = json.loads(received[-1].body)["payload"]
    assert confirmed["energy_used"] > 10_000, "a USDT transfer burns energy"
    assert await usdt_balance(devnet, recipient) == 12_345_678
    assert await usdt_balance(devnet, wallet) == 50_000_000 - 12_345_678
    assert trx_before - await balance_sun(devnet, wallet) == confirmed["fee_sun"], "TRX fees"
    assert await worker.stop() == 0


def payout_command(wallet: str, asset: str, lines: list[dict[str, Any]]) -> bytes:
    return json.dumps(
        {
            "command_id": str(uuid.uuid4()),
            "idempotency_key": f"payout-{uuid.uuid4().hex}",
            "type": "payout.create",
            "schema_version": 1,
            "issued_at": datetime.now(UTC).isoformat(),
            "payload": {"asset": asset, "source_wallet": wallet, "recipients": lines},
        }
    ).encode()


async def test_a_three_line_usdt_payout_pays_each_to_the_base_unit(
    make_worker, amqp, namespace, devnet
):
    worker = await _start(make_worker, devnet)
    commands, events, wallet = await _hot_wallet(amqp, namespace, devnet)
    await _post(devnet, "/devnet/fund", {"address": wallet, "token": "USDT", "amount": 90_000_000})
    people = [PrivateKey.random().public_key.to_base58check_address() for _ in range(3)]
    lines = [
        {"to": to, "amount": 1_000_000 * (i + 1), "reference": f"salary-{i}"}
        for i, to in enumerate(people)
    ]
    trx_before = await balance_sun(devnet, wallet)
    await commands.publish(
        aio_pika.Message(payout_command(wallet, "USDT", lines)), "command.payout.create"
    )
    received = await _until(events, {"payout.completed", "payout.rejected"}, 90)
    kinds = [m.routing_key for m in received]
    assert kinds[-1] == "payout.completed", (kinds, received[-1].body)
    assert kinds.count("payout.item.confirmed") == 3
    summary = json.loads(received[-1].body)["payload"]
    assert (summary["confirmed"], summary["failed"]) == (3, 0)
    for i, to in enumerate(people):
        assert await usdt_balance(devnet, to) == 1_000_000 * (i + 1)
    assert await usdt_balance(devnet, wallet) == 90_000_000 - 6_000_000
    fees = [
        json.loads(m.body)["payload"] for m in received if m.routing_key == "payout.item.confirmed"
    ]
    assert all(fee["energy_used"] > 10_000 for fee in fees), "receipt figures per line"
    assert trx_before - await balance_sun(devnet, wallet) == summary["total_fee_sun"]
    assert await worker.stop() == 0


async def test_a_hundred_line_trx_payout_killed_mid_signing_pays_each_line_once(
    make_worker, amqp, namespace, devnet
):
    setup = await _start(make_worker, devnet)
    commands, events, wallet = await _hot_wallet(amqp, namespace, devnet)
    assert await setup.stop() == 0
    # 100 new accounts: each line pays its recipient's activation fee too.
    await _post(devnet, "/devnet/fund", {"address": wallet, "amount_sun": 1_000_000_000})
    people = [PrivateKey.random().public_key.to_base58check_address() for _ in range(100)]
    lines = [{"to": to, "amount": 10_000 + i, "reference": f"r-{i}"} for i, to in enumerate(people)]
    doomed = make_worker(
        TRON_WORKER_TRON__ENDPOINTS=json.dumps([devnet.url]),
        TRON_WORKER_CHAIN__FOLLOWER_INTERVAL_S="0.1",
        TRON_WORKER_WORKER__SWEEP_INTERVAL_S="0.2",
    )
    doomed.start(crash_at="journal:50")
    await commands.publish(
        aio_pika.Message(payout_command(wallet, "TRX", lines)), "command.payout.create"
    )
    assert await doomed.exited(timeout_s=60) == -9, "killed mid-batch by its planted SIGKILL"
    survivor = await _start(make_worker, devnet)
    received = await _until(events, {"payout.completed", "payout.rejected"}, 120)
    assert received[-1].routing_key == "payout.completed", [m.routing_key for m in received][-5:]
    summary = json.loads(received[-1].body)["payload"]
    assert summary["confirmed"] == 100
    for i, to in enumerate(people):
        assert await balance_sun(devnet, to) == 10_000 + i, f"line {i} paid exactly once"
    assert await survivor.stop() == 0


async def test_two_workers_pay_many_pool_payouts_each_line_once_and_nothing_overdrawn(
    make_worker,
    amqp,
    namespace,
    devnet,
    database,  # noqa: F811
):
    """Two workers, 3 hot wallets, 200 payouts of 3 lines from the pool published at once:
    every line of every paid payout lands once, any refused one is refused before signing,
    no wallet is overdrawn, balances reconcile to the sun."""
    first = await _start(make_worker, devnet)
    channel, events = await _events(amqp, namespace)
    commands = await channel.get_exchange(f"{namespace}.commands")
    await commands.publish(
        aio_pika.Message(wallet_command(count=3, purpose="hot")), "command.wallet.create"
    )
    [created] = [m for m in await _until(events, {"wallet.created"}, 30)]
    hot = json.loads(created.body)["payload"]["addresses"]
    # ~230 payouts' worth; reservations stand until a payout's every line is confirmed,
    # so spent funds count twice meanwhile (conservative) and some may still be refused.
    funded = [250_000_000, 200_000_000, 150_000_000]
    for wallet, amount in zip(hot, funded, strict=True):
        await _post(devnet, "/devnet/fund", {"address": wallet, "amount_sun": amount})
    second = await _start(make_worker, devnet)
    people = [PrivateKey.random().public_key.to_base58check_address() for _ in range(6)]
    for who in people:  # existing accounts: no activation fee, so sums are plain
        await _post(devnet, "/devnet/fund", {"address": who, "amount_sun": 1})
    payouts = 200
    for index in range(payouts):
        lines = [
            {
                "to": people[(index + line) % 6],
                "amount": 600_000 + line,
                "reference": f"p{index}-{line}",
            }
            for line in range(3)
        ]
        body = json.dumps(
            {
                "command_id": str(uuid.uuid4()),
                "idempotency_key": f"pool-{index}",
                "type": "payout.create",
                "schema_version": 1,
                "issued_at": datetime.now(UTC).isoformat(),
                "payload": {"asset": "TRX", "recipients": lines},
            }
        ).encode()
        await commands.publish(aio_pika.Message(body), "command.payout.create")
    ended: dict[str, dict] = {}
    while len(ended) < payouts:
        message = await next_message(events, 120)
        await message.ack()
        if message.routing_key in {"payout.completed", "payout.rejected"}:
            event = json.loads(message.body)
            ended[event["idempotency_key"]] = event
    paid = [e for e in ended.values() if e["type"] == "payout.completed"]
    refused = [e for e in ended.values() if e["type"] == "payout.rejected"]
    assert len(paid) + len(refused) == payouts and len(paid) >= 100, len(paid)
    assert {e["payload"]["code"] for e in refused} <= {"INSUFFICIENT_FUNDS"}
    assert {e["payload"]["source_wallet"] for e in paid} == set(hot), "all three wallets paid"
    assert all(e["payload"]["confirmed"] == 3 for e in paid)
    attempts = [doc async for doc in database.tx_attempts.find({"void": {"$ne": True}})]
    assert len({(doc["ref"], doc["item"]) for doc in attempts}) == len(paid) * 3
    received = sum([await balance_sun(devnet, who) - 1 for who in people])
    assert received == len(paid) * (1_800_000 + 3), "every paid line once, none twice"
    left = [await balance_sun(devnet, wallet) for wallet in hot]
    assert all(balance >= 0 for balance in left), "no wallet overdrawn"
    fees = sum([doc["fee_sun"] async for doc in database.fates.find({"fate": "confirmed"})])
    assert sum(funded) - sum(left) == received + fees, "balances reconcile to the sun"
    assert await first.stop() == 0 and await second.stop() == 0


async def test_refusals_on_devnet_have_their_own_codes_and_sign_nothing(
    make_worker,
    amqp,
    namespace,
    devnet,
    database,  # noqa: F811
):
    """A fee cap below the estimate, an unknown token, too little USDT: each rejected with
    its own code and the figures, before anything is signed."""
    worker = await _start(make_worker, devnet, TRON_WORKER_CHAIN__MAX_FEE_LIMIT_SUN="1000000")
    commands, events, wallet = await _hot_wallet(amqp, namespace, devnet)
    await _post(devnet, "/devnet/fund", {"address": wallet, "token": "USDT", "amount": 5_000_000})
    someone = PrivateKey.random().public_key.to_base58check_address()
    not_a_token = PrivateKey.random().public_key.to_base58check_address()
    for body in (
        usdt_command(wallet, someone, 1_000_000),  # ~15k energy x 1.2 x 100 sun > 1 TRX cap
        usdt_command(wallet, someone, 1_000_000, token=not_a_token),
        usdt_command(wallet, someone, 6_000_000),  # holds 5 USDT
    ):
        await commands.publish(aio_pika.Message(body), "command.transfer.trc20")
    rejected = []
    while len(rejected) < 3:
        message = await next_message(events, 30)
        await message.ack()
        if message.routing_key == "transfer.rejected":
            rejected.append(json.loads(message.body)["payload"])
    assert sorted(r["code"] for r in rejected) == [
        "FEE_LIMIT_TOO_LOW",
        "INSUFFICIENT_BALANCE",
        "UNKNOWN_TOKEN",
    ]
    cap = next(r for r in rejected if r["code"] == "FEE_LIMIT_TOO_LOW")
    assert "energy" in cap["message"] and "1000000 sun" in cap["message"]
    # No hot wallet can pay (this wallet is a deposit wallet): the pool refuses the batch.
    lines = [{"to": someone, "amount": 1_000, "reference": "r"}]
    body = json.loads(payout_command(wallet, "TRX", lines))
    del body["payload"]["source_wallet"]
    await commands.publish(aio_pika.Message(json.dumps(body).encode()), "command.payout.create")
    [pool] = [json.loads(m.body) for m in await _until(events, {"payout.rejected"}, 30)][-1:]
    assert pool["payload"]["code"] == "INSUFFICIENT_FUNDS", pool
    assert await database.tx_attempts.count_documents({}) == 0, "nothing signed"
    assert await worker.stop() == 0


def _signer_for(
    address: str, private_key: bytes | None = None, wallet: dict[str, Any] | None = None
):  # type: ignore[no-untyped-def]
    """A KeystoreSigner and the wallet document it signs for: a worker wallet as stored,
    or a key the test holds, sealed with the tests' master key."""
    from worker.keystore import Keystore
    from worker.settings import KeystoreSettings
    from worker.signer import KeystoreSigner

    keystore = Keystore(
        KeystoreSettings.model_validate(
            {"active_key_id": "local-dev", "master_keys": json.loads(TEST_MASTER_KEYS)}
        )
    )
    if wallet is None:
        assert private_key is not None
        wallet = {"address": address, "encrypted_key": keystore.encrypt(private_key, address)}
    return KeystoreSigner(keystore), wallet


async def move_usdt(devnet: Devnet, signer, wallet, to: str, amount: int) -> None:  # type: ignore[no-untyped-def]
    """Sign and broadcast a USDT transfer outside the worker, and wait until it is in a block:
    the balance moves behind the worker's back, as a second system using the key would."""
    from worker.abi import transfer_call

    await call_usdt(devnet, signer, wallet, transfer_call(to, amount))


async def call_usdt(devnet: Devnet, signer, wallet, data_hex: str) -> None:  # type: ignore[no-untyped-def]
    """Sign a USDT contract call with `wallet`'s key, broadcast it, wait for SUCCESS."""
    import asyncio
    import time

    from worker.ports import BlockRef

    head = await _post(devnet, "/wallet/getnowblock", {})
    raw = head["block_header"]["raw_data"]
    reference = BlockRef(raw["number"], head["blockID"], raw["timestamp"])
    now_ms = int(time.time() * 1000)
    signed = signer.trigger(
        wallet,
        contract=USDT,
        data_hex=data_hex,
        fee_limit_sun=100_000_000,
        reference=reference,
        expiration_ms=now_ms + 60_000,
        timestamp_ms=now_ms,
    )
    answer = await _post(devnet, "/wallet/broadcasthex", {"transaction": signed.signed_hex})
    assert answer.get("result") is True, answer
    for _ in range(100):
        info = await _post(devnet, "/wallet/gettransactioninfobyid", {"value": signed.txid})
        if info.get("blockNumber"):
            assert info["receipt"]["result"] == "SUCCESS", info
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the call never landed")


async def _journaled_then_killed(make_worker, devnet: Devnet, commands, body: bytes) -> None:  # type: ignore[no-untyped-def]
    doomed = make_worker(
        TRON_WORKER_TRON__ENDPOINTS=json.dumps([devnet.url]),
        TRON_WORKER_CHAIN__FOLLOWER_INTERVAL_S="0.1",
    )
    doomed.start(crash_at="transfer:journaled")
    await commands.publish(aio_pika.Message(body), "command.transfer.trc20")
    assert await doomed.exited(timeout_s=60) == -9, "killed after journaling, before sending"


async def test_a_token_balance_moved_after_the_check_reverts_on_chain_and_fails_with_the_fee(
    make_worker,
    amqp,
    namespace,
    devnet,
    database,  # noqa: F811
):
    """The pre-check passed and the signed transfer is journaled; then the wallet's USDT
    leaves behind the worker's back. The journaled bytes still go (they cannot be unsigned),
    REVERT on chain, and the transfer fails with the receipt's reason and the TRX burned."""
    setup = await _start(make_worker, devnet)
    commands, events, wallet = await _hot_wallet(amqp, namespace, devnet)
    assert await setup.stop() == 0
    await _post(devnet, "/devnet/fund", {"address": wallet, "token": "USDT", "amount": 5_000_000})
    recipient = PrivateKey.random().public_key.to_base58check_address()
    await _journaled_then_killed(
        make_worker, devnet, commands, usdt_command(wallet, recipient, 5_000_000)
    )
    stored = await database.wallets.find_one({"address": wallet})
    signer, sealed = _signer_for(wallet, wallet=stored)
    elsewhere = PrivateKey.random().public_key.to_base58check_address()
    await move_usdt(devnet, signer, sealed, elsewhere, 5_000_000)
    trx_before = await balance_sun(devnet, wallet)

    survivor = await _start(make_worker, devnet)
    received = await _until(events, {"transfer.confirmed", "transfer.failed"}, 90)
    failed = json.loads(received[-1].body)["payload"]
    assert received[-1].routing_key == "transfer.failed", failed
    assert failed["code"] == "REVERT" and "REVERT opcode executed" in failed["message"], failed
    info = await _post(devnet, "/walletsolidity/gettransactioninfobyid", {"value": failed["txid"]})
    assert info["receipt"]["result"] == "REVERT"
    assert failed["fee_sun"] == info["fee"] > 0, "the TRX burned is the receipt's"
    assert trx_before - await balance_sun(devnet, wallet) == failed["fee_sun"]
    assert await usdt_balance(devnet, recipient) == 0
    assert await usdt_balance(devnet, elsewhere) == 5_000_000
    assert await database.tx_attempts.count_documents({}) == 1, "not rebuilt: it landed"
    assert await survivor.stop() == 0


async def test_a_recipient_emptied_after_the_estimate_runs_out_of_energy_and_fails(
    make_worker,
    amqp,
    namespace,
    devnet,
    database,  # noqa: F811
):
    """The fee limit is priced for a recipient who already holds USDT (one storage slot
    rewritten). Before the journaled transfer goes, the recipient empties the slot, so the
    transfer must create it again: OUT_OF_ENERGY on chain, the whole fee limit burned."""
    setup = await _start(make_worker, devnet)
    commands, events, wallet = await _hot_wallet(amqp, namespace, devnet)
    assert await setup.stop() == 0
    await _post(devnet, "/devnet/fund", {"address": wallet, "token": "USDT", "amount": 5_000_000})
    key = PrivateKey.random()
    recipient = key.public_key.to_base58check_address()
    await _post(devnet, "/devnet/fund", {"address": recipient, "token": "USDT", "amount": 7})
    await _post(devnet, "/devnet/fund", {"address": recipient, "amount_sun": 50_000_000})
    await _journaled_then_killed(
        make_worker, devnet, commands, usdt_command(wallet, recipient, 1_000_000)
    )
    [attempt] = [doc async for doc in database.tx_attempts.find({})]
    signer, sealed = _signer_for(recipient, private_key=bytes.fromhex(key.hex()))
    await move_usdt(
        devnet, signer, sealed, PrivateKey.random().public_key.to_base58check_address(), 7
    )
    trx_before = await balance_sun(devnet, wallet)

    survivor = await _start(make_worker, devnet)
    received = await _until(events, {"transfer.confirmed", "transfer.failed"}, 90)
    failed = json.loads(received[-1].body)["payload"]
    assert received[-1].routing_key == "transfer.failed", failed
    assert failed["code"] == "OUT_OF_ENERGY" and failed["txid"] == attempt["txid"], failed
    info = await _post(devnet, "/walletsolidity/gettransactioninfobyid", {"value": failed["txid"]})
    assert info["receipt"]["result"] == "OUT_OF_ENERGY"
    from worker.txbuild import decode_raw

    fee_limit_sun = decode_raw(bytes.fromhex(attempt["raw_hex"])).fee_limit_sun
    assert info["receipt"]["energy_fee"] == fee_limit_sun, "the whole fee limit burned"
    assert failed["fee_sun"] == info["fee"] >= fee_limit_sun
    assert trx_before - await balance_sun(devnet, wallet) == failed["fee_sun"]
    assert await usdt_balance(devnet, recipient) == 0
    assert await usdt_balance(devnet, wallet) == 5_000_000, "nothing moved"
    assert await survivor.stop() == 0
