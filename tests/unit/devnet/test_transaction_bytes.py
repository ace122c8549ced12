"""devnet/transaction_bytes.py against real serialised mainnet transactions and a node's answer.

The mainnet vectors are those of test_transactions.py (raw_data_hex, signature,
and bitquery's whole Transaction with its `ret`). The broadcasthex vector is the
example of TRON's HTTP API reference (developers.tron.network "BroadcastHex",
reproduced in docs.validationcloud.io/v1/tron/tron-full-node-http-api/
transactions/broadcasthex): the hex a client posted and the `transaction`
string a java-tron node answered with, quoted verbatim.
"""

from __future__ import annotations

import hashlib

import pytest

from devnet import builders
from devnet.decoding import WireFormatError
from devnet.encoding import field_bytes, field_message, field_varint
from devnet.transaction_bytes import decode_transaction, json_format_text
from devnet.transactions import encode_transaction, parse_transaction, render_transaction
from tests.unit.devnet.test_transactions import IDS, USDT_TRANSACTION_DATA, VECTORS, Vector

DOC_HEX = (
    "0A8A010A0202DB2208C89D4811359A28004098A4E0A6B52D5A730802126F0A32747970652E676F6F676C65"
    "617069732E636F6D2F70726F746F636F6C2E5472616E736665724173736574436F6E747261637412390A07"
    "313030303030311215415A523B449890854C8FC460AB602DF9F31FE4293F1A15416B0580DA195542DDABE2"
    "88FEC436C7D5AF769D24206412418BF3F2E492ED443607910EA9EF0A7EF79728DAAAAC0EE2BA6CB87DA383"
    "66DF9AC4ADE54B2912C1DEB0EE6666B86A07A6C7DF68F1F9DA171EEE6A370B3CA9CBBB00"
)
DOC_TXID = "38a0482d6d5a7d1439a50b848d68cafa7d904db48b82344f28765067a5773e1d"
DOC_TRANSACTION_TEXT = (
    '{"raw_data": {"ref_block_bytes": "02db","ref_block_hash": "c89d4811359a2800",'
    '"expiration": 1560496575000,"contract": [{"type": "TransferAssetContract",'
    '"parameter": {"type_url": "type.googleapis.com/protocol.TransferAssetContract",'
    '"value": "0a07313030303030311215415a523b449890854c8fc460ab602df9f31fe4293f1a15416b05'
    '80da195542ddabe288fec436c7d5af769d242064"}}]},"signature": ["8bf3f2e492ed443607910ea9'
    "ef0a7ef79728daaaac0ee2ba6cb87da38366df9ac4ade54b2912c1deb0ee6666b86a07a6c7df68f1f9da171"
    'eee6a370b3ca9cbbb00"]}'
)
OWNER = bytes.fromhex("4105cc125604448afeb6867eb688efb7e80411d57a")
KEY = bytes.fromhex("22" * 32)


def _wire(vector: Vector) -> bytes:
    """Transaction{raw_data, signature} as a client serialises it for broadcasthex."""
    raw = bytes.fromhex(vector.raw_data_hex)
    return field_message(1, raw) + field_message(2, bytes.fromhex(vector.signature))


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_mainnet_bytes_decode_to_what_their_json_parses_to(vector: Vector) -> None:
    decoded = decode_transaction(_wire(vector))

    assert decoded.txid.hex() == vector.txid
    assert decoded == parse_transaction(vector.as_json(), visible=False)


def test_a_whole_transaction_with_ret_decodes_and_ret_is_not_kept() -> None:
    decoded = decode_transaction(bytes.fromhex(USDT_TRANSACTION_DATA))

    assert decoded.txid.hex() == VECTORS[-1].txid
    assert decoded.wire_bytes == _wire(VECTORS[-1])
    assert encode_transaction(decoded, [1]).hex() == USDT_TRANSACTION_DATA


def test_the_documented_broadcasthex_example_prints_as_the_node_printed_it() -> None:
    decoded = decode_transaction(bytes.fromhex(DOC_HEX))

    assert decoded.txid.hex() == DOC_TXID
    assert json_format_text(decoded) == DOC_TRANSACTION_TEXT


def test_json_format_text_of_a_transfer_with_a_memo() -> None:
    tx = builders.transfer(KEY, OWNER, 7, bytes(8) + bytes.fromhex("aa" * 24), 1_000, memo=b"hi")

    text = json_format_text(tx)

    value = tx.raw.contracts[0].value_bytes.hex()
    assert text == (
        '{"raw_data": {"ref_block_bytes": "0000","ref_block_hash": "aaaaaaaaaaaaaaaa",'
        '"expiration": 61000,"data": "6869","contract": [{"type": "TransferContract",'
        '"parameter": {"type_url": "type.googleapis.com/protocol.TransferContract",'
        f'"value": "{value}"}}}}],"timestamp": 1000}},"signature": ["{tx.signatures[0].hex()}"]}}'
    )


def test_the_any_value_is_kept_byte_for_byte_and_the_txid_is_of_the_bytes_sent() -> None:
    # A TransferContract value with its fields out of order and an unknown field 4:
    # java-tron keeps Any.value as it came, so the txid is sha256 of these very bytes.
    unknown = bytes.fromhex("2000")
    value = field_varint(3, 5) + field_bytes(2, OWNER) + unknown + field_bytes(1, OWNER)
    type_url = b"type.googleapis.com/protocol.TransferContract"
    any_value = field_bytes(1, type_url) + field_bytes(2, value)
    raw = field_varint(8, 99) + field_message(11, field_varint(1, 1) + field_message(2, any_value))

    decoded = decode_transaction(field_message(1, raw))

    assert decoded.txid == hashlib.sha256(raw).digest()
    assert decoded.raw.contracts[0].value_bytes == value
    assert decoded.raw.contracts[0].value == {"owner_address": OWNER, "to_address": OWNER,
                                              "amount": 5}  # fmt: skip


def test_contracts_devnet_does_not_model_are_dropped_as_from_json() -> None:
    unmodelled = field_varint(1, 6) + field_message(2, field_bytes(2, b"\x0a\x01\x41"))
    raw = field_varint(8, 99) + field_message(11, unmodelled)

    decoded = decode_transaction(field_message(1, raw))

    assert decoded.raw.contracts == ()


def test_empty_bytes_are_an_empty_transaction() -> None:
    decoded = decode_transaction(b"")

    assert decoded.raw.contracts == () and decoded.signatures == ()
    assert decoded.txid == hashlib.sha256(b"").digest()
    assert json_format_text(decoded) == "{}"


def test_a_bad_embedded_message_fails_the_whole_parse() -> None:
    with pytest.raises(WireFormatError, match="invalid tag"):
        decode_transaction(field_message(1, field_message(11, b"\x00")))


def test_rendered_json_of_a_decoded_transaction_is_the_usual_one() -> None:
    decoded = decode_transaction(_wire(VECTORS[0]))

    rendered = render_transaction(decoded, visible=False)
    assert rendered["raw_data"] == VECTORS[0].as_json()["raw_data"]
