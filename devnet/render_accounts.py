"""getaccount, getaccountnet and getaccountresource in java-tron's JSON shapes.

Wallet.getAccount first brings usage up to the head slot (BandwidthProcessor
and EnergyProcessor updateUsage: usage decays, the window fields become
28 800 000 / optimized), turns the stored slot times into milliseconds, lists
frozenV2 for all three resource codes (zero amounts print as `{}`), and
importAllAsset sets `asset_optimized`. The message is then printed by
JsonFormat: number order, defaults left out, addresses base58 when visible.
"""

from __future__ import annotations

from typing import Any

from devnet.accounts import PERMISSION_TYPE_NAMES, Account, Permission
from devnet.bandwidth import TOTAL_NET_WEIGHT, staked_net_limit
from devnet.context import ExecutionContext
from devnet.contracts import RESOURCE_CODE
from devnet.energy import TOTAL_ENERGY_WEIGHT, energy_limit
from devnet.governance import tron_power, tron_power_used
from devnet.ledger import StateView
from devnet.messages import EnumSpec, FieldSpec, Kind, MessageSpec, print_message
from devnet.render_staking import (
    STAKE_ACCOUNT_FIELDS,
    STAKE_RESOURCE_FIELDS,
    stake_account_values,
    stake_resource_values,
)
from devnet.resources import TRX_PRECISION, Usage, increase, increase_v2, slot_to_ms

__all__ = [
    "ACCOUNT_ADDRESS_SPEC",
    "PERMISSION_SPEC",
    "TOTAL_ENERGY_WEIGHT",
    "permission_values",
    "render_account",
    "render_account_net",
    "render_account_resource",
]

TOTAL_TRON_POWER_WEIGHT = "TOTAL_TRON_POWER_WEIGHT"

_KEY = MessageSpec(
    "protocol.Key",
    (FieldSpec("address", 1, Kind.BYTES, address=True), FieldSpec("weight", 2, Kind.INT64)),
)
PERMISSION_SPEC = MessageSpec(
    "protocol.Permission",
    (
        FieldSpec("type", 1, Kind.ENUM, enum=EnumSpec(PERMISSION_TYPE_NAMES)),
        FieldSpec("id", 2, Kind.INT32),
        FieldSpec("permission_name", 3, Kind.STRING),
        FieldSpec("threshold", 4, Kind.INT64),
        FieldSpec("parent_id", 5, Kind.INT32),
        FieldSpec("operations", 6, Kind.BYTES),
        FieldSpec("keys", 7, Kind.MESSAGE, repeated=True, message=_KEY),
    ),
)
_ACCOUNT_RESOURCE = MessageSpec(
    "protocol.Account.AccountResource",
    (
        FieldSpec("energy_usage", 1, Kind.INT64),
        FieldSpec("latest_consume_time_for_energy", 3, Kind.INT64),
        FieldSpec("energy_window_size", 9, Kind.INT64),
        FieldSpec("energy_window_optimized", 12, Kind.BOOL),
        *STAKE_RESOURCE_FIELDS,
    ),
)
_FREEZE_V2 = MessageSpec(
    "protocol.Account.FreezeV2",
    (FieldSpec("type", 1, Kind.ENUM, enum=RESOURCE_CODE), FieldSpec("amount", 2, Kind.INT64)),
)
_ACCOUNT = MessageSpec(
    "protocol.Account",
    (
        FieldSpec("account_name", 1, Kind.BYTES, text=True),
        FieldSpec(
            "type", 2, Kind.ENUM, enum=EnumSpec({0: "Normal", 1: "AssetIssue", 2: "Contract"})
        ),
        FieldSpec("address", 3, Kind.BYTES, address=True),
        FieldSpec("balance", 4, Kind.INT64),
        FieldSpec("net_usage", 8, Kind.INT64),
        FieldSpec("create_time", 9, Kind.INT64),
        FieldSpec("latest_opration_time", 10, Kind.INT64),  # sic, as in Tron.proto
        FieldSpec("free_net_usage", 19, Kind.INT64),
        FieldSpec("latest_consume_time", 21, Kind.INT64),
        FieldSpec("latest_consume_free_time", 22, Kind.INT64),
        FieldSpec("net_window_size", 24, Kind.INT64),
        FieldSpec("net_window_optimized", 25, Kind.BOOL),
        FieldSpec("account_resource", 26, Kind.MESSAGE, message=_ACCOUNT_RESOURCE),
        FieldSpec("owner_permission", 31, Kind.MESSAGE, message=PERMISSION_SPEC),
        FieldSpec("witness_permission", 32, Kind.MESSAGE, message=PERMISSION_SPEC),
        FieldSpec("active_permission", 33, Kind.MESSAGE, repeated=True, message=PERMISSION_SPEC),
        FieldSpec("frozenV2", 34, Kind.MESSAGE, repeated=True, message=_FREEZE_V2),
        FieldSpec("asset_optimized", 60, Kind.BOOL),
        *STAKE_ACCOUNT_FIELDS,
    ),
)
# What getaccount reads from its request: an Account with only the address.
ACCOUNT_ADDRESS_SPEC = MessageSpec(
    "protocol.Account", (FieldSpec("address", 3, Kind.BYTES, address=True),)
)


def permission_values(permission: Permission | None) -> dict[str, Any] | None:
    """A Permission as a PERMISSION_SPEC message value (None stays unset)."""
    if permission is None:
        return None
    return {
        "type": permission.type,
        "id": permission.id,
        "permission_name": permission.name,
        "threshold": permission.threshold,
        "parent_id": permission.parent_id,
        "operations": permission.operations,
        "keys": [{"address": key.address, "weight": key.weight} for key in permission.keys],
    }


def _net_now(account: Account, now_slot: int) -> Usage:
    """BandwidthProcessor.updateUsage: staked-net usage decayed to now (the reply keeps
    the stored last slot)."""
    stored = Usage(
        account.net_usage,
        account.latest_consume_time_slot,
        account.net_window_size,
        account.net_window_optimized,
    )
    return increase_v2(stored, 0, now_slot)


def _energy_now(account: Account, now_slot: int) -> Usage:
    """EnergyProcessor.updateUsage: energy usage decayed to now."""
    stored = Usage(
        account.energy_usage,
        account.latest_consume_time_for_energy_slot,
        account.energy_window_size,
        account.energy_window_optimized,
    )
    return increase_v2(stored, 0, now_slot)


def render_account(account: Account, ctx: ExecutionContext, visible: bool) -> dict[str, Any]:
    """Render /wallet/getaccount for an existing account."""
    now, genesis_ms = ctx.now_slot, ctx.genesis_timestamp_ms
    net, energy = _net_now(account, now), _energy_now(account, now)
    free_net = increase(account.free_net_usage, 0, account.latest_consume_free_time_slot, now)
    values = {
        "account_name": account.account_name,
        "type": account.type,
        "address": account.address,
        "balance": account.balance_sun,
        "net_usage": net.usage,
        "create_time": account.create_time_ms,
        "latest_opration_time": account.latest_operation_time_ms,
        "free_net_usage": free_net,
        "latest_consume_time": slot_to_ms(account.latest_consume_time_slot, genesis_ms),
        "latest_consume_free_time": slot_to_ms(account.latest_consume_free_time_slot, genesis_ms),
        "net_window_size": net.window_size,
        "net_window_optimized": net.window_optimized,
        "account_resource": {
            "energy_usage": energy.usage,
            "latest_consume_time_for_energy": slot_to_ms(
                account.latest_consume_time_for_energy_slot, genesis_ms
            ),
            "energy_window_size": energy.window_size,
            "energy_window_optimized": energy.window_optimized,
            **stake_resource_values(account),
        },
        "owner_permission": permission_values(account.owner_permission),
        "witness_permission": permission_values(account.witness_permission),
        "active_permission": [permission_values(p) for p in account.active_permissions],
        "frozenV2": [
            {"type": 0, "amount": account.frozen_v2_bandwidth_sun},
            {"type": 1, "amount": account.stake.frozen_v2_energy_sun},
            {"type": 2, "amount": 0},
        ],
        "asset_optimized": True,
        **stake_account_values(account),
    }
    return print_message(_ACCOUNT, values, visible)


def _net_fields(account: Account, ctx: ExecutionContext, state: StateView) -> dict[str, int]:
    now = ctx.now_slot
    free_net = increase(account.free_net_usage, 0, account.latest_consume_free_time_slot, now)
    net = _net_now(account, now)
    fields = {
        "freeNetUsed": free_net,
        "freeNetLimit": ctx.param("getFreeNetLimit"),
        "NetUsed": net.usage,
        "NetLimit": staked_net_limit(account, ctx, state),
        "TotalNetLimit": ctx.param("getTotalNetLimit"),
        "TotalNetWeight": state.property(TOTAL_NET_WEIGHT),
    }
    return {key: value for key, value in fields.items() if value}


def render_account_net(account: Account, ctx: ExecutionContext, state: StateView) -> dict[str, int]:
    """Render /wallet/getaccountnet (AccountNetMessage; zero fields omitted)."""
    return _net_fields(account, ctx, state)


def render_account_resource(
    account: Account, ctx: ExecutionContext, state: StateView
) -> dict[str, int]:
    """Render /wallet/getaccountresource (AccountResourceMessage, field-number order)."""
    fields = {
        **_net_fields(account, ctx, state),
        "TotalTronPowerWeight": state.property(TOTAL_TRON_POWER_WEIGHT),
        "tronPowerUsed": tron_power_used(account),
        "tronPowerLimit": tron_power(account) // TRX_PRECISION,
        "EnergyUsed": _energy_now(account, ctx.now_slot).usage,
        "EnergyLimit": energy_limit(account, ctx, state),
        "TotalEnergyLimit": ctx.param("getTotalEnergyCurrentLimit"),
        "TotalEnergyWeight": state.property(TOTAL_ENERGY_WEIGHT),
    }
    return {key: value for key, value in fields.items() if value}
