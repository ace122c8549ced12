"""DelegateResource and UnDelegateResource, with java-tron's checks, order and messages.

The records and limits are in `devnet.delegation`, the account changes in
`devnet.delegation_moves`.
"""

from __future__ import annotations

from devnet.accounts import Account
from devnet.context import ExecutionContext, Receipt
from devnet.delegation import (
    DELEGATE_PERIOD_BLOCKS,
    amount_of,
    available_sun,
    expire_of,
    linked,
    put_record,
    record_of,
    unlock_expired,
    with_amount,
)
from devnet.delegation_moves import acquire, give_back_usage, move_stake, take_usage
from devnet.errors import ContractValidateError
from devnet.governance import TRX_PRECISION, address_valid, owner_of
from devnet.ledger import StateView
from devnet.resources import BLOCK_PRODUCED_INTERVAL_MS
from devnet.stake_records import BANDWIDTH, ENERGY, DelegatedResource
from devnet.transactions import Contract

__all__ = ["DelegateResourceActuator", "UnDelegateResourceActuator"]

CONTRACT_ACCOUNT_TYPE = 2
_RESOURCE_NAMES = {BANDWIDTH: "BANDWIDTH", ENERGY: "ENERGY"}


def _gate(ctx: ExecutionContext, what: str) -> None:
    if ctx.param("getAllowDelegateResource") != 1:
        raise ContractValidateError("No support for resource delegate")
    if ctx.param("getUnfreezeDelayDays") <= 0:
        raise ContractValidateError(
            f"Not support {what} transaction, need to be opened by the committee"
        )


def _fields(contract: Contract) -> tuple[bytes, bytes, int, int]:
    receiver = contract.value.get("receiver_address", b"")
    assert isinstance(receiver, bytes)
    resource = int(contract.value.get("resource", BANDWIDTH))
    return owner_of(contract), receiver, resource, int(contract.value.get("balance", 0))


def _lock_period(contract: Contract) -> int:
    """getLockPeriod (supportMaxDelegateLockPeriod on): 0 means the 3-day default."""
    return int(contract.value.get("lock_period", 0)) or DELEGATE_PERIOD_BLOCKS


def _check_receiver(owner: bytes, receiver: bytes) -> None:
    if not address_valid(receiver):
        raise ContractValidateError("Invalid receiverAddress")
    if receiver == owner:
        raise ContractValidateError("receiverAddress must not be the same as ownerAddress")


class DelegateResourceActuator:
    """DelegateResourceContract: lend staked bandwidth or energy to another account."""

    def validate(self, contract: Contract, ctx: ExecutionContext, state: StateView) -> None:
        _gate(ctx, "Delegate resource")
        owner, receiver, resource, balance = _fields(contract)
        if not address_valid(owner):
            raise ContractValidateError("Invalid address")
        account = state.account(owner)
        if account is None:
            raise ContractValidateError(f"Account[{owner.hex()}] not exists")
        if balance < TRX_PRECISION:
            raise ContractValidateError("delegateBalance must be greater than or equal to 1 TRX")
        if resource not in (BANDWIDTH, ENERGY):
            raise ContractValidateError("ResourceCode error, valid ResourceCode[BANDWIDTH、ENERGY]")
        if available_sun(account, resource, ctx, state, estimate=False) < balance:
            name = "FreezeBandwidthV2" if resource == BANDWIDTH else "FreezeEnergyV2"
            raise ContractValidateError(
                f"delegateBalance must be less than or equal to available {name} balance"
            )
        _check_receiver(owner, receiver)
        receiver_account = state.account(receiver)
        if receiver_account is None:
            raise ContractValidateError(f"Account[{receiver.hex()}] not exists")
        if contract.value.get("lock"):
            _check_lock(contract, account, receiver, resource, ctx)
        if receiver_account.type == CONTRACT_ACCOUNT_TYPE:
            raise ContractValidateError("Do not allow delegate resources to contract addresses")

    def execute(
        self, contract: Contract, ctx: ExecutionContext, state: StateView, receipt: Receipt
    ) -> int:
        owner_address, receiver_address, resource, balance = _fields(contract)
        now, lock = ctx.head_timestamp_ms, bool(contract.value.get("lock"))
        owner = state.account(owner_address)
        assert owner is not None  # validate() checked it
        owner = unlock_expired(owner, receiver_address, now)
        record = record_of(owner, receiver_address, lock) or DelegatedResource(
            receiver_address, lock
        )
        expire = now + _lock_period(contract) * BLOCK_PRODUCED_INTERVAL_MS if lock else 0
        record = with_amount(record, resource, amount_of(record, resource) + balance, expire)
        owner = move_stake(put_record(owner, receiver_address, lock, record), resource, balance)
        owner = owner.evolve(
            stake=owner.stake.evolve(
                delegated_to=linked(owner.stake.delegated_to, receiver_address, now)
            )
        )
        state.put_account(owner)
        receiver = state.account(receiver_address)
        assert receiver is not None  # validate() checked it
        receiver = receiver.evolve(
            stake=receiver.stake.evolve(
                delegated_from=linked(receiver.stake.delegated_from, owner_address, now)
            )
        )
        state.put_account(acquire(receiver, resource, balance))
        return 0


def _check_lock(
    contract: Contract, account: Account, receiver: bytes, resource: int, ctx: ExecutionContext
) -> None:
    period, most = _lock_period(contract), ctx.param("getMaxDelegateLockPeriod")
    if period < 0 or period > most:
        raise ContractValidateError(
            f"The lock period of delegate resource cannot be less than 0 and cannot exceed {most}!"
        )
    locked = record_of(account, receiver, True)
    if locked is None:
        return
    remain = expire_of(locked, resource) - ctx.head_timestamp_ms
    if period * BLOCK_PRODUCED_INTERVAL_MS < remain:
        name = _RESOURCE_NAMES[resource]
        raise ContractValidateError(
            f"The lock period for {name} this time cannot be less than the remaining "
            f"time[{remain}ms] of the last lock period for {name}!"
        )


class UnDelegateResourceActuator:
    """UnDelegateResourceContract: take delegated TRX back into the owner's frozenV2."""

    def validate(self, contract: Contract, ctx: ExecutionContext, state: StateView) -> None:
        _gate(ctx, "unDelegate resource")
        owner, receiver, resource, balance = _fields(contract)
        if not address_valid(owner):
            raise ContractValidateError("Invalid address")
        account = state.account(owner)
        if account is None:
            raise ContractValidateError(f"Account[{owner.hex()}] does not exist")
        _check_receiver(owner, receiver)
        unlocked = record_of(account, receiver, False)
        locked = record_of(account, receiver, True)
        if unlocked is None and locked is None:
            raise ContractValidateError("delegated Resource does not exist")
        if balance <= 0:
            raise ContractValidateError("unDelegateBalance must be more than 0 TRX")
        if resource not in (BANDWIDTH, ENERGY):
            raise ContractValidateError("ResourceCode error.valid ResourceCode[BANDWIDTH、Energy]")
        available = amount_of(unlocked, resource)
        if locked is not None and expire_of(locked, resource) < ctx.head_timestamp_ms:
            available += amount_of(locked, resource)
        if available < balance:
            what = (
                "delegatedFrozenBalance(BANDWIDTH)"
                if resource == BANDWIDTH
                else ("delegateFrozenBalance(Energy)")
            )
            raise ContractValidateError(
                f"insufficient {what}, request={balance}, unlock_balance={available}"
            )

    def execute(
        self, contract: Contract, ctx: ExecutionContext, state: StateView, receipt: Receipt
    ) -> int:
        owner_address, receiver_address, resource, balance = _fields(contract)
        receiver = state.account(receiver_address)
        transfer = 0
        if receiver is not None:
            receiver, transfer = give_back_usage(receiver, resource, balance, ctx, state)
        owner = state.account(owner_address)
        assert owner is not None  # validate() checked it
        owner = unlock_expired(owner, receiver_address, ctx.head_timestamp_ms)
        unlocked = record_of(owner, receiver_address, False)
        assert unlocked is not None  # validate() saw enough unlocked (or expired) TRX
        unlocked = with_amount(unlocked, resource, amount_of(unlocked, resource) - balance, 0)
        owner = move_stake(owner, resource, -balance)
        if receiver is not None and transfer > 0:
            owner = take_usage(owner, receiver, resource, transfer, ctx.now_slot)
        owner = put_record(owner, receiver_address, False, None if unlocked.empty else unlocked)
        if unlocked.empty and record_of(owner, receiver_address, True) is None:
            owner = owner.evolve(
                stake=owner.stake.evolve(
                    delegated_to=linked(owner.stake.delegated_to, receiver_address, None)
                )
            )
            if receiver is not None:
                receiver = receiver.evolve(
                    stake=receiver.stake.evolve(
                        delegated_from=linked(receiver.stake.delegated_from, owner_address, None)
                    )
                )
        if receiver is not None:
            state.put_account(receiver)
        state.put_account(owner)
        return 0
