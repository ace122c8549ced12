"""DelegateResource and UnDelegateResource on a Chain: records, locks, index, usage handed back.

Messages are DelegateResourceActuator's and UnDelegateResourceActuator's;
a lock lasts lock_period x 3000 ms whatever the block interval, as in java-tron.
"""

from __future__ import annotations

import pytest

from devnet.chain import Chain
from devnet.delegation import can_delegated_max_size, delegated_records, index_links
from devnet.energy import TOTAL_ENERGY_WEIGHT, energy_limit, use_energy
from devnet.errors import ContractValidateError
from devnet.stake_records import BANDWIDTH, ENERGY, DelegatedResource, Link
from devnet.transactions import Transaction
from tests.unit.devnet.staking_support import (
    BLOCK_MS,
    TRX,
    account,
    address,
    keys,
    make_chain,
    next_block,
    submit,
)

TOTAL_ENERGY_LIMIT = 180_000_000_000


def delegate(
    chain: Chain, key: bytes, to: bytes, amount: int, resource: int = ENERGY, **lock: object
) -> Transaction:
    fields = {"resource": resource, "balance": amount, "receiver_address": to, **lock}
    return submit(chain, key, "DelegateResourceContract", **fields)


def undelegate(
    chain: Chain, key: bytes, to: bytes, amount: int, resource: int = ENERGY
) -> Transaction:
    fields = {"resource": resource, "balance": amount, "receiver_address": to}
    return submit(chain, key, "UnDelegateResourceContract", **fields)


def staked_chain(resource: int = ENERGY) -> tuple[Chain, bytes, bytes]:
    """Alice has 100 TRX frozen for resource (and 50 for bandwidth, to pay for transactions)."""
    chain = make_chain()
    alice, bob = keys(chain)[:2]
    submit(chain, alice, "FreezeBalanceV2Contract", frozen_balance=50 * TRX, resource=BANDWIDTH)
    submit(chain, alice, "FreezeBalanceV2Contract", frozen_balance=100 * TRX, resource=resource)
    next_block(chain)
    return chain, alice, bob


def test_delegating_energy_moves_the_stake_and_its_energy_to_the_receiver() -> None:
    chain, alice, bob = staked_chain()
    head_ms = chain.head_block.timestamp_ms

    delegate(chain, alice, address(bob), 40 * TRX)
    next_block(chain)

    owner, receiver = account(chain, address(alice)), account(chain, address(bob))
    assert owner.stake.frozen_v2_energy_sun == 60 * TRX
    assert owner.stake.delegated_frozen_v2_energy_sun == 40 * TRX
    assert receiver.stake.acquired_delegated_v2_energy_sun == 40 * TRX
    state, ctx = chain.state(), chain.context()
    assert state.property(TOTAL_ENERGY_WEIGHT) == 100  # the weight does not move
    assert energy_limit(receiver, ctx, state) == TOTAL_ENERGY_LIMIT * 40 // 100
    assert energy_limit(owner, ctx, state) == TOTAL_ENERGY_LIMIT * 60 // 100
    assert delegated_records(owner, address(bob)) == [
        DelegatedResource(address(bob), False, frozen_balance_for_energy=40 * TRX)
    ]
    assert owner.stake.delegated_to == (Link(address(bob), head_ms),)
    assert receiver.stake.delegated_from == (Link(address(alice), head_ms),)


def test_a_locked_delegation_cannot_be_taken_back_before_its_lock_expires() -> None:
    chain, alice, bob = staked_chain()
    delegate(chain, alice, address(bob), 40 * TRX)
    lock_ms = chain.head_block.timestamp_ms
    delegate(chain, alice, address(bob), 10 * TRX, lock=True, lock_period=2)
    next_block(chain)

    records = delegated_records(account(chain, address(alice)), address(bob))
    assert records[1] == DelegatedResource(
        address(bob),
        True,
        frozen_balance_for_energy=10 * TRX,
        expire_time_for_energy_ms=lock_ms + 2 * BLOCK_MS,
    )
    with pytest.raises(ContractValidateError) as caught:
        undelegate(chain, alice, address(bob), 50 * TRX)
    assert caught.value.detail == (
        "insufficient delegateFrozenBalance(Energy), request=50000000, unlock_balance=40000000"
    )

    next_block(chain, 2)  # now past the lock
    undelegate(chain, alice, address(bob), 50 * TRX)
    next_block(chain)

    owner, receiver = account(chain, address(alice)), account(chain, address(bob))
    assert owner.stake.frozen_v2_energy_sun == 100 * TRX
    assert owner.stake.delegated_frozen_v2_energy_sun == 0
    assert receiver.stake.acquired_delegated_v2_energy_sun == 0
    assert owner.stake.delegated_resources == ()
    assert index_links(owner.stake.delegated_to) == []
    assert index_links(receiver.stake.delegated_from) == []


def test_bandwidth_undelegation_message_names_bandwidth() -> None:
    chain, alice, bob = staked_chain(BANDWIDTH)
    delegate(chain, alice, address(bob), 5 * TRX, BANDWIDTH, lock=True)

    with pytest.raises(ContractValidateError) as caught:
        undelegate(chain, alice, address(bob), 5 * TRX, BANDWIDTH)

    assert caught.value.detail == (
        "insufficient delegatedFrozenBalance(BANDWIDTH), request=5000000, unlock_balance=0"
    )
    receiver = account(chain, address(bob))
    assert receiver.acquired_delegated_v2_bandwidth_sun == 5 * TRX


def test_lock_period_zero_means_three_days() -> None:
    chain, alice, bob = staked_chain()
    now = chain.head_block.timestamp_ms

    delegate(chain, alice, address(bob), 5 * TRX, lock=True)

    [locked] = delegated_records(account(chain, address(alice)), address(bob))
    assert locked.expire_time_for_energy_ms == now + 3 * 86_400_000


def test_a_new_lock_may_not_end_before_the_running_one() -> None:
    chain, alice, bob = staked_chain()
    delegate(chain, alice, address(bob), 5 * TRX, lock=True, lock_period=10)
    next_block(chain)

    with pytest.raises(ContractValidateError) as caught:
        delegate(chain, alice, address(bob), 5 * TRX, lock=True, lock_period=5)

    assert caught.value.detail == (
        "The lock period for ENERGY this time cannot be less than the remaining time[27000ms] "
        "of the last lock period for ENERGY!"
    )


@pytest.mark.parametrize(
    ("amount", "resource", "to_self", "lock", "message"),
    [
        (TRX - 1, ENERGY, False, {}, "delegateBalance must be greater than or equal to 1 TRX"),
        (
            101 * TRX,
            ENERGY,
            False,
            {},
            "delegateBalance must be less than or equal to available FreezeEnergyV2 balance",
        ),
        (
            51 * TRX,
            BANDWIDTH,
            False,
            {},
            "delegateBalance must be less than or equal to available FreezeBandwidthV2 balance",
        ),
        (TRX, ENERGY, True, {}, "receiverAddress must not be the same as ownerAddress"),
        (
            TRX,
            ENERGY,
            False,
            {"lock": True, "lock_period": 864_001},
            "The lock period of delegate resource cannot be less than 0 and cannot exceed 864000!",
        ),
    ],
)
def test_delegate_refusals(
    amount: int, resource: int, to_self: bool, lock: dict[str, object], message: str
) -> None:
    chain, alice, bob = staked_chain()
    to = address(alice) if to_self else address(bob)

    with pytest.raises(ContractValidateError) as caught:
        delegate(chain, alice, to, amount, resource, **lock)

    assert caught.value.detail == message


def test_delegating_to_an_unknown_account_is_refused() -> None:
    chain, alice, _ = staked_chain()
    stranger = bytes.fromhex("41" + "ab" * 20)

    with pytest.raises(ContractValidateError) as caught:
        delegate(chain, alice, stranger, TRX)

    assert caught.value.detail == f"Account[{stranger.hex()}] not exists"


def test_undelegate_refusals() -> None:
    chain, alice, bob = staked_chain()
    with pytest.raises(ContractValidateError) as caught:
        undelegate(chain, alice, address(bob), TRX)
    assert caught.value.detail == "delegated Resource does not exist"

    delegate(chain, alice, address(bob), TRX)
    with pytest.raises(ContractValidateError) as caught:
        undelegate(chain, alice, address(bob), 0)
    assert caught.value.detail == "unDelegateBalance must be more than 0 TRX"


def test_can_delegated_max_size_is_the_stake_not_held_by_own_usage() -> None:
    chain, alice, _ = staked_chain()
    ctx, state = chain.context(), chain.state()
    staked = account(chain, address(alice))

    assert can_delegated_max_size(staked, ENERGY, ctx, state) == 100 * TRX
    # 18e9 energy is what 10 TRX of the 100 staked buys (180e9 for all of them).
    busy = use_energy(staked, 18_000_000_000, ctx)
    assert can_delegated_max_size(busy, ENERGY, ctx, state) == 90 * TRX
    nearly_all = use_energy(staked, 179_500_000_000, ctx)
    assert can_delegated_max_size(nearly_all, ENERGY, ctx, state) == 0  # under 1 TRX left


def test_undelegating_hands_back_a_share_of_the_receivers_usage() -> None:
    chain, alice, bob = staked_chain()
    delegate(chain, alice, address(bob), 40 * TRX)
    next_block(chain)
    ctx, state = chain.context(), chain.state()
    state.put_account(use_energy(account(chain, address(bob)), 36_000_000_000, ctx))

    undelegate(chain, alice, address(bob), 20 * TRX)
    next_block(chain)

    # Half the receiver's delegation, so half its usage: 18e9 of 36e9.
    receiver, owner = account(chain, address(bob)), account(chain, address(alice))
    assert receiver.energy_usage == 18_000_000_000
    assert owner.energy_usage == 18_000_000_000
    assert receiver.stake.acquired_delegated_v2_energy_sun == 20 * TRX
    assert delegated_records(owner, address(bob)) == [
        DelegatedResource(address(bob), False, frozen_balance_for_energy=20 * TRX)
    ]
    assert index_links(owner.stake.delegated_to) == [address(bob)]
