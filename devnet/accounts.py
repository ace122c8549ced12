"""Accounts and permissions as java-tron stores them (core/Tron.proto `Account`, `Permission`).

Values are immutable; a transaction produces new `Account` values with
`dataclasses.replace`, which is what lets the ledger keep cheap per-block
layers. Resource times (`latest_consume_*`) are kept in slots of 3 s, as
java-tron keeps them; getaccount turns them into milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from devnet.stake_records import NO_STAKE, StakeState

__all__ = [
    "ACCOUNT_TYPE_NAMES",
    "DEFAULT_ACTIVE_OPERATIONS",
    "PERMISSION_TYPE_NAMES",
    "Account",
    "Key",
    "Permission",
    "default_active_permission",
    "default_owner_permission",
    "new_account",
]

# Account.AccountType and Permission.PermissionType in core/Tron.proto.
ACCOUNT_TYPE_NAMES = {0: "Normal", 1: "AssetIssue", 2: "Contract"}
PERMISSION_TYPE_NAMES = {0: "Owner", 1: "Witness", 2: "Active"}
OWNER, WITNESS, ACTIVE = 0, 1, 2

# Mainnet's ACTIVE_DEFAULT_OPERATIONS today: every system contract type up to
# CancelAllUnfreezeV2Contract (59), one bit per ContractType number.
DEFAULT_ACTIVE_OPERATIONS = bytes.fromhex("7fff1fc0033ec30f" + "00" * 24)


@dataclass(frozen=True, slots=True)
class Key:
    """A key of a permission: address and weight."""

    address: bytes
    weight: int


@dataclass(frozen=True, slots=True)
class Permission:
    """Account permission (owner id 0, witness id 1, actives id 2+)."""

    type: int
    id: int
    name: str
    threshold: int
    keys: tuple[Key, ...]
    operations: bytes = b""
    parent_id: int = 0

    def weight_of(self, address: bytes) -> int:
        """Weight of address in this permission; 0 when it holds no key."""
        for key in self.keys:
            if key.address == address:
                return key.weight
        return 0

    def allows(self, contract_type_number: int) -> bool:
        """Whether the operations bitmap allows this contract type (one bit per type)."""
        index, bit = divmod(contract_type_number, 8)
        return index < len(self.operations) and bool(self.operations[index] & (1 << bit))


def default_owner_permission(address: bytes) -> Permission:
    """AccountCapsule.createDefaultOwnerPermission: the address alone, threshold 1."""
    return Permission(OWNER, 0, "owner", 1, (Key(address, 1),))


def default_active_permission(address: bytes) -> Permission:
    """AccountCapsule.createDefaultActivePermission: id 2, the default operations."""
    return Permission(ACTIVE, 2, "active", 1, (Key(address, 1),), DEFAULT_ACTIVE_OPERATIONS)


@dataclass(frozen=True, slots=True)
class Account:
    """The fields of `protocol.Account` devnet maintains; zero means unset, as in proto3."""

    address: bytes
    balance_sun: int = 0
    account_name: bytes = b""
    type: int = 0
    create_time_ms: int = 0
    latest_operation_time_ms: int = 0
    net_usage: int = 0
    free_net_usage: int = 0
    latest_consume_time_slot: int = 0
    latest_consume_free_time_slot: int = 0
    net_window_size: int = 0
    net_window_optimized: bool = False
    frozen_v2_bandwidth_sun: int = 0
    acquired_delegated_v2_bandwidth_sun: int = 0
    energy_usage: int = 0
    latest_consume_time_for_energy_slot: int = 0
    energy_window_size: int = 0
    energy_window_optimized: bool = False
    owner_permission: Permission | None = None
    witness_permission: Permission | None = None
    active_permissions: tuple[Permission, ...] = ()
    is_witness: bool = False
    stake: StakeState = NO_STAKE  # Stake 2.0, votes and rewards (devnet.stake_records)

    def evolve(self, **changes: Any) -> Account:
        """A copy with some fields changed: dataclasses.replace, three times faster.

        Broadcasts spend a noticeable share of their time copying accounts.
        """
        new = object.__new__(Account)
        for name in _ACCOUNT_FIELDS:
            object.__setattr__(new, name, changes[name] if name in changes else getattr(self, name))
        return new

    @property
    def staked_for_bandwidth_sun(self) -> int:
        """getAllFrozenBalanceForBandwidth: own Stake 2.0 stake plus what others delegated."""
        return self.frozen_v2_bandwidth_sun + self.acquired_delegated_v2_bandwidth_sun

    def permission_by_id(self, permission_id: int) -> Permission | None:
        """AccountCapsule.getPermissionById: owner falls back to the default one."""
        if permission_id == 0:
            return self.owner_permission or default_owner_permission(self.address)
        if permission_id == 1:
            return self.witness_permission
        for permission in self.active_permissions:
            if permission.id == permission_id:
                return permission
        return None


_ACCOUNT_FIELDS = tuple(spec.name for spec in fields(Account))


def new_account(address: bytes, create_time_ms: int, balance_sun: int = 0) -> Account:
    """An account as TransferActuator creates it (AllowMultiSign on: default permissions)."""
    return Account(
        address=address,
        balance_sun=balance_sun,
        create_time_ms=create_time_ms,
        owner_permission=default_owner_permission(address),
        active_permissions=(default_active_permission(address),),
    )
