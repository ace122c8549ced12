"""Transactions as bytes: what `/wallet/broadcasthex` takes, and JsonFormat's print of one.

BroadcastHexServlet parses its hex with `Transaction.parseFrom` (raw_data 1,
signature 2, ret 5) and echoes the transaction back as
`JsonFormat.printToString(transaction, true)`: the protobuf message itself, not
Util.printTransactionToJSON, so there is no `txID` or `raw_data_hex`, fields
come in field-number order, and each contract's `parameter` is the Any as it
is (`type_url`, then `value` in hex). JsonFormat writes `": "` after a name and
a bare `,` between fields and between array items.

A decoded transaction becomes devnet's `Transaction`. Its raw_data is encoded
again for the txid, as protobuf-java re-serialises it (`getRawData().toByteArray()`),
so canonical bytes — what tronpy, TronWeb and the worker send — keep their
txid; each contract's Any value is kept byte for byte, as java-tron keeps it.
A contract devnet does not model, or whose value does not parse, is dropped,
as `devnet.transactions` drops one from JSON. `ret` is not kept: java-tron
resets it before pushing, and devnet's transactions carry none.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import structlog

from devnet.contracts import CONTRACT_TYPE_ENUM, CONTRACT_TYPE_NAMES, contract_type
from devnet.decoding import WireFormatError, decode_message
from devnet.messages import FieldSpec, Kind, MessageSpec, print_message
from devnet.transactions import (
    CONTRACT_EXTRAS,
    RAW_SCALARS,
    Contract,
    Transaction,
    make_transaction,
    raw_from_values,
    raw_scalar_values,
)

__all__ = ["WireFormatError", "decode_transaction", "json_format_text"]

log = structlog.get_logger(__name__)

_ANY = MessageSpec(
    "google.protobuf.Any",
    (FieldSpec("type_url", 1, Kind.STRING), FieldSpec("value", 2, Kind.BYTES)),
)
_CONTRACT = MessageSpec(
    "protocol.Transaction.Contract",
    (*CONTRACT_EXTRAS.fields, FieldSpec("parameter", 2, Kind.MESSAGE, message=_ANY)),
)
_RAW = MessageSpec(
    "protocol.Transaction.raw",
    (
        *RAW_SCALARS.fields,
        FieldSpec("contract", 11, Kind.MESSAGE, repeated=True, message=_CONTRACT),
    ),
)
# `ret` (5) is left out, so it is skipped like an unknown field.
_TRANSACTION = MessageSpec(
    "protocol.Transaction",
    (
        FieldSpec("raw_data", 1, Kind.MESSAGE, message=_RAW),
        FieldSpec("signature", 2, Kind.BYTES, repeated=True),
    ),
)


def _contract(values: Mapping[str, Any]) -> Contract | None:
    """A decoded Transaction.Contract as devnet's Contract, or None where devnet drops it."""
    type_name = CONTRACT_TYPE_NAMES.get(values.get("type", 0))
    known = contract_type(type_name) if type_name else None
    if known is None:
        log.warning(
            "contract type not modelled by devnet; dropped",
            contract_type=type_name or values.get("type"),
        )
        return None
    parameter = values.get("parameter", {})
    value_bytes = parameter.get("value", b"")
    try:
        value = decode_message(known.spec, value_bytes)
    except WireFormatError as exc:
        log.debug("contract value not parsed; dropped", error=exc.message)
        return None
    return Contract(
        type_name=known.name,
        type_url=parameter.get("type_url", ""),
        value=value,
        value_bytes=value_bytes,
        provider=values.get("provider", b""),
        contract_name=values.get("ContractName", b""),
        permission_id=values.get("Permission_id", 0),
    )


def decode_transaction(data: bytes) -> Transaction:
    """Parse a serialised Transaction as java-tron's Transaction.parseFrom does.

    Empty bytes are a valid, empty transaction (broadcast then refuses it).

    Raises:
        WireFormatError: protobuf-java would throw InvalidProtocolBufferException.
    """
    values = decode_message(_TRANSACTION, data)
    raw = values.get("raw_data", {})
    contracts = (_contract(item) for item in raw.get("contract", []))
    raw_data = raw_from_values(tuple(c for c in contracts if c is not None), raw)
    return make_transaction(raw_data, values.get("signature", ()))


def _wire_values(tx: Transaction) -> dict[str, Any]:
    contracts = [
        {
            "type": CONTRACT_TYPE_ENUM.number_of(contract.type_name),
            "parameter": {"type_url": contract.type_url, "value": contract.value_bytes},
            "provider": contract.provider,
            "ContractName": contract.contract_name,
            "Permission_id": contract.permission_id,
        }
        for contract in tx.raw.contracts
    ]
    values: dict[str, Any] = {"signature": list(tx.signatures)}
    if tx.raw_bytes:  # an absent raw_data is not printed; devnet cannot tell it from an empty one
        values["raw_data"] = raw_scalar_values(tx.raw) | {"contract": contracts}
    return values


def json_format_text(tx: Transaction) -> str:
    """The text of JsonFormat.printToString(transaction, true), as broadcasthex echoes it."""
    printed = print_message(_TRANSACTION, _wire_values(tx), visible=True)
    return json.dumps(printed, separators=(",", ": "), ensure_ascii=False)
