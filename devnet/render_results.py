"""JSON of transaction results: gettransactioninfobyid, getsignweight, broadcast replies.

The first three are JsonFormat prints of protobuf messages (TransactionInfo,
TransactionSignWeight, Return), so fields appear only when set: a TRX
transfer's info has `receipt.net_usage` or `receipt.net_fee`, never
`receipt.result`, and `fee` only when something was paid. The broadcast
reply's `message` is a name-format field: hex normally, text when visible.
broadcasthex builds its answer by hand instead (BroadcastHexServlet): every
key always present, `message` as plain text, the transaction as a JSON string.
"""

from __future__ import annotations

from typing import Any

from devnet.accounts import Permission
from devnet.errors import TransactionRejected
from devnet.ledger import TxInfo
from devnet.messages import FieldSpec, Kind, MessageSpec, print_message
from devnet.render_accounts import PERMISSION_SPEC, permission_values
from devnet.render_contracts import (
    CONTRACT_RESULT_ENUM,
    LOG_SPEC,
    TRANSACTION_INFO_CODE,
    vm_info_values,
)
from devnet.transaction_bytes import json_format_text
from devnet.transactions import Transaction, render_transaction

__all__ = [
    "render_approved_list",
    "render_broadcast",
    "render_broadcast_hex",
    "render_sign_weight",
    "render_transaction_info",
]

_RECEIPT = MessageSpec(
    "protocol.ResourceReceipt",
    (
        FieldSpec("energy_usage", 1, Kind.INT64),
        FieldSpec("energy_fee", 2, Kind.INT64),
        FieldSpec("origin_energy_usage", 3, Kind.INT64),
        FieldSpec("energy_usage_total", 4, Kind.INT64),
        FieldSpec("net_usage", 5, Kind.INT64),
        FieldSpec("net_fee", 6, Kind.INT64),
        FieldSpec("result", 7, Kind.ENUM, enum=CONTRACT_RESULT_ENUM),
        FieldSpec("energy_penalty_total", 8, Kind.INT64),
    ),
)
_APPROVED_LIST = MessageSpec(
    "protocol.TransactionSignWeight",
    (FieldSpec("approved_list", 2, Kind.BYTES, repeated=True, address=True),),
)
_TRANSACTION_INFO = MessageSpec(
    "protocol.TransactionInfo",
    (
        FieldSpec("id", 1, Kind.BYTES),
        FieldSpec("fee", 2, Kind.INT64),
        FieldSpec("blockNumber", 3, Kind.INT64),
        FieldSpec("blockTimeStamp", 4, Kind.INT64),
        FieldSpec("contractResult", 5, Kind.BYTES, repeated=True),
        FieldSpec("contract_address", 6, Kind.BYTES, address=True),
        FieldSpec("receipt", 7, Kind.MESSAGE, message=_RECEIPT),
        FieldSpec("log", 8, Kind.MESSAGE, repeated=True, message=LOG_SPEC),
        FieldSpec("result", 9, Kind.ENUM, enum=TRANSACTION_INFO_CODE),
        FieldSpec("resMessage", 10, Kind.BYTES, text=True),
        FieldSpec("withdraw_amount", 15, Kind.INT64),
        FieldSpec("unfreeze_amount", 16, Kind.INT64),
        FieldSpec("withdraw_expire_amount", 28, Kind.INT64),
    ),
)


def render_transaction_info(txid: bytes, info: TxInfo, visible: bool) -> dict[str, Any]:
    """Render /wallet/gettransactioninfobyid for an included transaction."""
    values: dict[str, Any] = {
        "id": txid,
        "fee": info.fee_sun,
        "blockNumber": info.block_number,
        "blockTimeStamp": info.block_timestamp_ms,
        "contractResult": list(info.contract_result),
        "receipt": {"net_usage": info.net_usage, "net_fee": info.net_fee_sun},
        "withdraw_amount": info.withdraw_amount_sun,
        "unfreeze_amount": info.unfreeze_amount_sun,
        "withdraw_expire_amount": info.withdraw_expire_amount_sun,
    }
    if info.vm is not None:
        values.update(vm_info_values(info.vm, visible, values["receipt"]))
    return print_message(_TRANSACTION_INFO, values, visible)


def render_sign_weight(
    tx: Transaction,
    visible: bool,
    *,
    permission: Permission | None,
    approved: tuple[bytes, ...] = (),
    weight: int = 0,
    code: str | None = None,
    message: str = "",
) -> dict[str, Any]:
    """Render /wallet/getsignweight (Util.printTransactionSignWeight).

    code is the TransactionSignWeight.Result code; ENOUGH_PERMISSION is the
    enum's default and so prints as an empty `result`.
    """
    out: dict[str, Any] = {}
    values = permission_values(permission)
    if values is not None:
        out["permission"] = print_message(PERMISSION_SPEC, values, visible)
    if approved:
        out.update(print_message(_APPROVED_LIST, {"approved_list": list(approved)}, visible))
    if weight:
        out["current_weight"] = weight
    result: dict[str, Any] = {}
    if code and code != "ENOUGH_PERMISSION":
        result["code"] = code
    if message:
        result["message"] = message
    out["result"] = result
    out["transaction"] = _transaction_extention(tx, visible)
    return out


def render_approved_list(
    tx: Transaction, visible: bool, *, approved: tuple[bytes, ...], code: str, message: str
) -> dict[str, Any]:
    """Render /wallet/getapprovedlist (Util.printTransactionApprovedList).

    code is the TransactionApprovedList.Result code; SUCCESS is the enum's
    default and so prints as an empty `result`.
    """
    out: dict[str, Any] = {}
    if approved:
        out.update(print_message(_APPROVED_LIST, {"approved_list": list(approved)}, visible))
    result: dict[str, Any] = {}
    if code != "SUCCESS":
        result["code"] = code
    if message:
        result["message"] = message
    out["result"] = result
    out["transaction"] = _transaction_extention(tx, visible)
    return out


def _transaction_extention(tx: Transaction, visible: bool) -> dict[str, Any]:
    """The TransactionExtention both replies carry: the transaction as posted, its txid."""
    return {
        "result": {"result": True},
        "txid": tx.txid.hex(),
        "transaction": render_transaction(tx, visible),
    }


def render_broadcast(
    txid: bytes, error: TransactionRejected | None, visible: bool
) -> dict[str, Any]:
    """Render the broadcasttransaction reply: Return plus the txid java-tron computed."""
    if error is None:
        return {"result": True, "txid": txid.hex()}
    message = error.reply if visible else error.reply.encode().hex()
    return {"code": error.code, "txid": txid.hex(), "message": message}


def render_broadcast_hex(tx: Transaction, error: TransactionRejected | None) -> dict[str, Any]:
    """Render the broadcasthex reply; keys in the order fastjson's JSONObject (a HashMap) has."""
    return {
        "result": error is None,
        "code": error.code if error else "SUCCESS",
        "txid": tx.txid.hex(),
        "message": error.reply if error else "",
        "transaction": json_format_text(tx),
    }
