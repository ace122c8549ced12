"""The in-memory node's Stake 2.0 and votes (worker.memory_node.MemoryNode.stake).

A small model of java-tron's rules, good enough for handler unit tests: what a
broadcast is refused for (java-tron's CONTRACT_VALIDATE_ERROR texts), what a block's
transaction does to balances, frozen and unfrozen TRX, delegations and votes, and
the reads that show it. Rewards do not accrue: a test sets `rewards[address]`.
Amounts in sun, times in ms, addresses base58. devnet is the faithful model
(tests/integration/test_stake_gateway.py); this one only has to be consistent.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from worker.ports import ACCOUNT_RESOURCE_KEYS
from worker.txbuild import Contract, address_from_base58, address_to_base58

__all__ = ["STAKE_CONTRACTS", "StakeLedger", "StakeRefused"]

TRX_SUN = 1_000_000
DAY_MS = 86_400_000
BLOCK_MS = 3_000  # a lock period counts blocks of 3 s, whatever the chain's pace
DEFAULT_LOCK_BLOCKS = 86_400  # a lock of 0 blocks: java-tron's DELEGATE_PERIOD, 3 days
UNFREEZE_MAX_TIMES = 32  # unfreezes waiting at once
MAX_VOTES = 30  # witnesses per VoteWitness
TOTAL_ENERGY_LIMIT = 180_000_000_000  # getTotalEnergyCurrentLimit (mainnet, devnet)
TOTAL_NET_LIMIT = 43_200_000_000  # getTotalNetLimit
FREE_NET_LIMIT = 600  # getFreeNetLimit
RESOURCES = ("BANDWIDTH", "ENERGY")  # common.proto ResourceCode 0, 1
# Three witnesses, until a test names its own.
DEFAULT_WITNESSES = tuple(address_to_base58(bytes([0x41]) + bytes([n]) * 20) for n in (1, 2, 3))


class StakeRefused(Exception):
    """What java-tron's actuator would refuse the contract for (its message)."""


@dataclass
class _Stake:
    """One account's Stake 2.0 and votes (what getaccount shows of them)."""

    frozen: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RESOURCES, 0))
    delegated: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RESOURCES, 0))
    acquired: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RESOURCES, 0))
    unfrozen: list[tuple[str, int, int]] = field(default_factory=list)  # resource, sun, ends
    votes: list[tuple[str, int]] = field(default_factory=list)  # witness, count
    latest_withdraw_time_ms: int = 0

    def tron_power_sun(self) -> int:
        """Own stake, delegated or not: what votes may use (1 vote per TRX)."""
        return sum(self.frozen.values()) + sum(self.delegated.values())


@dataclass
class _Delegation:
    """A DelegatedResource record: stake lent, per resource, and when each lock ends."""

    amount: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RESOURCES, 0))
    expire_ms: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RESOURCES, 0))


@dataclass
class StakeLedger:
    """Stake 2.0 state beside MemoryNode.accounts (which keeps the balances)."""

    unfreeze_delay_ms: int = 14 * DAY_MS
    witnesses: list[str] = field(default_factory=lambda: list(DEFAULT_WITNESSES))
    rewards: dict[str, int] = field(default_factory=dict)  # what getReward answers
    stakes: dict[str, _Stake] = field(default_factory=dict)
    # (owner, receiver, locked): java-tron keeps a locked and an unlocked record per pair.
    delegations: dict[tuple[str, str, bool], _Delegation] = field(default_factory=dict)

    # --- transactions -------------------------------------------------------------------------

    def check(self, contract: Contract, accounts: dict[str, dict[str, Any]], now_ms: int) -> None:
        """Raise StakeRefused if `contract` would be refused now; changes nothing."""
        copy.deepcopy(self).execute(contract, copy.deepcopy(accounts), now_ms)

    def execute(
        self, contract: Contract, accounts: dict[str, dict[str, Any]], now_ms: int
    ) -> dict[str, int]:
        """Apply a stake contract that `check` let through; the receipt's extra fields
        (withdraw_amount, withdraw_expire_amount) when it has any."""
        fields = {
            name: address_to_base58(value) if name.endswith("_address") else value
            for name, value in contract.fields.items()
        }
        owner = fields.pop("owner_address")
        if owner not in accounts:
            raise StakeRefused(f"Account[{_hex(owner)}] not exists")
        if "resource" in fields:
            code = fields.pop("resource")
            if code not in (0, 1):
                raise StakeRefused("ResourceCode error, valid ResourceCode[BANDWIDTH、ENERGY]")
            fields["resource"] = RESOURCES[code]
        return STAKE_CONTRACTS[contract.type](self, accounts, owner, now_ms, **fields)

    def _freeze(
        self,
        accounts: dict[str, Any],
        owner: str,
        now_ms: int,
        *,
        frozen_balance: int = 0,
        resource: str = "BANDWIDTH",
    ) -> dict[str, int]:
        if frozen_balance < TRX_SUN:
            raise StakeRefused("frozenBalance must be greater than or equal to 1 TRX")
        if frozen_balance > _balance(accounts, owner):
            raise StakeRefused("frozenBalance must be less than or equal to accountBalance")
        _add_balance(accounts, owner, -frozen_balance)
        self._stake(owner).frozen[resource] += frozen_balance
        return {}

    def _unfreeze(
        self,
        accounts: dict[str, Any],
        owner: str,
        now_ms: int,
        *,
        unfreeze_balance: int = 0,
        resource: str = "BANDWIDTH",
    ) -> dict[str, int]:
        stake = self._stake(owner)
        if stake.frozen[resource] <= 0:
            raise StakeRefused(f"no frozenBalance({_name(resource)})")
        if not 0 < unfreeze_balance <= stake.frozen[resource]:
            raise StakeRefused(f"Invalid unfreeze_balance, [{unfreeze_balance}] is error")
        if self.available_unfreeze_count(accounts, owner, now_ms) <= 0:
            raise StakeRefused("Invalid unfreeze operation, unfreezing times is over limit")
        withdrawn = self._withdraw_expired(accounts, owner, now_ms)
        stake.frozen[resource] -= unfreeze_balance
        stake.unfrozen.append((resource, unfreeze_balance, now_ms + self.unfreeze_delay_ms))
        stake.votes = _shrunk(stake.votes, stake.tron_power_sun())
        return {"withdraw_expire_amount": withdrawn} if withdrawn else {}

    def _withdraw_unfrozen(
        self, accounts: dict[str, Any], owner: str, now_ms: int
    ) -> dict[str, int]:
        withdrawn = self._withdraw_expired(accounts, owner, now_ms)
        if withdrawn <= 0:
            raise StakeRefused("no unFreeze balance to withdraw ")
        return {"withdraw_expire_amount": withdrawn}

    def _delegate(
        self,
        accounts: dict[str, Any],
        owner: str,
        now_ms: int,
        *,
        resource: str = "BANDWIDTH",
        balance: int = 0,
        receiver_address: str = "",
        lock: int = 0,
        lock_period: int = 0,
    ) -> dict[str, int]:
        stake = self._stake(owner)
        if balance < TRX_SUN:
            raise StakeRefused("delegateBalance must be greater than or equal to 1 TRX")
        if stake.frozen[resource] < balance:
            name = "FreezeEnergyV2" if resource == "ENERGY" else "FreezeBandwidthV2"
            raise StakeRefused(
                f"delegateBalance must be less than or equal to available {name} balance"
            )
        _check_receiver(accounts, owner, receiver_address)
        expire_ms = now_ms + (lock_period or DEFAULT_LOCK_BLOCKS) * BLOCK_MS if lock else 0
        locked = self.delegations.get((owner, receiver_address, True))
        if lock and locked is not None and locked.expire_ms[resource] > expire_ms:
            remain = locked.expire_ms[resource] - now_ms
            raise StakeRefused(
                f"The lock period for {resource} this time cannot be less than the remaining "
                f"time[{remain}ms] of the last lock period for {resource}!"
            )
        self._unlock_expired(owner, receiver_address, now_ms)
        record = self.delegations.setdefault((owner, receiver_address, bool(lock)), _Delegation())
        record.amount[resource] += balance
        record.expire_ms[resource] = expire_ms
        stake.frozen[resource] -= balance
        stake.delegated[resource] += balance
        self._stake(receiver_address).acquired[resource] += balance
        return {}

    def _undelegate(
        self,
        accounts: dict[str, Any],
        owner: str,
        now_ms: int,
        *,
        resource: str = "BANDWIDTH",
        balance: int = 0,
        receiver_address: str = "",
    ) -> dict[str, int]:
        if receiver_address == owner:  # the receiver need not exist any more
            raise StakeRefused("receiverAddress must not be the same as ownerAddress")
        if not self.delegated_resource(owner, receiver_address):
            raise StakeRefused("delegated Resource does not exist")
        if balance <= 0:
            raise StakeRefused("unDelegateBalance must be more than 0 TRX")
        free = sum(
            record["frozen_balance_for_" + resource.lower()]
            for record in self.delegated_resource(owner, receiver_address)
            if record["expire_time_for_" + resource.lower()] < now_ms
        )
        if free < balance:
            what = "delegateFrozenBalance" if resource == "ENERGY" else "delegatedFrozenBalance"
            raise StakeRefused(
                f"insufficient {what}({_name(resource)}), request={balance}, unlock_balance={free}"
            )
        self._unlock_expired(owner, receiver_address, now_ms)
        unlocked = self.delegations[(owner, receiver_address, False)]
        unlocked.amount[resource] -= balance
        if not any(unlocked.amount.values()):
            del self.delegations[(owner, receiver_address, False)]
        stake = self._stake(owner)
        stake.delegated[resource] -= balance
        stake.frozen[resource] += balance
        self._stake(receiver_address).acquired[resource] -= balance
        return {}

    def _vote(
        self,
        accounts: dict[str, Any],
        owner: str,
        now_ms: int,
        *,
        votes: list[dict[str, Any]] | None = None,
        support: int = 0,
    ) -> dict[str, int]:
        cast = [
            (address_to_base58(v.get("vote_address", b"")), v.get("vote_count", 0))
            for v in votes or []
        ]
        if not cast:
            raise StakeRefused("VoteNumber must more than 0")
        if len(cast) > MAX_VOTES:
            raise StakeRefused(f"VoteNumber more than maxVoteNumber {MAX_VOTES}")
        for witness, count in cast:
            if witness not in self.witnesses:
                raise StakeRefused(f"Witness[{_hex(witness)}] not exists")
            if count <= 0:
                raise StakeRefused("vote count must be greater than 0")
        total_sun = sum(count for _, count in cast) * TRX_SUN
        power = self._stake(owner).tron_power_sun()
        if total_sun > power:
            raise StakeRefused(
                f"The total number of votes[{total_sun}] is greater than the tronPower[{power}]"
            )
        self._stake(owner).votes = cast
        return {}

    def _withdraw_reward(self, accounts: dict[str, Any], owner: str, now_ms: int) -> dict[str, int]:
        stake = self._stake(owner)
        if owner in self.witnesses:
            raise StakeRefused(
                f"Account[{_hex(owner)}] is a guard representative and is not allowed to "
                "withdraw Balance"
            )
        latest = stake.latest_withdraw_time_ms
        if now_ms - latest < DAY_MS:
            raise StakeRefused(f"The last withdraw time is {latest}, less than 24 hours")
        reward = self.rewards.get(owner, 0)
        if reward <= 0:
            raise StakeRefused("witnessAccount does not have any reward")
        _add_balance(accounts, owner, reward)
        self.rewards[owner] = 0
        stake.latest_withdraw_time_ms = now_ms
        return {"withdraw_amount": reward}

    def _withdraw_expired(self, accounts: dict[str, Any], owner: str, now_ms: int) -> int:
        """Move every unfreeze whose wait is over back to the balance; how much that was."""
        stake = self._stake(owner)
        withdrawn = sum(amount for _, amount, ends in stake.unfrozen if ends <= now_ms)
        stake.unfrozen = [entry for entry in stake.unfrozen if entry[2] > now_ms]
        _add_balance(accounts, owner, withdrawn)
        return withdrawn

    def _unlock_expired(self, owner: str, receiver: str, now_ms: int) -> None:
        """java-tron's unLockExpireResource: a lock that ended joins the unlocked record."""
        locked = self.delegations.get((owner, receiver, True))
        if locked is None:
            return
        unlocked = self.delegations.get((owner, receiver, False), _Delegation())
        for resource in RESOURCES:
            if locked.amount[resource] and locked.expire_ms[resource] < now_ms:
                unlocked.amount[resource] += locked.amount[resource]
                locked.amount[resource] = locked.expire_ms[resource] = 0
        if any(unlocked.amount.values()):
            self.delegations[(owner, receiver, False)] = unlocked
        if not any(locked.amount.values()):
            del self.delegations[(owner, receiver, True)]

    def _stake(self, address: str) -> _Stake:
        return self.stakes.setdefault(address, _Stake())

    # --- reads ---------------------------------------------------------------------------------

    def account_fields(self, address: str) -> dict[str, Any]:
        """What getaccount (visible) shows of the account's stake; {} for none. Zeros are
        left out and BANDWIDTH's type too, as java-tron's JsonFormat prints them."""
        stake = self.stakes.get(address)
        if stake is None:
            return {}
        shown: dict[str, Any] = {
            "frozenV2": [
                _typed(resource, amount=stake.frozen[resource]) for resource in RESOURCES
            ] + [{"type": "TRON_POWER"}],
            "unfrozenV2": [
                _typed(resource, unfreeze_amount=amount, unfreeze_expire_time=ends)
                for resource, amount, ends in stake.unfrozen
            ],
            "votes": [{"vote_address": w, "vote_count": n} for w, n in stake.votes],
            "delegated_frozenV2_balance_for_bandwidth": stake.delegated["BANDWIDTH"],
            "acquired_delegated_frozenV2_balance_for_bandwidth": stake.acquired["BANDWIDTH"],
            "latest_withdraw_time": stake.latest_withdraw_time_ms,
            "account_resource": _nonzero({
                "delegated_frozenV2_balance_for_energy": stake.delegated["ENERGY"],
                "acquired_delegated_frozenV2_balance_for_energy": stake.acquired["ENERGY"],
            }),
        }  # fmt: skip
        return _nonzero(shown)

    def account_resource(self, accounts: dict[str, Any], address: str) -> dict[str, int]:
        """getaccountresource: limits in proportion to stake, nothing used."""
        if address not in accounts:
            return dict.fromkeys(ACCOUNT_RESOURCE_KEYS, 0)
        stake = self.stakes.get(address, _Stake())
        energy_weight, net_weight = (self._total_weight(r) for r in ("ENERGY", "BANDWIDTH"))
        figures = {
            "freeNetLimit": FREE_NET_LIMIT,
            "NetLimit": _share(stake, "BANDWIDTH", TOTAL_NET_LIMIT, net_weight),
            "TotalNetLimit": TOTAL_NET_LIMIT,
            "TotalNetWeight": net_weight,
            "tronPowerUsed": sum(count for _, count in stake.votes),
            "tronPowerLimit": stake.tron_power_sun() // TRX_SUN,
            "EnergyLimit": _share(stake, "ENERGY", TOTAL_ENERGY_LIMIT, energy_weight),
            "TotalEnergyLimit": TOTAL_ENERGY_LIMIT,
            "TotalEnergyWeight": energy_weight,
        }
        return {key: figures.get(key, 0) for key in ACCOUNT_RESOURCE_KEYS}

    def can_delegate_max_size(self, owner: str, resource: str) -> int:
        frozen = self.stakes.get(owner, _Stake()).frozen[resource]
        return frozen if frozen >= TRX_SUN else 0

    def delegated_resource(self, owner: str, receiver: str) -> list[dict[str, int]]:
        """The unlocked record, then the locked one, as getdelegatedresourcev2 lists them."""
        records = (self.delegations.get((owner, receiver, locked)) for locked in (False, True))
        return [
            {
                "frozen_balance_for_bandwidth": record.amount["BANDWIDTH"],
                "frozen_balance_for_energy": record.amount["ENERGY"],
                "expire_time_for_bandwidth": record.expire_ms["BANDWIDTH"],
                "expire_time_for_energy": record.expire_ms["ENERGY"],
            }
            for record in records
            if record is not None and any(record.amount.values())
        ]

    def available_unfreeze_count(self, accounts: dict[str, Any], owner: str, now_ms: int) -> int:
        if owner not in accounts:
            return 0
        waiting = [e for e in self.stakes.get(owner, _Stake()).unfrozen if e[2] > now_ms]
        return UNFREEZE_MAX_TIMES - len(waiting)

    def can_withdraw_unfreeze_amount(self, owner: str, timestamp_ms: int) -> int:
        unfrozen = self.stakes.get(owner, _Stake()).unfrozen
        return sum(amount for _, amount, ends in unfrozen if ends <= timestamp_ms)

    def _total_weight(self, resource: str) -> int:
        """Every account's stake for a resource, delegated or not, in whole TRX."""
        staked = sum(s.frozen[resource] + s.delegated[resource] for s in self.stakes.values())
        return staked // TRX_SUN


# Each stake contract's effect, by contract type.
STAKE_CONTRACTS: dict[str, Callable[..., dict[str, int]]] = {
    "FreezeBalanceV2Contract": StakeLedger._freeze,
    "UnfreezeBalanceV2Contract": StakeLedger._unfreeze,
    "WithdrawExpireUnfreezeContract": StakeLedger._withdraw_unfrozen,
    "DelegateResourceContract": StakeLedger._delegate,
    "UnDelegateResourceContract": StakeLedger._undelegate,
    "VoteWitnessContract": StakeLedger._vote,
    "WithdrawBalanceContract": StakeLedger._withdraw_reward,
}


def _shrunk(votes: list[tuple[str, int]], power_sun: int) -> list[tuple[str, int]]:
    """java-tron's updateVote: votes the stake no longer covers shrink in proportion
    (Java's double arithmetic, truncated; a vote that falls to 0 goes)."""
    total = sum(count for _, count in votes)
    if total * TRX_SUN <= power_sun:
        return votes
    scaled = [(witness, int(count / total * power_sun / TRX_SUN)) for witness, count in votes]
    return [(witness, count) for witness, count in scaled if count > 0]


def _share(stake: _Stake, resource: str, total_limit: int, total_weight: int) -> int:
    """An account's part of a resource: its own and acquired stake over everyone's."""
    weight = (stake.frozen[resource] + stake.acquired[resource]) // TRX_SUN
    return weight * total_limit // total_weight if total_weight else 0


def _check_receiver(accounts: dict[str, Any], owner: str, receiver: str) -> None:
    if receiver == owner:
        raise StakeRefused("receiverAddress must not be the same as ownerAddress")
    if receiver not in accounts:
        raise StakeRefused(f"Account[{_hex(receiver)}] not exists")


def _balance(accounts: dict[str, Any], address: str) -> int:
    return int(accounts[address].get("balance", 0))


def _add_balance(accounts: dict[str, Any], address: str, sun: int) -> None:
    accounts[address]["balance"] = _balance(accounts, address) + sun


def _typed(resource: str, **values: int) -> dict[str, Any]:
    """An entry with a ResourceCode `type`: BANDWIDTH (0) is left out, as zeros are."""
    entry: dict[str, Any] = {} if resource == "BANDWIDTH" else {"type": resource}
    return entry | {key: value for key, value in values.items() if value}


def _nonzero(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value}


def _name(resource: str) -> str:
    """How java-tron's messages name a resource (sic: BANDWIDTH, but Energy)."""
    return "Energy" if resource == "ENERGY" else "BANDWIDTH"


def _hex(address: str) -> str:
    return address_from_base58(address).hex()
