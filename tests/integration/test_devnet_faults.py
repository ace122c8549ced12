"""Fault injection, the faucet and `--state` against an in-process devnet, with unmodified tronpy.

50 ms blocks; waits use the producer's new-block event with a timeout. Where a
test must show that nothing happens (no block while paused, no transaction
after a drop) it waits for a number of blocks or for a timeout, never sleeps.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tronpy import AsyncTron
from tronpy.keys import PrivateKey
from tronpy.providers.async_http import AsyncHTTPProvider

from devnet.encoding import sha256
from devnet.keys import address_to_base58, parse_address
from devnet.server import Devnet, DevnetConfig
from devnet.transactions import parse_transaction
from tests.devnet_support import address, genesis_key

INTERVAL_S = 0.05
LAG = 4
WAIT_S = 10.0
TRX = 1_000_000
ACTIVATION_FEE_SUN = 1_100_000  # the transfer reached `fresh` before the faucet did
THIEF = "TPL66VK2gCXNCD7EJg9pgJRfqcRazjhUZY"


def config(**overrides: Any) -> DevnetConfig:
    return DevnetConfig(port=0, block_interval_s=INTERVAL_S, solidify_lag_blocks=LAG, **overrides)


@pytest.fixture
async def devnet() -> AsyncIterator[Devnet]:
    async with Devnet(config()) as running:
        yield running


@pytest.fixture
async def http(devnet: Devnet) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=devnet.url, timeout=WAIT_S) as client:
        yield client


async def set_faults(http: httpx.AsyncClient, **faults: Any) -> dict[str, Any]:
    response = await http.post("/devnet/faults", json=faults)
    assert response.status_code == 200, response.text
    return response.json()


async def balance_sun(tron: AsyncTron, who: str) -> int:
    return int((await tron.get_account(who)).get("balance", 0))


async def blocks_pass(devnet: Devnet, count: int) -> None:
    await devnet.producer.wait_for_number(devnet.chain.head_block.number + count, WAIT_S)


async def signed_transfer(tron: AsyncTron, key: PrivateKey, to: str, amount: int) -> Any:
    return (await tron.trx.transfer(address(key), to, amount).build()).sign(key)


async def transaction_by_id(http: httpx.AsyncClient, txid: str, solid: bool = False) -> Any:
    prefix = "/walletsolidity" if solid else "/wallet"
    return (await http.post(f"{prefix}/gettransactionbyid", json={"value": txid})).json()


async def test_faults_start_empty_and_unknown_keys_are_a_400(http: httpx.AsyncClient) -> None:
    current = (await http.get("/devnet/faults")).json()
    assert current["latency_ms"] == 0 and current["blackhole"] is False
    assert current["blocks"] == "running" and current["tamper"] is None

    response = await http.post("/devnet/faults", json={"latency_ms": 5, "lag_ms": 1})

    assert response.status_code == 400
    assert response.json() == {"error": "lag_ms: unknown key"}
    assert (await http.get("/devnet/faults")).json() == current
    assert (await http.post("/devnet/faults", content=b"{")).status_code == 400


async def test_patch_changes_some_keys_and_delete_clears(http: httpx.AsyncClient) -> None:
    await set_faults(http, latency_ms=5, drop_broadcast={"next": 2})

    patched = (await http.patch("/devnet/faults", json={"error_rate": 0.5})).json()
    assert (patched["latency_ms"], patched["error_rate"]) == (5, 0.5)
    assert patched["drop_broadcast"] == {"rate": 1.0, "next": 2}

    cleared = (await http.delete("/devnet/faults")).json()
    assert cleared == (await set_faults(http))
    assert cleared["latency_ms"] == 0 and cleared["drop_broadcast"] is None


async def test_latency_delays_api_requests(
    devnet: Devnet, http: httpx.AsyncClient, tron: AsyncTron
) -> None:
    await set_faults(http, latency_ms=300)

    started = time.monotonic()
    await tron.get_account(address(genesis_key(devnet, 0)))

    assert time.monotonic() - started >= 0.3


async def test_5xx_rate_one_fails_every_read_but_devnet_endpoints_answer(
    devnet: Devnet, http: httpx.AsyncClient, tron: AsyncTron
) -> None:
    await set_faults(http, error_rate=1.0)

    with pytest.raises(httpx.HTTPStatusError) as raised:
        await tron.get_account(address(genesis_key(devnet, 0)))
    assert raised.value.response.status_code == 503
    assert "Error" in raised.value.response.json()
    assert (await http.get("/devnet/faults")).json()["error_rate"] == 1.0

    await set_faults(http, error_rate=1.0, error_status=502, error_body="text")
    response = await http.post("/walletsolidity/getnowblock")
    assert (response.status_code, response.text) == (502, "Bad Gateway\n")

    await http.delete("/devnet/faults")
    assert await balance_sun(tron, address(genesis_key(devnet, 0))) > 0


async def test_timeout_holds_the_request_then_closes_without_an_answer(
    http: httpx.AsyncClient,
) -> None:
    await set_faults(http, timeout_rate=1.0, timeout_s=0.3)

    started = time.monotonic()
    with pytest.raises(httpx.RemoteProtocolError):
        await http.post("/wallet/getnowblock")

    assert time.monotonic() - started >= 0.3


async def test_dropped_broadcast_says_true_and_never_lands(
    devnet: Devnet, http: httpx.AsyncClient, tron: AsyncTron
) -> None:
    alice, bob = genesis_key(devnet, 0), genesis_key(devnet, 1)
    before = await balance_sun(tron, address(bob))
    await set_faults(http, drop_broadcast={"next": 1})
    txn = await signed_transfer(tron, alice, address(bob), 7 * TRX)

    ret = await txn.broadcast()

    assert ret["result"] is True and ret["txid"] == txn.txid
    await blocks_pass(devnet, LAG + 2)
    assert await transaction_by_id(http, txn.txid) == {}
    assert await transaction_by_id(http, txn.txid, solid=True) == {}
    assert await balance_sun(tron, address(bob)) == before
    assert (await http.get("/devnet/faults")).json()["drop_broadcast"]["next"] == 0

    # The fault is spent: broadcasting the same bytes again lands them.
    assert (await txn.broadcast())["result"] is True
    await ret.wait(timeout=WAIT_S, interval=INTERVAL_S)
    assert await balance_sun(tron, address(bob)) == before + 7 * TRX


async def test_a_dropped_broadcast_is_still_checked_first(
    devnet: Devnet, http: httpx.AsyncClient, tron: AsyncTron
) -> None:
    alice = genesis_key(devnet, 0)
    await set_faults(http, drop_broadcast={"next": 1})
    txn = await signed_transfer(tron, alice, address(alice), TRX)  # a self-transfer

    ret = await http.post("/wallet/broadcasttransaction", json=txn.to_json())

    assert ret.json()["code"] == "CONTRACT_VALIDATE_ERROR"
    assert (await http.get("/devnet/faults")).json()["drop_broadcast"]["next"] == 1


@pytest.mark.parametrize(
    ("mode", "error"), [("error", httpx.HTTPStatusError), ("disconnect", httpx.RemoteProtocolError)]
)
async def test_lost_response_fails_the_client_yet_the_transaction_lands(
    devnet: Devnet, http: httpx.AsyncClient, tron: AsyncTron, mode: str, error: type[Exception]
) -> None:
    alice, bob = genesis_key(devnet, 2), genesis_key(devnet, 3)
    before = await balance_sun(tron, address(bob))
    await set_faults(http, lost_response={"next": 1, "mode": mode})
    txn = await signed_transfer(tron, alice, address(bob), 3 * TRX)

    with pytest.raises(error):
        await txn.broadcast()

    await blocks_pass(devnet, 2)
    landed = await transaction_by_id(http, txn.txid)
    assert landed["ret"] == [{"contractRet": "SUCCESS"}]
    assert await balance_sun(tron, address(bob)) == before + 3 * TRX
    # A re-broadcast, as a careful client does after a lost answer, is a duplicate.
    again = (await http.post("/wallet/broadcasttransaction", json=txn.to_json())).json()
    assert again["code"] == "DUP_TRANSACTION_ERROR"


async def test_tampered_builds_pay_someone_else_with_a_consistent_txid(
    devnet: Devnet, http: httpx.AsyncClient
) -> None:
    owner, to = address(genesis_key(devnet, 0)), address(genesis_key(devnet, 1))
    await set_faults(http, tamper={"to": THIEF, "amount_delta": 1, "next": 1})
    body = {"owner_address": owner, "to_address": to, "amount": 1000, "visible": True}

    tampered = (await http.post("/wallet/createtransaction", json=body)).json()
    honest = (await http.post("/wallet/createtransaction", json=body)).json()

    value = tampered["raw_data"]["contract"][0]["parameter"]["value"]
    assert (value["to_address"], value["amount"]) == (THIEF, 1001)
    assert tampered["txID"] == sha256(bytes.fromhex(tampered["raw_data_hex"])).hex()
    reencoded = parse_transaction(tampered, visible=True)
    assert reencoded.raw_bytes.hex() == tampered["raw_data_hex"]
    assert tampered["visible"] is True
    honest_value = honest["raw_data"]["contract"][0]["parameter"]["value"]
    assert (honest_value["to_address"], honest_value["amount"]) == (to, 1000)
    assert honest["txID"] != tampered["txID"]


async def test_pause_stops_blocks_and_resume_restarts_them(
    devnet: Devnet, http: httpx.AsyncClient, tron: AsyncTron
) -> None:
    await set_faults(http, blocks="paused")
    paused_at = await tron.get_latest_block_number()

    with pytest.raises(TimeoutError):
        await devnet.producer.wait_for_number(paused_at + 1, timeout_s=10 * INTERVAL_S)
    assert await tron.get_latest_block_number() == paused_at

    await set_faults(http, blocks="running")
    await devnet.producer.wait_for_number(paused_at + 2, WAIT_S)
    assert await tron.get_latest_block_number() >= paused_at + 2


async def test_blackhole_hangs_api_requests_until_cleared(
    devnet: Devnet, http: httpx.AsyncClient
) -> None:
    await set_faults(http, blackhole=True)

    with pytest.raises(httpx.ReadTimeout):
        await http.post("/wallet/getnowblock", timeout=1.0)
    held = asyncio.create_task(http.post("/wallet/getnowblock"))
    assert (await http.get("/devnet/faults")).json()["blackhole"] is True
    assert not held.done()

    await http.delete("/devnet/faults")

    answer = await asyncio.wait_for(held, WAIT_S)
    assert answer.status_code == 200 and answer.json()["block_header"]


async def test_stopping_cuts_requests_held_by_faults() -> None:
    devnet = Devnet(config())
    await devnet.start()
    async with httpx.AsyncClient(base_url=devnet.url, timeout=WAIT_S) as http:
        await set_faults(http, blackhole=True, paths=["getnowblock"])
        held = asyncio.create_task(http.post("/wallet/getnowblock"))
        await set_faults(http, timeout_rate=1.0, timeout_s=60)
        timed_out = asyncio.create_task(http.post("/wallet/getnodeinfo"))
        await blocks_pass(devnet, 2)

        async with asyncio.timeout(5):
            await devnet.stop()

        for request in (held, timed_out):
            with pytest.raises(httpx.TransportError):
                await request


async def test_fund_credits_exactly_and_activates_new_accounts(
    devnet: Devnet, http: httpx.AsyncClient, tron: AsyncTron
) -> None:
    fresh = address(PrivateKey.random())
    alice = address(genesis_key(devnet, 0))
    before = await balance_sun(tron, alice)
    pending = await (await signed_transfer(tron, genesis_key(devnet, 0), fresh, TRX)).broadcast()

    funded = await http.post("/devnet/fund", json={"address": fresh, "amount_sun": 7 * TRX})
    await http.post("/devnet/fund", json={"address": alice, "amount_sun": 5})

    assert funded.json() == {"address": fresh, "balance_sun": 8 * TRX}
    account = await tron.get_account(fresh)
    assert account["balance"] == 8 * TRX and account["create_time"] > 0
    await pending.wait(timeout=WAIT_S, interval=INTERVAL_S)
    await blocks_pass(devnet, LAG + 1)
    assert await balance_sun(tron, fresh) == 8 * TRX
    assert await balance_sun(tron, alice) == before - TRX - ACTIVATION_FEE_SUN + 5
    solid = await http.post("/walletsolidity/getaccount", json={"address": fresh, "visible": True})
    assert solid.json()["balance"] == 8 * TRX


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"address": "Tnope", "amount_sun": 1}, "address: Value error, "),
        ({"address": "41" + "00" * 19, "amount_sun": 1}, "address: Value error, "),
        ({"address": THIEF, "amount_sun": 0}, "amount_sun: Input should be greater than 0"),
        ({"address": THIEF, "amount_sun": 1.5}, "amount_sun: Input should be a valid integer"),
        ({"address": THIEF, "amount_sun": "5"}, "amount_sun: Input should be a valid integer"),
        ({"address": THIEF, "amount_sun": 2**63}, "amount_sun: Input should be less than or equal"),
        ({"address": THIEF}, "body: Value error, give amount_sun (TRX), or token and amount"),
        ({"address": THIEF, "amount_sun": 1, "to": THIEF}, "to: unknown key"),
        ({"address": THIEF, "token": "USDC", "amount": 1}, "token: Value error, devnet has one"),
    ],
)
async def test_fund_refuses_bad_input(
    http: httpx.AsyncClient, body: dict[str, Any], message: str
) -> None:
    response = await http.post("/devnet/fund", json=body)

    assert response.status_code == 400
    assert response.json()["error"].startswith(message)


async def test_fund_refuses_to_overflow_a_balance(devnet: Devnet, http: httpx.AsyncClient) -> None:
    body = {"address": address_to_base58(devnet.genesis.accounts[0].address)}

    response = await http.post("/devnet/fund", json={**body, "amount_sun": 2**63 - 1})

    assert response.status_code == 400 and "2^63-1" in response.json()["error"]


async def test_state_survives_an_in_process_restart(tmp_path: Path) -> None:
    state = tmp_path / "devnet-state.json"
    fresh = address(PrivateKey.random())
    async with Devnet(config(state_path=state)) as first:
        async with AsyncTron(provider=AsyncHTTPProvider(first.url)) as tron:
            alice = genesis_key(first, 0)
            info = await (
                await (await signed_transfer(tron, alice, fresh, 4 * TRX)).broadcast()
            ).wait(timeout=WAIT_S, interval=INTERVAL_S)
            async with httpx.AsyncClient(base_url=first.url) as http:
                await http.post("/devnet/fund", json={"address": fresh, "amount_sun": 6})
            balances = {who: await balance_sun(tron, who) for who in (fresh, address(alice))}
            saved_head = await tron.get_block(await tron.get_latest_block_number())
    assert state.exists()

    async with Devnet(config(state_path=state)) as second:
        async with AsyncTron(provider=AsyncHTTPProvider(second.url)) as tron:
            for who, balance in balances.items():
                assert await balance_sun(tron, who) == balance
            assert (await tron.get_block(saved_head["block_header"]["raw_data"]["number"])) == (
                saved_head
            )
            assert (await tron.get_transaction(info["id"]))["ret"] == [{"contractRet": "SUCCESS"}]
            assert (await tron.get_transaction_info(info["id"]))["blockNumber"] == (
                info["blockNumber"]
            )
            # Production carries on from the saved head, on the wall clock.
            await blocks_pass(second, 2)
            head = await tron.get_latest_block()
            assert head["block_header"]["raw_data"]["timestamp"] > time.time() * 1000 - 5_000


READY_LINE = re.compile(r"^devnet ready on (http://127\.0\.0\.1:\d+) ")


async def _start_cli(*args: str) -> tuple[asyncio.subprocess.Process, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "devnet", "--port", "0", "--block-interval-s", "0.05", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert process.stdout is not None
    line = (await asyncio.wait_for(process.stdout.readline(), WAIT_S)).decode()
    match = READY_LINE.match(line)
    assert match, f"no ready line: {line!r}"
    return process, match.group(1)


async def _stop_cli(process: asyncio.subprocess.Process) -> int:
    process.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(process.wait(), WAIT_S)


async def test_state_survives_a_sigterm_and_cli_fault_flags_apply(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    fresh = address(PrivateKey.random())
    process, url = await _start_cli("--state", str(state), "--fault-latency-ms", "50")
    try:
        async with httpx.AsyncClient(base_url=url, timeout=WAIT_S) as http:
            assert (await http.get("/devnet/faults")).json()["latency_ms"] == 50
            await http.post("/devnet/fund", json={"address": fresh, "amount_sun": 42})
            head = (await http.post("/wallet/getnowblock")).json()
        assert await _stop_cli(process) == 0
        document = json.loads(state.read_text())
        assert document["format"] == "lucid-devnet-state"

        process, url = await _start_cli("--state", str(state))
        async with httpx.AsyncClient(base_url=url, timeout=WAIT_S) as http:
            query = {"address": fresh, "visible": True}
            account = (await http.post("/wallet/getaccount", json=query)).json()
            number = head["block_header"]["raw_data"]["number"]
            block = (await http.post("/wallet/getblockbynum", json={"num": number})).json()
        assert account["balance"] == 42
        assert block["blockID"] == head["blockID"]
        assert await _stop_cli(process) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_a_corrupt_state_file_stops_the_cli_with_an_error(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text("{not json")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "devnet", "--port", "0", "--state", str(state),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), WAIT_S)

    assert process.returncode == 1 and stdout == b""
    assert b"is not JSON" in stderr
    assert state.read_text() == "{not json"


USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"


def transfer_call(to: str, amount: int) -> str:
    return (parse_address(to)[1:].rjust(32, b"\0") + amount.to_bytes(32, "big")).hex()


async def test_tampered_token_transfers_pay_someone_else(
    devnet: Devnet, http: httpx.AsyncClient
) -> None:
    owner, to = address(genesis_key(devnet, 0)), address(genesis_key(devnet, 1))
    await set_faults(http, tamper={"to": THIEF, "amount_delta": 1})
    body = {
        "owner_address": owner, "contract_address": USDT, "visible": True,
        "function_selector": "transfer(address,uint256)", "parameter": transfer_call(to, 5),
        "fee_limit": 30_000_000,
    }  # fmt: skip

    built = (await http.post("/wallet/triggersmartcontract", json=body)).json()
    constant = (await http.post("/wallet/triggerconstantcontract", json=body)).json()

    transaction = built["transaction"]
    data = transaction["raw_data"]["contract"][0]["parameter"]["value"]["data"]
    assert data == "a9059cbb" + transfer_call(THIEF, 6)
    assert transaction["txID"] == sha256(bytes.fromhex(transaction["raw_data_hex"])).hex()
    assert (
        parse_transaction(transaction, visible=True).raw_bytes.hex()
        == (transaction["raw_data_hex"])
    )
    # A constant call's transaction is never signed, so it is left alone.
    constant_data = constant["transaction"]["raw_data"]["contract"][0]["parameter"]["value"]
    assert constant_data["data"] == "a9059cbb" + transfer_call(to, 5)


async def test_fund_mints_usdt(devnet: Devnet, http: httpx.AsyncClient, tron: AsyncTron) -> None:
    fresh = address(PrivateKey.random())
    usdt = await tron.get_contract(USDT)
    supply = await usdt.functions.totalSupply()

    funded = await http.post(
        "/devnet/fund", json={"address": fresh, "token": "USDT", "amount": 123}
    )

    assert funded.json() == {"address": fresh, "token": "USDT", "balance": 123}
    assert await usdt.functions.balanceOf(fresh) == 123
    assert await usdt.functions.totalSupply() == supply + 123
    await blocks_pass(devnet, LAG + 1)
    assert await usdt.functions.balanceOf(fresh) == 123
