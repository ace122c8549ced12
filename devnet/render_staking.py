"""JSON of Stake 2.0 and governance: account fields, delegation records, witnesses, limits.

Everything is a JsonFormat print of java-tron's message (Tron.proto Account
fields 5/11/12/14/35/36/37 and AccountResource 10/11, DelegatedResource,
DelegatedResourceAccountIndex, Witness, and the small api.proto replies), so
zero fields are left out and addresses are base58 only when `visible`.
"""

from __future__ import annotations

from typing import Any

from devnet.accounts import Account
from devnet.contracts import RESOURCE_CODE
from devnet.delegation import index_links
from devnet.messages import FieldSpec, Kind, MessageSpec, print_message
from devnet.stake_records import DelegatedResource

__all__ = [
    "STAKE_ACCOUNT_FIELDS",
    "STAKE_RESOURCE_FIELDS",
    "WitnessRow",
    "render_delegated_resources",
    "render_delegation_index",
    "render_witnesses",
    "stake_account_values",
    "stake_resource_values",
]

_VOTE = MessageSpec(
    "protocol.Vote",
    (
        FieldSpec("vote_address", 1, Kind.BYTES, address=True),
        FieldSpec("vote_count", 2, Kind.INT64),
    ),
)
_UNFREEZE_V2 = MessageSpec(
    "protocol.Account.UnFreezeV2",
    (
        FieldSpec("type", 1, Kind.ENUM, enum=RESOURCE_CODE),
        FieldSpec("unfreeze_amount", 3, Kind.INT64),
        FieldSpec("unfreeze_expire_time", 4, Kind.INT64),
    ),
)
# Fields of protocol.Account that Stake 2.0 and voting set, for render_accounts' _ACCOUNT.
STAKE_ACCOUNT_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("votes", 5, Kind.MESSAGE, repeated=True, message=_VOTE),
    FieldSpec("allowance", 11, Kind.INT64),
    FieldSpec("latest_withdraw_time", 12, Kind.INT64),
    FieldSpec("is_witness", 14, Kind.BOOL),
    FieldSpec("unfrozenV2", 35, Kind.MESSAGE, repeated=True, message=_UNFREEZE_V2),
    FieldSpec("delegated_frozenV2_balance_for_bandwidth", 36, Kind.INT64),
    FieldSpec("acquired_delegated_frozenV2_balance_for_bandwidth", 37, Kind.INT64),
)
# ... and of protocol.Account.AccountResource.
STAKE_RESOURCE_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("delegated_frozenV2_balance_for_energy", 10, Kind.INT64),
    FieldSpec("acquired_delegated_frozenV2_balance_for_energy", 11, Kind.INT64),
)


def stake_account_values(account: Account) -> dict[str, Any]:
    """Values of STAKE_ACCOUNT_FIELDS for getaccount."""
    stake = account.stake
    return {
        "votes": [
            {"vote_address": vote.vote_address, "vote_count": vote.vote_count}
            for vote in stake.votes
        ],
        "allowance": stake.allowance_sun,
        "latest_withdraw_time": stake.latest_withdraw_time_ms,
        "is_witness": account.is_witness,
        "unfrozenV2": [
            {
                "type": item.type,
                "unfreeze_amount": item.unfreeze_amount,
                "unfreeze_expire_time": item.unfreeze_expire_time_ms,
            }
            for item in stake.unfrozen_v2
        ],
        "delegated_frozenV2_balance_for_bandwidth": stake.delegated_frozen_v2_bandwidth_sun,
        "acquired_delegated_frozenV2_balance_for_bandwidth": (
            account.acquired_delegated_v2_bandwidth_sun
        ),
    }


def stake_resource_values(account: Account) -> dict[str, Any]:
    """Values of STAKE_RESOURCE_FIELDS for getaccount's account_resource."""
    return {
        "delegated_frozenV2_balance_for_energy": account.stake.delegated_frozen_v2_energy_sun,
        "acquired_delegated_frozenV2_balance_for_energy": (
            account.stake.acquired_delegated_v2_energy_sun
        ),
    }


_DELEGATED_RESOURCE = MessageSpec(
    "protocol.DelegatedResource",
    (
        FieldSpec("from", 1, Kind.BYTES, address=True),
        FieldSpec("to", 2, Kind.BYTES, address=True),
        FieldSpec("frozen_balance_for_bandwidth", 3, Kind.INT64),
        FieldSpec("frozen_balance_for_energy", 4, Kind.INT64),
        FieldSpec("expire_time_for_bandwidth", 5, Kind.INT64),
        FieldSpec("expire_time_for_energy", 6, Kind.INT64),
    ),
)
_DELEGATED_RESOURCE_LIST = MessageSpec(
    "protocol.DelegatedResourceList",
    (FieldSpec("delegatedResource", 1, Kind.MESSAGE, repeated=True, message=_DELEGATED_RESOURCE),),
)
_ACCOUNT_INDEX = MessageSpec(
    "protocol.DelegatedResourceAccountIndex",
    (
        FieldSpec("account", 1, Kind.BYTES, address=True),
        FieldSpec("fromAccounts", 2, Kind.BYTES, repeated=True, address=True),
        FieldSpec("toAccounts", 3, Kind.BYTES, repeated=True, address=True),
        FieldSpec("timestamp", 4, Kind.INT64),
    ),
)


def render_delegated_resources(
    owner: bytes, records: list[DelegatedResource], visible: bool
) -> dict[str, Any]:
    """getdelegatedresourcev2: the DelegatedResourceList of owner -> to."""
    values = [
        {
            "from": owner,
            "to": record.to,
            "frozen_balance_for_bandwidth": record.frozen_balance_for_bandwidth,
            "frozen_balance_for_energy": record.frozen_balance_for_energy,
            "expire_time_for_bandwidth": record.expire_time_for_bandwidth_ms,
            "expire_time_for_energy": record.expire_time_for_energy_ms,
        }
        for record in records
    ]
    return print_message(_DELEGATED_RESOURCE_LIST, {"delegatedResource": values}, visible)


def render_delegation_index(
    address: bytes, account: Account | None, visible: bool
) -> dict[str, Any]:
    """getdelegatedresourceaccountindexv2: who delegated to address and to whom it delegates."""
    values: dict[str, Any] = {"account": address}
    if account is not None:
        values["fromAccounts"] = index_links(account.stake.delegated_from)
        values["toAccounts"] = index_links(account.stake.delegated_to)
    return print_message(_ACCOUNT_INDEX, values, visible)


_WITNESS = MessageSpec(
    "protocol.Witness",
    (
        FieldSpec("address", 1, Kind.BYTES, address=True),
        FieldSpec("voteCount", 2, Kind.INT64),
        FieldSpec("pubKey", 3, Kind.BYTES),
        FieldSpec("url", 4, Kind.STRING),
        FieldSpec("totalProduced", 5, Kind.INT64),
        FieldSpec("totalMissed", 6, Kind.INT64),
        FieldSpec("latestBlockNum", 7, Kind.INT64),
        FieldSpec("latestSlotNum", 8, Kind.INT64),
        FieldSpec("isJobs", 9, Kind.BOOL),
    ),
)
_WITNESS_LIST = MessageSpec(
    "protocol.WitnessList",
    (FieldSpec("witnesses", 1, Kind.MESSAGE, repeated=True, message=_WITNESS),),
)

WitnessRow = dict[str, Any]  # a Witness message value: address, voteCount, url, ...


def render_witnesses(rows: list[WitnessRow], visible: bool) -> dict[str, Any]:
    """listwitnesses: the WitnessList."""
    return print_message(_WITNESS_LIST, {"witnesses": rows}, visible)
