"""Delegated resources: java-tron's DelegatedResource records and account index, and limits.

Delegating moves TRX from the owner's frozenV2 to its delegated_frozenV2
(the network weight does not change) and adds it to the receiver's
acquired_delegated_frozenV2. Each owner/receiver pair has up to two
DelegatedResource records, as java-tron keys them: one unlocked, one locked
until `now + lock_period x 3000 ms` (lock_period in blocks, 0 meaning
86 400 blocks = 3 days). A lock that has run out is folded into the unlocked
record the next time the pair delegates or undelegates (unLockExpireResource).
The actuators are in `devnet.delegation_actuators`.
"""

from __future__ import annotations

from dataclasses import replace

from devnet.accounts import Account
from devnet.bandwidth import TOTAL_NET_WEIGHT
from devnet.context import ExecutionContext
from devnet.contracts import DELEGATE_RESOURCE
from devnet.energy import TOTAL_ENERGY_WEIGHT, energy_now
from devnet.governance import TRX_PRECISION
from devnet.ledger import StateView
from devnet.messages import encode_message
from devnet.resources import BLOCK_PRODUCED_INTERVAL_MS, Usage, increase_v2
from devnet.stake_records import BANDWIDTH, ENERGY, DelegatedResource, Link

__all__ = [
    "DELEGATE_PERIOD_BLOCKS",
    "amount_of",
    "available_sun",
    "can_delegated_max_size",
    "delegated_records",
    "expire_of",
    "index_links",
    "linked",
    "net_now",
    "put_record",
    "record_of",
    "unlock_expired",
    "with_amount",
]

DELEGATE_PERIOD_BLOCKS = 3 * 86_400_000 // BLOCK_PRODUCED_INTERVAL_MS  # DELEGATE_PERIOD / 3000
DELEGATE_COST_BASE_SIZE = 275  # Parameter.ChainConstant.DELEGATE_COST_BASE_SIZE


# --- the DelegatedResource records and the account index, kept in the accounts -------------


def delegated_records(owner: Account, to: bytes) -> list[DelegatedResource]:
    """getDelegatedResourceV2: the unlocked then the locked record of owner -> to, if not empty."""
    found = {r.lock: r for r in owner.stake.delegated_resources if r.to == to}
    return [found[lock] for lock in (False, True) if lock in found and not found[lock].empty]


def record_of(owner: Account, to: bytes, lock: bool) -> DelegatedResource | None:
    for record in owner.stake.delegated_resources:
        if record.to == to and record.lock == lock:
            return record
    return None


def put_record(owner: Account, to: bytes, lock: bool, new: DelegatedResource | None) -> Account:
    """Store (or, with None, delete) the record of owner -> to with this lock flag."""
    kept = [r for r in owner.stake.delegated_resources if not (r.to == to and r.lock == lock)]
    if new is not None:
        kept.append(new)
    return owner.evolve(stake=owner.stake.evolve(delegated_resources=tuple(kept)))


def unlock_expired(owner: Account, to: bytes, now_ms: int) -> Account:
    """DelegatedResourceStore.unLockExpireResource: expired locks join the unlocked record."""
    locked = record_of(owner, to, True)
    if locked is None or (
        locked.expire_time_for_energy_ms >= now_ms and locked.expire_time_for_bandwidth_ms >= now_ms
    ):
        return owner
    unlocked = record_of(owner, to, False) or DelegatedResource(to, False)
    if locked.expire_time_for_energy_ms < now_ms:
        unlocked = with_amount(
            unlocked,
            ENERGY,
            unlocked.frozen_balance_for_energy + locked.frozen_balance_for_energy,
            0,
        )
        locked = with_amount(locked, ENERGY, 0, 0)
    if locked.expire_time_for_bandwidth_ms < now_ms:
        unlocked = with_amount(
            unlocked,
            BANDWIDTH,
            unlocked.frozen_balance_for_bandwidth + locked.frozen_balance_for_bandwidth,
            0,
        )
        locked = with_amount(locked, BANDWIDTH, 0, 0)
    owner = put_record(owner, to, True, None if locked.empty else locked)
    return put_record(owner, to, False, unlocked)


def with_amount(
    record: DelegatedResource, resource: int, amount: int, expire_ms: int
) -> DelegatedResource:
    """addFrozenBalanceFor{Bandwidth,Energy}: the record with a new amount and expire time."""
    if resource == BANDWIDTH:
        return replace(
            record, frozen_balance_for_bandwidth=amount, expire_time_for_bandwidth_ms=expire_ms
        )
    return replace(record, frozen_balance_for_energy=amount, expire_time_for_energy_ms=expire_ms)


def amount_of(record: DelegatedResource | None, resource: int) -> int:
    if record is None:
        return 0
    if resource == BANDWIDTH:
        return record.frozen_balance_for_bandwidth
    return record.frozen_balance_for_energy


def expire_of(record: DelegatedResource, resource: int) -> int:
    if resource == BANDWIDTH:
        return record.expire_time_for_bandwidth_ms
    return record.expire_time_for_energy_ms


def linked(links: tuple[Link, ...], other: bytes, timestamp_ms: int | None) -> tuple[Link, ...]:
    """Set (timestamp) or remove (None) the index link to other."""
    kept = tuple(link for link in links if link.address != other)
    return kept if timestamp_ms is None else (*kept, Link(other, timestamp_ms))


def index_links(links: tuple[Link, ...]) -> list[bytes]:
    """getV2Index order: by the time of the last delegation, then by address."""
    return [link.address for link in sorted(links, key=lambda x: (x.timestamp_ms, x.address))]


# --- how much an owner may delegate ---------------------------------------------------------


def net_now(account: Account, now_slot: int) -> Usage:
    stored = Usage(
        account.net_usage,
        account.latest_consume_time_slot,
        account.net_window_size,
        account.net_window_optimized,
    )
    return increase_v2(stored, 0, now_slot)


def _usage_in_sun(usage: int, total_weight: int, total_limit: int) -> int:
    """(long) (usage * TRX_PRECISION * ((double) totalWeight / totalLimit))."""
    return int(usage * TRX_PRECISION * (total_weight / total_limit))


def _estimate_delegate_size(ctx: ExecutionContext, balance: int) -> int:
    """TransactionUtil.estimateConsumeBandWidthSize: the bytes a max-lock delegation adds."""
    full = {"lock": True, "lock_period": ctx.param("getMaxDelegateLockPeriod"), "balance": balance}
    base = {"balance": TRX_PRECISION}
    extra = len(encode_message(DELEGATE_RESOURCE, full)) - len(
        encode_message(DELEGATE_RESOURCE, base)
    )
    return DELEGATE_COST_BASE_SIZE + max(extra, 0)


def available_sun(
    account: Account, resource: int, ctx: ExecutionContext, state: StateView, estimate: bool
) -> int:
    """frozenV2 minus the part of it the account's own usage is holding (may be negative)."""
    if resource == BANDWIDTH:
        usage = net_now(account, ctx.now_slot).usage
        if estimate:
            usage += _estimate_delegate_size(ctx, account.frozen_v2_bandwidth_sun)
        in_sun = _usage_in_sun(
            usage, state.property(TOTAL_NET_WEIGHT), ctx.param("getTotalNetLimit")
        )
        held = max(0, in_sun - account.acquired_delegated_v2_bandwidth_sun)
        return account.frozen_v2_bandwidth_sun - held
    usage = energy_now(account, ctx.now_slot).usage
    in_sun = _usage_in_sun(
        usage, state.property(TOTAL_ENERGY_WEIGHT), ctx.param("getTotalEnergyCurrentLimit")
    )
    held = max(0, in_sun - account.stake.acquired_delegated_v2_energy_sun)
    return account.stake.frozen_v2_energy_sun - held


def can_delegated_max_size(
    account: Account, resource: int, ctx: ExecutionContext, state: StateView
) -> int:
    """Wallet.getCanDelegatedMaxSize: sun the account may still delegate (0 below 1 TRX)."""
    if resource not in (BANDWIDTH, ENERGY):
        return 0
    size = max(0, available_sun(account, resource, ctx, state, estimate=resource == BANDWIDTH))
    return size if size >= TRX_PRECISION else 0
