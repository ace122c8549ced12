"""The worker's own encoding of TRON transactions: build locally, sign what we built.

The worker never signs bytes a node built (DESIGN.md, "TRON side"): it writes
`Transaction.raw` itself, byte for byte as java-tron's protobuf-java would,
because the txid is sha256 of exactly those bytes and a one-byte difference is
a different transaction. Field numbers are those of tronprotocol/protocol
`core/Tron.proto` and `core/contract/*.proto`. Canonical proto3 encoding:
fields in number order, default values (0, empty bytes) left out.

Deliberately independent of devnet's encoder, so each checks the other.
No I/O: pure functions over frozen values.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tronpy.keys import to_base58check_address, to_raw_address

__all__ = [
    "CONTRACT_TYPES",
    "Contract",
    "ContractSpec",
    "Kind",
    "RawTransaction",
    "address_from_base58",
    "address_to_base58",
    "contract_of",
    "decode_raw",
    "encode_raw",
    "reference_of",
    "signed_transaction",
    "transfer",
    "txid_of",
]

_VARINT, _LEN = 0, 2  # protobuf wire types
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_UINT64 = 1 << 64
_TYPE_URL_PREFIX = "type.googleapis.com/protocol."
ADDRESS_PREFIX = 0x41  # mainnet address byte; every TRON address is 21 bytes


class Kind(enum.Enum):
    """How a parameter field is written. Enums and bools are varints too: use INT64."""

    INT64 = "int64"  # varint; negatives as 10-byte two's complement
    BYTES = "bytes"  # length-delimited
    ADDRESS = "address"  # length-delimited, checked to be 21 bytes with the 0x41 prefix
    VOTES = "votes"  # repeated VoteWitnessContract.Vote: one length-delimited field per vote


@dataclass(frozen=True)
class ContractSpec:
    """One contract type: `ContractType` number and its parameter message's fields."""

    name: str
    number: int
    fields: tuple[tuple[int, str, Kind], ...]  # (field number, name, kind), in number order

    @property
    def type_url(self) -> str:
        return _TYPE_URL_PREFIX + self.name


# Adding a contract type is one entry (numbers checked against tronprotocol/protocol:
# core/Tron.proto Transaction.Contract.ContractType and the core/contract/*.proto named).
# `resource` is common.proto's ResourceCode (BANDWIDTH 0, ENERGY 1), bools are 0/1.
_A, _B, _I, _V = Kind.ADDRESS, Kind.BYTES, Kind.INT64, Kind.VOTES
CONTRACT_TYPES: dict[str, ContractSpec] = {spec.name: spec for spec in (
    # core/contract/balance_contract.proto
    ContractSpec("TransferContract", 1,
                 ((1, "owner_address", _A), (2, "to_address", _A), (3, "amount", _I))),
    ContractSpec("WithdrawBalanceContract", 13, ((1, "owner_address", _A),)),
    ContractSpec("FreezeBalanceV2Contract", 54,
                 ((1, "owner_address", _A), (2, "frozen_balance", _I), (3, "resource", _I))),
    ContractSpec("UnfreezeBalanceV2Contract", 55,
                 ((1, "owner_address", _A), (2, "unfreeze_balance", _I), (3, "resource", _I))),
    ContractSpec("WithdrawExpireUnfreezeContract", 56, ((1, "owner_address", _A),)),
    ContractSpec("DelegateResourceContract", 57,
                 ((1, "owner_address", _A), (2, "resource", _I), (3, "balance", _I),
                  (4, "receiver_address", _A), (5, "lock", _I), (6, "lock_period", _I))),
    ContractSpec("UnDelegateResourceContract", 58,
                 ((1, "owner_address", _A), (2, "resource", _I), (3, "balance", _I),
                  (4, "receiver_address", _A))),
    # core/contract/witness_contract.proto
    ContractSpec("VoteWitnessContract", 4,
                 ((1, "owner_address", _A), (2, "votes", _V), (3, "support", _I))),
    # core/contract/smart_contract.proto
    ContractSpec("TriggerSmartContract", 31,
                 ((1, "owner_address", _A), (2, "contract_address", _A), (3, "call_value", _I),
                  (4, "data", _B), (5, "call_token_value", _I), (6, "token_id", _I))),
)}  # fmt: skip
# VoteWitnessContract.Vote, each element of `votes`.
_VOTE_FIELDS: tuple[tuple[int, str, Kind], ...] = ((1, "vote_address", _A), (2, "vote_count", _I))
_DEFAULTS: dict[Kind, Any] = {_A: b"", _B: b"", _I: 0, _V: []}  # an address has none: refused
_BY_NUMBER = {spec.number: spec for spec in CONTRACT_TYPES.values()}


@dataclass(frozen=True)
class Contract:
    """A contract call: type name, parameter fields (addresses as 21 bytes, amounts, enums
    and bools as int, `votes` as a list of {"vote_address": 21 bytes, "vote_count": int})."""

    type: str
    fields: dict[str, Any]
    permission_id: int = 0


@dataclass(frozen=True)
class RawTransaction:
    """`Transaction.raw`: what is hashed into the txid and signed. Times in ms since epoch."""

    ref_block_bytes: bytes  # 2 bytes: block number bytes 6..8 (TaPoS)
    ref_block_hash: bytes  # 8 bytes: block id bytes 8..16
    expiration_ms: int
    timestamp_ms: int
    contract: Contract
    data: bytes = b""  # the memo
    fee_limit_sun: int = 0


# -- wire primitives ---------------------------------------------------------


def _varint(value: int) -> bytes:
    """int64 as protobuf writes it: negatives as 64-bit two's complement (10 bytes)."""
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise ValueError(f"{value} does not fit in int64")
    value %= _UINT64
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _int_field(number: int, value: int) -> bytes:
    return _varint(number << 3 | _VARINT) + _varint(value) if value else b""


def _bytes_field(number: int, value: bytes) -> bytes:
    return _varint(number << 3 | _LEN) + _varint(len(value)) + value if value else b""


def _message_field(number: int, value: bytes) -> bytes:
    # A set sub-message is written even when empty; only scalars drop defaults.
    return _varint(number << 3 | _LEN) + _varint(len(value)) + value


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = 0
    for shift in range(0, 70, 7):
        if pos >= len(buf):
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if result >= _UINT64:
                raise ValueError("varint longer than 64 bits")
            return (result - _UINT64 if result > _INT64_MAX else result), pos
    raise ValueError("varint longer than 10 bytes")


def _read_fields(buf: bytes) -> Iterator[tuple[int, int | bytes]]:
    """Yield (field number, value) for varint and length-delimited fields; others are errors."""
    pos = 0
    while pos < len(buf):
        tag, pos = _read_varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if wire == _VARINT:
            value, pos = _read_varint(buf, pos)
            yield number, value
        elif wire == _LEN:
            length, pos = _read_varint(buf, pos)
            if length < 0 or pos + length > len(buf):
                raise ValueError("truncated length-delimited field")
            yield number, buf[pos : pos + length]
            pos += length
        else:
            raise ValueError(f"unsupported wire type {wire} for field {number}")


# -- encoding ----------------------------------------------------------------


def _check_address(name: str, value: Any) -> bytes:
    if not isinstance(value, bytes) or len(value) != 21 or value[0] != ADDRESS_PREFIX:
        raise ValueError(f"{name} must be a 21-byte address starting with 0x41")
    return value


def _check_value(name: str, kind: Kind, value: Any) -> Any:
    """Refuse a value of the wrong type: int(b"12") == 12 must never reach the wire."""
    if kind is Kind.ADDRESS:
        return _check_address(name, value)
    if kind is Kind.VOTES:
        if not isinstance(value, list) or not all(isinstance(vote, dict) for vote in value):
            raise ValueError(f"{name} must be a list of votes")
        return value
    if not isinstance(value, bytes if kind is Kind.BYTES else int):
        raise ValueError(f"{name} must be {kind.value}")
    return value


def _spec(type_name: str) -> ContractSpec:
    try:
        return CONTRACT_TYPES[type_name]
    except KeyError:
        raise ValueError(f"unsupported contract type {type_name!r}") from None


def _encode_fields(
    message: str, layout: tuple[tuple[int, str, Kind], ...], values: dict[str, Any]
) -> bytes:
    """One message's fields in number order; a vote is a sub-message, written even if empty."""
    unknown = set(values) - {name for _, name, _ in layout}
    if unknown:
        raise ValueError(f"{message} has no fields {sorted(unknown)}")
    parts = []
    for number, name, kind in layout:
        value = _check_value(name, kind, values.get(name, _DEFAULTS[kind]))
        if kind is Kind.VOTES:
            votes = (_encode_fields("Vote", _VOTE_FIELDS, vote) for vote in value)
            parts += [_message_field(number, vote) for vote in votes]
        else:
            parts.append((_int_field if kind is _I else _bytes_field)(number, value))
    return b"".join(parts)


def _encode_parameter(contract: Contract) -> bytes:
    return _encode_fields(contract.type, _spec(contract.type).fields, contract.fields)


def _encode_contract(contract: Contract) -> bytes:
    spec = _spec(contract.type)
    # parameter is a google.protobuf.Any: type_url = 1, value = 2.
    parameter = _bytes_field(1, spec.type_url.encode()) + _bytes_field(
        2, _encode_parameter(contract)
    )
    return (
        _int_field(1, spec.number)
        + _message_field(2, parameter)
        + _int_field(5, contract.permission_id)
    )


def encode_raw(raw: RawTransaction) -> bytes:
    """Serialise `Transaction.raw` as java-tron does; these bytes are hashed and signed.

    Raises:
        ValueError: unknown contract type or field, malformed address, or int64 overflow.
    """
    if len(raw.ref_block_bytes) != 2 or len(raw.ref_block_hash) != 8:
        raise ValueError("ref_block_bytes must be 2 bytes and ref_block_hash 8 bytes")
    return b"".join((
        _bytes_field(1, raw.ref_block_bytes),
        _bytes_field(4, raw.ref_block_hash),
        _int_field(8, raw.expiration_ms),
        _bytes_field(10, raw.data),
        _message_field(11, _encode_contract(raw.contract)),
        _int_field(14, raw.timestamp_ms),
        _int_field(18, raw.fee_limit_sun),
    ))  # fmt: skip


def txid_of(raw_bytes: bytes) -> str:
    """The txid: lowercase hex sha256 of the raw bytes (also the digest that gets signed)."""
    return hashlib.sha256(raw_bytes).hexdigest()


def signed_transaction(raw_bytes: bytes, signatures: list[bytes]) -> bytes:
    """`Transaction{raw_data, signature...}`: the bytes `/wallet/broadcasthex` takes (no `ret`)."""
    if not signatures or any(len(sig) != 65 for sig in signatures):
        raise ValueError("a signed transaction needs 65-byte signatures (r, s, recovery id)")
    return _message_field(1, raw_bytes) + b"".join(_message_field(2, sig) for sig in signatures)


def reference_of(block_number: int, block_id_hex: str) -> tuple[bytes, bytes]:
    """TaPoS reference (ref_block_bytes, ref_block_hash) to a block the node reported.

    Raises:
        ValueError: the id is not 32 bytes or does not start with the block's number,
            as every java-tron block id does (so a mismatched pair is caught here).
    """
    block_id = bytes.fromhex(block_id_hex)
    number_bytes = block_number.to_bytes(8, "big")
    if len(block_id) != 32 or block_id[:8] != number_bytes:
        raise ValueError(f"block id {block_id_hex!r} is not the id of block {block_number}")
    return number_bytes[6:8], block_id[8:16]


# -- decoding ----------------------------------------------------------------


def _decode_fields(
    message: str, layout: tuple[tuple[int, str, Kind], ...], value: bytes
) -> dict[str, Any]:
    kinds = {number: (name, kind) for number, name, kind in layout}
    fields: dict[str, Any] = {}
    for number, item in _read_fields(value):
        if number not in kinds:
            raise ValueError(f"{message} has no field {number}")
        name, kind = kinds[number]
        if kind is Kind.VOTES:
            if not isinstance(item, bytes):
                raise ValueError(f"{name} must be length-delimited votes")
            fields.setdefault(name, []).append(_decode_fields("Vote", _VOTE_FIELDS, item))
        else:
            fields[name] = _check_value(name, kind, item)
    return fields


def _decode_parameter(spec: ContractSpec, value: bytes) -> dict[str, Any]:
    return _decode_fields(spec.name, spec.fields, value)


def _decode_contract(buf: bytes) -> Contract:
    type_number, any_message, permission_id = 0, b"", 0
    for number, item in _read_fields(buf):
        if number == 1 and isinstance(item, int):
            type_number = item
        elif number == 2 and isinstance(item, bytes):
            any_message = item
        elif number == 5 and isinstance(item, int):
            permission_id = item
        else:
            raise ValueError(f"unsupported Transaction.Contract field {number}")
    spec = _BY_NUMBER.get(type_number)
    if spec is None:
        raise ValueError(f"unsupported contract type number {type_number}")
    any_fields = dict(_read_fields(any_message))
    if set(any_fields) - {1, 2} or any_fields.get(1) != spec.type_url.encode():
        raise ValueError(f"parameter is not a {spec.type_url}")
    parameter = any_fields.get(2, b"")
    assert isinstance(parameter, bytes)
    return Contract(spec.name, _decode_parameter(spec, parameter), permission_id)


_RAW_FIELDS = {1: "ref_block_bytes", 4: "ref_block_hash", 8: "expiration_ms", 10: "data",
               11: "contract", 14: "timestamp_ms", 18: "fee_limit_sun"}  # fmt: skip
_RAW_BYTES = {1, 4, 10, 11}
_RAW_DEFAULTS: dict[str, Any] = {"ref_block_bytes": b"", "ref_block_hash": b"",
                                 "expiration_ms": 0, "timestamp_ms": 0}  # fmt: skip


def decode_raw(raw_bytes: bytes) -> RawTransaction:
    """Read back `Transaction.raw` (a node's echo, a journaled hex) to inspect or compare.

    Only canonical bytes are accepted, so `encode_raw(decode_raw(b)) == b` always holds.

    Raises:
        ValueError: malformed, non-canonical, several contracts, or an unknown field or type.
    """
    values: dict[str, Any] = {}
    for number, item in _read_fields(raw_bytes):
        name = _RAW_FIELDS.get(number)
        if name is None or (number in _RAW_BYTES) != isinstance(item, bytes):
            raise ValueError(f"unsupported Transaction.raw field {number}")
        if name in values:
            raise ValueError(f"Transaction.raw field {number} repeated")
        values[name] = _decode_contract(item) if isinstance(item, bytes) and number == 11 else item
    if "contract" not in values:
        raise ValueError("Transaction.raw has no contract")
    raw = RawTransaction(**(_RAW_DEFAULTS | values))
    if encode_raw(raw) != raw_bytes:
        raise ValueError("Transaction.raw is not canonically encoded")
    return raw


# -- helpers -----------------------------------------------------------------


def transfer(owner: bytes, to: bytes, amount_sun: int) -> Contract:
    """A TRX payment; refuses what java-tron would reject anyway, before anything is signed.

    Raises:
        ValueError: a malformed address, a transfer to oneself, or a non-positive amount.
    """
    _check_address("owner", owner)
    _check_address("to", to)
    if owner == to:
        raise ValueError("cannot transfer TRX to yourself")
    if not 0 < amount_sun <= _INT64_MAX:
        raise ValueError("amount_sun must be a positive int64")
    return Contract("TransferContract", {"owner_address": owner, "to_address": to,
                                         "amount": amount_sun})  # fmt: skip


def contract_of(contract_type: str, fields: dict[str, Any]) -> Contract:
    """A contract from plain values, as a handler plans one: base58 `T…` text for address
    fields (also each vote's `vote_address`), int (or bool) for amounts, enums and flags.

    Raises:
        ValueError: unknown type or field, a malformed address, or a value of the wrong type.
    """
    spec = _spec(contract_type)
    return Contract(contract_type, _from_plain(contract_type, spec.fields, fields))


def _from_plain(
    message: str, layout: tuple[tuple[int, str, Kind], ...], values: dict[str, Any]
) -> dict[str, Any]:
    kinds = {name: kind for _, name, kind in layout}
    unknown = set(values) - set(kinds)
    if unknown:
        raise ValueError(f"{message} has no fields {sorted(unknown)}")
    out: dict[str, Any] = {}
    for name, value in values.items():
        kind = kinds[name]
        if kind is Kind.ADDRESS:
            out[name] = address_from_base58(value)
        elif kind is Kind.VOTES:
            _check_value(name, kind, value)
            out[name] = [_from_plain("Vote", _VOTE_FIELDS, vote) for vote in value]
        elif kind is Kind.INT64 and isinstance(value, bool):
            out[name] = int(value)
        else:
            out[name] = _check_value(name, kind, value)
    return out


def address_from_base58(text: str) -> bytes:
    """`T…` base58check text to the 21-byte address the protobuf carries.

    Raises:
        ValueError: not a valid base58check TRON address.
    """
    if not (isinstance(text, str) and len(text) == 34 and text.startswith("T")):
        raise ValueError(f"not a base58check TRON address: {text!r}")
    try:
        raw = to_raw_address(text)
    except Exception:  # tronpy raises BadAddress or base58's ValueError
        raise ValueError(f"not a base58check TRON address: {text!r}") from None
    return _check_address("address", raw)


def address_to_base58(raw: bytes) -> str:
    """21-byte address to its `T…` base58check text (for logs and events)."""
    return str(to_base58check_address(_check_address("address", raw)))
