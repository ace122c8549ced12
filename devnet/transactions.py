"""Transactions: java-tron's JSON in, `Transaction.raw` bytes and txid out, JSON back.

Parsing follows Util.packTransaction: each contract's `parameter.value` is
parsed with the schema of its `type` and packed into the Any (whose
`type_url` is taken verbatim from the client's JSON); a contract that cannot
be parsed, or whose type devnet does not model, is silently dropped, as
java-tron drops it. A malformed envelope (no `raw_data`, a bad `expiration`)
makes java-tron's servlets fail with a NullPointerException:
`TransactionParseError` stands for that.

Field numbers (core/Tron.proto): Transaction raw_data 1, signature 2, ret 5;
raw: ref_block_bytes 1, ref_block_num 3, ref_block_hash 4, expiration 8,
auths 9, data 10, contract 11, scripts 12, timestamp 14, fee_limit 18;
Contract: type 1, parameter 2 (Any: type_url 1, value 2), provider 3,
ContractName 4, Permission_id 5.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from devnet.contracts import CONTRACT_TYPE_ENUM, contract_type
from devnet.encoding import field_bytes, field_message, field_varint, sha256
from devnet.messages import (
    FieldSpec,
    Kind,
    MessageParseError,
    MessageSpec,
    encode_message,
    parse_message,
    print_message,
)

__all__ = [
    "CONTRACT_EXTRAS",
    "MAX_RESULT_SIZE_IN_TX",
    "RAW_SCALARS",
    "Contract",
    "RawData",
    "Transaction",
    "TransactionParseError",
    "bandwidth_bytes",
    "encode_raw",
    "encode_transaction",
    "make_transaction",
    "parse_transaction",
    "raw_from_values",
    "raw_scalar_values",
    "render_transaction",
]

log = structlog.get_logger(__name__)

# Constant.MAX_RESULT_SIZE_IN_TX: bytes reserved per contract for its result.
MAX_RESULT_SIZE_IN_TX = 64

_ACCOUNT_ID = MessageSpec(
    "protocol.AccountId",
    (
        FieldSpec("name", 1, Kind.BYTES, text=True),
        FieldSpec("address", 2, Kind.BYTES, address=True),
    ),
)
_AUTHORITY = MessageSpec(
    "protocol.authority",
    (
        FieldSpec("account", 1, Kind.MESSAGE, message=_ACCOUNT_ID),
        FieldSpec("permission_name", 2, Kind.BYTES, text=True),
    ),
)
# Transaction.raw without `contract`, which packTransaction handles itself.
RAW_SCALARS = MessageSpec(
    "protocol.Transaction.raw",
    (
        FieldSpec("ref_block_bytes", 1, Kind.BYTES),
        FieldSpec("ref_block_num", 3, Kind.INT64),
        FieldSpec("ref_block_hash", 4, Kind.BYTES),
        FieldSpec("expiration", 8, Kind.INT64),
        FieldSpec("auths", 9, Kind.MESSAGE, repeated=True, message=_AUTHORITY),
        FieldSpec("data", 10, Kind.BYTES),
        FieldSpec("scripts", 12, Kind.BYTES),
        FieldSpec("timestamp", 14, Kind.INT64),
        FieldSpec("fee_limit", 18, Kind.INT64),
    ),
)
_CONTRACT_TYPE_FIELD = FieldSpec("type", 1, Kind.ENUM, enum=CONTRACT_TYPE_ENUM)
CONTRACT_EXTRAS = MessageSpec(
    "protocol.Transaction.Contract",
    (
        _CONTRACT_TYPE_FIELD,
        FieldSpec("provider", 3, Kind.BYTES),
        FieldSpec("ContractName", 4, Kind.BYTES, text=True),
        FieldSpec("Permission_id", 5, Kind.INT32),
    ),
)
_ENVELOPE = MessageSpec(
    "protocol.Transaction", (FieldSpec("signature", 2, Kind.BYTES, repeated=True),)
)


class TransactionParseError(ValueError):
    """A transaction JSON that java-tron's packTransaction cannot turn into a Transaction."""


@dataclass(frozen=True, slots=True)
class Contract:
    """One entry of raw_data.contract: its type, the parsed parameter and the Any's bytes."""

    type_name: str
    type_url: str
    value: Mapping[str, Any]
    value_bytes: bytes
    provider: bytes = b""
    contract_name: bytes = b""
    permission_id: int = 0

    @property
    def type_number(self) -> int:
        found = CONTRACT_TYPE_ENUM.number_of(self.type_name)
        assert found is not None
        return found

    def encode(self) -> bytes:
        """Serialise Transaction.Contract (type 1, parameter 2, provider 3, name 4, perm 5)."""
        parameter = field_bytes(1, self.type_url.encode()) + field_bytes(2, self.value_bytes)
        return b"".join(
            (
                field_varint(1, self.type_number),
                field_message(2, parameter),
                field_bytes(3, self.provider),
                field_bytes(4, self.contract_name),
                field_varint(5, self.permission_id),
            )
        )


@dataclass(frozen=True, slots=True)
class RawData:
    """Transaction.raw: the signed part of a transaction."""

    contracts: tuple[Contract, ...]
    ref_block_bytes: bytes = b""
    ref_block_num: int = 0
    ref_block_hash: bytes = b""
    expiration_ms: int = 0
    data: bytes = b""
    timestamp_ms: int = 0
    fee_limit_sun: int = 0
    auths: tuple[Mapping[str, Any], ...] = ()
    scripts: bytes = b""


def encode_raw(raw: RawData) -> bytes:
    """Serialise Transaction.raw in field-number order; its sha256 is the txid."""
    return b"".join(
        (
            field_bytes(1, raw.ref_block_bytes),
            field_varint(3, raw.ref_block_num),
            field_bytes(4, raw.ref_block_hash),
            field_varint(8, raw.expiration_ms),
            b"".join(field_message(9, encode_message(_AUTHORITY, auth)) for auth in raw.auths),
            field_bytes(10, raw.data),
            b"".join(field_message(11, contract.encode()) for contract in raw.contracts),
            field_bytes(12, raw.scripts),
            field_varint(14, raw.timestamp_ms),
            field_varint(18, raw.fee_limit_sun),
        )
    )


@dataclass(frozen=True, slots=True)
class Transaction:
    """A transaction as a node holds it: raw data, its bytes and id, and the signatures.

    `wire_bytes` is the serialised Transaction without `ret` (raw_data and
    signatures), which sizes and Merkle leaves are computed from.
    """

    raw: RawData
    raw_bytes: bytes
    txid: bytes
    signatures: tuple[bytes, ...]
    wire_bytes: bytes

    @property
    def contract(self) -> Contract | None:
        """The first contract; java-tron executes exactly one per transaction."""
        return self.raw.contracts[0] if self.raw.contracts else None


def make_transaction(raw: RawData, signatures: Sequence[bytes] = ()) -> Transaction:
    """Bind raw data to its bytes and txid (sha256 of the raw bytes)."""
    raw_bytes = encode_raw(raw)
    wire = field_message(1, raw_bytes) + b"".join(field_message(2, sig) for sig in signatures)
    return Transaction(raw, raw_bytes, sha256(raw_bytes), tuple(signatures), wire)


def encode_transaction(tx: Transaction, contract_rets: Sequence[int] = ()) -> bytes:
    """Serialise the whole Transaction; each ret is a Result with only contractRet set."""
    results = b"".join(field_message(5, field_varint(3, ret)) for ret in contract_rets)
    return tx.wire_bytes + results


def bandwidth_bytes(tx: Transaction) -> int:
    """Bytes java-tron bills: the transaction without `ret`, plus 64 per contract."""
    return len(tx.wire_bytes) + MAX_RESULT_SIZE_IN_TX * len(tx.raw.contracts)


def _parse_contract(obj: Any, visible: bool) -> Contract | None:
    """One packTransaction loop step: a Contract, or None where java-tron drops it."""
    if not isinstance(obj, dict) or not isinstance(obj.get("parameter"), dict):
        return None
    type_name, parameter = obj.get("type"), obj["parameter"]
    if not type_name or not isinstance(type_name, str):
        return None
    known = contract_type(type_name)
    if known is None:
        log.warning("contract type not modelled by devnet; dropped", contract_type=type_name)
        return None
    try:
        value = parse_message(known.spec, parameter.get("value"), visible)
    except MessageParseError as exc:
        log.debug("contract value not parsed; dropped", error=str(exc))
        return None
    extras = parse_message(CONTRACT_EXTRAS, obj, visible)
    type_url = parameter.get("type_url", "")
    if not isinstance(type_url, str):
        raise MessageParseError("Expected string.")
    return Contract(
        type_name=type_name,
        type_url=type_url,
        value=value,
        value_bytes=encode_message(known.spec, value),
        provider=extras.get("provider", b""),
        contract_name=extras.get("ContractName", b""),
        permission_id=extras.get("Permission_id", 0),
    )


def _raw_from_json(raw_json: Mapping[str, Any], visible: bool) -> RawData:
    contracts_json = raw_json.get("contract")
    if not isinstance(contracts_json, list):
        raise TransactionParseError("raw_data.contract is not an array")
    contracts = [_parse_contract(item, visible) for item in contracts_json]
    scalars = parse_message(RAW_SCALARS, raw_json, visible)
    return raw_from_values(tuple(c for c in contracts if c is not None), scalars)


def raw_from_values(contracts: tuple[Contract, ...], scalars: Mapping[str, Any]) -> RawData:
    """RawData from its contracts and a RAW_SCALARS message value (parsed or decoded)."""
    return RawData(
        contracts=contracts,
        ref_block_bytes=scalars.get("ref_block_bytes", b""),
        ref_block_num=scalars.get("ref_block_num", 0),
        ref_block_hash=scalars.get("ref_block_hash", b""),
        expiration_ms=scalars.get("expiration", 0),
        data=scalars.get("data", b""),
        timestamp_ms=scalars.get("timestamp", 0),
        fee_limit_sun=scalars.get("fee_limit", 0),
        auths=tuple(scalars.get("auths", ())),
        scripts=scalars.get("scripts", b""),
    )


def parse_transaction(obj: Any, visible: bool) -> Transaction:
    """Parse a transaction JSON object (txID, ret and unknown keys ignored) like java-tron.

    Raises:
        TransactionParseError: java-tron would fail with a NullPointerException.
    """
    raw_json = obj.get("raw_data") if isinstance(obj, dict) else None
    if not isinstance(raw_json, dict):
        raise TransactionParseError("raw_data is missing or not an object")
    try:
        raw = _raw_from_json(raw_json, visible)
        envelope = parse_message(_ENVELOPE, obj, visible)
    except MessageParseError as exc:
        raise TransactionParseError(str(exc)) from None
    return make_transaction(raw, envelope.get("signature", ()))


def _render_contract(contract: Contract, visible: bool) -> dict[str, Any]:
    known = contract_type(contract.type_name)
    assert known is not None
    rendered: dict[str, Any] = {
        "parameter": {
            "value": print_message(known.spec, contract.value, visible),
            "type_url": contract.type_url,
        },
        "type": contract.type_name,
    }
    if contract.permission_id > 0:
        rendered["Permission_id"] = contract.permission_id
    return rendered


def raw_scalar_values(raw: RawData) -> dict[str, Any]:
    """The RAW_SCALARS message value of raw (everything but the contracts)."""
    return {
        "ref_block_bytes": raw.ref_block_bytes,
        "ref_block_num": raw.ref_block_num,
        "ref_block_hash": raw.ref_block_hash,
        "expiration": raw.expiration_ms,
        "auths": list(raw.auths),
        "data": raw.data,
        "scripts": raw.scripts,
        "timestamp": raw.timestamp_ms,
        "fee_limit": raw.fee_limit_sun,
    }


def _render_raw(raw: RawData, visible: bool) -> dict[str, Any]:
    contracts = [_render_contract(contract, visible) for contract in raw.contracts]
    return {"contract": contracts, **print_message(RAW_SCALARS, raw_scalar_values(raw), visible)}


def render_transaction(
    tx: Transaction, visible: bool, contract_rets: Sequence[str] = ()
) -> dict[str, Any]:
    """Render as Util.printTransactionToJSON: ret, signature, txID, raw_data, raw_data_hex."""
    out: dict[str, Any] = {}
    if contract_rets:
        out["ret"] = [{"contractRet": ret} for ret in contract_rets]
    if tx.signatures:
        out["signature"] = [signature.hex() for signature in tx.signatures]
    out["txID"] = tx.txid.hex()
    out["raw_data"] = _render_raw(tx.raw, visible)
    out["raw_data_hex"] = tx.raw_bytes.hex()
    return out
