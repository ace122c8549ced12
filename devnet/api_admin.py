"""devnet's own endpoints: `/devnet/faults` (fault injection) and `/devnet/fund` (faucet).

    GET    /devnet/faults   the config in force (next-N counters as they stand)
    POST   /devnet/faults   replace it ({} clears); unknown keys are a 400
    PATCH  /devnet/faults   change only the keys given
    DELETE /devnet/faults   clear
    POST   /devnet/fund     {"address": "T…" | "41…", "amount_sun": n} credits TRX,
                            {"address": …, "token": "USDT", "amount": n} credits USDT

Errors are HTTP 400 with {"error": "<key>: <problem>; …"}. The faucet makes
no transaction and charges no fee; the credit shows on the head view at once
and on the solidified view once its block solidifies.
"""

from __future__ import annotations

import json
from typing import Any

import structlog
from aiohttp import web
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from devnet.accounts import new_account
from devnet.chain import Chain
from devnet.faults import NO_FAULTS, parse_fault_config
from devnet.faults_middleware import FAULTS, FaultController, fault_middleware
from devnet.keys import address_to_base58, parse_address
from devnet.ledger import StateView
from devnet.trc20 import TETHER, USDT_ADDRESS

__all__ = ["AdminApi", "FundRequest", "credit_trx", "credit_usdt", "install_admin"]

log = structlog.get_logger(__name__)

_INT64_MAX = 2**63 - 1


def _bad_request(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


async def _json_object(request: web.Request) -> Any:
    text = await request.text()
    return json.loads(text) if text.strip() else {}


class AdminApi:
    """The /devnet/* endpoints."""

    def __init__(self, faults: FaultController) -> None:
        self.faults = faults

    def _current(self) -> web.Response:
        return web.json_response(self.faults.config.model_dump(mode="json"))

    async def get_faults(self, request: web.Request) -> web.Response:
        return self._current()

    async def set_faults(self, request: web.Request) -> web.Response:
        """POST replaces the config; PATCH merges the keys given into it."""
        try:
            data = await _json_object(request)
            if request.method == "PATCH" and isinstance(data, dict):
                data = {**self.faults.config.model_dump(exclude_defaults=True), **data}
            config = parse_fault_config(data)
        except ValueError as exc:  # JSON errors and FaultConfigError
            return _bad_request(str(exc))
        self.faults.configure(config)
        return self._current()

    async def clear_faults(self, request: web.Request) -> web.Response:
        self.faults.configure(NO_FAULTS)
        return self._current()

    async def fund(self, request: web.Request) -> web.Response:
        """Credit TRX or USDT to an address; no transaction, no fee."""
        try:
            order = FundRequest.model_validate(await _json_object(request))
        except ValueError as exc:
            return _bad_request(_describe(exc))
        address = parse_address(order.address)
        chain = self.faults.chain
        answer: dict[str, Any] = {"address": address_to_base58(address)}
        try:
            if order.amount_sun is not None:
                answer["balance_sun"] = credit_trx(chain, address, order.amount_sun)
            elif order.amount is not None:
                answer["token"] = "USDT"
                answer["balance"] = credit_usdt(chain, address, order.amount)
        except (OverflowError, LookupError) as exc:
            return _bad_request(str(exc))
        log.info("fund", **answer)
        return web.json_response(answer)


class FundRequest(BaseModel):
    """The body of POST /devnet/fund: TRX (`amount_sun`) or a token (`token` + `amount`)."""

    model_config = ConfigDict(extra="forbid")

    address: str
    amount_sun: StrictInt | None = Field(default=None, gt=0, le=_INT64_MAX)
    token: str | None = None
    amount: StrictInt | None = Field(default=None, gt=0, le=_INT64_MAX)

    @field_validator("address")
    @classmethod
    def _valid_address(cls, value: str) -> str:
        parse_address(value)
        return value

    @field_validator("token")
    @classmethod
    def _known_token(cls, value: str | None) -> str | None:
        if value is not None and value.upper() != "USDT":
            try:
                known = parse_address(value) == USDT_ADDRESS
            except ValueError:
                known = False
            if not known:
                raise ValueError("devnet has one token: USDT (or its contract address)")
        return value

    @model_validator(mode="after")
    def _one_asset(self) -> FundRequest:
        if self.token is None and (self.amount_sun is None or self.amount is not None):
            raise ValueError("give amount_sun (TRX), or token and amount")
        if self.token is not None and (self.amount is None or self.amount_sun is not None):
            raise ValueError("a token credit takes `amount` (base units), not amount_sun")
        return self


def _describe(exc: ValueError) -> str:
    if not isinstance(exc, ValidationError):
        return str(exc)
    return "; ".join(
        f"{'.'.join(str(p) for p in item['loc']) or 'body'}: "
        + ("unknown key" if item["type"] == "extra_forbidden" else item["msg"])
        for item in exc.errors()
    )


def credit_trx(chain: Chain, address: bytes, amount_sun: int) -> int:
    """Add amount_sun to address on the head, creating the account; return the new balance.

    The credit goes into the head block's state layer, which the next block
    is rebuilt from when pending transactions overflow it, and into the
    pending layer, which becomes the next block's layer otherwise; head
    reads see it at once.

    Raises:
        OverflowError: the balance would exceed a Java long.
    """
    committed = chain.ledger.committed_view()
    created = new_account(address, chain.head_block.timestamp_ms)
    head = chain.state().account(address) or created
    if head.balance_sun + amount_sun > _INT64_MAX:
        raise OverflowError("the balance would exceed 2^63-1 sun")
    base = committed.account(address) or created
    committed.put_account(base.evolve(balance_sun=base.balance_sun + amount_sun))
    chain.ledger.pending.accounts[address] = head.evolve(balance_sun=head.balance_sun + amount_sun)
    return head.balance_sun + amount_sun


def credit_usdt(chain: Chain, address: bytes, amount: int) -> int:
    """Mint amount USDT base units to address (balance and totalSupply), as credit_trx does.

    Raises:
        OverflowError: the balance would exceed a Java long.
        LookupError: the USDT contract is not deployed on this chain.
    """
    if chain.state().account(USDT_ADDRESS) is None:
        raise LookupError("the USDT contract is not deployed on this devnet")
    holder = address[1:]
    head = TETHER.storage(chain.state())
    balance, supply = head.balance(holder) + amount, head.total_supply() + amount
    if balance > _INT64_MAX:
        raise OverflowError("the token balance would exceed 2^63-1")
    committed = TETHER.storage(chain.ledger.committed_view())
    committed.set_balance(holder, committed.balance(holder) + amount)
    committed.set_total_supply(committed.total_supply() + amount)
    pending = TETHER.storage(StateView((chain.ledger.pending,)))
    pending.set_balance(holder, balance)
    pending.set_total_supply(supply)
    return balance


def install_admin(app: web.Application, faults: FaultController) -> None:
    """Add the fault middleware and the /devnet/* routes to a not yet started app."""
    app[FAULTS] = faults
    app.middlewares.append(fault_middleware)
    admin = AdminApi(faults)
    app.router.add_get("/devnet/faults", admin.get_faults, allow_head=False)
    app.router.add_post("/devnet/faults", admin.set_faults)
    app.router.add_patch("/devnet/faults", admin.set_faults)
    app.router.add_delete("/devnet/faults", admin.clear_faults)
    app.router.add_post("/devnet/fund", admin.fund)
