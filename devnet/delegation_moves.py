"""What a delegation changes in the two accounts: stake moved, acquired, usage handed back.

Undelegating hands part of the receiver's current usage of the resource back
to the owner, in proportion to the TRX taken back and capped at what that TRX
buys (UnDelegateResourceActuator), merging the two usage windows as
ResourceProcessor.unDelegateIncreaseV2 does.
"""

from __future__ import annotations

from devnet.accounts import Account
from devnet.bandwidth import TOTAL_NET_WEIGHT
from devnet.context import ExecutionContext
from devnet.energy import TOTAL_ENERGY_WEIGHT
from devnet.governance import TRX_PRECISION
from devnet.ledger import StateView
from devnet.resources import WINDOW_SIZE_PRECISION, WINDOW_SIZE_SLOTS, Usage, increase_v2
from devnet.stake_records import BANDWIDTH

__all__ = ["acquire", "give_back_usage", "move_stake", "take_usage"]

_FULL_WINDOW_V2 = WINDOW_SIZE_SLOTS * WINDOW_SIZE_PRECISION
_INT64_MAX = 2**63 - 1


def move_stake(owner: Account, resource: int, balance: int) -> Account:
    """Owner's frozenV2 -> delegated_frozenV2 (a negative balance moves it back)."""
    stake = owner.stake
    if resource == BANDWIDTH:
        return owner.evolve(
            frozen_v2_bandwidth_sun=owner.frozen_v2_bandwidth_sun - balance,
            stake=stake.evolve(
                delegated_frozen_v2_bandwidth_sun=(
                    stake.delegated_frozen_v2_bandwidth_sun + balance
                )
            ),
        )
    return owner.evolve(
        stake=stake.evolve(
            frozen_v2_energy_sun=stake.frozen_v2_energy_sun - balance,
            delegated_frozen_v2_energy_sun=stake.delegated_frozen_v2_energy_sun + balance,
        )
    )


def acquire(receiver: Account, resource: int, balance: int) -> Account:
    """Receiver's acquired_delegated_frozenV2 += balance (negative to give back)."""
    if resource == BANDWIDTH:
        acquired = receiver.acquired_delegated_v2_bandwidth_sun + balance
        return receiver.evolve(acquired_delegated_v2_bandwidth_sun=acquired)
    stake = receiver.stake
    acquired = stake.acquired_delegated_v2_energy_sun + balance
    return receiver.evolve(stake=stake.evolve(acquired_delegated_v2_energy_sun=acquired))


# --- usage counters by resource -------------------------------------------------------------


def _usage(account: Account, resource: int) -> Usage:
    if resource == BANDWIDTH:
        return Usage(
            account.net_usage,
            account.latest_consume_time_slot,
            account.net_window_size,
            account.net_window_optimized,
        )
    return Usage(
        account.energy_usage,
        account.latest_consume_time_for_energy_slot,
        account.energy_window_size,
        account.energy_window_optimized,
    )


def _set_usage(account: Account, resource: int, usage: Usage) -> Account:
    if resource == BANDWIDTH:
        return account.evolve(
            net_usage=usage.usage,
            latest_consume_time_slot=usage.last_slot,
            net_window_size=usage.window_size,
            net_window_optimized=usage.window_optimized,
        )
    return account.evolve(
        energy_usage=usage.usage,
        latest_consume_time_for_energy_slot=usage.last_slot,
        energy_window_size=usage.window_size,
        energy_window_optimized=usage.window_optimized,
    )


def _acquired(account: Account, resource: int) -> int:
    if resource == BANDWIDTH:
        return account.acquired_delegated_v2_bandwidth_sun
    return account.stake.acquired_delegated_v2_energy_sun


def _all_frozen(account: Account, resource: int) -> int:
    """getAllFrozenBalanceFor{Bandwidth,Energy} (Stake 2.0 part)."""
    if resource == BANDWIDTH:
        return account.frozen_v2_bandwidth_sun + account.acquired_delegated_v2_bandwidth_sun
    return account.stake.frozen_v2_energy_sun + account.stake.acquired_delegated_v2_energy_sun


def give_back_usage(
    receiver: Account, resource: int, balance: int, ctx: ExecutionContext, state: StateView
) -> tuple[Account, int]:
    """The receiver's side of an undelegation: its new account and the usage handed back."""
    now = ctx.now_slot
    current = increase_v2(_usage(receiver, resource), 0, now)  # updateUsage
    transfer = 0
    if _acquired(receiver, resource) < balance:
        # A contract that self-destructed and was re-created; java-tron just zeroes it.
        receiver = acquire(receiver, resource, -_acquired(receiver, resource))
    else:
        if resource == BANDWIDTH:
            limit, weight = ctx.param("getTotalNetLimit"), state.property(TOTAL_NET_WEIGHT)
        else:
            limit = ctx.param("getTotalEnergyCurrentLimit")
            weight = state.property(TOTAL_ENERGY_WEIGHT)
        most = int(balance / TRX_PRECISION * (limit / weight)) if weight else _INT64_MAX
        share = int(current.usage * (balance / _all_frozen(receiver, resource)))
        transfer = min(most, share)
        receiver = acquire(receiver, resource, -balance)
    left = Usage(current.usage - transfer, now, current.window_size, current.window_optimized)
    return _set_usage(receiver, resource, left), transfer


def take_usage(
    owner: Account, receiver: Account, resource: int, transfer: int, now_slot: int
) -> Account:
    """ResourceProcessor.unDelegateIncreaseV2: owner takes transfer of receiver's usage."""
    own = increase_v2(_usage(owner, resource), 0, now_slot)
    total = own.usage + transfer
    if total == 0:
        return _set_usage(owner, resource, Usage(0, now_slot, _FULL_WINDOW_V2, True))
    owner_window = max(0, own.window_v2)
    receiver_window = max(0, _usage(receiver, resource).window_v2)
    numerator = own.usage * owner_window + transfer * receiver_window
    window = min(-(-numerator // total), _FULL_WINDOW_V2)
    return _set_usage(owner, resource, Usage(total, now_slot, window, True))
