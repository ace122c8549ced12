"""What the worker's gateway does against an in-process devnet: broadcasthex, then blocks.

tronpy builds and signs a TRX transfer; the test serialises `Transaction{raw_data,
signature}` with its own few lines of protobuf (independent of devnet's encoder)
and posts the hex, then walks getblock and gettransactioninfobyblocknum on both
views as the chain follower does, with the fault injection of broadcasttransaction.
50 ms blocks, a 4-block lag; waits use the producer's new-block event, and where
a test needs a known head, production is paused (through /devnet/faults) and
blocks are made by hand.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from tronpy import AsyncTron
from tronpy.keys import PrivateKey, to_raw_address

from devnet.producer import wall_clock_ms
from devnet.server import Devnet, DevnetConfig
from tests.devnet_support import address, genesis_key

INTERVAL_S = 0.05
LAG = 4
WAIT_S = 10.0
TRX = 1_000_000
TRANSFER_CONTRACT = 1  # Transaction.Contract.ContractType


@pytest.fixture
async def devnet() -> AsyncIterator[Devnet]:
    config = DevnetConfig(port=0, block_interval_s=INTERVAL_S, solidify_lag_blocks=LAG)
    async with Devnet(config) as running:
        yield running


@pytest.fixture
async def http(devnet: Devnet) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=devnet.url, timeout=WAIT_S) as client:
        yield client


# --- a tiny protobuf writer: exactly what a signed TRX transfer needs -------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes(out + bytes([value]))


def _bytes_field(number: int, data: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _int_field(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value) if value else b""


def serialize(txn: Any) -> bytes:
    """Transaction{raw_data, signature} of a tronpy-built, signed TRX transfer."""
    raw = txn._raw_data
    assert set(raw) <= {"contract", "timestamp", "expiration", "ref_block_bytes",
                        "ref_block_hash"}, raw  # fmt: skip
    (contract,) = raw["contract"]
    value = contract["parameter"]["value"]
    transfer = (
        _bytes_field(1, to_raw_address(value["owner_address"]))
        + _bytes_field(2, to_raw_address(value["to_address"]))
        + _int_field(3, value["amount"])
    )
    parameter = _bytes_field(1, contract["parameter"]["type_url"].encode()) + _bytes_field(
        2, transfer
    )
    raw_bytes = (
        _bytes_field(1, bytes.fromhex(raw["ref_block_bytes"]))
        + _bytes_field(4, bytes.fromhex(raw["ref_block_hash"]))
        + _int_field(8, raw["expiration"])
        + _bytes_field(11, _int_field(1, TRANSFER_CONTRACT) + _bytes_field(2, parameter))
        + _int_field(14, raw["timestamp"])
    )
    assert hashlib.sha256(raw_bytes).hexdigest() == txn.txid  # the txid the node gave tronpy
    signatures = b"".join(_bytes_field(2, bytes.fromhex(sig)) for sig in txn._signature)
    return _bytes_field(1, raw_bytes) + signatures


# --- helpers -----------------------------------------------------------------------------------


async def signed_transfer(tron: AsyncTron, key: PrivateKey, to: str, amount: int) -> Any:
    return (await tron.trx.transfer(address(key), to, amount).build()).sign(key)


async def broadcast_hex(http: httpx.AsyncClient, data: bytes) -> dict[str, Any]:
    response = await http.post("/wallet/broadcasthex", json={"transaction": data.hex()})
    response.raise_for_status()
    return response.json()


async def post(http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> Any:
    response = await http.post(path, json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def set_faults(http: httpx.AsyncClient, **faults: Any) -> None:
    response = await http.post("/devnet/faults", json=faults)
    assert response.status_code == 200, response.text


async def blocks_pass(devnet: Devnet, count: int) -> None:
    await devnet.producer.wait_for_number(devnet.chain.head_block.number + count, WAIT_S)


def produce(devnet: Devnet) -> int:
    """Produce the next block by hand (blocks are paused), as the timer would; its number."""
    slot_ms = devnet.producer.next_slot_ms(wall_clock_ms())
    return devnet.producer.produce_at(slot_ms).number


async def landed_in(devnet: Devnet, http: httpx.AsyncClient, txid: str) -> int:
    """The number of the block the transaction went into, waiting block by block."""
    for _ in range(20):
        info = await post(http, "/wallet/gettransactioninfobyid", {"value": txid})
        if info:
            return int(info["blockNumber"])
        await blocks_pass(devnet, 1)
    raise AssertionError(f"{txid} never landed")


# --- the flow ----------------------------------------------------------------------------------


async def test_a_tronpy_transfer_goes_through_broadcasthex_and_its_receipt_is_found(
    devnet: Devnet, http: httpx.AsyncClient, tron: AsyncTron
) -> None:
    alice, fresh = genesis_key(devnet, 0), PrivateKey.random()
    txn = await signed_transfer(tron, alice, address(fresh), 2 * TRX)
    data = serialize(txn)
    await set_faults(http, blocks="paused")  # blocks by hand from here: the head is known

    accepted = await broadcast_hex(http, data)
    duplicate = await broadcast_hex(http, data)

    assert {k: accepted[k] for k in ("result", "code", "txid", "message")} == {
        "result": True, "code": "SUCCESS", "txid": txn.txid, "message": ""}  # fmt: skip
    assert json.loads(accepted["transaction"])["signature"] == txn._signature
    assert duplicate["result"] is False and duplicate["code"] == "DUP_TRANSACTION_ERROR"
    assert duplicate["message"] == "Dup transaction."

    number, empty = produce(devnet), produce(devnet)

    block = await post(http, "/wallet/getblock", {"id_or_num": str(number), "detail": True})
    assert [tx["txID"] for tx in block["transactions"]] == [txn.txid]
    by_id = await post(http, "/wallet/getblock", {"id_or_num": block["blockID"], "detail": True})
    assert by_id == block
    header = await post(http, "/wallet/getblock", {"id_or_num": str(number)})
    assert header == {"blockID": block["blockID"], "block_header": block["block_header"]}
    assert await post(http, "/wallet/getblock", {"id_or_num": str(empty + 1)}) == {}

    infos = await post(http, "/wallet/gettransactioninfobyblocknum", {"num": number})
    assert len(infos) == 1
    assert (infos[0]["id"], infos[0]["blockNumber"]) == (txn.txid, number)
    assert infos[0]["fee"] == 1_100_000  # activation of `fresh` + its bandwidth fee
    assert infos[0] == await post(http, "/wallet/gettransactioninfobyid", {"value": txn.txid})
    empty_block = await post(http, "/wallet/getblock", {"id_or_num": str(empty), "detail": True})
    assert list(empty_block) == ["blockID", "block_header"]
    assert await post(http, "/wallet/gettransactioninfobyblocknum", {"num": empty}) == []
    assert await post(http, "/wallet/gettransactioninfobyblocknum", {"num": empty + 1}) == []

    # The solidified view has not got the block yet...
    solid_infos = "/walletsolidity/gettransactioninfobyblocknum"
    assert await post(http, solid_infos, {"num": number}) == []
    assert await post(http, "/walletsolidity/getblock", {"id_or_num": str(number)}) == {}
    assert await post(http, "/walletsolidity/getblockbynum", {"num": number}) == {}

    # ...until LAG blocks are on top of it.
    while devnet.chain.solid_number < number:
        produce(devnet)
    assert await post(http, solid_infos, {"num": number}) == infos
    solid_block = await post(http, "/walletsolidity/getblock", {"id_or_num": str(number),
                                                               "detail": True})  # fmt: skip
    assert solid_block == block
    assert await post(http, "/walletsolidity/getblockbynum", {"num": number}) == block


async def test_refusals_by_hex(devnet: Devnet, http: httpx.AsyncClient, tron: AsyncTron) -> None:
    alice, bob = genesis_key(devnet, 1), genesis_key(devnet, 2)
    txn = await signed_transfer(tron, alice, address(bob), TRX)
    data = bytearray(serialize(txn))
    data[-10] ^= 0x01  # inside the signature's s

    bad_signature = await broadcast_hex(http, bytes(data))
    garbage = await broadcast_hex(http, b"\x00\x01\x02")
    not_hex = (await http.post("/wallet/broadcasthex", json={"transaction": "xyz"})).json()

    assert bad_signature["result"] is False and bad_signature["code"] == "SIGERROR"
    assert bad_signature["message"].startswith("Validate signature error: ")
    assert bad_signature["txid"] == txn.txid
    assert garbage == {"Error": "class com.google.protobuf.InvalidProtocolBufferException : "
                                "Protocol message contained an invalid tag (zero)."}  # fmt: skip
    assert list(not_hex) == ["Error"]
    assert not_hex["Error"].startswith("class org.bouncycastle.util.encoders.DecoderException")
    # Nothing of it reached the pool.
    assert await post(http, "/wallet/gettransactionbyid", {"value": txn.txid}) == {}


# --- faults apply to broadcasthex as to broadcasttransaction -----------------------------------


async def test_a_dropped_broadcasthex_says_true_and_never_lands(
    devnet: Devnet, http: httpx.AsyncClient, tron: AsyncTron
) -> None:
    alice, bob = genesis_key(devnet, 0), genesis_key(devnet, 1)
    await set_faults(http, drop_broadcast={"next": 1})
    txn = await signed_transfer(tron, alice, address(bob), 3 * TRX)
    data = serialize(txn)

    dropped = await broadcast_hex(http, data)

    assert (dropped["result"], dropped["code"], dropped["txid"]) == (True, "SUCCESS", txn.txid)
    assert json.loads(dropped["transaction"])["signature"] == txn._signature  # a real answer's
    await blocks_pass(devnet, 2)
    assert await post(http, "/wallet/gettransactionbyid", {"value": txn.txid}) == {}
    assert (await http.get("/devnet/faults")).json()["drop_broadcast"]["next"] == 0
    # The fault is spent: the same bytes land now.
    assert (await broadcast_hex(http, data))["result"] is True
    assert await landed_in(devnet, http, txn.txid) > 0


async def test_a_refused_broadcasthex_is_not_dropped(
    devnet: Devnet, http: httpx.AsyncClient, tron: AsyncTron
) -> None:
    alice = genesis_key(devnet, 0)
    await set_faults(http, drop_broadcast={"next": 1})
    txn = await signed_transfer(tron, alice, address(alice), TRX)  # to oneself

    answer = await broadcast_hex(http, serialize(txn))

    assert answer["code"] == "CONTRACT_VALIDATE_ERROR"
    assert (await http.get("/devnet/faults")).json()["drop_broadcast"]["next"] == 1


@pytest.mark.parametrize(
    ("mode", "error"), [("error", httpx.HTTPStatusError), ("disconnect", httpx.RemoteProtocolError)]
)
async def test_a_lost_broadcasthex_answer_still_lands(
    devnet: Devnet, http: httpx.AsyncClient, tron: AsyncTron, mode: str, error: type[Exception]
) -> None:
    alice, bob = genesis_key(devnet, 2), genesis_key(devnet, 3)
    await set_faults(http, lost_response={"next": 1, "mode": mode})
    txn = await signed_transfer(tron, alice, address(bob), TRX)
    data = serialize(txn)

    with pytest.raises(error):
        await broadcast_hex(http, data)

    assert await landed_in(devnet, http, txn.txid) > 0
    again = await broadcast_hex(http, data)  # a careful client re-sends the same bytes
    assert again["code"] == "DUP_TRANSACTION_ERROR"


async def test_5xx_on_broadcasthex_only(
    devnet: Devnet, http: httpx.AsyncClient, tron: AsyncTron
) -> None:
    alice, bob = genesis_key(devnet, 3), genesis_key(devnet, 0)
    txn = await signed_transfer(tron, alice, address(bob), TRX)
    await set_faults(http, error_rate=1.0, paths=["broadcasthex"])

    response = await http.post("/wallet/broadcasthex", json={"transaction": serialize(txn).hex()})

    assert response.status_code == 503 and "Error" in response.json()
    assert await post(http, "/wallet/gettransactionbyid", {"value": txn.txid}) == {}
    assert await post(http, "/wallet/getblock", {}) != {}  # other paths still answer
