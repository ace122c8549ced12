"""TronWeb 6, unmodified, against an in-process devnet: what a JavaScript wallet does.

tests/tronweb/drive.mjs sends TRX to a fresh account, transfers USDT to it,
freezes for energy and delegates part of it (each built, signed and broadcast
by TronWeb, each waited for until it is in a block), then prints a summary.
This test then reads devnet's own state back over java-tron's HTTP API; a
second one checks that TronWeb refuses a contract call devnet's tamper fault
rewrote (it re-encodes what it asked for before signing). The
Node dependencies (package-lock.json) are installed by `npm ci` on first use;
without node or npm the test skips, and fails under CI=true.

Every figure is exact. Genesis account 0 starts with 1,000,000 TRX and
1,000,000 USDT and 600 bytes of free bandwidth a day; fees at the genesis
prices (1,000 sun a byte, 100 sun an energy unit):
- the TRX transfer activates its recipient: 1 TRX (getCreateNewAccountFeeIn-
  SystemContract) plus 0.1 TRX (getCreateAccountFee: the sender stakes no
  bandwidth), no free bandwidth used;
- the USDT transfer to an empty balance burns 29,650 energy; its 345 bytes
  come out of the free bandwidth;
- the freeze's 254 bytes are free too (599 of 600 used);
- the delegation's 282 bytes no longer fit: 282 x 1,000 sun burnt.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from devnet.keys import address_to_base58, parse_address
from devnet.server import Devnet, DevnetConfig
from tests.support import ROOT, npm_ci

TRONWEB_DIR = ROOT / "tests" / "tronweb"
DRIVE_TIMEOUT_S = 60.0
NPM_TIMEOUT_S = 600.0
INTERVAL_S = 0.05
LAG = 4
BLOCK_PRODUCED_INTERVAL_MS = 3_000  # java-tron's fixed slot, used for lock periods

TRX = 1_000_000
USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
START_TRX_SUN = 1_000_000 * TRX
START_USDT = 1_000_000 * 10**6
# The amounts drive.mjs moves (the summary echoes them; checked below).
TRX_AMOUNT_SUN = 12_345_678
USDT_AMOUNT = 2_500_000
FREEZE_SUN = 500 * TRX
DELEGATE_SUN = 200 * TRX
LOCK_PERIOD_BLOCKS = 100
# Fees, see the module docstring.
TRX_FEE_SUN = 1_000_000 + 100_000
USDT_ENERGY = 29_650
USDT_FEE_SUN = USDT_ENERGY * 100
USDT_NET_USAGE = 345
FREEZE_NET_USAGE = 254
DELEGATE_FEE_SUN = 282 * 1_000


def _pinned_version() -> str:
    package = json.loads((TRONWEB_DIR / "package.json").read_text())
    return str(package["dependencies"]["tronweb"])


def _installed_version() -> str | None:
    manifest = TRONWEB_DIR / "node_modules" / "tronweb" / "package.json"
    if not manifest.exists():
        return None
    return str(json.loads(manifest.read_text()).get("version"))


@pytest.fixture(scope="module")
def node() -> str:
    """The node binary, with tests/tronweb/node_modules installed from the lock file."""
    path = npm_ci(TRONWEB_DIR, "to drive TronWeb")
    assert _installed_version() == _pinned_version()
    return path


@pytest.fixture
async def devnet() -> AsyncIterator[Devnet]:
    config = DevnetConfig(port=0, block_interval_s=INTERVAL_S, solidify_lag_blocks=LAG)
    async with Devnet(config) as running:
        yield running


@pytest.fixture
async def http(devnet: Devnet) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(devnet.url) as session:
        yield session


async def run_script(node: str, script: str, *args: str) -> dict[str, Any]:
    """Run a script of tests/tronweb (without blocking the loop devnet runs on); its JSON."""
    process = await asyncio.create_subprocess_exec(
        node,
        script,
        *args,
        cwd=TRONWEB_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), DRIVE_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode == 0, stderr.decode()[-3000:]
    answer: dict[str, Any] = json.loads(stdout)
    return answer


async def post(http: aiohttp.ClientSession, path: str, **body: Any) -> Any:
    async with http.post(path, json=body) as response:
        assert response.status == 200
        return await response.json()


async def usdt_balance(http: aiohttp.ClientSession, holder: bytes) -> int:
    answer = await post(
        http,
        "/walletsolidity/triggerconstantcontract",
        owner_address=holder.hex(),
        contract_address=parse_address(USDT).hex(),
        function_selector="balanceOf(address)",
        parameter=holder[1:].rjust(32, b"\0").hex(),
    )
    assert answer["result"] == {"result": True}
    return int(answer["constant_result"][0], 16)


async def check_transaction(
    http: aiohttp.ClientSession, outcome: dict[str, Any], contract_type: str, owner: bytes
) -> dict[str, Any]:
    """The solidified transaction is TronWeb's, on the reference block TronWeb asked for."""
    tx = await post(http, "/walletsolidity/gettransactionbyid", value=outcome["txid"])
    info = await post(http, "/walletsolidity/gettransactioninfobyid", value=outcome["txid"])
    assert tx["ret"] == [{"contractRet": "SUCCESS"}]
    [contract] = tx["raw_data"]["contract"]
    assert contract["type"] == contract_type
    assert contract["parameter"]["value"]["owner_address"] == owner.hex()
    assert len(tx["signature"]) == 1
    assert info["blockNumber"] == outcome["block"]
    # TronWeb builds on the head from /wallet/getblock: its number's low 2 bytes, 8 bytes of
    # its id, and its timestamp + 60 s as the expiration.
    ref_number = int(outcome["ref_block_bytes"], 16)
    assert ref_number < outcome["block"]
    ref_block = await post(http, "/walletsolidity/getblockbynum", num=ref_number)
    assert ref_block["blockID"][16:32] == outcome["ref_block_hash"]
    timestamp_ms = ref_block["block_header"]["raw_data"]["timestamp"]
    assert tx["raw_data"]["expiration"] == timestamp_ms + 60_000 == outcome["expiration_ms"]
    info_fee: int = info.get("fee", 0)
    return {"fee": info_fee, "receipt": info["receipt"]}


async def test_tronweb_pays_trx_and_usdt_freezes_and_delegates(
    node: str, devnet: Devnet, http: aiohttp.ClientSession
) -> None:
    key = devnet.genesis.accounts[0].private_key
    assert key is not None
    sender = devnet.genesis.accounts[0].address

    summary = await run_script(node, "drive.mjs", devnet.url, key.hex())

    recipient = parse_address(summary["recipient"])
    assert summary["tronweb"] == _pinned_version()
    assert summary["sender"] == address_to_base58(sender)
    moved = [summary[step]["amount_sun"] for step in ("trx", "freeze", "delegate")]
    assert moved == [TRX_AMOUNT_SUN, FREEZE_SUN, DELEGATE_SUN]
    assert summary["usdt"]["amount"] == USDT_AMOUNT
    assert summary["start"]["balance_sun"] == START_TRX_SUN

    trx = await check_transaction(http, summary["trx"], "TransferContract", sender)
    usdt = await check_transaction(http, summary["usdt"], "TriggerSmartContract", sender)
    freeze = await check_transaction(http, summary["freeze"], "FreezeBalanceV2Contract", sender)
    delegate = await check_transaction(
        http, summary["delegate"], "DelegateResourceContract", sender
    )
    assert trx == {"fee": TRX_FEE_SUN, "receipt": {"net_fee": 100_000}}
    assert usdt == {
        "fee": USDT_FEE_SUN,
        "receipt": {
            "energy_fee": USDT_FEE_SUN,
            "energy_usage_total": USDT_ENERGY,
            "net_usage": USDT_NET_USAGE,
            "result": "SUCCESS",
        },
    }
    assert freeze == {"fee": 0, "receipt": {"net_usage": FREEZE_NET_USAGE}}
    assert delegate == {"fee": DELEGATE_FEE_SUN, "receipt": {"net_fee": DELEGATE_FEE_SUN}}

    # Balances, to the sun.
    sender_account = await post(http, "/walletsolidity/getaccount", address=sender.hex())
    recipient_account = await post(http, "/walletsolidity/getaccount", address=recipient.hex())
    fees = TRX_FEE_SUN + USDT_FEE_SUN + DELEGATE_FEE_SUN
    assert sender_account["balance"] == START_TRX_SUN - TRX_AMOUNT_SUN - FREEZE_SUN - fees
    assert recipient_account["balance"] == TRX_AMOUNT_SUN
    assert await usdt_balance(http, recipient) == USDT_AMOUNT
    assert await usdt_balance(http, sender) == START_USDT - USDT_AMOUNT
    assert summary["usdt"]["recipient_after"] == str(USDT_AMOUNT)

    # Stake 2.0: what is frozen, what is delegated, and the lock.
    assert sender_account["frozenV2"] == [
        {},
        {"type": "ENERGY", "amount": FREEZE_SUN - DELEGATE_SUN},
        {"type": "TRON_POWER"},
    ]
    resource = sender_account["account_resource"]
    assert resource["delegated_frozenV2_balance_for_energy"] == DELEGATE_SUN
    received = recipient_account["account_resource"]
    assert received["acquired_delegated_frozenV2_balance_for_energy"] == DELEGATE_SUN
    # The actuator runs before its block updates the head: the lock counts from the parent.
    parent = await post(http, "/walletsolidity/getblockbynum", num=summary["delegate"]["block"] - 1)
    lock_until_ms = (
        parent["block_header"]["raw_data"]["timestamp"]
        + LOCK_PERIOD_BLOCKS * BLOCK_PRODUCED_INTERVAL_MS
    )
    delegated = await post(
        http,
        "/walletsolidity/getdelegatedresourcev2",
        fromAddress=sender.hex(),
        toAddress=recipient.hex(),
    )
    assert delegated == {
        "delegatedResource": [
            {
                "from": sender.hex(),
                "to": recipient.hex(),
                "frozen_balance_for_energy": DELEGATE_SUN,
                "expire_time_for_energy": lock_until_ms,
            }
        ]
    }
    assert summary["after"]["delegated_resource"] == delegated["delegatedResource"]
    assert summary["delegate"]["max_size_before_sun"] == FREEZE_SUN

    # The reads TronWeb made on the way, as devnet answered them.
    chain = summary["chain"]
    assert chain["first_blocks"] == [0, 1, 2]
    assert chain["witnesses"] == len(devnet.genesis.witnesses)
    assert (chain["bandwidth_prices"], chain["energy_prices"]) == ("0:1000", "0:100")
    after = summary["after"]
    latest = after["latest_blocks"]  # read after head_block: the chain may have grown
    assert latest == list(range(latest[-1] - 2, latest[-1] + 1))
    assert latest[-1] >= after["head_block"]
    assert after["solid_block"] >= summary["delegate"]["block"]
    assert after["transfer_ret"] == "SUCCESS"


async def test_tronweb_refuses_a_contract_call_the_node_rewrote(
    node: str, devnet: Devnet, http: aiohttp.ClientSession
) -> None:
    key = devnet.genesis.accounts[0].private_key
    assert key is not None
    recipient = address_to_base58(devnet.genesis.accounts[1].address)
    thief = address_to_base58(devnet.genesis.accounts[2].address)
    honest = await run_script(node, "refuse_tampered.mjs", devnet.url, key.hex(), recipient)

    async with http.post("/devnet/faults", json={"tamper": {"to": thief}}) as response:
        assert response.status == 200
    tampered = await run_script(node, "refuse_tampered.mjs", devnet.url, key.hex(), recipient)

    assert honest == {"refused": False, "message": ""}
    assert tampered == {"refused": True, "message": "Invalid transaction"}
