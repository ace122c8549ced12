"""TriggerSmartContract: validation, energy limit, execution and the energy bill, as java-tron.

Order and rules follow VMActuator (validate/call/execute), TransactionTrace
(pay) and ReceiptCapsule.payEnergyBill, after the Stake 2.0 and
energy-limit hard forks (fix ratio):
- validate: the contract must exist, call/token values be >= 0, fee_limit
  within [0, getMaxFeeLimit], TRX sent along must be affordable;
- energy limit of the caller: min(staked energy left + (balance - call
  value) / price, fee_limit / price) — fee_limit caps staked energy too;
  the deployer adds up to limit x (100 - percent) / percent from its own
  stake (at most `origin_energy_limit`), `percent` being the contract's
  consume_user_resource_percent;
- the bill: the deployer pays (100 - percent) % of the energy from its
  stake, within the same bounds; the caller pays the rest from its stake,
  then burns `getEnergyFee` sun per energy still owed. Failures (REVERT,
  OUT_OF_ENERGY) are billed too: they are included in blocks, not refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from devnet.accounts import Account
from devnet.context import ExecutionContext, Receipt
from devnet.energy import available_energy, use_energy
from devnet.errors import ContractValidateError
from devnet.ledger import StateView
from devnet.transactions import Contract
from devnet.trc20 import TETHER
from devnet.vm import Call, NativeContract, RunResult, run_call
from devnet.vm_result import VmReceipt

__all__ = [
    "MAX_ENERGY_LIMIT_FOR_CONSTANT",
    "NATIVE_CONTRACTS",
    "TriggerSmartContractActuator",
    "call_of",
    "contract_at",
    "energy_price",
    "validate_call",
]

NATIVE_CONTRACTS: Mapping[bytes, NativeContract] = MappingProxyType({TETHER.address: TETHER})
# CommonParameter.maxEnergyLimitForConstant default (vm.maxEnergyLimitForConstant).
MAX_ENERGY_LIMIT_FOR_CONSTANT = 100_000_000
SUN_PER_ENERGY = 100  # VMConstant.SUN_PER_ENERGY, used when getEnergyFee is 0
MIN_TOKEN_ID = 1_000_000  # VMConstant.MIN_TOKEN_ID


def energy_price(ctx: ExecutionContext) -> int:
    """Sun per energy: getEnergyFee, or SUN_PER_ENERGY when that is 0."""
    return ctx.param("getEnergyFee") or SUN_PER_ENERGY


def call_of(contract: Contract) -> Call:
    """The message call a TriggerSmartContract makes."""
    value = contract.value
    return Call(
        caller=value.get("owner_address", b""),
        contract=value.get("contract_address", b""),
        data=value.get("data", b""),
        call_value_sun=value.get("call_value", 0),
    )


def contract_at(address: bytes, state: StateView) -> NativeContract | None:
    """The deployed contract at address (ContractStore.get), None when there is none."""
    native = NATIVE_CONTRACTS.get(address)
    return native if native is not None and state.account(address) is not None else None


def _check_token_value(token_value: int, token_id: int) -> None:
    """VMActuator.checkTokenValueAndId, then MUtil.transferToken: devnet has no TRC10."""
    if token_id <= MIN_TOKEN_ID and token_id != 0:
        raise ContractValidateError(f"tokenId must be > {MIN_TOKEN_ID}")
    if token_value > 0 and token_id == 0:
        raise ContractValidateError(
            f"invalid arguments with tokenValue = {token_value}, tokenId = {token_id}"
        )
    if token_value > 0:
        raise ContractValidateError("No asset !")


def _check_call_value(call: Call, state: StateView) -> None:
    """VMUtils.validateForSmartContract for the TRX a call sends to the contract."""
    if call.call_value_sun == 0:
        return
    owner = state.account(call.caller)
    if owner is None:
        raise ContractValidateError("Validate InternalTransfer error, no OwnerAccount.")
    if owner.balance_sun < call.call_value_sun:
        raise ContractValidateError("Validate InternalTransfer error, balance is not sufficient.")


def validate_call(
    contract: Contract, ctx: ExecutionContext, state: StateView, fee_limit_sun: int
) -> NativeContract:
    """VMActuator.validate for a call; returns the contract called.

    Raises:
        ContractValidateError: with java-tron's message.
    """
    call = call_of(contract)
    native = contract_at(call.contract, state)
    if native is None:
        raise ContractValidateError("No contract or not a smart contract")
    token_value = contract.value.get("call_token_value", 0)
    if call.call_value_sun < 0:
        raise ContractValidateError("callValue must be >= 0")
    if token_value < 0:
        raise ContractValidateError("tokenValue must be >= 0")
    _check_token_value(token_value, contract.value.get("token_id", 0))
    max_fee_limit = ctx.param("getMaxFeeLimit")
    if not 0 <= fee_limit_sun <= max_fee_limit:
        raise ContractValidateError(f"feeLimit must be >= 0 and <= {max_fee_limit}")
    _check_call_value(call, state)
    return native


@dataclass(frozen=True, slots=True)
class EnergyLimit:
    """What a call may spend, and the stake each side had left when it started."""

    total: int
    caller_left: int
    origin_left: int


def _caller_limit(
    caller: Account, call: Call, fee_limit_sun: int, ctx: ExecutionContext, state: StateView
) -> tuple[int, int]:
    """getAccountEnergyLimitWithFixRatio: (limit, staked energy left)."""
    price = energy_price(ctx)
    left = available_energy(caller, ctx, state)
    from_balance = max(caller.balance_sun - call.call_value_sun, 0) // price
    return min(left + from_balance, fee_limit_sun // price), left


def energy_limit(
    native: NativeContract, call: Call, fee_limit_sun: int, ctx: ExecutionContext, state: StateView
) -> EnergyLimit:
    """getTotalEnergyLimitWithFixRatio: the caller's limit plus the deployer's share."""
    caller = state.account(call.caller)
    assert caller is not None  # bandwidth was charged to it
    caller_limit, caller_left = _caller_limit(caller, call, fee_limit_sun, ctx, state)
    origin = state.account(native.origin(state))
    if origin is None or origin.address == caller.address:
        return EnergyLimit(caller_limit, caller_left, 0)
    percent = native.consume_user_resource_percent
    origin_left = available_energy(origin, ctx, state) if percent < 100 else 0
    origin_cap = min(origin_left, native.origin_energy_limit)
    if percent <= 0:
        creator_limit = origin_cap
    elif percent < 100:
        creator_limit = min(caller_limit * (100 - percent) // percent, origin_cap)
    else:
        creator_limit = 0
    return EnergyLimit(caller_limit + creator_limit, caller_left, origin_left)


@dataclass(frozen=True, slots=True)
class EnergyBill:
    """ResourceReceipt's energy fields after payEnergyBill."""

    energy_usage: int = 0
    energy_fee_sun: int = 0
    origin_energy_usage: int = 0


def _pay(
    account: Account, usage: int, left: int, ctx: ExecutionContext
) -> tuple[Account, int, int]:
    """The private payEnergyBill: stake first, then burn; (account, from stake, sun burnt)."""
    if left >= usage:
        return use_energy(account, usage, ctx), usage, 0
    fee_sun = (usage - left) * energy_price(ctx)
    spent = use_energy(account, left, ctx)
    # Cannot go negative: the energy limit was bounded by the balance.
    return spent.evolve(balance_sun=spent.balance_sun - fee_sun), left, fee_sun


def pay_energy_bill(
    native: NativeContract,
    call: Call,
    used: int,
    limit: EnergyLimit,
    ctx: ExecutionContext,
    state: StateView,
) -> EnergyBill:
    """ReceiptCapsule.payEnergyBill: deployer's share from its stake, the rest from the caller."""
    if used <= 0:
        return EnergyBill()
    caller = state.account(call.caller)
    assert caller is not None
    origin = state.account(native.origin(state))
    origin_usage = 0
    if origin is not None and origin.address != caller.address:
        percent = min(max(100 - native.consume_user_resource_percent, 0), 100)
        origin_usage = min(
            used * percent // 100, min(limit.origin_left, native.origin_energy_limit)
        )
        state.put_account(use_energy(origin, origin_usage, ctx))
    paid, from_stake, fee_sun = _pay(caller, used - origin_usage, limit.caller_left, ctx)
    state.put_account(paid)
    return EnergyBill(from_stake, fee_sun, origin_usage)


def _vm_receipt(call: Call, run: RunResult, bill: EnergyBill) -> VmReceipt:
    return VmReceipt(
        contract_ret=run.contract_ret,
        contract_address=call.contract,
        result=run.result,
        logs=run.logs,
        runtime_error=run.runtime_error,
        energy_usage=bill.energy_usage,
        energy_fee_sun=bill.energy_fee_sun,
        origin_energy_usage=bill.origin_energy_usage,
        energy_usage_total=run.energy_used,
        energy_penalty_total=run.energy_penalty,
    )


class TriggerSmartContractActuator:
    """TriggerSmartContract on a native contract: run, keep state on success, bill always."""

    def validate(self, contract: Contract, ctx: ExecutionContext, state: StateView) -> None:
        validate_call(contract, ctx, state, ctx.fee_limit_sun)

    def execute(
        self, contract: Contract, ctx: ExecutionContext, state: StateView, receipt: Receipt
    ) -> int:
        call = call_of(contract)
        native = contract_at(call.contract, state)
        assert native is not None  # validate() checked it
        limit = energy_limit(native, call, ctx.fee_limit_sun, ctx, state)
        run = run_call(native, call, state, limit.total)
        if run.succeeded:
            state.top.absorb(run.scratch.top)
        bill = pay_energy_bill(native, call, run.energy_used, limit, ctx, state)
        receipt.vm = _vm_receipt(call, run, bill)
        return 0  # ret.fee stays 0; the energy fee is the receipt's
