"""Blocks in bulk on both views: getblockbylimitnext, getblockbylatestnum and the tx count.

As GetBlockByLimitNextServlet and GetBlockByLatestNumServlet answer them:
- GET reads `startNum`/`endNum` (or `num`) with Long.parseLong, so a missing
  one fails as `NumberFormatException: null`; POST merges a BlockLimit (or
  NumberMessage) body, where a missing field is 0;
- getblockbylimitnext gives the blocks numbered startNum .. endNum-1 that this
  view has, when 0 < endNum, startNum < endNum and endNum - startNum <= 100 (in
  Java's long arithmetic); getblockbylatestnum gives the newest `num` blocks,
  genesis included, when 0 < num < 100. Both are in ascending order;
- a request outside those bounds answers `{}`; one inside them that finds no
  block answers `{"block":[]}` (Util.printBlockList puts the array in always);
- gettransactioncountbyblocknum prints `{"count": n}` by hand (note the
  space), 0 for a block this view does not have; its `num` is read as above.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from devnet.chain import Block, Chain, View
from devnet.http import JavaError, json_response, parse_query_long, query_visible, read_post_params
from devnet.messages import FieldSpec, Kind, MessageParseError, MessageSpec, parse_message
from devnet.render import render_block

__all__ = ["BlockListApi", "block_list_routes"]

Handler = Callable[[web.Request], Awaitable[web.Response]]

BLOCK_LIMIT_NUM = 100  # both servlets' BLOCK_LIMIT_NUM
_PARSE_EXCEPTION = "org.tron.core.services.http.JsonFormat$ParseException"
_NULL_NUMBER = JavaError("java.lang.NumberFormatException", "null")  # Long.parseLong(null)

_BLOCK_LIMIT = MessageSpec(
    "protocol.BlockLimit",
    (FieldSpec("startNum", 1, Kind.INT64), FieldSpec("endNum", 2, Kind.INT64)),
)
_NUMBER_MESSAGE = MessageSpec("protocol.NumberMessage", (FieldSpec("num", 1, Kind.INT64),))


def _java_long_difference(a: int, b: int) -> int:
    """a - b with Java's long overflow (wraps around)."""
    return (a - b + 2**63) % 2**64 - 2**63


def _query_long(request: web.Request, name: str) -> int:
    text = request.query.get(name)
    if text is None:
        raise _NULL_NUMBER
    return parse_query_long(text)


async def _post_longs(request: web.Request, spec: MessageSpec) -> tuple[dict[str, Any], bool]:
    params = await read_post_params(request)
    try:
        return parse_message(spec, params.values, params.visible), params.visible
    except MessageParseError as exc:
        raise JavaError(_PARSE_EXCEPTION, str(exc)) from None


def _block_list(blocks: list[Block], visible: bool) -> web.Response:
    return json_response({"block": [render_block(block, visible) for block in blocks]})


class BlockListApi:
    """The block-list servlets of one view (head or solidified)."""

    def __init__(self, chain: Chain, view: View) -> None:
        self.chain = chain
        self.view = view

    async def get_block_by_limit_next(self, request: web.Request) -> web.Response:
        """GetBlockByLimitNextServlet: blocks [startNum, endNum), at most 100 of them."""
        if request.method == "GET":
            start, end = _query_long(request, "startNum"), _query_long(request, "endNum")
            visible = query_visible(request)
        else:
            values, visible = await _post_longs(request, _BLOCK_LIMIT)
            start, end = values.get("startNum", 0), values.get("endNum", 0)
        limit = _java_long_difference(end, start)
        if not (end > 0 and end > start and 0 < limit <= BLOCK_LIMIT_NUM):
            # limit <= 0 only after an overflow: Wallet.getBlocksByLimitNext returns null.
            return json_response({})
        head = self.chain.head(self.view).number
        # BlockStore.getLimitNumber seeks the key BlockId(start): a negative start is a key
        # past every block's, so it finds none.
        numbers = range(start, min(start + limit, head + 1)) if start >= 0 else range(0)
        return _block_list([self._block(n) for n in numbers], visible)

    async def get_block_by_latest_num(self, request: web.Request) -> web.Response:
        """GetBlockByLatestNumServlet: the newest `num` blocks of this view, 0 < num < 100."""
        if request.method == "GET":
            count, visible = _query_long(request, "num"), query_visible(request)
        else:
            values, visible = await _post_longs(request, _NUMBER_MESSAGE)
            count = values.get("num", 0)
        if not 0 < count < BLOCK_LIMIT_NUM:
            return json_response({})
        head = self.chain.head(self.view).number
        numbers = range(max(0, head - count + 1), head + 1)
        return _block_list([self._block(n) for n in numbers], visible)

    async def get_transaction_count_by_block_num(self, request: web.Request) -> web.Response:
        """GetTransactionCountByBlockNumServlet: how many transactions block `num` holds."""
        if request.method == "GET":
            number = _query_long(request, "num")
        else:
            values, _ = await _post_longs(request, _NUMBER_MESSAGE)
            number = values.get("num", 0)
        block = self.chain.block_by_number(number, self.view)
        count = len(block.transactions) if block else 0
        return web.Response(
            text=f'{{"count": {count}}}\n', content_type="application/json", charset="utf-8"
        )

    def _block(self, number: int) -> Block:
        block = self.chain.block_by_number(number, self.view)
        assert block is not None  # numbers come from 0 .. this view's head
        return block


def block_list_routes(chain: Chain, view: View) -> list[tuple[str, Handler]]:
    """(path under /wallet or /walletsolidity, handler) of these servlets; GET and POST."""
    api = BlockListApi(chain, view)
    return [
        ("/getblockbylimitnext", api.get_block_by_limit_next),
        ("/getblockbylatestnum", api.get_block_by_latest_num),
        ("/gettransactioncountbyblocknum", api.get_transaction_count_by_block_num),
    ]
