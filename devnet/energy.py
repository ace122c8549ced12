"""Energy from staking: EnergyProcessor's limit, what is left, and using it.

An account's energy limit is its share of `getTotalEnergyCurrentLimit`:
its own ENERGY stake plus what others delegated to it, over the network's
TOTAL_ENERGY_WEIGHT (whole TRX). Usage decays over the same 24 h window as
bandwidth (`devnet.resources`). A contract call first spends
`available_energy` and burns `getEnergyFee` sun per energy for the rest;
`use_energy` records what it spent from the stake.
"""

from __future__ import annotations

from devnet.accounts import Account
from devnet.context import ExecutionContext
from devnet.ledger import StateView
from devnet.resources import Usage, global_limit, increase, increase_v2

__all__ = [
    "TOTAL_ENERGY_WEIGHT",
    "available_energy",
    "energy_limit",
    "energy_now",
    "staked_for_energy_sun",
    "use_energy",
]

TOTAL_ENERGY_WEIGHT = "TOTAL_ENERGY_WEIGHT"  # dynamic property: staked TRX for energy, in TRX


def _stored(account: Account) -> Usage:
    return Usage(
        account.energy_usage,
        account.latest_consume_time_for_energy_slot,
        account.energy_window_size,
        account.energy_window_optimized,
    )


def staked_for_energy_sun(account: Account) -> int:
    """getAllFrozenBalanceForEnergy (Stake 2.0 part): own stake plus what others delegated."""
    return account.stake.frozen_v2_energy_sun + account.stake.acquired_delegated_v2_energy_sun


def energy_limit(account: Account, ctx: ExecutionContext, state: StateView) -> int:
    """EnergyProcessor.calculateGlobalEnergyLimitV2."""
    return global_limit(
        staked_for_energy_sun(account),
        ctx.param("getTotalEnergyCurrentLimit"),
        state.property(TOTAL_ENERGY_WEIGHT),
    )


def energy_now(account: Account, now_slot: int) -> Usage:
    """EnergyProcessor.updateUsage: usage decayed to now_slot, window reshaped."""
    return increase_v2(_stored(account), 0, now_slot)


def available_energy(account: Account, ctx: ExecutionContext, state: StateView) -> int:
    """EnergyProcessor.getAccountLeftEnergyFromFreeze: staked energy not yet used."""
    stored = _stored(account)
    recovered = increase(stored.usage, 0, stored.last_slot, ctx.now_slot, stored.window_slots)
    return max(energy_limit(account, ctx, state) - recovered, 0)


def use_energy(account: Account, energy: int, ctx: ExecutionContext) -> Account:
    """EnergyProcessor.useEnergy: the account after spending energy from its stake.

    The caller decides how much comes from the stake (at most available_energy).
    """
    used = increase_v2(_stored(account), energy, ctx.now_slot)
    return account.evolve(
        energy_usage=used.usage,
        latest_consume_time_for_energy_slot=ctx.now_slot,
        energy_window_size=used.window_size,
        energy_window_optimized=used.window_optimized,
        latest_operation_time_ms=ctx.head_timestamp_ms,
    )
