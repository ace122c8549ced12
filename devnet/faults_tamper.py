"""The tamper fault: a node-built transaction rewritten to pay someone else, consistently.

A careless client signs the `txID` a node hands it; a careful one re-encodes
`raw_data` itself and compares it with what it asked for (verify before
sign). To catch only the careless ones, the tampered transaction must be
self-consistent: `raw_data`, `raw_data_hex` and `txID` all describe the
changed contract, exactly as an honest node would have built it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from devnet.contracts import CONTRACT_TYPES
from devnet.faults import Tamper
from devnet.messages import encode_message
from devnet.transactions import Contract, Transaction, make_transaction

__all__ = ["tamper_transaction"]

_INT64_MAX = 2**63 - 1

# Recipient and amount fields of the system contracts devnet models.
_RECIPIENT_FIELDS = ("to_address", "receiver_address")
_AMOUNT_FIELDS = ("amount", "balance", "frozen_balance", "unfreeze_balance")
# TRC20 calls in TriggerSmartContract.data: selector -> (recipient word, amount word).
_TOKEN_CALLS = {
    bytes.fromhex("a9059cbb"): (0, 1),  # transfer(address,uint256)
    bytes.fromhex("095ea7b3"): (0, 1),  # approve(address,uint256)
    bytes.fromhex("23b872dd"): (1, 2),  # transferFrom(address,address,uint256)
}


def _shifted(amount: int, delta: int, limit: int) -> int:
    return min(max(amount + delta, 0), limit)


def _tamper_call_data(data: bytes, tamper: Tamper) -> bytes:
    words = _TOKEN_CALLS.get(data[:4])
    if words is None or len(data) < 4 + 32 * (max(words) + 1):
        return data
    recipient_at, amount_at = (4 + 32 * word for word in words)
    out = bytearray(data)
    to = tamper.to_address
    if to is not None:
        out[recipient_at : recipient_at + 32] = bytes(12) + to[1:]
    amount = int.from_bytes(data[amount_at : amount_at + 32], "big")
    out[amount_at : amount_at + 32] = _shifted(amount, tamper.amount_delta, 2**256 - 1).to_bytes(
        32, "big"
    )
    return bytes(out)


def _tamper_value(value: Mapping[str, Any], tamper: Tamper) -> dict[str, Any]:
    changed = dict(value)
    to = tamper.to_address
    for name in _RECIPIENT_FIELDS:
        if to is not None and name in changed:
            changed[name] = to
    for name in _AMOUNT_FIELDS:
        if name in changed:
            changed[name] = _shifted(int(changed[name]), tamper.amount_delta, _INT64_MAX)
    if isinstance(changed.get("data"), bytes):
        changed["data"] = _tamper_call_data(changed["data"], tamper)
    return changed


def tamper_transaction(tx: Transaction, tamper: Tamper) -> Transaction | None:
    """tx with its first contract paying tamper's recipient/amount, txid recomputed.

    None when the contract has nothing to change (e.g. WithdrawBalance).
    Signatures are kept as they are: tampering is meant for unsigned,
    node-built transactions.
    """
    contract = tx.contract
    kind = CONTRACT_TYPES.get(contract.type_name) if contract else None
    if contract is None or kind is None:
        return None
    value = _tamper_value(contract.value, tamper)
    if value == dict(contract.value):
        return None
    changed: Contract = replace(contract, value=value, value_bytes=encode_message(kind.spec, value))
    raw = replace(tx.raw, contracts=(changed, *tx.raw.contracts[1:]))
    return make_transaction(raw, tx.signatures)
