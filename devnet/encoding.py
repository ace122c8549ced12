"""Protobuf wire encoding of java-tron messages, byte for byte as java-tron writes them.

java-tron hashes serialised protobuf (block ids, txids, the transaction Merkle
root), so what matters is exactly what protobuf-java emits for a proto3
message: known fields in ascending field-number order, and scalar fields that
hold their default value (0, empty bytes) left out. Field numbers come from
tronprotocol/protocol `core/Tron.proto` (message `BlockHeader.raw`).

The helpers here are generic on purpose: transactions (`Transaction.raw` and
the contract messages) are encoded with the same `field_*` functions.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "ZERO_HASH",
    "BlockHeaderRaw",
    "block_number_from_id",
    "compute_block_id",
    "encode_block_header_raw",
    "encode_varint",
    "field_bytes",
    "field_message",
    "field_varint",
    "merkle_root",
    "sha256",
]

WIRE_VARINT = 0
WIRE_LENGTH_DELIMITED = 2

# Sha256Hash.ZERO_HASH: the txTrieRoot java-tron writes for a block without transactions.
ZERO_HASH = bytes(32)

_UINT64_MASK = (1 << 64) - 1
_SMALL_VARINTS = tuple(bytes((n,)) for n in range(0x80))


def sha256(data: bytes) -> bytes:
    """Return the SHA-256 digest java-tron uses for ids and Merkle nodes."""
    return hashlib.sha256(data).digest()


def encode_varint(value: int) -> bytes:
    """Encode an int as a base-128 varint; negatives as 64-bit two's complement (int64)."""
    if 0 <= value < 0x80:
        return _SMALL_VARINTS[value]
    if value < 0:
        value &= _UINT64_MASK
    out = bytearray()
    while True:
        low7 = value & 0x7F
        value >>= 7
        if value:
            out.append(low7 | 0x80)
        else:
            out.append(low7)
            return bytes(out)


@functools.cache
def _tag(field_number: int, wire_type: int) -> bytes:
    return encode_varint((field_number << 3) | wire_type)


def field_varint(field_number: int, value: int) -> bytes:
    """Encode an int32/int64/bool/enum field; a zero value is omitted as proto3 does."""
    if value == 0:
        return b""
    return _tag(field_number, WIRE_VARINT) + encode_varint(value)


def field_bytes(field_number: int, value: bytes) -> bytes:
    """Encode a bytes/string field; empty values are omitted as proto3 does."""
    if not value:
        return b""
    return _tag(field_number, WIRE_LENGTH_DELIMITED) + encode_varint(len(value)) + value


def field_message(field_number: int, encoded: bytes | None) -> bytes:
    """Encode an embedded message; None means unset, while a set empty message still counts."""
    if encoded is None:
        return b""
    return _tag(field_number, WIRE_LENGTH_DELIMITED) + encode_varint(len(encoded)) + encoded


@dataclass(frozen=True, slots=True)
class BlockHeaderRaw:
    """`BlockHeader.raw` of Tron.proto; addresses are 21-byte (0x41-prefixed) values."""

    timestamp_ms: int
    tx_trie_root: bytes
    parent_hash: bytes
    number: int
    witness_address: bytes
    version: int
    witness_id: int = 0
    account_state_root: bytes = b""


def encode_block_header_raw(raw: BlockHeaderRaw) -> bytes:
    """Serialise BlockHeader.raw in field-number order (1, 2, 3, 7, 8, 9, 10, 11)."""
    return b"".join(
        (
            field_varint(1, raw.timestamp_ms),
            field_bytes(2, raw.tx_trie_root),
            field_bytes(3, raw.parent_hash),
            field_varint(7, raw.number),
            field_varint(8, raw.witness_id),
            field_bytes(9, raw.witness_address),
            field_varint(10, raw.version),
            field_bytes(11, raw.account_state_root),
        )
    )


def compute_block_id(number: int, raw_bytes: bytes) -> bytes:
    """Form the block id as java-tron does: 8-byte big-endian number + sha256(raw)[8:32]."""
    return number.to_bytes(8, "big") + sha256(raw_bytes)[8:]


def block_number_from_id(block_id: bytes) -> int:
    """Read the block number from the first 8 bytes of a block id."""
    return int.from_bytes(block_id[:8], "big")


def merkle_root(leaf_hashes: Sequence[bytes]) -> bytes:
    """Compute java-tron's transaction Merkle root; an odd last node is carried up unhashed.

    Leaves are sha256 of each whole serialised `Transaction` (signatures and
    `ret` included), not the txids; no leaves gives ZERO_HASH.
    """
    if not leaf_hashes:
        return ZERO_HASH
    level = list(leaf_hashes)
    while len(level) > 1:
        level = [
            sha256(level[i] + level[i + 1]) if i + 1 < len(level) else level[i]
            for i in range(0, len(level), 2)
        ]
    return level[0]
