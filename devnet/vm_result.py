"""What a smart-contract call leaves behind for TransactionInfo: result, logs and energy bill.

Plain data, so the receipt, the ledger and the renderers can carry it without
importing the VM. Field meanings are java-tron's (ProgramResult and
ResourceReceipt): `energy_usage` is what the caller paid from its stake,
`energy_fee_sun` what it burnt, `origin_energy_usage` what the contract's
deployer paid from its stake, `energy_usage_total` all three together.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["CONTRACT_RESULT_NUMBERS", "ContractLog", "VmReceipt"]

# Transaction.Result.contractResult in core/Tron.proto (the values devnet produces).
CONTRACT_RESULT_NUMBERS: Mapping[str, int] = MappingProxyType(
    {"SUCCESS": 1, "REVERT": 2, "OUT_OF_ENERGY": 10}
)


@dataclass(frozen=True, slots=True)
class ContractLog:
    """TransactionInfo.Log: the emitting contract's 20-byte address, topics and data."""

    address: bytes
    topics: tuple[bytes, ...]
    data: bytes


@dataclass(frozen=True, slots=True)
class VmReceipt:
    """The outcome and bill of one TriggerSmartContract execution."""

    contract_ret: str  # SUCCESS, REVERT or OUT_OF_ENERGY
    contract_address: bytes  # 21 bytes
    result: bytes = b""  # return data, or revert data
    logs: tuple[ContractLog, ...] = ()
    runtime_error: str = ""  # TransactionInfo.resMessage; empty on success
    energy_usage: int = 0
    energy_fee_sun: int = 0
    origin_energy_usage: int = 0
    energy_usage_total: int = 0
    energy_penalty_total: int = 0
