"""Reconciliation end to end: RabbitMQ, FerretDB, a worker process, a devnet of its own.

A transfer signed outside the worker with a managed wallet's key (taken from the
keystore, as a leaked key or a second system using the wallet would) is found by the
chain follower within two solidified blocks: the wallet is paused, `wallet.needs_attention`
names the transaction, the metric counts it, the hot wallet's balance drift shows it,
and the next payout from the wallet is rejected PAUSED.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import aiohttp
import pytest
from tronpy.keys import PrivateKey

from devnet.server import Devnet, DevnetConfig
from tests.integration.test_transfer_pipeline import (
    _post,
    _signer_for,
    _start,
    _until,
    balance_sun,
    move_usdt,
    payout_command,
)
from tests.integration.test_wallet_pipeline import _events, database, wallet_command  # noqa: F401

pytestmark = pytest.mark.integration

BLOCK_S = 0.5  # slow enough that "two blocks" is more than the follower's poll and a few writes
FUNDED_SUN = 100_000_000
LEAKED_SUN = 3_456_789


@pytest.fixture
async def devnet() -> AsyncIterator[Devnet]:
    config = DevnetConfig(port=0, block_interval_s=BLOCK_S, solidify_lag_blocks=2)
    async with Devnet(config) as running:
        yield running


async def _worker(make_worker, devnet: Devnet):  # type: ignore[no-untyped-def]
    # The follower re-reads the managed addresses every managed_refresh_s (60 s by default);
    # the wallet here is seconds old, so the test reads them often.
    return await _start(
        make_worker,
        devnet,
        TRON_WORKER_CHAIN__MANAGED_REFRESH_S="0.2",
        TRON_WORKER_CONTROLS__BALANCE_CHECK_INTERVAL_S="0.3",
    )


async def _funded_hot_wallet(amqp, namespace, devnet: Devnet):  # type: ignore[no-untyped-def]
    channel, events = await _events(amqp, namespace)
    commands = await channel.get_exchange(f"{namespace}.commands")
    body = wallet_command(count=1, purpose="hot")
    await commands.publish(aio_pika.Message(body), "command.wallet.create")
    [created] = [m for m in await _until(events, {"wallet.created"}, 30)]
    wallet = json.loads(created.body)["payload"]["addresses"][0]
    await _post(devnet, "/devnet/fund", {"address": wallet, "amount_sun": FUNDED_SUN})
    return commands, events, wallet


async def _metric(worker, name: str, labels: str) -> float | None:  # type: ignore[no-untyped-def]
    async with aiohttp.ClientSession() as http:
        async with http.get(worker.sidecar_url + "/metrics") as response:
            text = await response.text()
    found = re.search(rf"^{name}\{{{re.escape(labels)}\}} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else None


async def _settled_drift(worker, wallet: str) -> float:  # type: ignore[no-untyped-def]
    """The drift gauge once it holds still over several checks (the faucet's credit, which
    no transaction shows, is drift if the baseline came before it)."""
    labels = f'wallet="{wallet}"'
    readings: list[float | None] = []
    for _ in range(100):
        readings.append(await _metric(worker, "tron_worker_wallet_balance_drift_sun", labels))
        if len(readings) >= 5 and readings[-1] is not None and len(set(readings[-5:])) == 1:
            return readings[-1]
        await asyncio.sleep(0.3)
    raise AssertionError(f"the drift never settled: {readings[-10:]}")


async def _move_trx(devnet: Devnet, signer, wallet, to: str, amount_sun: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Sign and broadcast a TRX transfer outside the worker; its receipt once in a block."""
    from worker.ports import BlockRef

    head = await _post(devnet, "/wallet/getnowblock", {})
    raw = head["block_header"]["raw_data"]
    now_ms = int(time.time() * 1000)
    signed = signer.transfer(
        wallet,
        to=to,
        amount_sun=amount_sun,
        memo=b"",
        reference=BlockRef(raw["number"], head["blockID"], raw["timestamp"]),
        expiration_ms=now_ms + 60_000,
        timestamp_ms=now_ms,
    )
    answer = await _post(devnet, "/wallet/broadcasthex", {"transaction": signed.signed_hex})
    assert answer.get("result") is True, answer
    for _ in range(100):
        info = await _post(devnet, "/wallet/gettransactioninfobyid", {"value": signed.txid})
        if info.get("blockNumber"):
            return info
        await asyncio.sleep(0.1)
    raise AssertionError("the outside transfer never landed")


async def _solid_head(devnet: Devnet) -> int:
    block = await _post(devnet, "/walletsolidity/getnowblock", {})
    return int(block["block_header"]["raw_data"].get("number", 0))


async def test_a_transfer_signed_outside_the_worker_pauses_the_wallet_within_two_blocks(
    make_worker,
    amqp,
    namespace,
    devnet,
    database,  # noqa: F811
):
    worker = await _worker(make_worker, devnet)
    commands, events, wallet = await _funded_hot_wallet(amqp, namespace, devnet)
    drift_before = await _settled_drift(worker, wallet)
    assert drift_before in (0, FUNDED_SUN), "the faucet's credit, before or after the baseline"

    stored = await database.wallets.find_one({"address": wallet})
    signer, sealed = _signer_for(wallet, wallet=stored)
    elsewhere = PrivateKey.random().public_key.to_base58check_address()
    info = await _move_trx(devnet, signer, sealed, elsewhere, LEAKED_SUN)
    txid, landed_in = info["id"], info["blockNumber"]

    [event] = (await _until(events, {"wallet.needs_attention"}, 30))[-1:]
    solid_at_event = await _solid_head(devnet)
    cursor = await database.chain.find_one({"_id": "cursor"})
    assert solid_at_event <= landed_in + 2, (
        f"found when block {solid_at_event} was solidified; the transfer is in {landed_in}"
    )
    assert cursor["number"] <= landed_in + 2
    payload = json.loads(event.body)["payload"]
    assert payload["code"] == "UNEXPLAINED_OUTFLOW"
    assert (payload["wallet"], payload["txid"]) == (wallet, txid)
    assert (payload["asset"], payload["amount"]) == ("TRX", LEAKED_SUN)
    pause = await database.switches.find_one({"_id": payload["pause"]})
    assert pause["scope"] == f"wallet:{wallet}" and pause["paused"] is True
    assert pause["by"] == "reconciliation" and txid in pause["reason"]
    assert await _metric(worker, "tron_worker_unexplained_outflow_total", 'asset="TRX"') == 1

    leaked_with_fee = LEAKED_SUN + int(info.get("fee", 0))
    assert FUNDED_SUN - await balance_sun(devnet, wallet) == leaked_with_fee
    deadline = time.monotonic() + 20
    while (drift := await _settled_drift(worker, wallet)) != drift_before - leaked_with_fee:
        assert time.monotonic() < deadline, f"drift {drift}, before {drift_before}"

    recipient = PrivateKey.random().public_key.to_base58check_address()
    line = {"to": recipient, "amount": 1_000_000, "reference": "after-the-leak"}
    await commands.publish(
        aio_pika.Message(payout_command(wallet, "TRX", [line])), "command.payout.create"
    )
    received = await _until(events, {"payout.rejected", "payout.completed"}, 30)
    refused = json.loads(received[-1].body)["payload"]
    assert received[-1].routing_key == "payout.rejected", refused
    assert refused["code"] == "PAUSED" and payload["pause"] in refused["message"], refused
    assert await database.tx_attempts.count_documents({}) == 0, "nothing signed from it"
    assert await worker.stop() == 0


async def test_a_usdt_transfer_signed_outside_names_the_token_and_amount(
    make_worker,
    amqp,
    namespace,
    devnet,
    database,  # noqa: F811
):
    worker = await _worker(make_worker, devnet)
    _, events, wallet = await _funded_hot_wallet(amqp, namespace, devnet)
    await _post(devnet, "/devnet/fund", {"address": wallet, "token": "USDT", "amount": 8_000_000})
    stored = await database.wallets.find_one({"address": wallet})
    signer, sealed = _signer_for(wallet, wallet=stored)
    elsewhere = PrivateKey.random().public_key.to_base58check_address()
    await move_usdt(devnet, signer, sealed, elsewhere, 7_654_321)
    [event] = (await _until(events, {"wallet.needs_attention"}, 30))[-1:]
    payload = json.loads(event.body)["payload"]
    assert (payload["wallet"], payload["asset"], payload["amount"]) == (wallet, "USDT", 7_654_321)
    assert await database.outflows.count_documents({}) == 1, "one finding, not one per log"
    assert await _metric(worker, "tron_worker_unexplained_outflow_total", 'asset="USDT"') == 1
    assert await worker.stop() == 0
