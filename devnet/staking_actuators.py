"""The Stake 2.0 and governance actuators by contract type, for `devnet.actuators.ACTUATORS`."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

from devnet.delegation_actuators import DelegateResourceActuator, UnDelegateResourceActuator
from devnet.governance import VoteWitnessActuator, WithdrawBalanceActuator
from devnet.staking import (
    CancelAllUnfreezeV2Actuator,
    FreezeBalanceV2Actuator,
    UnfreezeBalanceV2Actuator,
    WithdrawExpireUnfreezeActuator,
)

if TYPE_CHECKING:  # devnet.actuators imports this module to build its registry
    from devnet.actuators import Actuator

__all__ = ["STAKING_ACTUATORS"]

STAKING_ACTUATORS: Mapping[str, Actuator] = MappingProxyType({
    "FreezeBalanceV2Contract": FreezeBalanceV2Actuator(),
    "UnfreezeBalanceV2Contract": UnfreezeBalanceV2Actuator(),
    "WithdrawExpireUnfreezeContract": WithdrawExpireUnfreezeActuator(),
    "CancelAllUnfreezeV2Contract": CancelAllUnfreezeV2Actuator(),
    "DelegateResourceContract": DelegateResourceActuator(),
    "UnDelegateResourceContract": UnDelegateResourceActuator(),
    "VoteWitnessContract": VoteWitnessActuator(),
    "WithdrawBalanceContract": WithdrawBalanceActuator(),
})  # fmt: skip
