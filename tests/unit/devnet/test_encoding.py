"""devnet/encoding.py: protobuf bytes and block ids exactly as java-tron forms them."""

from __future__ import annotations

import hashlib

import pytest

from devnet.encoding import (
    ZERO_HASH,
    BlockHeaderRaw,
    block_number_from_id,
    compute_block_id,
    encode_block_header_raw,
    encode_varint,
    field_bytes,
    field_message,
    field_varint,
    merkle_root,
)
from devnet.keys import parse_address

# Real mainnet block headers published with their blockID by third parties; the
# block id is recomputed from the header fields alone.
MAINNET_BLOCKS = [
    pytest.param(
        # bitquery/blockchain-cloud-data-dump-sample, tron/blocks.js (Block_Time is in seconds).
        dict(
            number=78861100,
            timestamp_ms=1767246213 * 1000,
            tx_trie_root="a0f6d785015f72fe721b394a6eae5d5bf931b2e1884331164fcc591ce477e4e8",
            parent_hash="0000000004b3532bbf50c7ec18ad8985176f507a15c48d2a583bc8e5130c9e67",
            witness="TDpt9adA6QidL1B1sy3D8NC717C6L5JxFo",
            version=32,
        ),
        "0000000004b3532cbc14c910020c3ae5336f5607d6aa194abb3e6df264297e8a",
        id="block-78861100-v32-with-transactions",
    ),
    pytest.param(
        # mil2er/tron-wallet-demo, README.md (a /wallet/getnowblock response).
        dict(
            number=52872769,
            timestamp_ms=1734518928000,
            tx_trie_root="00" * 32,
            parent_hash="000000000326c640639ec37b4f981df3dd768e926305bd0ddb2b91e759fa2fda",
            witness="4150d3765e4e670727ebac9d5b598f74b75a3d54a7",
            version=30,
        ),
        "000000000326c641ee5f2819cdaccd67a616195ea214a4c352a4bfa47d61e1c8",
        id="block-52872769-v30-empty",
    ),
    pytest.param(
        # Vardex-Suisse/flutter_trust_wallet_core, example/lib/tron_example.dart.
        dict(
            number=18421767,
            timestamp_ms=1631928606000,
            tx_trie_root="00" * 32,
            parent_hash="0000000001191806eeaac4f94195754bab81a6da304f839f15f12ba874e57884",
            witness="41839d08f05ade5b365e81d1a66c20af13ebb2991d",
            version=22,
        ),
        "00000000011918071ecc35c6178f7cea6abf0a0747cf1084b43c9660bd02eb24",
        id="block-18421767-v22-empty",
    ),
]


@pytest.mark.parametrize(("fields", "expected_block_id"), MAINNET_BLOCKS)
def test_block_id_of_real_mainnet_headers(fields: dict, expected_block_id: str) -> None:
    header = BlockHeaderRaw(
        timestamp_ms=fields["timestamp_ms"],
        tx_trie_root=bytes.fromhex(fields["tx_trie_root"]),
        parent_hash=bytes.fromhex(fields["parent_hash"]),
        number=fields["number"],
        witness_address=parse_address(fields["witness"]),
        version=fields["version"],
    )

    block_id = compute_block_id(header.number, encode_block_header_raw(header))

    assert block_id.hex() == expected_block_id
    assert block_number_from_id(block_id) == fields["number"]


def test_header_fields_are_written_in_field_number_order() -> None:
    header = BlockHeaderRaw(
        timestamp_ms=1,
        tx_trie_root=b"\x02",
        parent_hash=b"\x03",
        number=7,
        witness_id=8,
        witness_address=b"\x09",
        version=10,
        account_state_root=b"\x0b",
    )

    encoded = encode_block_header_raw(header)

    # tag = field_number << 3 | wire_type (0 varint, 2 length-delimited)
    assert encoded.hex() == "08011201021a0103380740084a0109500a5a010b"


def test_default_valued_fields_are_omitted() -> None:
    genesis_like = BlockHeaderRaw(
        timestamp_ms=0, tx_trie_root=b"", parent_hash=b"\xaa", number=0,
        witness_address=b"", version=0,
    )  # fmt: skip

    assert encode_block_header_raw(genesis_like).hex() == "1a01aa"


def test_zero_hash_tx_trie_root_is_written_because_it_is_not_empty() -> None:
    header = BlockHeaderRaw(
        timestamp_ms=0, tx_trie_root=ZERO_HASH, parent_hash=b"", number=0,
        witness_address=b"", version=0,
    )  # fmt: skip

    assert encode_block_header_raw(header) == bytes.fromhex("1220") + ZERO_HASH


@pytest.mark.parametrize(
    ("value", "expected_hex"),
    [
        (0, "00"),
        (1, "01"),
        (127, "7f"),
        (128, "8001"),
        (300, "ac02"),
        (1734518928000, "80e589cbbd32"),  # block 52872769's timestamp, 6 bytes
        (-1, "ffffffffffffffffff01"),  # int64 -1: ten bytes of two's complement
    ],
)
def test_varint(value: int, expected_hex: str) -> None:
    assert encode_varint(value).hex() == expected_hex


def test_field_helpers_omit_defaults_but_keep_set_empty_messages() -> None:
    assert field_varint(3, 0) == b""
    assert field_bytes(2, b"") == b""
    assert field_message(5, None) == b""
    assert field_message(5, b"").hex() == "2a00"
    assert field_varint(3, 5).hex() == "1805"


def test_merkle_root_follows_java_tron_tree_shape() -> None:
    a, b, c = (hashlib.sha256(bytes([n])).digest() for n in range(3))

    def h(data: bytes) -> bytes:
        return hashlib.sha256(data).digest()

    assert merkle_root([]) == ZERO_HASH
    assert merkle_root([a]) == a
    assert merkle_root([a, b]) == h(a + b)
    # The odd node is carried up unhashed, then paired at the next level.
    assert merkle_root([a, b, c]) == h(h(a + b) + c)
