"""Building and signing transactions locally, as a wallet does: for tests, the bench, tools.

A transaction references a block for TaPoS (bytes 6..8 of its number and
bytes 8..16 of its id) and is signed over its txid; nothing here talks to a
node.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from devnet.contracts import CONTRACT_TYPES
from devnet.keys import address_from_private_key, sign_digest
from devnet.messages import encode_message
from devnet.transactions import Contract, RawData, Transaction, make_transaction

__all__ = ["build_contract", "sign", "transfer"]

DEFAULT_LIFETIME_MS = 60_000


def build_contract(type_name: str, value: Mapping[str, Any], permission_id: int = 0) -> Contract:
    """A contract of a modelled type from its parsed value (bytes, ints, enum numbers)."""
    kind = CONTRACT_TYPES[type_name]
    return Contract(
        type_name=kind.name,
        type_url=kind.type_url,
        value=dict(value),
        value_bytes=encode_message(kind.spec, value),
        permission_id=permission_id,
    )


def sign(raw: RawData, *private_keys: bytes) -> Transaction:
    """The transaction of raw, signed by each key in turn."""
    unsigned = make_transaction(raw)
    return make_transaction(raw, [sign_digest(key, unsigned.txid) for key in private_keys])


def transfer(
    private_key: bytes,
    to_address: bytes,
    amount_sun: int,
    ref_block_id: bytes,
    now_ms: int,
    *,
    memo: bytes = b"",
    lifetime_ms: int = DEFAULT_LIFETIME_MS,
) -> Transaction:
    """A signed TRX transfer from private_key's address, referencing the block ref_block_id."""
    value = {
        "owner_address": address_from_private_key(private_key),
        "to_address": to_address,
        "amount": amount_sun,
    }
    raw = RawData(
        contracts=(build_contract("TransferContract", value),),
        ref_block_bytes=ref_block_id[6:8],
        ref_block_hash=ref_block_id[8:16],
        expiration_ms=now_ms + lifetime_ms,
        timestamp_ms=now_ms,
        data=memo,
    )
    return sign(raw, private_key)
