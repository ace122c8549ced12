"""Calls that change nothing: triggerconstantcontract and estimateenergy, as Wallet runs them.

A constant call runs on a scratch view of the state it reads (head or
solidified) and is thrown away. Its energy limit is
`maxEnergyLimitForConstant` (100,000,000), lowered to fee_limit / price when
the transaction carries a fee limit.

estimateenergy is Wallet.estimateEnergy's search, kept exactly because
clients see its result: run once with getMaxFeeLimit; if that fails, report
the failure; otherwise search fee limits between energy_used x price (taken
as failing) and getMaxFeeLimit, first trying twice the lower bound, then
halving until the bounds are within TRX_PRECISION (1 TRX) of each other, and
answer ceil(upper bound / price). The answer is therefore at least the energy
the call uses and may exceed it by up to 1 TRX worth of energy: at 420 sun
per energy a call using 31,895 energy is estimated at 33,889, the figures
reported in tronprotocol/tronweb issue 487; at 100 sun, 14,650 becomes 21,975.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from devnet.context import ExecutionContext
from devnet.errors import ContractValidateError
from devnet.ledger import StateView
from devnet.transactions import Contract
from devnet.vm import RunResult, run_call
from devnet.vm_actuator import (
    MAX_ENERGY_LIMIT_FOR_CONSTANT,
    call_of,
    contract_at,
    energy_price,
    validate_call,
)

__all__ = ["TRX_PRECISION", "Estimate", "call_constant", "estimate_energy", "search_fee_limit"]

TRX_PRECISION = 1_000_000


def call_constant(
    contract: Contract, ctx: ExecutionContext, state: StateView, fee_limit_sun: int = 0
) -> RunResult:
    """Wallet.triggerConstantContract: run the call, keep nothing.

    Raises:
        ContractValidateError: the contract does not exist or the call is invalid.
    """
    if contract_at(call_of(contract).contract, state) is None:
        raise ContractValidateError("Smart contract is not exist.")
    return run_on_copy(contract, ctx, state, fee_limit_sun)


def run_on_copy(
    contract: Contract, ctx: ExecutionContext, state: StateView, fee_limit_sun: int
) -> RunResult:
    """callConstantContract: VMActuator(constant).validate and execute on a scratch view."""
    native = validate_call(contract, ctx, state, fee_limit_sun)
    limit = MAX_ENERGY_LIMIT_FOR_CONSTANT
    if fee_limit_sun > 0:
        limit = min(limit, fee_limit_sun // energy_price(ctx))
    return run_call(native, call_of(contract), state, limit)


@dataclass(frozen=True, slots=True)
class Estimate:
    """An estimate: energy_required when the call succeeds, else the failing run."""

    run: RunResult
    energy_required: int = 0


def search_fee_limit(
    used_energy: int, price: int, max_fee_limit: int, succeeds: Callable[[int], bool]
) -> int:
    """The fee limit Wallet.estimateEnergy settles on; succeeds(fee_limit) runs a trial."""
    low, high = price * used_energy, max_fee_limit
    two_times = low * 2
    if two_times < high:
        if succeeds(two_times):
            high = two_times
        else:
            low = two_times
    while low + TRX_PRECISION < high:
        mid = (low + high) // 2
        if succeeds(mid):
            high = mid
        else:
            low = mid
    return high


def estimate_energy(contract: Contract, ctx: ExecutionContext, state: StateView) -> Estimate:
    """Wallet.estimateEnergy.

    Raises:
        ContractValidateError: the contract does not exist or the call is invalid.
    """
    max_fee_limit = ctx.param("getMaxFeeLimit")
    first = call_constant(contract, ctx, state, max_fee_limit)
    if not first.succeeded:
        return Estimate(first)
    price = energy_price(ctx)

    def succeeds(fee_limit_sun: int) -> bool:
        return call_constant(contract, ctx, state, fee_limit_sun).succeeded

    high = search_fee_limit(first.energy_used, price, max_fee_limit, succeeds)
    final = call_constant(contract, ctx, state, high)
    if not final.succeeded:
        return Estimate(final)
    return Estimate(final, -(-high // price))
