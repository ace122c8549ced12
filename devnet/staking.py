"""FreezeBalanceV2, UnfreezeBalanceV2, WithdrawExpireUnfreeze, CancelAllUnfreezeV2.

Rules and refusals are java-tron's actuators' with the new resource model off
(getAllowNewResourceModel 0, as on mainnet): tron power is the TRX staked for
bandwidth and energy, TRON_POWER cannot be frozen. The network weights
TOTAL_NET_WEIGHT / TOTAL_ENERGY_WEIGHT are in whole TRX and move by the change
of `frozen + delegated` / 10^6, exactly as java-tron rounds them.
An unfreeze waits `unfreeze_delay_ms` (genesis; default getUnfreezeDelayDays
days) and at most 32 may wait at once.
"""

from __future__ import annotations

from devnet.accounts import Account
from devnet.bandwidth import TOTAL_NET_WEIGHT
from devnet.context import ExecutionContext, Receipt
from devnet.energy import TOTAL_ENERGY_WEIGHT
from devnet.errors import ContractValidateError
from devnet.governance import (
    TRX_PRECISION,
    address_valid,
    checked_add,
    owner_of,
    set_votes,
    settle_reward,
    tron_power,
)
from devnet.ledger import StateView
from devnet.stake_records import BANDWIDTH, ENERGY, UnfreezeV2, Vote
from devnet.staking_config import FROZEN_PERIOD_MS
from devnet.transactions import Contract

__all__ = [
    "UNFREEZE_MAX_TIMES",
    "CancelAllUnfreezeV2Actuator",
    "FreezeBalanceV2Actuator",
    "UnfreezeBalanceV2Actuator",
    "WithdrawExpireUnfreezeActuator",
    "add_frozen",
    "unfreeze_delay_ms",
    "unfreezing_count",
    "withdrawable_sun",
]

UNFREEZE_MAX_TIMES = 32  # UnfreezeBalanceV2Actuator.UNFREEZE_MAX_TIMES


def _committee_gate(ctx: ExecutionContext, what: str) -> None:
    """supportUnfreezeDelay: Stake 2.0 is on when getUnfreezeDelayDays > 0."""
    if ctx.param("getUnfreezeDelayDays") <= 0:
        raise ContractValidateError(
            f"Not support {what} transaction, need to be opened by the committee"
        )


def unfreeze_delay_ms(ctx: ExecutionContext) -> int:
    """How long an unfreeze waits: genesis `unfreeze_delay_ms`, else the delay days."""
    configured = ctx.staking.unfreeze_delay_ms
    return (
        ctx.param("getUnfreezeDelayDays") * FROZEN_PERIOD_MS if configured is None else configured
    )


def _resource(contract: Contract) -> int:
    return int(contract.value.get("resource", BANDWIDTH))


def _amount(contract: Contract, name: str) -> int:
    return int(contract.value.get(name, 0))


def _own_account(contract: Contract, state: StateView, not_exist: str = "] not exists") -> Account:
    owner = owner_of(contract)
    if not address_valid(owner):
        raise ContractValidateError("Invalid address")
    account = state.account(owner)
    if account is None:
        raise ContractValidateError(f"Account[{owner.hex()}{not_exist}")
    return account


def add_frozen(account: Account, resource: int, amount: int, state: StateView) -> Account:
    """addFrozenBalanceFor{Bandwidth,Energy}V2 with the network weight update around it."""
    stake = account.stake
    if resource == BANDWIDTH:
        delegated = stake.delegated_frozen_v2_bandwidth_sun
        old = account.frozen_v2_bandwidth_sun
        account = account.evolve(frozen_v2_bandwidth_sun=old + amount)
        key = TOTAL_NET_WEIGHT
    else:
        delegated = stake.delegated_frozen_v2_energy_sun
        old = stake.frozen_v2_energy_sun
        account = account.evolve(stake=stake.evolve(frozen_v2_energy_sun=old + amount))
        key = TOTAL_ENERGY_WEIGHT
    weight_change = (old + amount + delegated) // TRX_PRECISION - (old + delegated) // TRX_PRECISION
    state.put_property(key, state.property(key) + weight_change)
    return account


def unfreezing_count(account: Account, now_ms: int) -> int:
    """AccountCapsule.getUnfreezingV2Count: unfreezes still waiting at now_ms."""
    return sum(1 for item in account.stake.unfrozen_v2 if item.unfreeze_expire_time_ms > now_ms)


def withdrawable_sun(account: Account, now_ms: int) -> int:
    """The unfrozen TRX whose waiting is over at now_ms."""
    return sum(
        item.unfreeze_amount
        for item in account.stake.unfrozen_v2
        if item.unfreeze_expire_time_ms <= now_ms
    )


def _withdraw_expired(account: Account, now_ms: int) -> tuple[Account, int]:
    """Return expired unfreezes to the balance: the account and the amount returned."""
    amount = withdrawable_sun(account, now_ms)
    waiting = tuple(i for i in account.stake.unfrozen_v2 if i.unfreeze_expire_time_ms > now_ms)
    account = account.evolve(
        balance_sun=account.balance_sun + amount, stake=account.stake.evolve(unfrozen_v2=waiting)
    )
    return account, amount


class FreezeBalanceV2Actuator:
    """FreezeBalanceV2Contract: TRX from the balance into frozenV2 of a resource."""

    def validate(self, contract: Contract, ctx: ExecutionContext, state: StateView) -> None:
        _committee_gate(ctx, "FreezeV2")
        account = _own_account(contract, state)
        frozen = _amount(contract, "frozen_balance")
        if frozen <= 0:
            raise ContractValidateError("frozenBalance must be positive")
        if frozen < TRX_PRECISION:
            raise ContractValidateError("frozenBalance must be greater than or equal to 1 TRX")
        if frozen > account.balance_sun:
            raise ContractValidateError(
                "frozenBalance must be less than or equal to accountBalance"
            )
        if _resource(contract) not in (BANDWIDTH, ENERGY):
            raise ContractValidateError("ResourceCode error, valid ResourceCode[BANDWIDTH、ENERGY]")

    def execute(
        self, contract: Contract, ctx: ExecutionContext, state: StateView, receipt: Receipt
    ) -> int:
        account = state.account(owner_of(contract))
        assert account is not None  # validate() checked it
        frozen = _amount(contract, "frozen_balance")
        account = add_frozen(account, _resource(contract), frozen, state)
        state.put_account(account.evolve(balance_sun=account.balance_sun - frozen))
        return 0


def _frozen_of(account: Account, resource: int) -> int:
    if resource == BANDWIDTH:
        return account.frozen_v2_bandwidth_sun
    return account.stake.frozen_v2_energy_sun


class UnfreezeBalanceV2Actuator:
    """UnfreezeBalanceV2Contract: frozen TRX starts waiting in unfrozenV2; votes may shrink."""

    def validate(self, contract: Contract, ctx: ExecutionContext, state: StateView) -> None:
        _committee_gate(ctx, "UnfreezeV2")
        account = _own_account(contract, state, "] does not exist")
        resource = _resource(contract)
        if resource not in (BANDWIDTH, ENERGY):
            raise ContractValidateError("ResourceCode error.valid ResourceCode[BANDWIDTH、Energy]")
        frozen = _frozen_of(account, resource)
        if frozen <= 0:
            name = "BANDWIDTH" if resource == BANDWIDTH else "Energy"
            raise ContractValidateError(f"no frozenBalance({name})")
        amount = _amount(contract, "unfreeze_balance")
        if not 0 < amount <= frozen:
            raise ContractValidateError(f"Invalid unfreeze_balance, [{amount}] is error")
        if unfreezing_count(account, ctx.head_timestamp_ms) >= UNFREEZE_MAX_TIMES:
            raise ContractValidateError(
                "Invalid unfreeze operation, unfreezing times is over limit"
            )

    def execute(
        self, contract: Contract, ctx: ExecutionContext, state: StateView, receipt: Receipt
    ) -> int:
        now = ctx.head_timestamp_ms
        account = state.account(owner_of(contract))
        assert account is not None  # validate() checked it
        account = settle_reward(account, ctx, state)
        account, returned = _withdraw_expired(account, now)
        resource, amount = _resource(contract), _amount(contract, "unfreeze_balance")
        waiting = UnfreezeV2(resource, amount, now + unfreeze_delay_ms(ctx))
        account = account.evolve(
            stake=account.stake.evolve(unfrozen_v2=(*account.stake.unfrozen_v2, waiting))
        )
        account = add_frozen(account, resource, -amount, state)
        state.put_account(_shrink_votes(account, ctx, state))
        receipt.extras["withdraw_expire_amount"] = returned
        return 0


def _shrink_votes(account: Account, ctx: ExecutionContext, state: StateView) -> Account:
    """UnfreezeBalanceV2Actuator.updateVote: scale votes down to the tron power left."""
    votes = account.stake.votes
    total = sum(vote.vote_count for vote in votes)
    power = tron_power(account)
    if not votes or total == 0 or power >= total * TRX_PRECISION:
        return account
    scaled = []
    for vote in votes:
        # Java: (long) ((double) count / total * power / TRX_PRECISION), in this order.
        count = int(vote.vote_count / total * power / TRX_PRECISION)
        if count > 0:
            scaled.append(Vote(vote.vote_address, count))
    return set_votes(account, tuple(scaled), ctx, state)


class WithdrawExpireUnfreezeActuator:
    """WithdrawExpireUnfreezeContract: every unfreeze whose wait is over back to the balance."""

    def validate(self, contract: Contract, ctx: ExecutionContext, state: StateView) -> None:
        _committee_gate(ctx, "WithdrawExpireUnfreeze")
        account = _own_account(contract, state)
        amount = withdrawable_sun(account, ctx.head_timestamp_ms)
        if amount <= 0:
            raise ContractValidateError("no unFreeze balance to withdraw ")
        checked_add(account.balance_sun, amount)

    def execute(
        self, contract: Contract, ctx: ExecutionContext, state: StateView, receipt: Receipt
    ) -> int:
        account = state.account(owner_of(contract))
        assert account is not None  # validate() checked it
        account, returned = _withdraw_expired(account, ctx.head_timestamp_ms)
        state.put_account(account)
        receipt.extras["withdraw_expire_amount"] = returned
        return 0


class CancelAllUnfreezeV2Actuator:
    """CancelAllUnfreezeV2Contract: waiting unfreezes are frozen again, expired ones paid out.

    java-tron also reports the amounts re-frozen per resource in the info's
    `cancel_unfreezeV2_amount` map; devnet does not render that map.
    """

    def validate(self, contract: Contract, ctx: ExecutionContext, state: StateView) -> None:
        if ctx.param("getAllowCancelAllUnfreezeV2") == 0:
            raise ContractValidateError(
                "Not support CancelAllUnfreezeV2 transaction, need to be opened by the committee"
            )
        account = _own_account(contract, state)
        if not account.stake.unfrozen_v2:
            raise ContractValidateError("No unfreezeV2 list to cancel")

    def execute(
        self, contract: Contract, ctx: ExecutionContext, state: StateView, receipt: Receipt
    ) -> int:
        now = ctx.head_timestamp_ms
        account = state.account(owner_of(contract))
        assert account is not None  # validate() checked it
        waiting = [i for i in account.stake.unfrozen_v2 if i.unfreeze_expire_time_ms > now]
        account, returned = _withdraw_expired(account, now)
        for item in waiting:
            account = add_frozen(account, item.type, item.unfreeze_amount, state)
        state.put_account(account.evolve(stake=account.stake.evolve(unfrozen_v2=())))
        receipt.extras["withdraw_expire_amount"] = returned
        return 0
