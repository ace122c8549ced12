"""The system contract messages devnet understands, with java-tron's field numbers.

Field numbers and types are those of tronprotocol/protocol
`core/contract/balance_contract.proto`, `smart_contract.proto`,
`witness_contract.proto`, `asset_issue_contract.proto` and `common.proto`;
`address=True` marks the fields java-tron lists in HttpSelfFormatFieldName
(base58 when `visible`), `text=True` its name fields (UTF-8 when `visible`).
A transaction whose contract type is not here is treated as java-tron treats
one it cannot parse: the contract is dropped (see `devnet.transactions`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from devnet.messages import EnumSpec, FieldSpec, Kind, MessageSpec

__all__ = [
    "CONTRACT_TYPES",
    "CONTRACT_TYPE_NAMES",
    "RESOURCE_CODE",
    "ContractType",
    "contract_type",
]

# Transaction.Contract.ContractType in core/Tron.proto (every value, so names print right).
CONTRACT_TYPE_NAMES: Mapping[int, str] = MappingProxyType({
    0: "AccountCreateContract", 1: "TransferContract", 2: "TransferAssetContract",
    3: "VoteAssetContract", 4: "VoteWitnessContract", 5: "WitnessCreateContract",
    6: "AssetIssueContract", 8: "WitnessUpdateContract", 9: "ParticipateAssetIssueContract",
    10: "AccountUpdateContract", 11: "FreezeBalanceContract", 12: "UnfreezeBalanceContract",
    13: "WithdrawBalanceContract", 14: "UnfreezeAssetContract", 15: "UpdateAssetContract",
    16: "ProposalCreateContract", 17: "ProposalApproveContract", 18: "ProposalDeleteContract",
    19: "SetAccountIdContract", 20: "CustomContract", 30: "CreateSmartContract",
    31: "TriggerSmartContract", 32: "GetContract", 33: "UpdateSettingContract",
    41: "ExchangeCreateContract", 42: "ExchangeInjectContract", 43: "ExchangeWithdrawContract",
    44: "ExchangeTransactionContract", 45: "UpdateEnergyLimitContract",
    46: "AccountPermissionUpdateContract", 48: "ClearABIContract", 49: "UpdateBrokerageContract",
    51: "ShieldedTransferContract", 52: "MarketSellAssetContract", 53: "MarketCancelOrderContract",
    54: "FreezeBalanceV2Contract", 55: "UnfreezeBalanceV2Contract",
    56: "WithdrawExpireUnfreezeContract", 57: "DelegateResourceContract",
    58: "UnDelegateResourceContract", 59: "CancelAllUnfreezeV2Contract",
})  # fmt: skip

CONTRACT_TYPE_ENUM = EnumSpec(CONTRACT_TYPE_NAMES)

# common.proto ResourceCode.
RESOURCE_CODE = EnumSpec(MappingProxyType({0: "BANDWIDTH", 1: "ENERGY", 2: "TRON_POWER"}))


def _owner() -> FieldSpec:
    return FieldSpec("owner_address", 1, Kind.BYTES, address=True)


def _message(name: str, *fields: FieldSpec) -> MessageSpec:
    return MessageSpec(f"protocol.{name}", (_owner(), *fields))


TRANSFER = _message(
    "TransferContract",
    FieldSpec("to_address", 2, Kind.BYTES, address=True),
    FieldSpec("amount", 3, Kind.INT64),
)
# TransferAssetContract numbers its owner 2, unlike every other contract.
TRANSFER_ASSET = MessageSpec(
    "protocol.TransferAssetContract",
    (
        FieldSpec("asset_name", 1, Kind.BYTES, text=True),
        FieldSpec("owner_address", 2, Kind.BYTES, address=True),
        FieldSpec("to_address", 3, Kind.BYTES, address=True),
        FieldSpec("amount", 4, Kind.INT64),
    ),
)
TRIGGER_SMART_CONTRACT = _message(
    "TriggerSmartContract",
    FieldSpec("contract_address", 2, Kind.BYTES, address=True),
    FieldSpec("call_value", 3, Kind.INT64),
    FieldSpec("data", 4, Kind.BYTES),
    FieldSpec("call_token_value", 5, Kind.INT64),
    FieldSpec("token_id", 6, Kind.INT64),
)
FREEZE_BALANCE_V2 = _message(
    "FreezeBalanceV2Contract",
    FieldSpec("frozen_balance", 2, Kind.INT64),
    FieldSpec("resource", 3, Kind.ENUM, enum=RESOURCE_CODE),
)
UNFREEZE_BALANCE_V2 = _message(
    "UnfreezeBalanceV2Contract",
    FieldSpec("unfreeze_balance", 2, Kind.INT64),
    FieldSpec("resource", 3, Kind.ENUM, enum=RESOURCE_CODE),
)
WITHDRAW_EXPIRE_UNFREEZE = _message("WithdrawExpireUnfreezeContract")
CANCEL_ALL_UNFREEZE_V2 = _message("CancelAllUnfreezeV2Contract")
DELEGATE_RESOURCE = _message(
    "DelegateResourceContract",
    FieldSpec("resource", 2, Kind.ENUM, enum=RESOURCE_CODE),
    FieldSpec("balance", 3, Kind.INT64),
    FieldSpec("receiver_address", 4, Kind.BYTES, address=True),
    FieldSpec("lock", 5, Kind.BOOL),
    FieldSpec("lock_period", 6, Kind.INT64),
)
UNDELEGATE_RESOURCE = _message(
    "UnDelegateResourceContract",
    FieldSpec("resource", 2, Kind.ENUM, enum=RESOURCE_CODE),
    FieldSpec("balance", 3, Kind.INT64),
    FieldSpec("receiver_address", 4, Kind.BYTES, address=True),
)
VOTE = MessageSpec(
    "protocol.VoteWitnessContract.Vote",
    (
        FieldSpec("vote_address", 1, Kind.BYTES, address=True),
        FieldSpec("vote_count", 2, Kind.INT64),
    ),
)
VOTE_WITNESS = _message(
    "VoteWitnessContract",
    FieldSpec("votes", 2, Kind.MESSAGE, repeated=True, message=VOTE),
    FieldSpec("support", 3, Kind.BOOL),
)
WITHDRAW_BALANCE = _message("WithdrawBalanceContract")


@dataclass(frozen=True, slots=True)
class ContractType:
    """A contract type devnet can parse: enum number, name and parameter message."""

    number: int
    name: str
    spec: MessageSpec

    @property
    def type_url(self) -> str:
        """The Any type URL java-tron's own builders write (Any.pack)."""
        return f"type.googleapis.com/{self.spec.full_name}"


def _types(*specs: MessageSpec) -> Mapping[str, ContractType]:
    numbers = {name: number for number, name in CONTRACT_TYPE_NAMES.items()}
    table = {}
    for spec in specs:
        name = spec.full_name.removeprefix("protocol.")
        table[name] = ContractType(numbers[name], name, spec)
    return MappingProxyType(table)


CONTRACT_TYPES: Mapping[str, ContractType] = _types(
    TRANSFER,
    TRANSFER_ASSET,
    TRIGGER_SMART_CONTRACT,
    FREEZE_BALANCE_V2,
    UNFREEZE_BALANCE_V2,
    WITHDRAW_EXPIRE_UNFREEZE,
    CANCEL_ALL_UNFREEZE_V2,
    DELEGATE_RESOURCE,
    UNDELEGATE_RESOURCE,
    VOTE_WITNESS,
    WITHDRAW_BALANCE,
)


def contract_type(name: str) -> ContractType | None:
    """Look up a contract type by its enum name; None when devnet does not model it."""
    return CONTRACT_TYPES.get(name)
