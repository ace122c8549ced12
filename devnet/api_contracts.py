"""Smart-contract endpoints: getcontract, getcontractinfo and the three trigger servlets.

The trigger servlets (TriggerSmartContractServlet, TriggerConstantContractServlet,
EstimateEnergyServlet) never fail with `{"Error": ...}`: every problem becomes
a Return inside the answer, `CONTRACT_VALIDATE_ERROR` with the validation
message, or `OTHER_ERROR` with "<java exception class> : <message>".
Requests are TriggerSmartContract JSON plus `function_selector` and
`parameter` (data = keccak selector + parameter), `fee_limit`,
`Permission_id` and, for constant calls, `extra_data`. What each answers:
- triggersmartcontract (head only): the unsigned transaction, built on the
  head block with a 60 s expiration and the request's fee_limit; a call to a
  view function is also run, as java-tron does, and its result included;
- triggerconstantcontract: the call run on the view's state, its result,
  energy and logs, and the transaction (`ret` FAILED when it reverted);
- estimateenergy: `energy_required` from java-tron's fee-limit search.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from devnet.chain import Chain, View
from devnet.contracts import CONTRACT_TYPES
from devnet.errors import ContractValidateError
from devnet.evm_abi import selector
from devnet.http import JavaError, json_response, parse_hex_bytes, query_visible, read_post_params
from devnet.keys import base58check_decode
from devnet.messages import MessageParseError, encode_message, parse_message
from devnet.render_contracts import (
    render_contract_state,
    render_estimate,
    render_failure,
    render_smart_contract,
    render_transaction_extention,
)
from devnet.transactions import Contract, RawData, Transaction, make_transaction
from devnet.vm_actuator import call_of, contract_at
from devnet.vm_constant import call_constant, estimate_energy, run_on_copy

__all__ = ["ContractApi", "contract_routes"]

Handler = Callable[[web.Request], Awaitable[web.Response]]

DEFAULT_EXPIRATION_MS = 60_000  # Args trxExpirationTimeInMilliseconds
_NPE = JavaError("java.lang.NullPointerException", "null")
_PARSE_EXCEPTION = "org.tron.core.services.http.JsonFormat$ParseException"
_DECODER_EXCEPTION = "org.bouncycastle.util.encoders.DecoderException"
_INVALID_PARAMETER = "java.security.InvalidParameterException"
_OUT_OF_ENERGY = "org.tron.core.vm.program.Program$OutOfEnergyException"
_TRIGGER = CONTRACT_TYPES["TriggerSmartContract"]


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _json_long(values: dict[str, Any], key: str) -> int:
    """Util.getJsonLongValue: a BigDecimal made exact; absent means 0."""
    value = values.get(key)
    if value is None:
        return 0
    try:
        number = int(str(value))
    except ValueError:
        raise JavaError("java.lang.NumberFormatException", f"For input string: {value}") from None
    if not -(2**63) <= number < 2**63:
        raise JavaError("java.lang.ArithmeticException", "Overflow")
    return number


def _check_parameters(values: dict[str, Any], *, building: bool) -> None:
    """TriggerSmartContractServlet.validateParameter / Util.validateParameter."""
    if not _text(values.get("owner_address")):
        raise JavaError(_INVALID_PARAMETER, "owner_address isn't set.")
    has_contract = bool(_text(values.get("contract_address")))
    if building and not has_contract:
        raise JavaError(_INVALID_PARAMETER, "contract_address isn't set.")
    if not has_contract and not _text(values.get("data")):
        raise JavaError(
            _INVALID_PARAMETER, "At least one of contract_address and data must be set."
        )
    if not has_contract:  # a deployment dry run
        raise ContractValidateError("devnet does not execute CreateSmartContract yet")


def _trigger_contract(values: dict[str, Any], visible: bool) -> Contract:
    """JsonFormat.merge into TriggerSmartContract, then the servlet's own fields."""
    try:
        value = parse_message(_TRIGGER.spec, values, visible)
    except MessageParseError as exc:
        raise _NPE if visible else JavaError(_PARSE_EXCEPTION, str(exc)) from None
    function = _text(values.get("function_selector"))
    if function:
        error = JavaError(_DECODER_EXCEPTION, "exception decoding Hex string")
        value["data"] = selector(function) + parse_hex_bytes(_text(values.get("parameter")), error)
    for key in ("call_token_value", "token_id", "call_value"):
        value[key] = _json_long(values, key)
    permission_id = values.get("Permission_id", 0)
    return Contract(
        type_name=_TRIGGER.name,
        type_url=_TRIGGER.type_url,
        value=value,
        value_bytes=encode_message(_TRIGGER.spec, value),
        permission_id=permission_id if isinstance(permission_id, int) and permission_id > 0 else 0,
    )


class ContractApi:
    """Contract endpoints of one view; getcontract and building exist on HEAD only."""

    def __init__(self, chain: Chain, view: View, clock_ms: Callable[[], int]) -> None:
        self.chain = chain
        self.view = view
        self.clock_ms = clock_ms

    def _transaction(self, contract: Contract, fee_limit_sun: int, data: bytes) -> Transaction:
        """Wallet.createTransactionCapsule + setTransaction on this view's newest block."""
        head = self.chain.head(self.view)
        raw = RawData(
            contracts=(contract,),
            ref_block_bytes=head.number.to_bytes(8, "big")[6:8],
            ref_block_hash=head.block_id[8:16],
            expiration_ms=head.timestamp_ms + DEFAULT_EXPIRATION_MS,
            timestamp_ms=self.clock_ms(),
            fee_limit_sun=fee_limit_sun,
            data=data,
        )
        return make_transaction(raw)

    async def get_contract(self, request: web.Request) -> web.Response:
        """GetContractServlet: the SmartContract with its ABI, or {}."""
        address, visible = await _contract_address(request)
        state = self.chain.state(self.view)
        native = contract_at(address, state)
        if native is None:
            return json_response({})
        return json_response(render_smart_contract(native, address, native.origin(state), visible))

    async def get_contract_info(self, request: web.Request) -> web.Response:
        """GetContractInfoServlet: SmartContractDataWrapper (no runtime code: devnet has none)."""
        address, visible = await _contract_address(request)
        state = self.chain.state(self.view)
        native = contract_at(address, state)
        if native is None:
            return json_response({})
        ctx = self.chain.context(self.view)
        cycle = (ctx.head_timestamp_ms - ctx.genesis_timestamp_ms) // ctx.param(
            "getMaintenanceTimeInterval"
        )
        return json_response({
            "smart_contract": render_smart_contract(native, address, native.origin(state), visible),
            "contract_state": render_contract_state(native.energy_factor(state), cycle),
        })  # fmt: skip

    async def trigger_smart_contract(self, request: web.Request) -> web.Response:
        """TriggerSmartContractServlet: build the call's transaction (run it if it is a view)."""
        return await self._answer(request, building=True)

    async def trigger_constant_contract(self, request: web.Request) -> web.Response:
        """TriggerConstantContractServlet: run the call on this view's state, keep nothing."""
        return await self._answer(request, building=False)

    async def estimate_energy(self, request: web.Request) -> web.Response:
        """EstimateEnergyServlet: energy_required, or the failure of the call."""
        visible = False
        try:
            params = await read_post_params(request)
            visible = params.visible
            _check_parameters(params.values, building=False)
            contract = _trigger_contract(params.values, visible)
            estimate = estimate_energy(
                contract, self.chain.context(self.view), self.chain.state(self.view)
            )
        except ContractValidateError as exc:
            return json_response(render_failure("CONTRACT_VALIDATE_ERROR", exc.detail, visible))
        except JavaError as exc:
            return json_response(render_failure("OTHER_ERROR", _other(exc), visible))
        return json_response(render_estimate(estimate.run, estimate.energy_required, visible))

    async def _answer(self, request: web.Request, *, building: bool) -> web.Response:
        visible = False
        try:
            params = await read_post_params(request)
            visible = params.visible
            _check_parameters(params.values, building=building)
            contract = _trigger_contract(params.values, visible)
            answer = self._run(contract, params.values, visible, building=building)
        except ContractValidateError as exc:
            return json_response(render_failure("CONTRACT_VALIDATE_ERROR", exc.detail, visible))
        except JavaError as exc:
            return json_response(render_failure("OTHER_ERROR", _other(exc), visible))
        return json_response(answer)

    def _run(
        self, contract: Contract, values: dict[str, Any], visible: bool, *, building: bool
    ) -> dict[str, Any]:
        state, ctx = self.chain.state(self.view), self.chain.context(self.view)
        if building:  # Wallet.triggerContract
            fee_limit_sun = _json_long(values, "fee_limit")
            tx = self._transaction(contract, fee_limit_sun, b"")
            call = call_of(contract)
            native = contract_at(call.contract, state)
            if native is None:
                raise ContractValidateError("No contract or not a valid smart contract")
            if not native.is_constant(call.data[:4]):
                return render_transaction_extention(tx, visible)
            run = run_on_copy(contract, ctx, state, fee_limit_sun)
        else:
            tx = self._transaction(contract, 0, _extra_data(values.get("extra_data"), visible))
            run = call_constant(contract, ctx, state)
        if run.contract_ret == "OUT_OF_ENERGY":
            # Outside estimation callConstantContract rethrows the VM's exception.
            raise JavaError(_OUT_OF_ENERGY, run.runtime_error)
        return render_transaction_extention(tx, visible, run)


def _other(exc: JavaError) -> str:
    """The servlets' OTHER_ERROR text: e.getClass() + " : " + message, quotes made single."""
    return f"class {exc.java_class} : {exc.message.replace(chr(34), chr(39))}"


def _extra_data(text: Any, visible: bool) -> bytes:
    """Util.setTransactionExtraData: the memo as text when visible, else hex."""
    if not isinstance(text, str) or not text:
        return b""
    if visible:
        return text.encode()
    return parse_hex_bytes(text, JavaError(_DECODER_EXCEPTION, "exception decoding Hex string"))


async def _contract_address(request: web.Request) -> tuple[bytes, bool]:
    """`value` of a GET query or POST body: base58 when visible (undecodable: an NPE)."""
    if request.method == "GET":
        value, visible = request.query.get("value"), query_visible(request)
    else:
        params = await read_post_params(request)
        value, visible = params.values.get("value"), params.visible
    if value is None:
        return b"", visible
    if visible:
        try:
            return base58check_decode(str(value)), visible
        except ValueError:
            raise _NPE from None
    return parse_hex_bytes(value, JavaError(_PARSE_EXCEPTION, "INVALID hex String")), visible


def contract_routes(
    chain: Chain, view: View, clock_ms: Callable[[], int]
) -> list[tuple[str, Handler, bool]]:
    """(path under /wallet or /walletsolidity, handler, GET too) of the contract endpoints."""
    api = ContractApi(chain, view, clock_ms)
    routes: list[tuple[str, Handler, bool]] = [
        ("/triggerconstantcontract", api.trigger_constant_contract, False),
        ("/estimateenergy", api.estimate_energy, False),
    ]
    if view is View.HEAD:
        routes += [
            ("/getcontract", api.get_contract, True),
            ("/getcontractinfo", api.get_contract_info, True),
            ("/triggersmartcontract", api.trigger_smart_contract, False),
        ]
    return routes
