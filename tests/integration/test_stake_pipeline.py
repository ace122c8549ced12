"""stake.* end to end: RabbitMQ, FerretDB, a worker process and a devnet of its own with a
short unfreeze delay. Each command's devnet state is asserted, each pre-check code is
shown with nothing signed."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aio_pika
import pytest
from tronpy.keys import PrivateKey

from devnet.genesis import GenesisConfig, build_genesis
from devnet.server import Devnet, DevnetConfig
from devnet.staking_config import StakingConfig
from tests.integration.test_transfer_pipeline import _post, _start, _until, balance_sun
from tests.integration.test_wallet_pipeline import (
    _events,
    database,  # noqa: F401  (a fixture)
    wallet_command,
)
from tests.support import next_message

pytestmark = pytest.mark.integration

TRX = 1_000_000
UNFREEZE_DELAY_MS = 600


@pytest.fixture
async def devnet() -> AsyncIterator[Devnet]:
    genesis = build_genesis(
        GenesisConfig(staking=StakingConfig(unfreeze_delay_ms=UNFREEZE_DELAY_MS))
    )
    config = DevnetConfig(port=0, block_interval_s=0.1, solidify_lag_blocks=2)
    async with Devnet(config, genesis=genesis) as running:
        yield running


def stake(kind: str, **payload: Any) -> bytes:
    return json.dumps(
        {
            "command_id": str(uuid.uuid4()),
            "idempotency_key": f"{kind}-{uuid.uuid4().hex}",
            "type": kind,
            "schema_version": 1,
            "issued_at": datetime.now(UTC).isoformat(),
            "payload": payload,
        }
    ).encode()


class Staker:
    """Publishes stake commands and waits for each one's terminal event."""

    def __init__(self, commands, events) -> None:  # type: ignore[no-untyped-def]
        self.commands, self.events = commands, events

    async def run(self, kind: str, **payload: Any) -> dict[str, Any]:
        body = stake(kind, **payload)
        await self.commands.publish(aio_pika.Message(body), f"command.{kind}")
        key = json.loads(body)["idempotency_key"]
        while True:
            message = await next_message(self.events, 60)
            await message.ack()
            event = json.loads(message.body)
            terminal = message.routing_key.rsplit(".", 1)[-1] in ("confirmed", "rejected", "failed")
            if event["idempotency_key"] == key and terminal:
                return {"type": message.routing_key, **event["payload"]}

    async def confirmed(self, kind: str, **payload: Any) -> dict[str, Any]:
        event = await self.run(kind, **payload)
        assert event["type"] == "stake.confirmed", event
        return event

    async def refused(self, code: str, kind: str, **payload: Any) -> str:
        event = await self.run(kind, **payload)
        assert (event["type"], event.get("code")) == ("stake.rejected", code), event
        return str(event["message"])


async def _account(devnet: Devnet, address: str) -> dict[str, Any]:
    return await _post(devnet, "/wallet/getaccount", {"address": address, "visible": True})


async def _delegated(devnet: Devnet, owner: str, receiver: str) -> list[dict[str, Any]]:
    answer = await _post(
        devnet,
        "/wallet/getdelegatedresourcev2",
        {"fromAddress": owner, "toAddress": receiver, "visible": True},
    )
    return list(answer.get("delegatedResource", []))


def _frozen(account: dict[str, Any], resource: str) -> int:
    return next(
        (int(e.get("amount", 0)) for e in account.get("frozenV2", [])
         if e.get("type", "BANDWIDTH") == resource),
        0,
    )  # fmt: skip


async def test_every_stake_command_lands_with_its_figures_and_every_precheck_signs_nothing(
    make_worker,
    amqp,
    namespace,
    devnet,
    database,  # noqa: F811
):
    worker = await _start(make_worker, devnet)
    channel, events = await _events(amqp, namespace)
    commands = await channel.get_exchange(f"{namespace}.commands")
    await commands.publish(
        aio_pika.Message(wallet_command(count=1, purpose="staking")), "command.wallet.create"
    )
    [created] = (await _until(events, {"wallet.created"}, 30))[-1:]
    wallet = json.loads(created.body)["payload"]["addresses"][0]
    await _post(devnet, "/devnet/fund", {"address": wallet, "amount_sun": 10_000 * TRX})
    staker = Staker(commands, events)
    confirmed = 0

    # freeze: devnet shows the stake; the event says the same
    event = await staker.confirmed(
        "stake.freeze", wallet=wallet, amount_sun=2_000 * TRX, resource="ENERGY"
    )
    assert (
        event["stake"]["frozen_sun"]
        == 2_000 * TRX
        == _frozen(await _account(devnet, wallet), "ENERGY")
    )
    await staker.confirmed(
        "stake.freeze", wallet=wallet, amount_sun=500 * TRX, resource="BANDWIDTH"
    )
    confirmed += 2
    await staker.refused(
        "AMOUNT_BELOW_MINIMUM", "stake.freeze", wallet=wallet, amount_sun=TRX - 1, resource="ENERGY"
    )
    await staker.refused(
        "INSUFFICIENT_BALANCE",
        "stake.freeze",
        wallet=wallet,
        amount_sun=1_000_000 * TRX,
        resource="ENERGY",
    )

    # delegate, locked: undelegating it is refused until the lock ends
    locked = PrivateKey.random().public_key.to_base58check_address()
    await staker.refused(
        "RECEIVER_NOT_ACTIVATED", "stake.delegate", wallet=wallet, receiver=locked,
        amount_sun=10 * TRX, resource="ENERGY",
    )  # fmt: skip
    await _post(devnet, "/devnet/fund", {"address": locked, "amount_sun": 1})
    event = await staker.confirmed(
        "stake.delegate",
        wallet=wallet,
        receiver=locked,
        amount_sun=300 * TRX,
        resource="ENERGY",
        lock=True,
        lock_period_blocks=200,
    )
    [entry] = await _delegated(devnet, wallet, locked)
    assert event["stake"]["delegated_sun"] == 300 * TRX == entry["frozen_balance_for_energy"]
    assert event["stake"]["lock_until_ms"] == entry["expire_time_for_energy"] > 0
    message = await staker.refused(
        "DELEGATION_LOCKED",
        "stake.undelegate",
        wallet=wallet,
        receiver=locked,
        amount_sun=100 * TRX,
        resource="ENERGY",
    )
    assert str(entry["expire_time_for_energy"]) in message
    await staker.refused(
        "LOCK_PERIOD_INVALID",
        "stake.delegate",
        wallet=wallet,
        receiver=locked,
        amount_sun=10 * TRX,
        resource="ENERGY",
        lock=True,
        lock_period_blocks=10,
    )  # would end before the standing lock
    await staker.refused(
        "DELEGATE_ABOVE_MAX",
        "stake.delegate",
        wallet=wallet,
        receiver=locked,
        amount_sun=5_000 * TRX,
        resource="ENERGY",
    )
    # delegate unlocked, then undelegate it all
    other = PrivateKey.random().public_key.to_base58check_address()
    await _post(devnet, "/devnet/fund", {"address": other, "amount_sun": 1})
    await staker.confirmed(
        "stake.delegate", wallet=wallet, receiver=other, amount_sun=100 * TRX, resource="ENERGY"
    )
    event = await staker.confirmed(
        "stake.undelegate", wallet=wallet, receiver=other, amount_sun=100 * TRX, resource="ENERGY"
    )
    assert event["stake"]["delegated_sun"] == 0
    assert (
        sum(e.get("frozen_balance_for_energy", 0) for e in await _delegated(devnet, wallet, other))
        == 0
    )
    await staker.refused(
        "NOT_ENOUGH_DELEGATED",
        "stake.undelegate",
        wallet=wallet,
        receiver=other,
        amount_sun=1 * TRX,
        resource="ENERGY",
    )
    confirmed += 3

    # vote: replaces earlier votes; strangers and too many votes are refused
    witnesses = await _post(devnet, "/wallet/listwitnesses", {"visible": True})
    from worker.txbuild import address_to_base58

    first = address_to_base58(bytes.fromhex(witnesses["witnesses"][0]["address"]))  # hex
    event = await staker.confirmed(
        "stake.vote", wallet=wallet, votes=[{"witness": first, "count": 1_000}]
    )
    assert event["stake"]["votes"] == {first: 1_000}
    assert (await _account(devnet, wallet))["votes"] == [
        {"vote_address": first, "vote_count": 1_000}
    ]
    confirmed += 1
    stranger = PrivateKey.random().public_key.to_base58check_address()
    await staker.refused(
        "NOT_A_WITNESS", "stake.vote", wallet=wallet, votes=[{"witness": stranger, "count": 1}]
    )
    await staker.refused(
        "VOTES_ABOVE_TRON_POWER",
        "stake.vote",
        wallet=wallet,
        votes=[{"witness": first, "count": 2_601}],
    )

    # rewards accrue per block to voters: claim once, then the 24 h window refuses
    await asyncio.sleep(1.0)
    before = await balance_sun(devnet, wallet)
    event = await staker.confirmed("stake.claim_rewards", wallet=wallet)
    assert event["stake"]["withdrawn_sun"] > 0
    assert (
        await balance_sun(devnet, wallet) - before
        == event["stake"]["withdrawn_sun"] - event["fee_sun"]
    )
    confirmed += 1
    await staker.refused("REWARD_NOT_CLAIMABLE", "stake.claim_rewards", wallet=wallet)

    # unfreeze, wait out the (short) delay, withdraw
    event = await staker.confirmed(
        "stake.unfreeze", wallet=wallet, amount_sun=100 * TRX, resource="BANDWIDTH"
    )
    assert event["stake"]["frozen_sun"] == 400 * TRX
    assert event["stake"]["unfreeze_available_at_ms"] > 0
    await staker.refused(
        "NOT_ENOUGH_FROZEN",
        "stake.unfreeze",
        wallet=wallet,
        amount_sun=401 * TRX,
        resource="BANDWIDTH",
    )
    await asyncio.sleep(UNFREEZE_DELAY_MS / 1000 + 0.5)
    before = await balance_sun(devnet, wallet)
    event = await staker.confirmed("stake.withdraw_unfrozen", wallet=wallet)
    assert event["stake"]["withdrawn_sun"] == 100 * TRX
    assert await balance_sun(devnet, wallet) - before == 100 * TRX - event["fee_sun"]
    confirmed += 2
    await staker.refused("NOTHING_TO_WITHDRAW", "stake.withdraw_unfrozen", wallet=wallet)

    assert await database.tx_attempts.count_documents({}) == confirmed, "no refusal signed"
    assert await worker.stop() == 0


@pytest.fixture
async def devnet_14_days() -> AsyncIterator[Devnet]:
    """Unfreezes stay pending (java-tron's 14 days): the limit of 32 can be reached."""
    config = DevnetConfig(port=0, block_interval_s=0.1, solidify_lag_blocks=2)
    async with Devnet(config) as running:
        yield running


async def test_a_33rd_pending_unfreeze_is_refused_before_signing(
    make_worker,
    amqp,
    namespace,
    devnet_14_days,
    database,  # noqa: F811
):
    devnet = devnet_14_days
    worker = await _start(make_worker, devnet)
    channel, events = await _events(amqp, namespace)
    commands = await channel.get_exchange(f"{namespace}.commands")
    await commands.publish(
        aio_pika.Message(wallet_command(count=1, purpose="staking")), "command.wallet.create"
    )
    [created] = (await _until(events, {"wallet.created"}, 30))[-1:]
    wallet = json.loads(created.body)["payload"]["addresses"][0]
    await _post(devnet, "/devnet/fund", {"address": wallet, "amount_sun": 1_000 * TRX})
    staker = Staker(commands, events)
    await staker.confirmed("stake.freeze", wallet=wallet, amount_sun=100 * TRX, resource="ENERGY")
    bodies = [
        stake("stake.unfreeze", wallet=wallet, amount_sun=TRX, resource="ENERGY") for _ in range(32)
    ]
    for body in bodies:
        await commands.publish(aio_pika.Message(body), "command.stake.unfreeze")
    done = 0
    while done < 32:
        message = await next_message(events, 60)
        await message.ack()
        if message.routing_key in ("stake.confirmed", "stake.rejected", "stake.failed"):
            assert message.routing_key == "stake.confirmed", message.body
            done += 1
    account = await _account(devnet, wallet)
    assert len(account["unfrozenV2"]) == 32
    message = await staker.refused(
        "TOO_MANY_UNFREEZES", "stake.unfreeze", wallet=wallet, amount_sun=TRX, resource="ENERGY"
    )
    assert "withdraw" in message
    assert await database.tx_attempts.count_documents({}) == 33, "the 33rd was not signed"
    assert await worker.stop() == 0


async def _energy_setup(make_worker, amqp, namespace, devnet):  # type: ignore[no-untyped-def]
    """A hot wallet with USDT and staked bandwidth (so bandwidth costs nothing either way)
    but no energy, and a staking wallet with energy staked; returned with a Staker."""
    setup = await _start(make_worker, devnet)
    channel, events = await _events(amqp, namespace)
    commands = await channel.get_exchange(f"{namespace}.commands")
    await commands.publish(
        aio_pika.Message(wallet_command(count=1, purpose="hot")), "command.wallet.create"
    )
    [created] = (await _until(events, {"wallet.created"}, 30))[-1:]
    hot = json.loads(created.body)["payload"]["addresses"][0]
    await commands.publish(
        aio_pika.Message(wallet_command(count=1, purpose="staking")), "command.wallet.create"
    )
    [created] = (await _until(events, {"wallet.created"}, 30))[-1:]
    staking = json.loads(created.body)["payload"]["addresses"][0]
    await _post(devnet, "/devnet/fund", {"address": hot, "amount_sun": 1_000 * TRX})
    await _post(devnet, "/devnet/fund", {"address": hot, "token": "USDT", "amount": 900 * TRX})
    await _post(devnet, "/devnet/fund", {"address": staking, "amount_sun": 10_000 * TRX})
    staker = Staker(commands, events)
    await staker.confirmed("stake.freeze", wallet=hot, amount_sun=500 * TRX, resource="BANDWIDTH")
    await staker.confirmed(
        "stake.freeze", wallet=staking, amount_sun=5_000 * TRX, resource="ENERGY"
    )
    assert await setup.stop() == 0
    return commands, events, hot, staking


def _usdt_payout(hot: str, count: int = 10) -> bytes:
    people = [PrivateKey.random().public_key.to_base58check_address() for _ in range(count)]
    lines = [{"to": to, "amount": 1_000 + i, "reference": f"r{i}"} for i, to in enumerate(people)]
    return json.dumps(
        {
            "command_id": str(uuid.uuid4()),
            "idempotency_key": f"usdt-payout-{uuid.uuid4().hex}",
            "type": "payout.create",
            "schema_version": 1,
            "issued_at": datetime.now(UTC).isoformat(),
            "payload": {"asset": "USDT", "source_wallet": hot, "recipients": lines},
        }
    ).encode()


async def _completed(events) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    [done] = (await _until(events, {"payout.completed", "payout.rejected"}, 120))[-1:]
    assert done.routing_key == "payout.completed", done.body
    summary = json.loads(done.body)["payload"]
    assert summary["confirmed"] == 10, summary
    return summary


async def _returned(events, hot: str, number: int = 2) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The worker's own command taking the idle delegation back: its terminal event."""
    key = f"energy-return:{hot}:{number}"
    while True:
        message = await next_message(events, 90)
        await message.ack()
        event = json.loads(message.body)
        if event["idempotency_key"] == key and message.routing_key != "stake.accepted":
            if message.routing_key != "stake.broadcast":
                return {"type": message.routing_key, **event["payload"]}


async def test_delegated_energy_burns_a_tenth_of_the_trx_stands_for_the_next_batch_and_goes_back(
    make_worker,
    amqp,
    namespace,
    devnet,
    database,  # noqa: F811
):
    commands, events, hot, staking = await _energy_setup(make_worker, amqp, namespace, devnet)
    burning = await _start(make_worker, devnet)
    await commands.publish(aio_pika.Message(_usdt_payout(hot)), "command.payout.create")
    burned_off = (await _completed(events))["total_fee_sun"]
    assert await burning.stop() == 0
    lending = await _start(
        make_worker,
        devnet,
        TRON_WORKER_STAKING__WALLET=staking,
        TRON_WORKER_STAKING__ENERGY_POLICY="delegate",
        TRON_WORKER_STAKING__BURN_FALLBACK="false",
        TRON_WORKER_STAKING__TOPUP_EXTRA_ENERGY="2000000",  # room for the next batch
        TRON_WORKER_STAKING__RETURN_AFTER_IDLE_S="12",
    )
    await commands.publish(aio_pika.Message(_usdt_payout(hot)), "command.payout.create")
    summary = await _completed(events)
    lent = summary["energy"]
    burned_delegate = summary["total_fee_sun"] + lent["fee_sun"]
    await commands.publish(aio_pika.Message(_usdt_payout(hot)), "command.payout.create")
    after = await _completed(events)
    print(
        f"TRX burned: off {burned_off} sun, delegate {burned_delegate} sun "
        f"(top-up included), next batch {after['total_fee_sun']} sun"
    )
    assert burned_delegate <= burned_off // 10, (burned_delegate, burned_off)
    assert "energy" not in after, "the standing delegation served the next batch"
    assert after["total_fee_sun"] <= burned_off // 10, (after, burned_off)
    standing = await _delegated(devnet, staking, hot)
    assert sum(e.get("frozen_balance_for_energy", 0) for e in standing) == lent["delegated_sun"]
    back = await _returned(events, hot)  # idle for 12 s: the worker takes it back
    assert back["type"] == "stake.confirmed", back
    left = await _delegated(devnet, staking, hot)
    assert sum(e.get("frozen_balance_for_energy", 0) for e in left) == 0, "no delegation left"
    assert await lending.stop() == 0


@pytest.mark.parametrize("crash_at", ["journal:1", "journal:12"])
async def test_a_sigkill_around_the_standing_energy_delegates_and_takes_back_exactly_once(
    make_worker,
    amqp,
    namespace,
    devnet,
    database,  # noqa: F811
    crash_at,
):
    """journal:1 dies right after the delegation is journaled (before any line);
    journal:12 right after the idle return's undelegation is journaled (every line
    confirmed, the wallet idle)."""
    commands, events, hot, staking = await _energy_setup(make_worker, amqp, namespace, devnet)
    environment = {
        "TRON_WORKER_STAKING__WALLET": staking,
        "TRON_WORKER_STAKING__ENERGY_POLICY": "delegate",
        "TRON_WORKER_STAKING__BURN_FALLBACK": "false",
        "TRON_WORKER_STAKING__RETURN_AFTER_IDLE_S": "2",
    }
    doomed = make_worker(
        TRON_WORKER_TRON__ENDPOINTS=json.dumps([devnet.url]),
        TRON_WORKER_CHAIN__FOLLOWER_INTERVAL_S="0.1",
        TRON_WORKER_WORKER__SWEEP_INTERVAL_S="0.2",
        **environment,
    )
    doomed.start(crash_at=crash_at)
    body = _usdt_payout(hot)
    await commands.publish(aio_pika.Message(body), "command.payout.create")
    assert await doomed.exited(timeout_s=90) == -9
    survivor = await _start(make_worker, devnet, **environment)
    if crash_at == "journal:1":
        summary = await _completed(events)
        assert summary["energy"]["delegate_txid"]
    back = await _returned(events, hot)
    assert back["type"] == "stake.confirmed", back
    [payout] = [doc async for doc in database.commands.find({"type": "payout.create"})]
    [returned] = [doc async for doc in database.commands.find({"type": "stake.undelegate"})]
    for ref, item in ((payout["ref"], 100), (returned["ref"], 0)):
        attempts = [doc async for doc in database.tx_attempts.find({"ref": ref, "item": item})]
        assert len(attempts) == 1, (item, attempts)
        fate = await database.fates.find_one({"_id": attempts[0]["_id"]})
        assert fate["fate"] == "confirmed"
    left = await _delegated(devnet, staking, hot)
    assert sum(e.get("frozen_balance_for_energy", 0) for e in left) == 0, "no delegation left"
    assert await survivor.stop() == 0
