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
  getblock alone words the refusals of Wallet.getBlock without the class:
  `{"Error": "id must be legal block hash."}`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import replace

from aiohttp import web

from devnet.api_accounts import AccountApi
from devnet.api_blocks import block_list_routes
from devnet.api_contracts import contract_routes
from devnet.api_staking import staking_routes
from devnet.api_transactions import TransactionApi
from devnet.chain import Block, Chain, View
from devnet.encoding import block_number_from_id
from devnet.http import (
    JavaError,
    json_response,
    parse_hex_bytes,
    parse_json_long,
    parse_query_long,
    query_flag,
    query_visible,
    read_post_params,
)
from devnet.messages import FieldSpec, Kind, MessageParseError, MessageSpec, parse_message
from devnet.render import (
    NodeSettings,
    render_block,
    render_chain_parameters,
    render_node_info,
)

__all__ = ["JavaError", "WalletApi", "create_app"]

_PARSE_EXCEPTION = "org.tron.core.services.http.JsonFormat$ParseException"
_DECODER_EXCEPTION = "org.bouncycastle.util.encoders.DecoderException"

Handler = Callable[[web.Request], Awaitable[web.Response]]

# GrpcAPI.BlockReq, the body of getblock.
_BLOCK_REQ = MessageSpec(
    "protocol.BlockReq",
    (FieldSpec("id_or_num", 1, Kind.STRING), FieldSpec("detail", 2, Kind.BOOL)),
)


class _IllegalArgument(Exception):
    """Wallet.getBlock's IllegalArgumentException: GetBlockServlet prints only its message."""


def _block_or_empty(block: Block | None, visible: bool) -> web.Response:
    return json_response(render_block(block, visible) if block else {})


def _java_long(text: str) -> int | None:
    """WalletUtil.isLong: Long.parseLong, or None when it throws."""
    try:
        return parse_query_long(text)
    except JavaError:
        return None


async def _block_request(request: web.Request) -> tuple[str, bool, bool]:
    """getblock's `id_or_num`, `detail` and visible, from the query (GET) or body (POST)."""
    if request.method == "GET":
        return (request.query.get("id_or_num", ""), query_flag(request, "detail"),
                query_visible(request))  # fmt: skip
    params = await read_post_params(request)
    try:
        values = parse_message(_BLOCK_REQ, params.values, params.visible)
    except MessageParseError as exc:
        raise JavaError(_PARSE_EXCEPTION, str(exc)) from None
    return values.get("id_or_num", ""), values.get("detail", False), params.visible


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

    async def get_block(self, request: web.Request) -> web.Response:
        """GetBlockServlet: a block by number or id (the newest without); `detail` keeps its txs."""
        id_or_num, detail, visible = await _block_request(request)
        try:
            block = self._find_block(id_or_num)
        except _IllegalArgument as exc:
            return json_response({"Error": str(exc)})
        if block is not None and not detail:
            block = replace(block, transactions=())  # clearTransactions: header and blockID only
        return _block_or_empty(block, visible)

    def _find_block(self, id_or_num: str) -> Block | None:
        """Wallet.getBlock, with this view's newest block as the head it checks against."""
        head = self.chain.head(self.view)
        if not id_or_num:
            return head
        number = _java_long(id_or_num)
        if number is not None:
            if number > head.number:
                return None
            if number < 0:
                raise _IllegalArgument("num must be non-positive number.")  # sic
            return self.chain.block_by_number(number, self.view)
        illegal = _IllegalArgument("id must be legal block hash.")
        if len(id_or_num) != 64:
            raise illegal
        try:
            block_id = bytes.fromhex(id_or_num.removeprefix("0x"))  # ByteArray.fromHexString
        except ValueError:
            raise illegal from None
        # BlockId.getNum reads the first 8 bytes as a signed long: an id starting with a byte
        # >= 0x80 is a negative number there and past the head here, illegal either way.
        if len(block_id) != 32 or block_number_from_id(block_id) > head.number:
            raise illegal
        return self.chain.block_by_id(block_id, self.view)

    async def get_node_info(self, request: web.Request) -> web.Response:
        """GetNodeInfoServlet: the same answer on both views, as java-tron gives."""
        return json_response(render_node_info(self.chain, self.node_settings))

    async def get_chain_parameters(self, request: web.Request) -> web.Response:
        """GetChainParametersServlet: every proposal-controlled parameter, in java-tron order."""
        return json_response(render_chain_parameters(self.chain.genesis.chain_parameters))

    async def get_bandwidth_prices(self, request: web.Request) -> web.Response:
        """GetBandwidthPricesServlet: the getTransactionFee history, "<since ms>:<sun>,..."."""
        return json_response({"prices": self._price_history("getTransactionFee")})

    async def get_energy_prices(self, request: web.Request) -> web.Response:
        """GetEnergyPricesServlet: the getEnergyFee history, "<since ms>:<sun>,..."."""
        return json_response({"prices": self._price_history("getEnergyFee")})

    async def list_nodes(self, request: web.Request) -> web.Response:
        """ListNodesServlet: the peers it can connect to; devnet has none, so an empty NodeList."""
        return json_response({})

    async def list_proposals(self, request: web.Request) -> web.Response:
        """ListProposalsServlet: devnet's parameters come from genesis, so no proposal exists."""
        return json_response({})

    def _price_history(self, parameter: str) -> str:
        """java-tron appends "<ms>:<price>" per passed proposal; devnet's price holds since 0."""
        return f"0:{self.chain.genesis.chain_parameters[parameter]}"


def _java_errors(handler: Handler) -> Handler:
    async def wrapped(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except JavaError as exc:
            return json_response({"Error": f"class {exc.java_class} : {exc.message}"})

    return wrapped


def _add_post(app: web.Application, path: str, handler: Handler) -> None:
    app.router.add_post(path, _java_errors(handler))


def _add_get_and_post(app: web.Application, path: str, handler: Handler) -> None:
    wrapped = _java_errors(handler)
    app.router.add_get(path, wrapped, allow_head=False)
    app.router.add_post(path, wrapped)


def create_app(
    chain: Chain,
    node_settings: NodeSettings | None = None,
    clock_ms: Callable[[], int] | None = None,
) -> web.Application:
    """Build the aiohttp application serving both views of chain."""
    node_settings = node_settings or NodeSettings()
    clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
    app = web.Application()
    for prefix, view in (("/wallet", View.HEAD), ("/walletsolidity", View.SOLID)):
        api = WalletApi(chain, view, node_settings)
        accounts, transactions = AccountApi(chain, view), TransactionApi(chain, view, clock_ms)
        _add_get_and_post(app, f"{prefix}/getnowblock", api.get_now_block)
        _add_get_and_post(app, f"{prefix}/getblockbynum", api.get_block_by_num)
        _add_get_and_post(app, f"{prefix}/getblockbyid", api.get_block_by_id)
        _add_get_and_post(app, f"{prefix}/getblock", api.get_block)
        _add_get_and_post(app, f"{prefix}/getnodeinfo", api.get_node_info)
        _add_get_and_post(app, f"{prefix}/getbandwidthprices", api.get_bandwidth_prices)
        _add_get_and_post(app, f"{prefix}/getenergyprices", api.get_energy_prices)
        _add_get_and_post(app, f"{prefix}/getaccount", accounts.get_account)
        _add_get_and_post(app, f"{prefix}/gettransactionbyid", transactions.get_transaction_by_id)
        _add_get_and_post(
            app, f"{prefix}/gettransactioninfobyid", transactions.get_transaction_info_by_id
        )
        _add_get_and_post(
            app,
            f"{prefix}/gettransactioninfobyblocknum",
            transactions.get_transaction_info_by_block_num,
        )
        for path, handler in (*block_list_routes(chain, view), *staking_routes(chain, view)):
            _add_get_and_post(app, f"{prefix}{path}", handler)
        for path, handler, with_get in contract_routes(chain, view, clock_ms):
            (_add_get_and_post if with_get else _add_post)(app, f"{prefix}{path}", handler)
    head_api = WalletApi(chain, View.HEAD, node_settings)
    accounts, transactions = (
        AccountApi(chain, View.HEAD),
        TransactionApi(chain, View.HEAD, clock_ms),
    )
    _add_get_and_post(app, "/wallet/getchainparameters", head_api.get_chain_parameters)
    _add_get_and_post(app, "/wallet/getaccountnet", accounts.get_account_net)
    _add_get_and_post(app, "/wallet/getaccountresource", accounts.get_account_resource)
    _add_get_and_post(app, "/wallet/validateaddress", accounts.validate_address)
    _add_post(app, "/wallet/createtransaction", transactions.create_transaction)
    _add_post(app, "/wallet/getsignweight", transactions.get_sign_weight)
    _add_post(app, "/wallet/getapprovedlist", transactions.get_approved_list)
    _add_get_and_post(app, "/wallet/listnodes", head_api.list_nodes)
    _add_get_and_post(app, "/wallet/listproposals", head_api.list_proposals)
    _add_post(app, "/wallet/broadcasttransaction", transactions.broadcast_transaction)
    _add_post(app, "/wallet/broadcasthex", transactions.broadcast_hex)
    return app
