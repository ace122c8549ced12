"""Transaction endpoints: createtransaction, getsignweight, getapprovedlist, broadcasts, lookups.

tronpy builds a transfer's raw_data itself and calls getsignweight for its
txID and the owner's permission, signs, then posts the whole transaction to
broadcasttransaction; devnet recomputes the txid from raw_data and ignores
the client's `txID`. A transaction body java-tron cannot pack fails as its
servlets fail there: `{"Error": "class java.lang.NullPointerException : null"}`.
The worker posts serialised transactions to broadcasthex instead
(`devnet.broadcast` has both), and reads receipts a block at a time with
gettransactioninfobyblocknum.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from devnet.actuators import TransferActuator
from devnet.broadcast import BROADCAST_HEX, BROADCAST_JSON, pack_transaction
from devnet.chain import Chain, View
from devnet.contracts import CONTRACT_TYPES
from devnet.errors import ContractValidateError
from devnet.http import (
    JavaError,
    json_response,
    parse_hex_bytes,
    parse_json_long,
    parse_query_long,
    query_visible,
    read_post_params,
)
from devnet.messages import MessageParseError, encode_message, parse_message
from devnet.render_results import (
    render_approved_list,
    render_sign_weight,
    render_transaction_info,
)
from devnet.signatures import approved_list, sign_weight
from devnet.transactions import Contract, RawData, make_transaction, render_transaction

__all__ = ["DEFAULT_EXPIRATION_MS", "TransactionApi"]

# Args trxExpirationTimeInMilliseconds default: a built transaction lives 60 s past the head.
DEFAULT_EXPIRATION_MS = 60_000

_NPE = JavaError("java.lang.NullPointerException", "null")
_PARSE_EXCEPTION = "org.tron.core.services.http.JsonFormat$ParseException"
_DECODER_EXCEPTION = "org.bouncycastle.util.encoders.DecoderException"
_CONTRACT_VALIDATE_EXCEPTION = "org.tron.core.exception.ContractValidateException"
# Long.parseLong(null) on the JDK 8 java-tron runs on.
_NULL_NUMBER = JavaError("java.lang.NumberFormatException", "null")


async def _request_block_num(request: web.Request) -> tuple[int, bool]:
    """`num` and visible of a GET query (required there) or a POST body (NumberMessage)."""
    if request.method == "GET":
        text = request.query.get("num")
        if text is None:
            raise _NULL_NUMBER
        return parse_query_long(text), query_visible(request)
    params = await read_post_params(request)
    return parse_json_long(params.values.get("num")), params.visible


async def _request_txid(request: web.Request) -> tuple[bytes, bool]:
    """The `value` (txid hex) and visible flag of a GET query or POST body (BytesMessage)."""
    if request.method == "GET":
        value = request.query.get("value")
        error = JavaError(_DECODER_EXCEPTION, f"exception decoding Hex string: {value}")
        return parse_hex_bytes(value, error), query_visible(request)
    params = await read_post_params(request)
    error = JavaError(_PARSE_EXCEPTION, "INVALID hex String")
    return parse_hex_bytes(params.values.get("value"), error), params.visible


class TransactionApi:
    """Transaction endpoints of one view; building and broadcasting exist on HEAD only."""

    def __init__(self, chain: Chain, view: View, clock_ms: Callable[[], int]) -> None:
        self.chain = chain
        self.view = view
        self.clock_ms = clock_ms

    async def get_transaction_by_id(self, request: web.Request) -> web.Response:
        """GetTransactionByIdServlet: pending ones too on the head view, as java-tron."""
        txid, visible = await _request_txid(request)
        record = self.chain.transaction(txid, self.view)
        if record is None:
            return json_response({})
        return json_response(render_transaction(record.transaction, visible, [record.contract_ret]))

    async def get_transaction_info_by_id(self, request: web.Request) -> web.Response:
        """GetTransactionInfoByIdServlet: only once the transaction is in a block of this view."""
        txid, visible = await _request_txid(request)
        record = self.chain.transaction(txid, self.view)
        if record is None or record.info is None:
            return json_response({})
        return json_response(render_transaction_info(txid, record.info, visible))

    async def get_transaction_info_by_block_num(self, request: web.Request) -> web.Response:
        """GetTransactionInfoByBlockNumServlet: the infos of a block of this view, in order.

        `num` <= 0 answers `{}`; a block past this view's newest, like an empty
        one, answers `[]` (Wallet.getTransactionInfoByBlockNum finds nothing).
        """
        number, visible = await _request_block_num(request)
        if number <= 0:
            return json_response({})
        block = self.chain.block_by_number(number, self.view)
        infos = []
        for item in block.transactions if block else ():
            txid = item.transaction.txid
            record = self.chain.transaction(txid, self.view)
            if record is not None and record.info is not None:
                infos.append(render_transaction_info(txid, record.info, visible))
        return json_response(infos)

    async def get_sign_weight(self, request: web.Request) -> web.Response:
        """GetTransactionSignWeightServlet: txid, permission in force and signing weight."""
        params = await read_post_params(request)
        tx = pack_transaction(params.values, params.visible)
        weight = sign_weight(tx, self.chain.state(View.HEAD))
        return json_response(
            render_sign_weight(
                tx, params.visible, permission=weight.permission, approved=weight.approved,
                weight=weight.weight, code=weight.code, message=weight.message,
            )
        )  # fmt: skip

    async def get_approved_list(self, request: web.Request) -> web.Response:
        """GetTransactionApprovedListServlet: the addresses the signatures recover to."""
        params = await read_post_params(request)
        tx = pack_transaction(params.values, params.visible)
        found = approved_list(tx, self.chain.state(View.HEAD))
        return json_response(
            render_approved_list(
                tx, params.visible, approved=found.approved, code=found.code, message=found.message
            )
        )

    async def broadcast_transaction(self, request: web.Request) -> web.Response:
        """BroadcastServlet: {"result": true, "txid"} or {"code", "txid", "message"}."""
        return await BROADCAST_JSON.handle(self.chain, request)

    async def broadcast_hex(self, request: web.Request) -> web.Response:
        """BroadcastHexServlet: {"result", "code", "txid", "message", "transaction"}."""
        return await BROADCAST_HEX.handle(self.chain, request)

    async def create_transaction(self, request: web.Request) -> web.Response:
        """TransferServlet (/wallet/createtransaction): an unsigned TRX transfer on the head."""
        params = await read_post_params(request)
        contract = self._transfer_contract(params.values, params.visible)
        head = self.chain.head_block
        raw = RawData(
            contracts=(contract,),
            ref_block_bytes=head.number.to_bytes(8, "big")[6:8],
            ref_block_hash=head.block_id[8:16],
            expiration_ms=head.timestamp_ms + DEFAULT_EXPIRATION_MS,
            timestamp_ms=self.clock_ms(),
            data=_extra_data(params.values.get("extra_data"), params.visible),
        )
        rendered = render_transaction(make_transaction(raw), params.visible)
        rendered["visible"] = params.visible
        return json_response(rendered)

    def _transfer_contract(self, values: dict[str, Any], visible: bool) -> Contract:
        kind = CONTRACT_TYPES["TransferContract"]
        try:
            value = parse_message(kind.spec, values, visible)
        except MessageParseError as exc:
            raise _NPE if visible else JavaError(_PARSE_EXCEPTION, str(exc)) from None
        permission_id = values.get("Permission_id", 0)
        contract = Contract(
            type_name=kind.name,
            type_url=kind.type_url,
            value=value,
            value_bytes=encode_message(kind.spec, value),
            # Util.setTransactionPermissionId applies only ids > 0.
            permission_id=permission_id
            if isinstance(permission_id, int) and permission_id > 0
            else 0,
        )
        try:
            TransferActuator().validate(contract, self.chain.context(), self.chain.state())
        except ContractValidateError as exc:
            raise JavaError(_CONTRACT_VALIDATE_EXCEPTION, exc.detail) from None
        return contract


def _extra_data(text: Any, visible: bool) -> bytes:
    """Util.setTransactionExtraData: the memo as text when visible, else hex."""
    if not isinstance(text, str) or not text:
        return b""
    if visible:
        return text.encode()
    return parse_hex_bytes(text, JavaError(_DECODER_EXCEPTION, "exception decoding Hex string"))
