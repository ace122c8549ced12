"""Account endpoints: getaccount (both views), getaccountnet, getaccountresource, validateaddress.

Unknown accounts answer `{}` (tronpy turns that into AddressNotFound). The
request address is an Account.address field: base58check when `visible`,
hex otherwise; one java-tron cannot decode fails as its servlet fails.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

from aiohttp import web

from devnet.chain import Chain, View
from devnet.http import JavaError, json_response, query_visible, read_post_params
from devnet.keys import base58check_decode
from devnet.messages import MessageParseError, parse_message
from devnet.render_accounts import (
    ACCOUNT_ADDRESS_SPEC,
    render_account,
    render_account_net,
    render_account_resource,
)

__all__ = ["AccountApi", "validate_address"]

_NPE = "java.lang.NullPointerException"
_PARSE_EXCEPTION = "org.tron.core.services.http.JsonFormat$ParseException"


def _parse_address(values: dict[str, Any], visible: bool) -> bytes:
    try:
        parsed = parse_message(ACCOUNT_ADDRESS_SPEC, values, visible)
    except MessageParseError as exc:
        # An undecodable base58 address becomes ByteString.copyFrom(null): an NPE.
        raise (
            JavaError(_NPE, "null") if visible else JavaError(_PARSE_EXCEPTION, str(exc))
        ) from None
    address = parsed.get("address", b"")
    assert isinstance(address, bytes)
    return address


async def _request_address(request: web.Request) -> tuple[bytes, bool]:
    """The address and visible flag of a GET query or a POST body."""
    if request.method == "GET":
        visible = query_visible(request)
        return _parse_address({"address": request.query.get("address")}, visible), visible
    params = await read_post_params(request)
    return _parse_address(params.values, params.visible), params.visible


class AccountApi:
    """Account reads of one view."""

    def __init__(self, chain: Chain, view: View) -> None:
        self.chain = chain
        self.view = view

    async def get_account(self, request: web.Request) -> web.Response:
        """GetAccountServlet (and GetAccountOnSolidityServlet)."""
        address, visible = await _request_address(request)
        account = self.chain.account(address, self.view) if address else None
        if account is None:
            return json_response({})
        return json_response(render_account(account, self.chain.context(self.view), visible))

    async def get_account_net(self, request: web.Request) -> web.Response:
        """GetAccountNetServlet: free and staked bandwidth of an account."""
        return await self._resources(request, render_account_net)

    async def get_account_resource(self, request: web.Request) -> web.Response:
        """GetAccountResourceServlet: bandwidth, energy and the network totals."""
        return await self._resources(request, render_account_resource)

    async def _resources(self, request: web.Request, render: Callable[..., Any]) -> web.Response:
        address, _ = await _request_address(request)
        account = self.chain.account(address, self.view) if address else None
        if account is None:
            return json_response({})
        return json_response(
            render(account, self.chain.context(self.view), self.chain.state(self.view))
        )

    async def validate_address(self, request: web.Request) -> web.Response:
        """ValidateAddressServlet: which format an address is in and whether it is valid."""
        if request.method == "GET":
            text = request.query.get("address")
        else:
            params = await read_post_params(request)
            text = params.values.get("address")
        return json_response(validate_address(text))


def _decode(text: str) -> tuple[bytes | None, str]:
    if len(text) == 42:
        return bytes.fromhex(text), "Hex string format"
    if len(text) == 34:
        try:
            return base58check_decode(text), "Base58check format"
        except ValueError:
            return None, "Base58check format"
    if len(text) == 28:
        return base64.b64decode(text, validate=True), "Base64 format"
    raise LookupError("Length error")


def validate_address(text: Any) -> dict[str, Any]:
    """ValidateAddressServlet.validAddress: {"result": ..., "message": ...}."""
    if not isinstance(text, str):
        return {"result": False}  # an NPE; fastjson drops the null message
    try:
        address, message = _decode(text)
    except LookupError as exc:
        return {"result": False, "message": str(exc)}
    except ValueError:
        return {"result": False, "message": _decode_failure(text)}
    valid = address is not None and len(address) == 21 and address[0] == 0x41
    return {"result": valid, "message": message if valid else "Invalid address"}


def _decode_failure(text: str) -> str:
    if len(text) == 42:
        return "exception decoding Hex string: invalid characters encountered in Hex string"
    try:
        base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        return f"Illegal base64 character: {exc}"
    return "Invalid address"
