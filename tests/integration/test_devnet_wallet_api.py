"""Account and transaction endpoints over HTTP: java-tron's JSON shapes, both views, errors.

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
from devnet.genesis import build_genesis
from devnet.keys import address_from_private_key, address_to_base58
from devnet.transactions import RawData, Transaction, parse_transaction, render_transaction

START_MS = 1_800_000_000_000
CLOCK_MS = START_MS + 1_234
LAG = 2
FRESH = address_from_private_key(bytes.fromhex("11" * 32))


@pytest.fixture
def chain() -> Chain:
    chain = Chain(build_genesis(), solidify_lag_blocks=LAG)
    chain.produce_block(START_MS, chain.genesis.witnesses[0])
    return chain


@pytest.fixture
async def client(chain: Chain) -> AsyncIterator[TestClient]:
    app = create_app(chain, clock_ms=lambda: CLOCK_MS)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


def next_block(chain: Chain) -> None:
    chain.produce_block(chain.head_block.timestamp_ms + 3000, chain.genesis.witnesses[0])


def key_of(chain: Chain, n: int) -> bytes:
    key = chain.genesis.accounts[n].private_key
    assert key is not None
    return key


async def post(client: TestClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(path, json=body)
    assert response.status == 200
    return await response.json()


def as_posted(tx: Transaction, visible: bool = False) -> dict[str, Any]:
    """The body tronpy posts: txID, raw_data, signature (and a permission key java ignores)."""
    rendered = render_transaction(tx, visible)
    return {
        "txID": rendered["txID"],
        "raw_data": rendered["raw_data"],
        "signature": rendered.get("signature", []),
        "permission": None,
        "visible": visible,
    }


async def test_getaccount_of_a_genesis_account_in_java_tron_shape(
    client: TestClient, chain: Chain
) -> None:
    owner = chain.genesis.accounts[0].address

    visible = await post(client, "/wallet/getaccount",
                         {"address": address_to_base58(owner), "visible": True})  # fmt: skip
    hexed = await post(client, "/wallet/getaccount", {"address": owner.hex()})

    assert visible == {
        "address": address_to_base58(owner),
        "balance": 1_000_000_000_000,
        "net_window_size": 28_800_000,
        "net_window_optimized": True,
        "account_resource": {"energy_window_size": 28_800_000, "energy_window_optimized": True},
        "owner_permission": {
            "permission_name": "owner", "threshold": 1,
            "keys": [{"address": address_to_base58(owner), "weight": 1}],
        },
        "active_permission": [{
            "type": "Active", "id": 2, "permission_name": "active", "threshold": 1,
            "operations": "7fff1fc0033ec30f000000000000000000000000000000000000000000000000",
            "keys": [{"address": address_to_base58(owner), "weight": 1}],
        }],
        "frozenV2": [{}, {"type": "ENERGY"}, {"type": "TRON_POWER"}],
        "asset_optimized": True,
    }  # fmt: skip
    assert hexed["address"] == owner.hex()
    assert hexed["owner_permission"]["keys"][0]["address"] == owner.hex()


async def test_unknown_accounts_are_empty_objects(client: TestClient) -> None:
    for path in ("/wallet/getaccount", "/walletsolidity/getaccount", "/wallet/getaccountnet",
                 "/wallet/getaccountresource"):  # fmt: skip
        assert await post(client, path, {"address": FRESH.hex()}) == {}


async def test_bad_addresses_fail_as_java_tron_fails(client: TestClient) -> None:
    visible = await post(client, "/wallet/getaccount", {"address": "Tnope", "visible": True})
    hexed = await post(client, "/wallet/getaccount", {"address": "zz"})

    assert visible == {"Error": "class java.lang.NullPointerException : null"}
    assert hexed["Error"].startswith("class org.tron.core.services.http.JsonFormat$ParseException")


async def test_resources_of_an_account(client: TestClient, chain: Chain) -> None:
    owner = chain.genesis.accounts[0].address.hex()

    net = await post(client, "/wallet/getaccountnet", {"address": owner})
    resource = await post(client, "/wallet/getaccountresource", {"address": owner})

    assert net == {"freeNetLimit": 600, "TotalNetLimit": 43_200_000_000}
    assert resource == {"freeNetLimit": 600, "TotalNetLimit": 43_200_000_000,
                        "TotalEnergyLimit": 180_000_000_000}  # fmt: skip


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("TYJuPw2HjXBp11c5up3uZwrmdt9arhXjaq", {"result": True, "message": "Base58check format"}),
        ("41f50c63d9637355c6145f757e6b40a63b03ea7ffb",
         {"result": True, "message": "Hex string format"}),
        ("42f50c63d9637355c6145f757e6b40a63b03ea7ffb",
         {"result": False, "message": "Invalid address"}),
        ("TYJuPw2HjXBp11c5up3uZwrmdt9arhXjaX", {"result": False, "message": "Invalid address"}),
        ("T123", {"result": False, "message": "Length error"}),
    ],
)  # fmt: skip
async def test_validateaddress(client: TestClient, address: str, expected: dict) -> None:
    assert await post(client, "/wallet/validateaddress", {"address": address}) == expected


async def test_createtransaction_builds_on_the_head_with_a_60_s_lifetime(
    client: TestClient, chain: Chain
) -> None:
    owner = chain.genesis.accounts[0].address
    body = {"owner_address": address_to_base58(owner), "to_address": address_to_base58(FRESH),
            "amount": 5, "visible": True, "extra_data": "memo"}  # fmt: skip

    created = await post(client, "/wallet/createtransaction", body)

    head = chain.head_block
    raw = created["raw_data"]
    assert created["visible"] is True and "signature" not in created
    assert raw["ref_block_bytes"] == head.block_id[6:8].hex()
    assert raw["ref_block_hash"] == head.block_id[8:16].hex()
    assert raw["expiration"] == head.timestamp_ms + 60_000
    assert raw["timestamp"] == CLOCK_MS
    assert raw["data"] == b"memo".hex()
    assert raw["contract"][0]["parameter"]["value"] == {
        "owner_address": address_to_base58(owner), "to_address": address_to_base58(FRESH),
        "amount": 5,
    }  # fmt: skip
    signed = builders.sign(_raw_of(created), key_of(chain, 0))
    assert signed.txid.hex() == created["txID"]


def _raw_of(created: dict[str, Any]) -> RawData:
    return parse_transaction(created, visible=created["visible"]).raw


async def test_createtransaction_validates_like_the_transfer_actuator(
    client: TestClient, chain: Chain
) -> None:
    owner = chain.genesis.accounts[0].address.hex()

    answer = await post(client, "/wallet/createtransaction",
                        {"owner_address": owner, "to_address": owner, "amount": 5})  # fmt: skip

    assert answer == {"Error": "class org.tron.core.exception.ContractValidateException : "
                               "Cannot transfer TRX to yourself."}  # fmt: skip


async def test_getsignweight_gives_txid_and_the_owner_permission_in_hex(
    client: TestClient, chain: Chain
) -> None:
    tx = builders.transfer(key_of(chain, 0), FRESH, 5, chain.head_block.block_id, START_MS)
    unsigned = as_posted(builders.sign(tx.raw))
    unsigned.pop("visible")

    weight = await post(client, "/wallet/getsignweight", unsigned)
    signed = await post(client, "/wallet/getsignweight", as_posted(tx) | {"visible": False})

    owner = chain.genesis.accounts[0].address.hex()
    assert weight["permission"] == {"permission_name": "owner", "threshold": 1,
                                    "keys": [{"address": owner, "weight": 1}]}  # fmt: skip
    assert weight["result"] == {"code": "NOT_ENOUGH_PERMISSION"}
    assert weight["transaction"]["result"] == {"result": True}
    assert weight["transaction"]["txid"] == tx.txid.hex()
    assert weight["transaction"]["transaction"]["txID"] == tx.txid.hex()
    assert signed["result"] == {}  # ENOUGH_PERMISSION is the enum default
    assert (signed["approved_list"], signed["current_weight"]) == ([owner], 1)


async def test_broadcast_accepts_and_the_transaction_shows_pending_then_in_a_block(
    client: TestClient, chain: Chain
) -> None:
    tx = builders.transfer(key_of(chain, 0), FRESH, 5, chain.head_block.block_id, START_MS)
    by_id = {"value": tx.txid.hex(), "visible": True}

    answer = await post(client, "/wallet/broadcasttransaction", as_posted(tx) | {"txID": "00"})

    assert answer == {"result": True, "txid": tx.txid.hex()}
    pending = await post(client, "/wallet/gettransactionbyid", by_id)
    assert pending["ret"] == [{"contractRet": "SUCCESS"}] and pending["txID"] == tx.txid.hex()
    assert await post(client, "/wallet/gettransactioninfobyid", by_id) == {}
    assert await post(client, "/walletsolidity/gettransactionbyid", by_id) == {}
    next_block(chain)
    info = await post(client, "/wallet/gettransactioninfobyid", by_id)
    assert info == {"id": tx.txid.hex(), "fee": 1_100_000, "blockNumber": 2,
                    "blockTimeStamp": START_MS + 3000, "contractResult": [""],
                    "receipt": {"net_fee": 100_000}}  # fmt: skip
    assert await post(client, "/walletsolidity/gettransactioninfobyid", by_id) == {}
    for _ in range(LAG):
        next_block(chain)
    assert await post(client, "/walletsolidity/gettransactioninfobyid", by_id) == info
    solid = await post(client, "/walletsolidity/getaccount", {"address": FRESH.hex()})
    assert solid["balance"] == 5


async def test_refusals_carry_java_tron_code_and_hex_message(
    client: TestClient, chain: Chain
) -> None:
    owner = chain.genesis.accounts[0].address
    tx = builders.transfer(key_of(chain, 0), owner, 5, chain.head_block.block_id, START_MS)
    text = "Contract validate error : Cannot transfer TRX to yourself."

    hexed = await post(client, "/wallet/broadcasttransaction", as_posted(tx))
    visible = await post(client, "/wallet/broadcasttransaction", as_posted(tx, visible=True))

    assert hexed == {"code": "CONTRACT_VALIDATE_ERROR", "txid": tx.txid.hex(),
                     "message": text.encode().hex()}  # fmt: skip
    assert visible["message"] == text


async def test_a_body_java_tron_cannot_pack_is_a_null_pointer_error(client: TestClient) -> None:
    for body in ({}, {"raw_data": {"contract": [], "expiration": "later"}}):
        answer = await post(client, "/wallet/broadcasttransaction", body)
        assert answer == {"Error": "class java.lang.NullPointerException : null"}


async def test_blocks_list_their_transactions(client: TestClient, chain: Chain) -> None:
    tx = builders.transfer(key_of(chain, 0), FRESH, 5, chain.head_block.block_id, START_MS)
    await post(client, "/wallet/broadcasttransaction", as_posted(tx))
    next_block(chain)

    block = await post(client, "/wallet/getblockbynum", {"num": 2, "visible": True})

    assert [t["txID"] for t in block["transactions"]] == [tx.txid.hex()]
    assert block["transactions"][0]["ret"] == [{"contractRet": "SUCCESS"}]
    contract = block["transactions"][0]["raw_data"]["contract"][0]
    assert contract["parameter"]["value"]["to_address"] == address_to_base58(FRESH)
    assert block["block_header"]["raw_data"]["txTrieRoot"] != "00" * 32
