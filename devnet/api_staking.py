"""Stake 2.0 and governance reads on both views, as java-tron's servlets answer them.

getdelegatedresourcev2, getdelegatedresourceaccountindexv2, getcandelegatedmaxsize,
getavailableunfreezecount, getcanwithdrawunfreezeamount, listwitnesses and
getReward (note the capital R, as java-tron maps it). GET reads the query
(`visible` from the query; base58 that cannot be decoded becomes an empty
address, as Util.getHexAddress makes it); POST parses the body's request
message. listwitnesses reads `visible` from the query even on POST, so
tronpy's `{"visible": true}` still gets hex addresses.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from devnet.chain import Chain, View
from devnet.delegation import can_delegated_max_size, delegated_records
from devnet.governance import query_reward, witness_vote_count
from devnet.http import JavaError, json_response, parse_hex_bytes, query_visible, read_post_params
from devnet.keys import base58check_decode
from devnet.messages import FieldSpec, Kind, MessageParseError, MessageSpec, parse_message
from devnet.render_staking import (
    WitnessRow,
    render_delegated_resources,
    render_delegation_index,
    render_witnesses,
)
from devnet.staking import UNFREEZE_MAX_TIMES, unfreezing_count, withdrawable_sun

__all__ = ["StakingApi", "staking_routes"]

_NPE = "java.lang.NullPointerException"
_PARSE_EXCEPTION = "org.tron.core.services.http.JsonFormat$ParseException"
_DECODER_EXCEPTION = "org.bouncycastle.util.encoders.DecoderException"


def _spec(name: str, *fields: FieldSpec) -> MessageSpec:
    return MessageSpec(f"protocol.{name}", fields)


_DELEGATED_RESOURCE_REQUEST = _spec(
    "DelegatedResourceMessage",
    FieldSpec("fromAddress", 1, Kind.BYTES, address=True),
    FieldSpec("toAddress", 2, Kind.BYTES, address=True),
)
_MAX_SIZE_REQUEST = _spec(
    "CanDelegatedMaxSizeRequestMessage",
    FieldSpec("type", 1, Kind.INT32),
    FieldSpec("owner_address", 2, Kind.BYTES, address=True),
)
_UNFREEZE_COUNT_REQUEST = _spec(
    "GetAvailableUnfreezeCountRequestMessage",
    FieldSpec("owner_address", 1, Kind.BYTES, address=True),
)
_WITHDRAW_AMOUNT_REQUEST = _spec(
    "CanWithdrawUnfreezeAmountRequestMessage",
    FieldSpec("owner_address", 1, Kind.BYTES, address=True),
    FieldSpec("timestamp", 2, Kind.INT64),
)
_BYTES_MESSAGE = _spec("BytesMessage", FieldSpec("value", 1, Kind.BYTES))


def _query_address(request: web.Request, *names: str) -> bytes:
    """An address query parameter: base58 when visible (undecodable: empty), else hex."""
    text = next((request.query[n] for n in names if n in request.query), None)
    if text is None:
        return b""
    if query_visible(request):
        try:
            return base58check_decode(text)
        except ValueError:
            return b""
    return parse_hex_bytes(
        text, JavaError(_DECODER_EXCEPTION, f"exception decoding Hex string: {text}")
    )


def _query_long(request: web.Request, name: str) -> int:
    text = request.query.get(name)
    if text is None:
        return 0
    try:
        return int(text)
    except ValueError:
        raise JavaError("java.lang.NumberFormatException", f'For input string: "{text}"') from None


async def _post_message(request: web.Request, spec: MessageSpec) -> tuple[dict[str, Any], bool]:
    params = await read_post_params(request)
    try:
        return parse_message(spec, params.values, params.visible), params.visible
    except MessageParseError as exc:
        # An undecodable base58 address becomes ByteString.copyFrom(null): an NPE.
        if params.visible:
            raise JavaError(_NPE, "null") from None
        raise JavaError(_PARSE_EXCEPTION, str(exc)) from None


def _bytes(values: dict[str, Any], name: str) -> bytes:
    value = values.get(name, b"")
    assert isinstance(value, bytes)
    return value


class _WitnessTally:
    """Blocks produced per witness and each one's latest block, scanned once per new block."""

    def __init__(self) -> None:
        self.scanned = 0
        self.produced: dict[bytes, int] = {}
        self.latest: dict[bytes, tuple[int, int]] = {}  # number, absolute slot

    def update(self, chain: Chain, view: View) -> None:
        genesis_ms = chain.genesis.timestamp_ms
        for number in range(self.scanned + 1, chain.head(view).number + 1):
            block = chain.block_by_number(number, view)
            assert block is not None
            witness = block.header.witness_address
            self.produced[witness] = self.produced.get(witness, 0) + 1
            slot = (block.timestamp_ms - genesis_ms) // chain.block_interval_ms
            self.latest[witness] = (number, slot)
            self.scanned = number


class StakingApi:
    """Stake 2.0 and governance reads of one view (head or solidified)."""

    def __init__(self, chain: Chain, view: View) -> None:
        self.chain = chain
        self.view = view
        self._tally = _WitnessTally()

    async def get_delegated_resource_v2(self, request: web.Request) -> web.Response:
        """GetDelegatedResourceV2Servlet: the unlocked and locked records of from -> to."""
        if request.method == "GET":
            source = _query_address(request, "fromAddress")
            target, visible = _query_address(request, "toAddress"), query_visible(request)
        else:
            values, visible = await _post_message(request, _DELEGATED_RESOURCE_REQUEST)
            source, target = _bytes(values, "fromAddress"), _bytes(values, "toAddress")
        owner = self.chain.account(source, self.view) if source else None
        records = delegated_records(owner, target) if owner else []
        return json_response(render_delegated_resources(source, records, visible))

    async def get_delegated_resource_account_index_v2(self, request: web.Request) -> web.Response:
        """GetDelegatedResourceAccountIndexV2Servlet: who delegates to and from `value`."""
        if request.method == "GET":
            address, visible = _query_address(request, "value"), query_visible(request)
        else:
            params = await read_post_params(request)
            values, visible = dict(params.values), params.visible
            if visible:
                text = values.get("value")
                try:
                    address = base58check_decode(text) if isinstance(text, str) else b""
                except ValueError:
                    address = b""
                values["value"] = address.hex()
            try:
                address = _bytes(parse_message(_BYTES_MESSAGE, values, False), "value")
            except MessageParseError as exc:
                raise JavaError(_PARSE_EXCEPTION, str(exc)) from None
        if len(address) != 21:
            return json_response({})
        account = self.chain.account(address, self.view)
        return json_response(render_delegation_index(address, account, visible))

    async def get_can_delegated_max_size(self, request: web.Request) -> web.Response:
        """GetCanDelegatedMaxSizeServlet: `type` 0 bandwidth, 1 energy; 0 below 1 TRX."""
        if request.method == "GET":
            owner, resource = _query_address(request, "owner_address"), _query_long(request, "type")
        else:
            values, _ = await _post_message(request, _MAX_SIZE_REQUEST)
            owner, resource = _bytes(values, "owner_address"), int(values.get("type", 0))
        account = self.chain.account(owner, self.view) if owner else None
        size = 0
        if account is not None:
            ctx, state = self.chain.context(self.view), self.chain.state(self.view)
            size = can_delegated_max_size(account, resource, ctx, state)
        return json_response({"max_size": size} if size else {})

    async def get_available_unfreeze_count(self, request: web.Request) -> web.Response:
        """GetAvailableUnfreezeCountServlet: how many more unfreezes may wait at once."""
        if request.method == "GET":
            owner = _query_address(request, "ownerAddress", "owner_address")
        else:
            values, _ = await _post_message(request, _UNFREEZE_COUNT_REQUEST)
            owner = _bytes(values, "owner_address")
        account = self.chain.account(owner, self.view) if owner else None
        if account is None:
            return json_response({})
        now = self.chain.head(self.view).timestamp_ms
        count = UNFREEZE_MAX_TIMES - unfreezing_count(account, now)
        return json_response({"count": count} if count else {})

    async def get_can_withdraw_unfreeze_amount(self, request: web.Request) -> web.Response:
        """GetCanWithdrawUnfreezeAmountServlet: unfrozen TRX withdrawable at `timestamp`."""
        if request.method == "GET":
            owner = _query_address(request, "owner_address")
            timestamp = _query_long(request, "timestamp")
        else:
            values, _ = await _post_message(request, _WITHDRAW_AMOUNT_REQUEST)
            owner, timestamp = _bytes(values, "owner_address"), int(values.get("timestamp", 0))
        account = self.chain.account(owner, self.view) if owner else None
        if timestamp < 0 or account is None:
            return json_response({})
        amount = withdrawable_sun(account, timestamp or self.chain.head(self.view).timestamp_ms)
        return json_response({"amount": amount} if amount else {})

    async def list_witnesses(self, request: web.Request) -> web.Response:
        """ListWitnessesServlet: every witness, in address order; visible from the query."""
        self._tally.update(self.chain, self.view)
        state = self.chain.state(self.view)
        rows: list[WitnessRow] = []
        for witness in sorted(self.chain.genesis.witnesses, key=lambda w: w.address):
            latest_number, latest_slot = self._tally.latest.get(witness.address, (0, 0))
            rows.append(
                {
                    "address": witness.address,
                    "voteCount": witness_vote_count(witness.address, state),
                    "url": witness.url,
                    "totalProduced": self._tally.produced.get(witness.address, 0),
                    "latestBlockNum": latest_number,
                    "latestSlotNum": latest_slot,
                    "isJobs": True,
                }
            )
        return json_response(render_witnesses(rows, query_visible(request)))

    async def get_reward(self, request: web.Request) -> web.Response:
        """GetRewardServlet: allowance plus unsettled vote reward, as `{"reward": n}`."""
        if request.method == "GET":
            text = request.query.get("address")
        else:
            text = (await read_post_params(request)).values.get("address")
        address = b""
        if isinstance(text, str) and text.strip():
            if text.startswith("41"):
                try:
                    address = bytes.fromhex(text)
                except ValueError:
                    message = "exception decoding Hex string: invalid characters encountered"
                    return _text_response(f'{{"Error": "INVALID address, {message}"}}')
            else:
                try:
                    address = base58check_decode(text)
                except ValueError:
                    address = b""
        account = self.chain.account(address, self.view) if address else None
        reward = 0
        if account is not None:
            ctx, state = self.chain.context(self.view), self.chain.state(self.view)
            reward = query_reward(account, ctx, state)
        return _text_response(f'{{"reward": {reward}}}')


def _text_response(text: str) -> web.Response:
    """GetRewardServlet prints its JSON by hand (with a space after the colon)."""
    return web.Response(text=text + "\n", content_type="application/json", charset="utf-8")


def staking_routes(
    chain: Chain, view: View
) -> list[tuple[str, Callable[[web.Request], Awaitable[web.Response]]]]:
    """(path under /wallet or /walletsolidity, handler) of every staking read; GET and POST."""
    api = StakingApi(chain, view)
    return [
        ("/getdelegatedresourcev2", api.get_delegated_resource_v2),
        ("/getdelegatedresourceaccountindexv2", api.get_delegated_resource_account_index_v2),
        ("/getcandelegatedmaxsize", api.get_can_delegated_max_size),
        ("/getavailableunfreezecount", api.get_available_unfreeze_count),
        ("/getcanwithdrawunfreezeamount", api.get_can_withdraw_unfreeze_amount),
        ("/listwitnesses", api.list_witnesses),
        ("/getReward", api.get_reward),
    ]
