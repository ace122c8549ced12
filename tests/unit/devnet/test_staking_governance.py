"""VoteWitness, WithdrawBalance and devnet's reward accrual on a Chain.

Messages are VoteWitnessActuator's and WithdrawBalanceActuator's. Rewards
follow devnet's model (devnet.staking_config): each block pays
`vote_reward_per_block_sun` to the voters in proportion to their votes.
"""

from __future__ import annotations

import pytest

from devnet.chain import Chain
from devnet.errors import ContractValidateError
from devnet.governance import (
    ACCOUNT_TYPE_ASSET_ISSUE,
    query_reward,
    tron_power,
    witness_vote_count,
)
from devnet.stake_records import BANDWIDTH, ENERGY, Vote
from devnet.staking_config import StakingConfig
from devnet.transactions import Transaction
from tests.unit.devnet.staking_support import (
    TRX,
    account,
    address,
    info,
    keys,
    make_chain,
    next_block,
    submit,
)

REWARD = 3 * TRX  # per block


def voting_chain(**staking: int) -> tuple[Chain, list[bytes], list[bytes]]:
    """Alice and Bob each have 100 TRX of tron power (and bandwidth staked for their fees)."""
    settings = {"unfreeze_delay_ms": 9_000, "vote_reward_per_block_sun": REWARD, **staking}
    chain = make_chain(StakingConfig(**settings))
    people = keys(chain)
    for key in people[:2]:
        submit(chain, key, "FreezeBalanceV2Contract", frozen_balance=50 * TRX, resource=BANDWIDTH)
        submit(chain, key, "FreezeBalanceV2Contract", frozen_balance=50 * TRX, resource=ENERGY)
    next_block(chain)
    return chain, people, [w.address for w in chain.genesis.witnesses]


def vote(chain: Chain, key: bytes, *votes: tuple[bytes, int]) -> Transaction:
    items = [{"vote_address": who, "vote_count": count} for who, count in votes]
    return submit(chain, key, "VoteWitnessContract", votes=items)


def reward(chain: Chain, key: bytes) -> int:
    return query_reward(account(chain, address(key)), chain.context(), chain.state())


def test_genesis_witnesses_have_witness_accounts() -> None:
    chain = make_chain()

    for witness in chain.genesis.witnesses:
        created = account(chain, witness.address)
        assert created.is_witness and created.type == ACCOUNT_TYPE_ASSET_ISSUE
        assert created.balance_sun == 0


def test_votes_are_recorded_and_counted_for_the_witnesses() -> None:
    chain, (alice, *_), (w1, w2, w3) = voting_chain()

    vote(chain, alice, (w1, 60), (w2, 40))

    voter = account(chain, address(alice))
    assert tron_power(voter) == 100 * TRX
    assert voter.stake.votes == (Vote(w1, 60), Vote(w2, 40))
    assert [witness_vote_count(w, chain.state()) for w in (w1, w2, w3)] == [60, 40, 0]

    vote(chain, alice, (w3, 10))  # a new vote replaces the old ones

    assert [witness_vote_count(w, chain.state()) for w in (w1, w2, w3)] == [0, 0, 10]


def test_unfreezing_below_the_votes_scales_them_down() -> None:
    chain, (alice, *_), (w1, w2, _) = voting_chain()
    vote(chain, alice, (w1, 60), (w2, 40))

    submit(chain, alice, "UnfreezeBalanceV2Contract", unfreeze_balance=50 * TRX, resource=ENERGY)

    assert account(chain, address(alice)).stake.votes == (Vote(w1, 30), Vote(w2, 20))
    assert [witness_vote_count(w, chain.state()) for w in (w1, w2)] == [30, 20]


def test_each_block_pays_the_voters_in_proportion_to_their_votes() -> None:
    chain, (alice, bob, *_), (w1, w2, _) = voting_chain()
    vote(chain, alice, (w1, 100))
    next_block(chain, 3)
    assert reward(chain, alice) == 3 * REWARD  # alone: every block's reward

    vote(chain, bob, (w2, 50))
    next_block(chain, 3)

    assert reward(chain, alice) == 3 * REWARD + 3 * REWARD * 100 // 150
    assert reward(chain, bob) == 3 * REWARD * 50 // 150


def test_withdraw_balance_pays_the_reward_out_then_waits_out_the_cooldown() -> None:
    chain, (alice, *_), (w1, *_) = voting_chain()
    vote(chain, alice, (w1, 100))
    next_block(chain, 4)
    before = account(chain, address(alice)).balance_sun
    head_ms = chain.head_block.timestamp_ms

    tx = submit(chain, alice, "WithdrawBalanceContract")
    next_block(chain)

    after = account(chain, address(alice))
    assert info(chain, tx).withdraw_amount_sun == 4 * REWARD
    assert after.balance_sun == before + 4 * REWARD - info(chain, tx).fee_sun
    assert after.stake.allowance_sun == 0
    assert after.stake.latest_withdraw_time_ms == head_ms
    assert reward(chain, alice) == REWARD  # the block that carried the withdrawal
    with pytest.raises(ContractValidateError) as caught:
        submit(chain, alice, "WithdrawBalanceContract")
    assert caught.value.detail == f"The last withdraw time is {head_ms}, less than 24 hours"


def test_the_cooldown_comes_from_genesis() -> None:
    chain, (alice, *_), (w1, *_) = voting_chain(withdraw_cooldown_ms=6_000)
    vote(chain, alice, (w1, 100))
    next_block(chain)
    submit(chain, alice, "WithdrawBalanceContract")
    next_block(chain, 2)

    tx = submit(chain, alice, "WithdrawBalanceContract")
    next_block(chain)

    assert info(chain, tx).withdraw_amount_sun == 2 * REWARD


def test_withdraw_balance_refusals() -> None:
    chain, (_, _, carol, *_), _ = voting_chain()
    witness = chain.genesis.witnesses[0]

    with pytest.raises(ContractValidateError) as caught:
        submit(chain, carol, "WithdrawBalanceContract")
    assert caught.value.detail == "witnessAccount does not have any reward"

    with pytest.raises(ContractValidateError) as caught:
        submit(chain, witness.private_key, "WithdrawBalanceContract")
    assert caught.value.detail == (
        f"Account[{witness.address.hex()}] is a guard representative and is not allowed to "
        "withdraw Balance"
    )


def test_vote_refusals() -> None:
    chain, (alice, bob, *_), (w1, *_) = voting_chain()
    unknown = bytes.fromhex("41" + "cd" * 20)
    cases = [
        ((), "VoteNumber must more than 0"),
        (((w1, 1),) * 31, "VoteNumber more than maxVoteNumber 30"),
        (((w1, 0),), "vote count must be greater than 0"),
        (((unknown, 1),), f"Account[{unknown.hex()}] not exists"),
        (((address(bob), 1),), f"Witness[{address(bob).hex()}] not exists"),
        (
            ((w1, 101),),
            "The total number of votes[101000000] is greater than the tronPower[100000000]",
        ),
    ]
    for votes, message in cases:
        with pytest.raises(ContractValidateError) as caught:
            vote(chain, alice, *votes)
        assert caught.value.detail == message
