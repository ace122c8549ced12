"""What executing a transaction may look at besides state: the head block and parameters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from devnet.resources import head_slot
from devnet.staking_config import DEFAULT_STAKING, StakingConfig
from devnet.vm_result import VmReceipt

__all__ = ["ExecutionContext", "Receipt"]


@dataclass(frozen=True, slots=True)
class ExecutionContext:
    """The head a transaction executes on (java-tron's latest block header) and parameters.

    Transactions in block N execute with block N-1 as the head: java-tron
    updates its dynamic properties only after a block's transactions ran.
    """

    head_number: int
    head_timestamp_ms: int
    genesis_timestamp_ms: int
    parameters: Mapping[str, int]
    staking: StakingConfig = DEFAULT_STAKING  # devnet-only settings of genesis
    fee_limit_sun: int = 0  # raw_data.fee_limit of the transaction executing (contract calls)

    @property
    def now_slot(self) -> int:
        return head_slot(self.head_timestamp_ms, self.genesis_timestamp_ms)

    def param(self, key: str) -> int:
        """A chain parameter by its getchainparameters key (e.g. getTransactionFee)."""
        return self.parameters[key]


@dataclass(slots=True)
class Receipt:
    """The bill of one transaction while it executes (ResourceReceipt plus fees)."""

    net_usage: int = 0
    net_fee_sun: int = 0
    memo_fee_sun: int = 0
    multi_sign_fee_sun: int = 0
    contract_fee_sun: int = 0
    extras: dict[str, int] = field(default_factory=dict)
    vm: VmReceipt | None = None  # set by a smart-contract call (devnet.vm_actuator)

    @property
    def fee_sun(self) -> int:
        """TransactionInfo.fee: contract fee + energy fee + net fee + multi-sign + memo fee."""
        energy_fee_sun = self.vm.energy_fee_sun if self.vm is not None else 0
        return (
            self.contract_fee_sun + energy_fee_sun + self.net_fee_sun
            + self.multi_sign_fee_sun + self.memo_fee_sun
        )  # fmt: skip
