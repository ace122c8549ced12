"""The Stake 2.0 and vote records an account carries (immutable, as `Account` is).

java-tron keeps delegations in two stores of their own (DelegatedResourceStore
keyed by from/to/lock, DelegatedResourceAccountIndexStore keyed by from/to);
devnet keeps the same records inside the accounts involved, so they live in
the same per-block state layers as balances: the delegator holds the
`DelegatedResource` records and the `to` links, the receiver the `from` links.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

__all__ = [
    "BANDWIDTH",
    "ENERGY",
    "NO_STAKE",
    "TRON_POWER",
    "DelegatedResource",
    "Link",
    "StakeState",
    "UnfreezeV2",
    "Vote",
]

# common.proto ResourceCode.
BANDWIDTH, ENERGY, TRON_POWER = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Vote:
    """Account.votes: a witness and the number of TRX voted for it."""

    vote_address: bytes
    vote_count: int


@dataclass(frozen=True, slots=True)
class UnfreezeV2:
    """Account.unfrozenV2: TRX waiting for its unfreeze_expire_time (ms)."""

    type: int
    unfreeze_amount: int
    unfreeze_expire_time_ms: int


@dataclass(frozen=True, slots=True)
class DelegatedResource:
    """A DelegatedResource record to `to`; `lock` tells which of java-tron's two keys it is."""

    to: bytes
    lock: bool
    frozen_balance_for_bandwidth: int = 0
    frozen_balance_for_energy: int = 0
    expire_time_for_bandwidth_ms: int = 0
    expire_time_for_energy_ms: int = 0

    @property
    def empty(self) -> bool:
        return not (self.frozen_balance_for_bandwidth or self.frozen_balance_for_energy)


@dataclass(frozen=True, slots=True)
class Link:
    """A DelegatedResourceAccountIndex V2 entry: the other account and when it last changed."""

    address: bytes
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class StakeState:
    """An account's Stake 2.0, vote and reward fields beyond those bandwidth needs.

    One nested value rather than a dozen `Account` fields, because every
    transfer copies its accounts and most accounts never stake. The bandwidth
    stake (`frozen_v2_bandwidth_sun`, `acquired_delegated_v2_bandwidth_sun`)
    stays on `Account`, where BandwidthProcessor reads it.
    """

    frozen_v2_energy_sun: int = 0
    acquired_delegated_v2_energy_sun: int = 0
    delegated_frozen_v2_bandwidth_sun: int = 0
    delegated_frozen_v2_energy_sun: int = 0
    unfrozen_v2: tuple[UnfreezeV2, ...] = ()
    votes: tuple[Vote, ...] = ()
    allowance_sun: int = 0
    latest_withdraw_time_ms: int = 0
    reward_index: int = 0  # devnet's reward accumulator when the account last settled
    delegated_resources: tuple[DelegatedResource, ...] = ()
    delegated_to: tuple[Link, ...] = ()
    delegated_from: tuple[Link, ...] = ()

    def evolve(self, **changes: Any) -> StakeState:
        return replace(self, **changes)


NO_STAKE = StakeState()
