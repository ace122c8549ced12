"""Contract endpoints over HTTP: java-tron's JSON shapes, both views, and the Return errors.

Blocks are produced by hand and the clock is fixed, so every answer is exact.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from devnet import builders
from devnet.api import create_app
from devnet.chain import Chain
from devnet.evm_abi import encode_address, encode_uint, selector
from devnet.genesis import build_genesis
from devnet.keys import address_from_private_key, address_to_base58
from devnet.transactions import RawData
from devnet.trc20 import USDT_ADDRESS

START_MS = 1_800_000_000_000
CLOCK_MS = START_MS + 1_234
USDT_B58 = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
FRESH = address_from_private_key(bytes.fromhex("11" * 32))


@pytest.fixture
def chain() -> Chain:
    chain = Chain(build_genesis(), solidify_lag_blocks=2)
    chain.produce_block(START_MS, chain.genesis.witnesses[0])
    return chain


@pytest.fixture
async def client(chain: Chain) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(create_app(chain, clock_ms=lambda: CLOCK_MS))) as test_client:
        yield test_client


def next_block(chain: Chain) -> None:
    chain.produce_block(chain.head_block.timestamp_ms + 3_000, chain.genesis.witnesses[0])


def alice(chain: Chain) -> bytes:
    return chain.genesis.accounts[0].address


async def post(client: TestClient, path: str, body: Any) -> dict[str, Any]:
    response = await client.post(path, json=body) if not isinstance(body, str) else (
        await client.post(path, data=body)
    )  # fmt: skip
    assert response.status == 200
    return await response.json()


def transfer_body(sender: bytes, to: bytes, amount: int, visible: bool) -> dict[str, Any]:
    encode = address_to_base58 if visible else bytes.hex
    return {
        "owner_address": encode(sender),
        "contract_address": encode(USDT_ADDRESS),
        "function_selector": "transfer(address,uint256)",
        "parameter": (encode_address(to) + encode_uint(amount)).hex(),
        "visible": visible,
    }


def send_transfer(chain: Chain, to: bytes, amount: int) -> None:
    key = chain.genesis.accounts[0].private_key
    assert key is not None
    head = chain.head_block
    data = selector("transfer(address,uint256)") + encode_address(to) + encode_uint(amount)
    value = {"owner_address": alice(chain), "contract_address": USDT_ADDRESS, "data": data}
    raw = RawData(
        contracts=(builders.build_contract("TriggerSmartContract", value),),
        ref_block_bytes=head.block_id[6:8],
        ref_block_hash=head.block_id[8:16],
        expiration_ms=head.timestamp_ms + 60_000,
        timestamp_ms=head.timestamp_ms,
        fee_limit_sun=100_000_000,
    )
    chain.broadcast(builders.sign(raw, key))


async def test_getcontract_in_hex_and_by_get(client: TestClient, chain: Chain) -> None:
    by_post = await post(client, "/wallet/getcontract", {"value": USDT_ADDRESS.hex()})
    assert by_post["contract_address"] == USDT_ADDRESS.hex()
    assert chain.genesis.usdt is not None
    assert by_post["origin_address"] == chain.genesis.usdt.owner_address.hex()
    assert by_post["abi"]["entrys"][0] == {
        "constant": True,
        "name": "name",
        "outputs": [{"type": "string"}],
        "type": "Function",
        "stateMutability": "View",
    }
    response = await client.get(
        "/wallet/getcontract", params={"value": USDT_B58, "visible": "true"}
    )
    assert (await response.json())["contract_address"] == USDT_B58
    missing = await client.post("/walletsolidity/getcontract", json={"value": USDT_B58})
    assert missing.status == 404  # java-tron serves it on /wallet only


async def test_getcontractinfo_wraps_the_contract_and_its_state(client: TestClient) -> None:
    info = await post(client, "/wallet/getcontractinfo", {"value": USDT_B58, "visible": True})
    assert set(info) == {"smart_contract", "contract_state"}
    assert info["smart_contract"]["name"] == "TetherToken"
    assert info["contract_state"]["update_cycle"] == START_MS // 21_600_000


async def test_constant_call_logs_keep_their_20_byte_address(
    client: TestClient, chain: Chain
) -> None:
    hex_answer = await post(
        client, "/wallet/triggerconstantcontract", transfer_body(alice(chain), FRESH, 5, False)
    )
    assert hex_answer["result"] == {"result": True}
    assert hex_answer["energy_used"] == 29_650
    assert hex_answer["logs"][0]["address"] == USDT_ADDRESS[1:].hex()
    assert hex_answer["transaction"]["ret"] == [{}]
    assert hex_answer["transaction"]["visible"] is False
    assert hex_answer["transaction"]["raw_data"]["expiration"] == START_MS + 60_000
    assert hex_answer["transaction"]["raw_data"]["timestamp"] == CLOCK_MS
    visible = await post(
        client, "/wallet/triggerconstantcontract", transfer_body(alice(chain), FRESH, 5, True)
    )
    # No 0x41 fix-up here (only gettransactioninfobyid has one): base58check of 20 bytes.
    assert visible["logs"][0]["address"] == "G9AHnMvAgqKJ2eWErupYfdzu6hgWVUZqu"


async def test_a_reverting_constant_call_says_so_in_result_and_ret(
    client: TestClient, chain: Chain
) -> None:
    body = transfer_body(FRESH, alice(chain), 1, False)
    answer = await post(client, "/wallet/triggerconstantcontract", body)
    assert answer["result"] == {"result": True, "message": b"REVERT opcode executed".hex()}
    assert answer["constant_result"] == [""]
    assert answer["transaction"]["ret"] == [{"ret": "FAILED"}]
    estimate = await post(client, "/wallet/estimateenergy", body)
    assert estimate == {
        "result": {"code": "CONTRACT_EXE_ERROR", "message": b"REVERT opcode executed".hex()}
    }


async def test_building_a_call_to_a_view_function_runs_it(client: TestClient, chain: Chain) -> None:
    body = {
        "owner_address": address_to_base58(alice(chain)),
        "contract_address": USDT_B58,
        "function_selector": "decimals()",
        "fee_limit": 5_000_000,
        "Permission_id": 2,
        "visible": True,
    }
    answer = await post(client, "/wallet/triggersmartcontract", body)
    assert answer["constant_result"] == [encode_uint(6).hex()]
    assert answer["energy_used"] == 318
    raw = answer["transaction"]["raw_data"]
    assert raw["fee_limit"] == 5_000_000 and raw["contract"][0]["Permission_id"] == 2
    starved = await post(client, "/wallet/triggersmartcontract", {**body, "fee_limit": 100})
    assert starved["result"]["code"] == "OTHER_ERROR"
    assert starved["result"]["message"].startswith(
        "class org.tron.core.vm.program.Program$OutOfEnergyException : Not enough energy for"
    )


async def test_the_solidified_view_estimates_on_solidified_state(
    client: TestClient, chain: Chain
) -> None:
    send_transfer(chain, FRESH, 9)
    next_block(chain)
    body = transfer_body(alice(chain), FRESH, 1, True)
    head = await post(client, "/wallet/estimateenergy", body)
    solid = await post(client, "/walletsolidity/estimateenergy", body)
    assert head == {"result": {"result": True}, "energy_required": 21_975}  # FRESH holds 9
    assert solid["energy_required"] == 37_063  # not solidified: FRESH still holds nothing
    constant = await post(client, "/walletsolidity/triggerconstantcontract", body)
    assert constant["energy_used"] == 29_650


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ("{not json", "OTHER_ERROR", "class com.alibaba.fastjson.JSONException : "),
        ({"contract_address": USDT_B58}, "OTHER_ERROR",
         "class java.security.InvalidParameterException : owner_address isn't set."),
        ({"owner_address": USDT_B58}, "OTHER_ERROR",
         "class java.security.InvalidParameterException : At least one of contract_address "
         "and data must be set."),
        ({"owner_address": USDT_B58, "data": "6080"}, "CONTRACT_VALIDATE_ERROR",
         "devnet does not execute CreateSmartContract yet"),
        ({"owner_address": USDT_B58, "contract_address": USDT_B58, "function_selector": "f()",
          "parameter": "zz"}, "OTHER_ERROR",
         "class org.bouncycastle.util.encoders.DecoderException : "),
        ({"owner_address": "Tnope", "contract_address": USDT_B58}, "OTHER_ERROR",
         "class java.lang.NullPointerException : null"),
    ],
)  # fmt: skip
async def test_request_errors_come_back_in_return(
    client: TestClient, body: Any, code: str, message: str
) -> None:
    visible = isinstance(body, dict)  # a body that is not JSON cannot say visible: hex
    if visible:
        body = {**body, "visible": True}
    for path in ("/wallet/triggerconstantcontract", "/wallet/estimateenergy"):
        answer = await post(client, path, body)
        text = answer["result"]["message"]
        assert answer["result"]["code"] == code
        assert (text if visible else bytes.fromhex(text).decode()).startswith(message)
        assert set(answer) == {"result"}


async def test_errors_are_hex_when_not_visible(client: TestClient) -> None:
    answer = await post(client, "/wallet/triggersmartcontract", {"owner_address": "41" + "00" * 20})
    text = "class java.security.InvalidParameterException : contract_address isn't set."
    assert answer == {"result": {"code": "OTHER_ERROR", "message": text.encode().hex()}}


async def test_a_constant_call_carries_extra_data_as_its_memo(
    client: TestClient, chain: Chain
) -> None:
    body = {**transfer_body(alice(chain), FRESH, 1, True), "extra_data": "order 7"}
    answer = await post(client, "/wallet/triggerconstantcontract", body)
    assert bytes.fromhex(answer["transaction"]["raw_data"]["data"]) == b"order 7"
