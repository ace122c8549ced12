"""The endpoints the worker's gateway uses, over HTTP: java-tron's exact shapes and errors.

broadcasthex, getblock and gettransactioninfobyblocknum on both views. Blocks
are produced by hand and the clock is fixed, so every answer is exact. The
node answer quoted for broadcasthex is in tests/unit/devnet/test_transaction_bytes.py.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from devnet import builders
from devnet.api import create_app
from devnet.chain import Chain
from devnet.encoding import field_message
from devnet.genesis import build_genesis
from devnet.keys import address_from_private_key
from devnet.transactions import Transaction, render_transaction
from tests.unit.devnet.test_transaction_bytes import DOC_HEX, DOC_TRANSACTION_TEXT, DOC_TXID

START_MS = 1_800_000_000_000
LAG = 2
FRESH = address_from_private_key(bytes.fromhex("11" * 32))
ACTIVATION_FEE_SUN = 1_100_000
PROTOBUF = "class com.google.protobuf.InvalidProtocolBufferException : "
TRUNCATED = (
    "While parsing a protocol message, the input ended unexpectedly in the middle of a field.  "
    "This could mean either that the input has been truncated or that an embedded message "
    "misreported its own length."
)


def key_of(chain: Chain, n: int) -> bytes:
    key = chain.genesis.accounts[n].private_key
    assert key is not None
    return key


def next_block(chain: Chain) -> None:
    chain.produce_block(chain.head_block.timestamp_ms + 3000, chain.genesis.witnesses[0])


@pytest.fixture
def chain() -> Chain:
    chain = Chain(build_genesis(), solidify_lag_blocks=LAG)
    chain.produce_block(START_MS, chain.genesis.witnesses[0])
    return chain


@pytest.fixture
def landed(chain: Chain) -> Transaction:
    """The transfer in block 2 (key 0 pays FRESH 5 sun); block 3 is empty."""
    tx = builders.transfer(key_of(chain, 0), FRESH, 5, chain.head_block.block_id, START_MS)
    chain.broadcast(tx)
    next_block(chain)
    next_block(chain)
    return tx


@pytest.fixture
async def client(chain: Chain) -> AsyncIterator[TestClient]:
    app = create_app(chain, clock_ms=lambda: START_MS + 1)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def call(client: TestClient, path: str, body: Any = None, *, get: str = "") -> Any:
    """POST body as JSON (a str is sent as it is), or GET with the query string `get`."""
    if get:
        response = await client.get(f"{path}?{get}")
    elif isinstance(body, str):
        response = await client.post(path, data=body)
    else:
        response = await client.post(path, json=body)
    assert response.status == 200
    assert (await response.text()).endswith("\n")
    return await response.json()


def hex_body(tx: Transaction) -> dict[str, str]:
    return {"transaction": tx.wire_bytes.hex()}


# --- broadcasthex ----------------------------------------------------------------------------


async def test_broadcasthex_accepts_and_answers_every_key(client: TestClient, chain: Chain) -> None:
    tx = builders.transfer(key_of(chain, 1), FRESH, 7, chain.head_block.block_id, START_MS)

    answer = await call(client, "/wallet/broadcasthex", hex_body(tx))

    assert list(answer) == ["result", "code", "txid", "message", "transaction"]
    assert answer | {"transaction": None} == {"result": True, "code": "SUCCESS",
                                              "txid": tx.txid.hex(), "message": "",
                                              "transaction": None}  # fmt: skip
    value = tx.raw.contracts[0].value_bytes.hex()
    assert json.loads(answer["transaction"]) == {
        "raw_data": {
            "ref_block_bytes": "0001",
            "ref_block_hash": chain.head_block.block_id[8:16].hex(),
            "expiration": START_MS + 60_000,
            "contract": [{"type": "TransferContract", "parameter": {
                "type_url": "type.googleapis.com/protocol.TransferContract", "value": value}}],
            "timestamp": START_MS,
        },
        "signature": [tx.signatures[0].hex()],
    }  # fmt: skip
    pending = await call(client, "/wallet/gettransactionbyid", {"value": tx.txid.hex()})
    assert pending == render_transaction(tx, False, ["SUCCESS"])
    assert chain.pending_count == 1


async def test_the_documented_node_answer_is_reproduced(client: TestClient) -> None:
    answer = await call(client, "/wallet/broadcasthex", {"transaction": DOC_HEX})

    assert answer == {
        "result": False, "code": "TRANSACTION_EXPIRATION_ERROR", "txid": DOC_TXID,
        "message": "Transaction expired", "transaction": DOC_TRANSACTION_TEXT,
    }  # fmt: skip


def _refused(chain: Chain, landed: Transaction, case: str) -> Transaction:
    key, ref = key_of(chain, 1), chain.head_block.block_id
    if case == "DUP_TRANSACTION_ERROR":
        return landed
    if case == "CONTRACT_VALIDATE_ERROR":  # a transfer to oneself
        return builders.transfer(key, address_from_private_key(key), 1, ref, START_MS)
    if case == "TAPOS_ERROR":
        return builders.transfer(key, FRESH, 1, bytes(6) + b"\x00\x07" + b"\x01" * 24, START_MS)
    if case == "TRANSACTION_EXPIRATION_ERROR":
        return builders.transfer(key, FRESH, 1, ref, START_MS - 120_000)
    assert case == "SIGERROR"
    good = builders.transfer(key, FRESH, 1, ref, START_MS)
    return builders.sign(good.raw, key_of(chain, 2))  # signed by another account's key


@pytest.mark.parametrize(
    "case",
    ["DUP_TRANSACTION_ERROR", "CONTRACT_VALIDATE_ERROR", "TAPOS_ERROR",
     "TRANSACTION_EXPIRATION_ERROR", "SIGERROR"],
)  # fmt: skip
async def test_refusals_are_those_of_broadcasttransaction_with_a_plain_text_message(
    client: TestClient, chain: Chain, landed: Transaction, case: str
) -> None:
    tx = _refused(chain, landed, case)
    as_json = render_transaction(tx, False)

    by_hex = await call(client, "/wallet/broadcasthex", hex_body(tx))
    by_json = await call(client, "/wallet/broadcasttransaction", as_json)

    assert (by_hex["result"], by_hex["code"], by_hex["txid"]) == (False, case, tx.txid.hex())
    assert by_json["code"] == case and by_json["txid"] == tx.txid.hex()
    assert by_hex["message"] == bytes.fromhex(by_json["message"]).decode()
    assert json.loads(by_hex["transaction"])["signature"] == [tx.signatures[0].hex()]


async def test_refusal_messages_in_java_tron_words(
    client: TestClient, chain: Chain, landed: Transaction
) -> None:
    dup = await call(client, "/wallet/broadcasthex", hex_body(landed))
    own = _refused(chain, landed, "CONTRACT_VALIDATE_ERROR")
    self_transfer = await call(client, "/wallet/broadcasthex", hex_body(own))
    empty = await call(client, "/wallet/broadcasthex", {"transaction": ""})

    assert dup["message"] == "Dup transaction."
    assert self_transfer["message"] == "Contract validate error : Cannot transfer TRX to yourself."
    # An empty Transaction parses; Wallet.broadcastTransaction refuses it for having no contract.
    assert empty == {
        "result": False, "code": "CONTRACT_VALIDATE_ERROR",
        "txid": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "message": "Contract validate error : No contract!", "transaction": "{}",
    }  # fmt: skip
    assert await call(client, "/wallet/broadcasthex", {}) == empty  # getString(...) is null


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"transaction": "zz"}, "class org.bouncycastle.util.encoders.DecoderException : "
         "exception decoding Hex string: invalid characters encountered in Hex string"),
        ({"transaction": {"raw_data": {}}}, "class org.bouncycastle.util.encoders."
         "DecoderException : exception decoding Hex string: invalid characters encountered "
         "in Hex string"),
        ({"transaction": "0a05"}, PROTOBUF + TRUNCATED),
        ({"transaction": 12}, PROTOBUF + TRUNCATED),  # getString gives "12": field 2, no length
        ({"transaction": "00"}, PROTOBUF + "Protocol message contained an invalid tag (zero)."),
        ({"transaction": "0x0a0300"}, PROTOBUF + TRUNCATED),
        ({"transaction": "0f"}, "class com.google.protobuf.InvalidProtocolBufferException"
         "$InvalidWireTypeException : Protocol message tag had invalid wire type."),
        ("", "class java.lang.NullPointerException : null"),
        ("null", "class java.lang.NullPointerException : null"),
        ("[]", "class com.alibaba.fastjson.JSONException : can not cast to JSONObject."),
        ("{", None),  # fastjson's own words; only the class is asserted
    ],
)  # fmt: skip
async def test_what_does_not_parse_is_an_error_object(
    client: TestClient, chain: Chain, body: Any, error: str | None
) -> None:
    answer = await call(client, "/wallet/broadcasthex", body)

    assert list(answer) == ["Error"]
    if error is None:
        assert answer["Error"].startswith("class com.alibaba.fastjson.JSONException : ")
    else:
        assert answer["Error"] == error
    assert chain.pending_count == 0


async def test_broadcasthex_is_post_only_and_head_only(client: TestClient) -> None:
    assert (await client.get("/wallet/broadcasthex")).status == 405
    assert (await client.post("/walletsolidity/broadcasthex", json={})).status == 404


async def test_a_transaction_in_bytes_and_in_json_is_one_transaction(
    client: TestClient, chain: Chain
) -> None:
    tx = builders.transfer(key_of(chain, 1), FRESH, 7, chain.head_block.block_id, START_MS)
    with_ret = tx.wire_bytes + field_message(5, b"\x18\x01")  # a ret that java-tron resets

    first = await call(client, "/wallet/broadcasthex", {"transaction": with_ret.hex()})
    again = await call(client, "/wallet/broadcasttransaction", render_transaction(tx, False))

    assert first["result"] is True and first["txid"] == tx.txid.hex()
    assert again["code"] == "DUP_TRANSACTION_ERROR"


# --- getblock --------------------------------------------------------------------------------


async def test_getblock_by_number_and_id_with_and_without_detail(
    client: TestClient, chain: Chain, landed: Transaction
) -> None:
    full = await call(client, "/wallet/getblockbynum", {"num": 2})
    block_id = full["blockID"]
    header_only = {"blockID": block_id, "block_header": full["block_header"]}

    assert [t["txID"] for t in full["transactions"]] == [landed.txid.hex()]
    for id_or_num in ("2", block_id, "+2", "002"):
        assert await call(client, "/wallet/getblock", {"id_or_num": id_or_num, "detail": True}) \
            == full, id_or_num  # fmt: skip
        assert await call(client, "/wallet/getblock", {"id_or_num": id_or_num}) == header_only
    assert await call(client, "/wallet/getblock", get="id_or_num=2&detail=TRUE") == full
    assert await call(client, "/wallet/getblock", get=f"id_or_num={block_id}") == header_only
    assert await call(client, "/wallet/getblock", get="id_or_num=2&detail=1") == header_only


async def test_getblock_without_id_or_num_is_the_newest_block_of_the_view(
    client: TestClient, chain: Chain, landed: Transaction
) -> None:
    head = await call(client, "/wallet/getnowblock")
    solid = await call(client, "/walletsolidity/getnowblock")

    assert await call(client, "/wallet/getblock", {"detail": True}) == head
    assert await call(client, "/wallet/getblock", get="id_or_num=") == head
    assert await call(client, "/walletsolidity/getblock", {}) == solid
    assert solid["block_header"]["raw_data"]["number"] == 3 - LAG


async def test_an_empty_block_has_no_transactions_key_even_with_detail(
    client: TestClient, landed: Transaction
) -> None:
    empty = await call(client, "/wallet/getblock", {"id_or_num": "3", "detail": True})

    assert list(empty) == ["blockID", "block_header"]
    assert empty == await call(client, "/wallet/getblockbynum", {"num": 3})


async def test_getblock_unknown_blocks_and_illegal_arguments(
    client: TestClient, chain: Chain, landed: Transaction
) -> None:
    unknown_id = "0000000000000002" + "00" * 24  # number 2, but no such block
    future_id = "00000000000000ff" + "00" * 24
    negative_id = "ff" * 32
    illegal = {"Error": "id must be legal block hash."}

    assert await call(client, "/wallet/getblock", {"id_or_num": "99"}) == {}
    assert await call(client, "/wallet/getblock", {"id_or_num": unknown_id}) == {}
    genesis = await call(client, "/wallet/getblockbynum", {"num": 0})
    assert await call(client, "/wallet/getblock", {"id_or_num": "0" * 64}) == genesis  # a long
    assert await call(client, "/wallet/getblock", {"id_or_num": "-1"}) == {
        "Error": "num must be non-positive number."
    }
    # "0x" + 62 hex digits is 64 characters, but only 31 bytes once ByteArray drops the 0x.
    for bad in ("abc", "zz" * 32, future_id, negative_id, "9" * 20, "ab" * 31, "0x" + "00" * 31):
        assert await call(client, "/wallet/getblock", {"id_or_num": bad}) == illegal, bad
    for body in ({"id_or_num": 2}, {"detail": "yes"}):
        answer = await call(client, "/wallet/getblock", body)
        assert answer["Error"].startswith(
            "class org.tron.core.services.http.JsonFormat$ParseException : "
        )


async def test_walletsolidity_getblock_sees_only_solidified_blocks(
    client: TestClient, chain: Chain, landed: Transaction
) -> None:
    block_id = chain.block_by_number(2)
    assert block_id is not None
    by_id = {"id_or_num": block_id.block_id.hex(), "detail": True}

    assert await call(client, "/walletsolidity/getblock", {"id_or_num": "2"}) == {}
    assert await call(client, "/walletsolidity/getblockbynum", {"num": 2}) == {}
    # Wallet.getBlock checks the id's number against the (solidified) head first.
    assert await call(client, "/walletsolidity/getblock", by_id) == {
        "Error": "id must be legal block hash."
    }
    next_block(chain)
    assert await call(client, "/walletsolidity/getblock", by_id) == await call(
        client, "/wallet/getblock", by_id
    )
    assert await call(client, "/walletsolidity/getblockbynum", {"num": 2}) == await call(
        client, "/wallet/getblockbynum", {"num": 2}
    )


# --- gettransactioninfobyblocknum ------------------------------------------------------------


async def test_infos_of_a_block_are_those_of_gettransactioninfobyid(
    client: TestClient, chain: Chain, landed: Transaction
) -> None:
    by_id = await call(client, "/wallet/gettransactioninfobyid", {"value": landed.txid.hex()})

    infos = await call(client, "/wallet/gettransactioninfobyblocknum", {"num": 2})

    assert infos == [by_id]
    assert by_id == {"id": landed.txid.hex(), "fee": ACTIVATION_FEE_SUN, "blockNumber": 2,
                     "blockTimeStamp": START_MS + 3000, "contractResult": [""],
                     "receipt": {"net_fee": 100_000}}  # fmt: skip
    assert await call(client, "/wallet/gettransactioninfobyblocknum", get="num=2") == infos
    visible = {"num": 2, "visible": True}
    assert await call(client, "/wallet/gettransactioninfobyblocknum", visible) == infos


async def test_infos_of_several_transactions_keep_the_block_order(
    client: TestClient, chain: Chain
) -> None:
    ref = chain.head_block.block_id
    txs = [builders.transfer(key_of(chain, n), FRESH, 1 + n, ref, START_MS) for n in range(3)]
    for tx in txs:
        await call(client, "/wallet/broadcasthex", hex_body(tx))
    next_block(chain)

    infos = await call(client, "/wallet/gettransactioninfobyblocknum", {"num": 2})

    assert [info["id"] for info in infos] == [tx.txid.hex() for tx in txs]
    assert [info.get("fee", 0) for info in infos] == [ACTIVATION_FEE_SUN, 0, 0]  # 1st activates


@pytest.mark.parametrize(
    ("body", "get", "expected"),
    [
        ({"num": 3}, "", []),  # an empty block
        ({"num": 99}, "", []),  # past the head: nothing found, not `{}`
        ({"num": 0}, "", {}),  # num <= 0 is `{}`, even genesis
        ({"num": -1}, "", {}),
        ({}, "", {}),  # NumberMessage's num defaults to 0
        (None, "num=99", []),
        (None, "num=0", {}),
        (None, "visible=true", {"Error": "class java.lang.NumberFormatException : null"}),
        (None, "num=abc",
         {"Error": 'class java.lang.NumberFormatException : For input string: "abc"'}),
        ({"num": "abc"}, "", {"Error": "class org.tron.core.services.http.JsonFormat$ParseException"
                                       ' : Couldn\'t parse integer: For input string: "abc"'}),
    ],
)  # fmt: skip
async def test_gettransactioninfobyblocknum_edges(
    client: TestClient, landed: Transaction, body: Any, get: str, expected: Any
) -> None:
    answer = await call(client, "/wallet/gettransactioninfobyblocknum", body, get=get)

    assert answer == expected


async def test_walletsolidity_infos_appear_once_the_block_is_solidified(
    client: TestClient, chain: Chain, landed: Transaction
) -> None:
    path = "/walletsolidity/gettransactioninfobyblocknum"

    assert await call(client, path, {"num": 2}) == []
    assert await call(client, path, get="num=2") == []
    next_block(chain)
    assert await call(client, path, {"num": 2}) == await call(
        client, "/wallet/gettransactioninfobyblocknum", {"num": 2}
    )
    assert len(await call(client, path, {"num": 2})) == 1


def test_landed_fixture_is_what_the_tests_assume(chain: Chain, landed: Transaction) -> None:
    assert chain.head_block.number == 3 and chain.solid_number == 3 - LAG
    block = chain.block_by_number(2)
    assert block is not None and [t.transaction for t in block.transactions] == [landed]
