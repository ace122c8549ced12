"""Votes and rewards: VoteWitness, WithdrawBalance, tron power and devnet's reward accrual.

Witnesses are the genesis witnesses, created at block 0 as java-tron's
Manager.initWitness creates them (an AssetIssue-type account flagged
is_witness); they are also the guard representatives WithdrawBalance refuses.
A witness's vote count changes as soon as a vote executes (java-tron counts
votes at the next maintenance; devnet has no maintenance period).

Rewards (see `devnet.staking_config`): every block pays
`vote_reward_per_block_sun` to the voters in proportion to their votes. An
index of "reward per vote" accumulates it lazily, as java-tron's witness "vi"
does per cycle: between two vote changes the total is constant, so the index
at head N is the stored index plus (N - stored block) x reward / total votes.
An account settles (java-tron's MortgageService.withdrawReward) into its
`allowance` whenever it votes, unfreezes or withdraws; getReward adds what is
not yet settled.
"""

from __future__ import annotations

from devnet.accounts import Account
from devnet.context import ExecutionContext, Receipt
from devnet.errors import ContractValidateError
from devnet.genesis import Genesis
from devnet.keys import ADDRESS_LENGTH, ADDRESS_PREFIX
from devnet.ledger import Layer, StateView
from devnet.stake_records import Vote
from devnet.transactions import Contract

__all__ = [
    "ACCOUNT_TYPE_ASSET_ISSUE",
    "MAX_VOTE_NUMBER",
    "VoteWitnessActuator",
    "WithdrawBalanceActuator",
    "add_witness_accounts",
    "query_reward",
    "set_votes",
    "settle_reward",
    "tron_power",
    "witness_vote_count",
]

TRX_PRECISION = 1_000_000
MAX_VOTE_NUMBER = 30  # Parameter.ChainConstant.MAX_VOTE_NUMBER
ACCOUNT_TYPE_ASSET_ISSUE = 1
_INT64_MAX = 2**63 - 1

_REWARD_SCALE = 10**18
_REWARD_INDEX = "DEVNET_REWARD_INDEX"  # reward per vote x 10^18, accumulated up to ...
_REWARD_INDEX_BLOCK = "DEVNET_REWARD_INDEX_BLOCK"  # ... this head block number
_TOTAL_VOTES = "DEVNET_TOTAL_VOTES"
_WITNESS_VOTES = "DEVNET_WITNESS_VOTES:"  # + witness address hex


def address_valid(address: bytes) -> bool:
    """DecodeUtil.addressValid: 21 bytes starting with the 0x41 prefix."""
    return len(address) == ADDRESS_LENGTH and address[0] == ADDRESS_PREFIX


def owner_of(contract: Contract) -> bytes:
    owner = contract.value.get("owner_address", b"")
    assert isinstance(owner, bytes)
    return owner


def checked_add(a: int, b: int) -> int:
    """Guava LongMath.checkedAdd, with its ArithmeticException message."""
    total = a + b
    if total > _INT64_MAX or total < -(2**63):
        raise ContractValidateError(f"overflow: checkedAdd({a}, {b})")
    return total


def add_witness_accounts(layer: Layer, genesis: Genesis) -> None:
    """Manager.initWitness: each genesis witness gets an account flagged is_witness."""
    for witness in genesis.witnesses:
        existing = layer.accounts.get(witness.address)
        account = existing or Account(address=witness.address, type=ACCOUNT_TYPE_ASSET_ISSUE)
        layer.accounts[witness.address] = account.evolve(is_witness=True)


def tron_power(account: Account) -> int:
    """AccountCapsule.getTronPower (new resource model off): staked TRX, own and delegated."""
    stake = account.stake
    return (
        account.frozen_v2_bandwidth_sun
        + stake.frozen_v2_energy_sun
        + stake.delegated_frozen_v2_bandwidth_sun
        + stake.delegated_frozen_v2_energy_sun
    )


def tron_power_used(account: Account) -> int:
    """AccountCapsule.getTronPowerUsage: the votes cast, in TRX."""
    return sum(vote.vote_count for vote in account.stake.votes)


def witness_vote_count(witness: bytes, state: StateView) -> int:
    return state.property(_WITNESS_VOTES + witness.hex())


def _reward_per_block(ctx: ExecutionContext) -> int:
    configured = ctx.staking.vote_reward_per_block_sun
    return ctx.param("getWitness127PayPerBlock") if configured is None else configured


def _reward_index(ctx: ExecutionContext, state: StateView) -> int:
    index = state.property(_REWARD_INDEX)
    total = state.property(_TOTAL_VOTES)
    if total == 0:
        return index
    blocks = max(0, ctx.head_number - state.property(_REWARD_INDEX_BLOCK))
    return index + blocks * _reward_per_block(ctx) * _REWARD_SCALE // total


def _unsettled(account: Account, index: int) -> int:
    return tron_power_used(account) * (index - account.stake.reward_index) // _REWARD_SCALE


def query_reward(account: Account, ctx: ExecutionContext, state: StateView) -> int:
    """MortgageService.queryReward: the allowance plus the reward not yet settled."""
    return account.stake.allowance_sun + _unsettled(account, _reward_index(ctx, state))


def settle_reward(account: Account, ctx: ExecutionContext, state: StateView) -> Account:
    """MortgageService.withdrawReward: move the accrued reward into the allowance."""
    index = _reward_index(ctx, state)
    stake = account.stake
    if stake.reward_index == index:
        return account
    allowance = stake.allowance_sun + _unsettled(account, index)
    return account.evolve(stake=stake.evolve(allowance_sun=allowance, reward_index=index))


def set_votes(
    account: Account, votes: tuple[Vote, ...], ctx: ExecutionContext, state: StateView
) -> Account:
    """Replace account's votes (settled first), keeping witness and total counts in step."""
    index = _reward_index(ctx, state)
    state.put_property(_REWARD_INDEX, index)
    state.put_property(_REWARD_INDEX_BLOCK, ctx.head_number)
    for vote in account.stake.votes:
        _add_witness_votes(vote.vote_address, -vote.vote_count, state)
    for vote in votes:
        _add_witness_votes(vote.vote_address, vote.vote_count, state)
    change = sum(v.vote_count for v in votes) - tron_power_used(account)
    state.put_property(_TOTAL_VOTES, state.property(_TOTAL_VOTES) + change)
    settled = settle_reward(account, ctx, state)
    return settled.evolve(stake=settled.stake.evolve(votes=votes, reward_index=index))


def _add_witness_votes(witness: bytes, count: int, state: StateView) -> None:
    key = _WITNESS_VOTES + witness.hex()
    state.put_property(key, state.property(key) + count)


def _parse_votes(contract: Contract) -> tuple[Vote, ...]:
    votes = contract.value.get("votes", [])
    assert isinstance(votes, list)
    return tuple(
        Vote(bytes(item.get("vote_address", b"")), int(item.get("vote_count", 0))) for item in votes
    )


class VoteWitnessActuator:
    """VoteWitnessContract: replace the owner's votes; at most its tron power, in TRX."""

    def validate(self, contract: Contract, ctx: ExecutionContext, state: StateView) -> None:
        owner = owner_of(contract)
        if not address_valid(owner):
            raise ContractValidateError("Invalid address")
        votes = _parse_votes(contract)
        if not votes:
            raise ContractValidateError("VoteNumber must more than 0")
        if len(votes) > MAX_VOTE_NUMBER:
            raise ContractValidateError(f"VoteNumber more than maxVoteNumber {MAX_VOTE_NUMBER}")
        total = 0
        for vote in votes:
            _check_vote(vote, state)
            total = checked_add(total, vote.vote_count)
        account = state.account(owner)
        if account is None:
            raise ContractValidateError(f"Account[{owner.hex()}] not exists")
        power = tron_power(account)
        total_sun = total * TRX_PRECISION
        if total_sun > _INT64_MAX:
            raise ContractValidateError(f"overflow: checkedMultiply({total}, {TRX_PRECISION})")
        if total_sun > power:
            raise ContractValidateError(
                f"The total number of votes[{total_sun}] is greater than the tronPower[{power}]"
            )

    def execute(
        self, contract: Contract, ctx: ExecutionContext, state: StateView, receipt: Receipt
    ) -> int:
        account = state.account(owner_of(contract))
        assert account is not None  # validate() checked it
        state.put_account(set_votes(account, _parse_votes(contract), ctx, state))
        return 0


def _check_vote(vote: Vote, state: StateView) -> None:
    if not address_valid(vote.vote_address):
        raise ContractValidateError("Invalid vote address!")
    if vote.vote_count <= 0:
        raise ContractValidateError("vote count must be greater than 0")
    witness = state.account(vote.vote_address)
    if witness is None:
        raise ContractValidateError(f"Account[{vote.vote_address.hex()}] not exists")
    if not witness.is_witness:
        raise ContractValidateError(f"Witness[{vote.vote_address.hex()}] not exists")


class WithdrawBalanceActuator:
    """WithdrawBalanceContract: move the allowance (settled rewards) to the balance."""

    def validate(self, contract: Contract, ctx: ExecutionContext, state: StateView) -> None:
        owner = owner_of(contract)
        if not address_valid(owner):
            raise ContractValidateError("Invalid address")
        account = state.account(owner)
        if account is None:
            raise ContractValidateError(f"Account[{owner.hex()}] not exists")
        if account.is_witness:
            raise ContractValidateError(
                f"Account[{owner.hex()}] is a guard representative and is not allowed to "
                "withdraw Balance"
            )
        latest = account.stake.latest_withdraw_time_ms
        if ctx.head_timestamp_ms - latest < ctx.staking.withdraw_cooldown_ms:
            raise ContractValidateError(f"The last withdraw time is {latest}, less than 24 hours")
        if account.stake.allowance_sun <= 0 and query_reward(account, ctx, state) <= 0:
            raise ContractValidateError("witnessAccount does not have any reward")
        checked_add(account.balance_sun, account.stake.allowance_sun)

    def execute(
        self, contract: Contract, ctx: ExecutionContext, state: StateView, receipt: Receipt
    ) -> int:
        account = state.account(owner_of(contract))
        assert account is not None  # validate() checked it
        account = settle_reward(account, ctx, state)
        allowance = account.stake.allowance_sun
        state.put_account(
            account.evolve(
                balance_sun=account.balance_sun + allowance,
                stake=account.stake.evolve(
                    allowance_sun=0, latest_withdraw_time_ms=ctx.head_timestamp_ms
                ),
            )
        )
        receipt.extras["withdraw_amount"] = allowance
        return 0
