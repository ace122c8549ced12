"""System contract actuators: validate, then execute, with java-tron's rules and messages.

One actuator per contract type, looked up by type name. Validation runs on
the state as the bandwidth step left it (java-tron charges bandwidth first).
`execute` returns the contract's own fee (the `ret.fee` of java-tron's
TransactionResultCapsule), which TransactionInfo.fee adds to the other fees;
amounts java-tron's actuators set on that capsule (withdraw_amount,
unfreeze_amount, withdraw_expire_amount) go into `receipt.extras` by the
TransactionInfo field name.
Types devnet parses but does not execute yet are refused as a contract
validation error that says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Protocol

from devnet.accounts import new_account
from devnet.context import ExecutionContext, Receipt
from devnet.errors import ContractValidateError
from devnet.ledger import StateView
from devnet.staking_actuators import STAKING_ACTUATORS
from devnet.transactions import Contract
from devnet.vm_actuator import TriggerSmartContractActuator

__all__ = ["ACTUATORS", "Actuator", "TransferActuator", "actuator_for", "address_valid"]

_INT64_MAX = 2**63 - 1
ADDRESS_SIZE = 21
ADDRESS_PREFIX = 0x41


def address_valid(address: bytes) -> bool:
    """DecodeUtil.addressValid: 21 bytes starting with the 0x41 prefix."""
    return len(address) == ADDRESS_SIZE and address[0] == ADDRESS_PREFIX


def add_exact(a: int, b: int) -> int:
    """Math.addExact on longs; overflow is java.lang.ArithmeticException("long overflow")."""
    total = a + b
    if not -(2**63) <= total <= _INT64_MAX:
        raise ContractValidateError("long overflow")
    return total


class Actuator(Protocol):
    """Validates and executes one contract type."""

    def validate(self, contract: Contract, ctx: ExecutionContext, state: StateView) -> None:
        """Raise ContractValidateError when java-tron's actuator would refuse the contract."""
        ...

    def execute(
        self, contract: Contract, ctx: ExecutionContext, state: StateView, receipt: Receipt
    ) -> int:
        """Apply the contract to state; return its fee in sun (amounts go in receipt.extras)."""
        ...


def _bytes_field(contract: Contract, name: str) -> bytes:
    value = contract.value.get(name, b"")
    assert isinstance(value, bytes)
    return value


class TransferActuator:
    """TransferContract: move TRX, creating the recipient (for a fee) when it is new."""

    def validate(self, contract: Contract, ctx: ExecutionContext, state: StateView) -> None:
        owner = _bytes_field(contract, "owner_address")
        to = _bytes_field(contract, "to_address")
        amount = int(contract.value.get("amount", 0))
        if not address_valid(owner):
            raise ContractValidateError("Invalid ownerAddress!")
        if not address_valid(to):
            raise ContractValidateError("Invalid toAddress!")
        if owner == to:
            raise ContractValidateError("Cannot transfer TRX to yourself.")
        owner_account = state.account(owner)
        if owner_account is None:
            raise ContractValidateError("Validate TransferContract error, no OwnerAccount.")
        if amount <= 0:
            raise ContractValidateError("Amount must be greater than 0.")
        to_account = state.account(to)
        fee = 0 if to_account else ctx.param("getCreateNewAccountFeeInSystemContract")
        if owner_account.balance_sun < add_exact(amount, fee):
            raise ContractValidateError(
                "Validate TransferContract error, balance is not sufficient."
            )
        if to_account is not None:
            add_exact(to_account.balance_sun, amount)

    def execute(
        self, contract: Contract, ctx: ExecutionContext, state: StateView, receipt: Receipt
    ) -> int:
        owner = _bytes_field(contract, "owner_address")
        to = _bytes_field(contract, "to_address")
        amount = int(contract.value.get("amount", 0))
        fee = 0
        to_account = state.account(to)
        if to_account is None:
            to_account = new_account(to, create_time_ms=ctx.head_timestamp_ms)
            fee += ctx.param("getCreateNewAccountFeeInSystemContract")
        owner_account = state.account(owner)
        assert owner_account is not None  # validate() checked it
        # The fee is burnt (black-hole optimisation is on), so it goes nowhere.
        state.put_account(
            owner_account.evolve(balance_sun=owner_account.balance_sun - fee - amount)
        )
        state.put_account(to_account.evolve(balance_sun=to_account.balance_sun + amount))
        return fee


ACTUATORS: Mapping[str, Actuator] = MappingProxyType({
    "TransferContract": TransferActuator(),
    **STAKING_ACTUATORS,
    "TriggerSmartContract": TriggerSmartContractActuator(),
})  # fmt: skip


def actuator_for(contract: Contract) -> Actuator:
    """The actuator of contract's type.

    Raises:
        ContractValidateError: devnet parses this type but does not execute it yet.
    """
    actuator = ACTUATORS.get(contract.type_name)
    if actuator is None:
        raise ContractValidateError(f"devnet does not execute {contract.type_name} yet")
    return actuator
