"""aiohttp routes speaking java-tron's HTTP API: `/wallet/*` (head) and `/walletsolidity/*`.

Request handling copies java-tron's servlets, quirks included, because clients
are written against them:
- GET reads query parameters; POST reads a JSON body (PostParams). Both are
  accepted wherever the servlet implements both.
- `visible` comes from the body for POST servlets that parse PostParams, but
  getnowblock reads it from the query string only, even on POST, so tronpy's
  `{"visible": true}` body still gets hex addresses there.
- Failures are HTTP 200 with `{"Error": "class <java exception> : <message>"}`
  (Util.processError); a missing block is `{}`; an unknown path is a 404.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from devnet.chain import Block, Chain, View
from devnet.render import (
    NodeSettings,
    render_block,
    render_chain_parameters,
    render_node_info,
)

__all__ = ["JavaError", "WalletApi", "create_app"]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_LONG_PATTERN = re.compile(r"[+-]?\d+")

_JSON_EXCEPTION = "com.alibaba.fastjson.JSONException"
_PARSE_EXCEPTION = "org.tron.core.services.http.JsonFormat$ParseException"
_NUMBER_FORMAT_EXCEPTION = "java.lang.NumberFormatException"
_DECODER_EXCEPTION = "org.bouncycastle.util.encoders.DecoderException"

Handler = Callable[[web.Request], Awaitable[web.Response]]


class JavaError(Exception):
    """A request java-tron would answer with {"Error": "class <java_class> : <message>"}."""

    def __init__(self, java_class: str, message: str) -> None:
        super().__init__(message)
        self.java_class = java_class
        self.message = message


def json_response(payload: dict[str, Any]) -> web.Response:
    """Answer as RateLimiterServlet does: JSON, UTF-8, one trailing newline (println)."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False) + "\n"
    return web.Response(text=body, content_type="application/json", charset="utf-8")


def _java_boolean(value: Any) -> bool:
    """Java's Boolean.parseBoolean(String.valueOf(value)): only "true", any case."""
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.lower() == "true"


def query_visible(request: web.Request) -> bool:
    """Util.getVisible: the `visible` query parameter (never the body)."""
    return _java_boolean(request.query.get("visible", "").strip())


@dataclass(frozen=True, slots=True)
class PostParams:
    """The parsed JSON body of a POST and its `visible` flag."""

    values: dict[str, Any]
    visible: bool


async def read_post_params(request: web.Request) -> PostParams:
    """Parse a POST body like PostParams.getPostParams (form bodies become JSON objects)."""
    text = await request.text()
    if request.content_type == "application/x-www-form-urlencoded":
        values: Any = dict(parse_qsl(text, keep_blank_values=True))
    elif not text.strip():
        values = {}
    else:
        try:
            values = json.loads(text)
        except ValueError as exc:
            raise JavaError(_JSON_EXCEPTION, str(exc)) from None
    if not isinstance(values, dict):
        raise JavaError(_JSON_EXCEPTION, "not a JSON object")
    return PostParams(values=values, visible=_java_boolean(values.get("visible")))


def parse_query_long(text: str | None) -> int:
    """Long.parseLong for a query parameter; a missing parameter means 0 as in the servlets."""
    if text is None:
        return 0
    if not _LONG_PATTERN.fullmatch(text) or not _INT64_MIN <= int(text) <= _INT64_MAX:
        raise JavaError(_NUMBER_FORMAT_EXCEPTION, f'For input string: "{text}"')
    return int(text)


def parse_json_long(value: Any) -> int:
    """An int64 field of a JSON body, as JsonFormat.merge accepts it; absent means 0."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise JavaError(_PARSE_EXCEPTION, f'Couldn\'t parse integer: For input string: "{value}"')
    try:
        return parse_query_long(str(value))
    except JavaError as exc:
        raise JavaError(_PARSE_EXCEPTION, f"Couldn't parse integer: {exc.message}") from None


def parse_hex_bytes(text: Any, on_error: JavaError) -> bytes:
    """ByteArray.fromHexString: optional 0x, odd length padded with a leading 0."""
    if text is None:
        return b""
    text = str(text).removeprefix("0x")
    if len(text) % 2:
        text = "0" + text
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise on_error from None


def _block_or_empty(block: Block | None, visible: bool) -> web.Response:
    return json_response(render_block(block, visible) if block else {})


class WalletApi:
    """The read endpoints of one view (head or solidified) over a chain."""

    def __init__(self, chain: Chain, view: View, node_settings: NodeSettings) -> None:
        self.chain = chain
        self.view = view
        self.node_settings = node_settings

    async def get_now_block(self, request: web.Request) -> web.Response:
        """GetNowBlockServlet: the newest block of this view; visible from the query only."""
        return _block_or_empty(self.chain.head(self.view), query_visible(request))

    async def get_block_by_num(self, request: web.Request) -> web.Response:
        """GetBlockByNumServlet: `num` from the query (GET) or JSON body (POST)."""
        if request.method == "GET":
            number, visible = parse_query_long(request.query.get("num")), query_visible(request)
        else:
            params = await read_post_params(request)
            number, visible = parse_json_long(params.values.get("num")), params.visible
        return _block_or_empty(self.chain.block_by_number(number, self.view), visible)

    async def get_block_by_id(self, request: web.Request) -> web.Response:
        """GetBlockByIdServlet: `value` is the 32-byte block id in hex."""
        if request.method == "GET":
            value = request.query.get("value")
            error = JavaError(_DECODER_EXCEPTION, f"exception decoding Hex string: {value}")
            block_id, visible = parse_hex_bytes(value, error), query_visible(request)
        else:
            params = await read_post_params(request)
            error = JavaError(_PARSE_EXCEPTION, "invalidate hex String")
            block_id = parse_hex_bytes(params.values.get("value"), error)
            visible = params.visible
        return _block_or_empty(self.chain.block_by_id(block_id, self.view), visible)

    async def get_node_info(self, request: web.Request) -> web.Response:
        """GetNodeInfoServlet: the same answer on both views, as java-tron gives."""
        return json_response(render_node_info(self.chain, self.node_settings))

    async def get_chain_parameters(self, request: web.Request) -> web.Response:
        """GetChainParametersServlet: every proposal-controlled parameter, in java-tron order."""
        return json_response(render_chain_parameters(self.chain.genesis.chain_parameters))


def _java_errors(handler: Handler) -> Handler:
    async def wrapped(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except JavaError as exc:
            return json_response({"Error": f"class {exc.java_class} : {exc.message}"})

    return wrapped


def _add_get_and_post(app: web.Application, path: str, handler: Handler) -> None:
    wrapped = _java_errors(handler)
    app.router.add_get(path, wrapped, allow_head=False)
    app.router.add_post(path, wrapped)


def create_app(chain: Chain, node_settings: NodeSettings | None = None) -> web.Application:
    """Build the aiohttp application serving both views of chain."""
    node_settings = node_settings or NodeSettings()
    app = web.Application()
    for prefix, view in (("/wallet", View.HEAD), ("/walletsolidity", View.SOLID)):
        api = WalletApi(chain, view, node_settings)
        _add_get_and_post(app, f"{prefix}/getnowblock", api.get_now_block)
        _add_get_and_post(app, f"{prefix}/getblockbynum", api.get_block_by_num)
        _add_get_and_post(app, f"{prefix}/getblockbyid", api.get_block_by_id)
        _add_get_and_post(app, f"{prefix}/getnodeinfo", api.get_node_info)
    head_api = WalletApi(chain, View.HEAD, node_settings)
    _add_get_and_post(app, "/wallet/getchainparameters", head_api.get_chain_parameters)
    return app
