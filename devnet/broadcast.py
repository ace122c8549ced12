"""The two broadcast endpoints: how each reads its transaction and words its answer.

- `/wallet/broadcasttransaction` (BroadcastServlet) takes the transaction's
  JSON (Util.packTransaction) and answers JsonFormat's Return — `result:
  true`, or `code` and a `message` that is hex unless `visible` — plus `txid`.
- `/wallet/broadcasthex` (BroadcastHexServlet) takes `{"transaction": hex}`,
  a serialised Transaction, and always answers `result`, `code` (SUCCESS when
  accepted), `txid`, `message` as plain text and `transaction`, a JSON string.

Both go through the same Chain.broadcast, so validation, the pool and the
refusal codes are one. The fault middleware reads and answers through the same
`BroadcastEndpoint`s, so a dropped broadcast or a lost answer looks alike on both.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from aiohttp import web

from devnet.chain import Chain
from devnet.errors import TransactionRejected
from devnet.http import JavaError, json_response, parse_hex_bytes, read_post_params
from devnet.render_results import render_broadcast, render_broadcast_hex
from devnet.transaction_bytes import WireFormatError, decode_transaction
from devnet.transactions import Transaction, TransactionParseError, parse_transaction

__all__ = [
    "BROADCAST_ENDPOINTS",
    "BROADCAST_HEX",
    "BROADCAST_JSON",
    "BroadcastEndpoint",
    "pack_transaction",
]

_NPE = JavaError("java.lang.NullPointerException", "null")
_JSON_EXCEPTION = "com.alibaba.fastjson.JSONException"
# Hex.decode wraps HexEncoder's IOException (bouncycastle 1.69).
_BAD_HEX = JavaError(
    "org.bouncycastle.util.encoders.DecoderException",
    "exception decoding Hex string: invalid characters encountered in Hex string",
)

Reader = Callable[[web.Request], Awaitable[tuple[Transaction, bool]]]
Replier = Callable[[Transaction, TransactionRejected | None, bool], dict[str, Any]]


def pack_transaction(values: dict[str, Any], visible: bool) -> Transaction:
    """Util.packTransaction; a body it cannot pack fails with a NullPointerException there."""
    try:
        return parse_transaction(values, visible)
    except TransactionParseError:
        raise _NPE from None


async def _read_json(request: web.Request) -> tuple[Transaction, bool]:
    params = await read_post_params(request)
    return pack_transaction(params.values, params.visible), params.visible


def _java_string(value: Any) -> str | None:
    """fastjson JSONObject.getString: null stays null, anything else becomes its text."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


async def _read_hex(request: web.Request) -> tuple[Transaction, bool]:
    """The body as BroadcastHexServlet reads it: fastjson's parseObject, never PostParams."""
    text = await request.text()
    try:
        body = json.loads(text) if text.strip() else None
    except ValueError as exc:
        raise JavaError(_JSON_EXCEPTION, str(exc)) from None
    if body is None:
        raise _NPE  # parseObject("") is null, then .getString(...) throws
    if not isinstance(body, dict):
        raise JavaError(_JSON_EXCEPTION, "can not cast to JSONObject.")
    data = parse_hex_bytes(_java_string(body.get("transaction")), _BAD_HEX)
    try:
        return decode_transaction(data), False
    except WireFormatError as exc:
        raise JavaError(exc.java_class, exc.message) from None


@dataclass(frozen=True, slots=True)
class BroadcastEndpoint:
    """One broadcast servlet: its reader (raises JavaError) and its answer."""

    read: Reader
    reply: Replier

    async def handle(self, chain: Chain, request: web.Request) -> web.Response:
        """Read, broadcast on the head, answer: the whole servlet."""
        tx, visible = await self.read(request)
        try:
            chain.broadcast(tx)
        except TransactionRejected as exc:
            return json_response(self.reply(tx, exc, visible))
        return json_response(self.reply(tx, None, visible))


BROADCAST_JSON = BroadcastEndpoint(
    read=_read_json,
    reply=lambda tx, error, visible: render_broadcast(tx.txid, error, visible),
)
BROADCAST_HEX = BroadcastEndpoint(
    read=_read_hex,
    reply=lambda tx, error, visible: render_broadcast_hex(tx, error),
)
BROADCAST_ENDPOINTS: Mapping[str, BroadcastEndpoint] = MappingProxyType({
    "/wallet/broadcasttransaction": BROADCAST_JSON,
    "/wallet/broadcasthex": BROADCAST_HEX,
})  # fmt: skip
