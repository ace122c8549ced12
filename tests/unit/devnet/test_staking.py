"""FreezeBalanceV2, UnfreezeBalanceV2, WithdrawExpireUnfreeze and CancelAllUnfreezeV2 on a Chain.

Refusals are java-tron's actuator messages (FreezeBalanceV2Actuator,
UnfreezeBalanceV2Actuator, WithdrawExpireUnfreezeActuator,
CancelAllUnfreezeV2Actuator); amounts are exact to the sun.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from devnet.bandwidth import TOTAL_NET_WEIGHT
from devnet.chain import Chain, View
from devnet.context import ExecutionContext
from devnet.energy import TOTAL_ENERGY_WEIGHT, available_energy, energy_limit, use_energy
from devnet.errors import ContractValidateError
from devnet.evm_abi import encode_address, encode_uint, selector
from devnet.genesis import load_genesis
from devnet.stake_records import BANDWIDTH, ENERGY, TRON_POWER, UnfreezeV2
from devnet.staking import UNFREEZE_MAX_TIMES, unfreeze_delay_ms
from devnet.staking_config import StakingConfig
from devnet.transactions import Transaction
from devnet.trc20 import USDT_ADDRESS
from tests.unit.devnet.staking_support import (
    BLOCK_MS,
    TRX,
    account,
    address,
    info,
    keys,
    make_chain,
    next_block,
    submit,
)

TOTAL_ENERGY_LIMIT = 180_000_000_000  # getTotalEnergyCurrentLimit
TOTAL_NET_LIMIT = 43_200_000_000  # getTotalNetLimit


def freeze(chain: Chain, key: bytes, amount: int, resource: int = ENERGY) -> Transaction:
    return submit(chain, key, "FreezeBalanceV2Contract", frozen_balance=amount, resource=resource)


def unfreeze(chain: Chain, key: bytes, amount: int, resource: int = ENERGY) -> Transaction:
    return submit(
        chain, key, "UnfreezeBalanceV2Contract", unfreeze_balance=amount, resource=resource
    )


def test_freezing_for_energy_moves_trx_into_frozen_v2_and_buys_a_share_of_the_limit() -> None:
    chain = make_chain()
    alice, bob = keys(chain)[:2]
    before = account(chain, address(alice)).balance_sun

    tx = freeze(chain, alice, 1_000 * TRX)
    next_block(chain)

    frozen = account(chain, address(alice))
    assert frozen.balance_sun == before - 1_000 * TRX - info(chain, tx).fee_sun
    assert frozen.stake.frozen_v2_energy_sun == 1_000 * TRX
    state, ctx = chain.state(), chain.context()
    assert state.property(TOTAL_ENERGY_WEIGHT) == 1_000
    assert energy_limit(frozen, ctx, state) == TOTAL_ENERGY_LIMIT  # the only staker

    freeze(chain, bob, 3_000 * TRX)
    next_block(chain)

    state = chain.state()
    assert state.property(TOTAL_ENERGY_WEIGHT) == 4_000
    assert energy_limit(account(chain, address(alice)), ctx, state) == TOTAL_ENERGY_LIMIT // 4
    assert energy_limit(account(chain, address(bob)), ctx, state) == TOTAL_ENERGY_LIMIT * 3 // 4


def test_network_weight_counts_whole_trx_as_java_tron_rounds_it() -> None:
    chain = make_chain()
    alice = keys(chain)[0]

    freeze(chain, alice, 1_500_000, BANDWIDTH)  # 1.5 TRX: weight 1
    freeze(chain, alice, 1_500_000, BANDWIDTH)  # 3 TRX in all: weight 3

    assert chain.state().property(TOTAL_NET_WEIGHT) == 3
    assert account(chain, address(alice)).frozen_v2_bandwidth_sun == 3_000_000


def test_staked_bandwidth_pays_for_the_next_transactions() -> None:
    chain = make_chain()
    alice = keys(chain)[0]
    freeze(chain, alice, 10 * TRX, BANDWIDTH)
    next_block(chain)
    free_before = account(chain, address(alice)).free_net_usage

    tx = freeze(chain, alice, 1 * TRX, ENERGY)
    next_block(chain)

    after = account(chain, address(alice))
    assert info(chain, tx).net_usage > 0 and info(chain, tx).fee_sun == 0
    assert after.net_usage == info(chain, tx).net_usage  # staked, not free, bandwidth
    assert after.free_net_usage == free_before


@pytest.mark.parametrize(
    ("amount", "resource", "message"),
    [
        (0, ENERGY, "frozenBalance must be positive"),
        (TRX - 1, ENERGY, "frozenBalance must be greater than or equal to 1 TRX"),
        (2_000_000 * TRX, ENERGY, "frozenBalance must be less than or equal to accountBalance"),
        (TRX, TRON_POWER, "ResourceCode error, valid ResourceCode[BANDWIDTH、ENERGY]"),
    ],
)
def test_freeze_refusals(amount: int, resource: int, message: str) -> None:
    chain = make_chain()
    alice = keys(chain)[0]

    with pytest.raises(ContractValidateError) as caught:
        freeze(chain, alice, amount, resource)

    assert caught.value.detail == message


def test_unfreezing_starts_the_wait_and_lowers_the_weight() -> None:
    chain = make_chain(StakingConfig(unfreeze_delay_ms=9_000))
    alice = keys(chain)[0]
    freeze(chain, alice, 100 * TRX)
    next_block(chain)
    head_ms = chain.head_block.timestamp_ms

    tx = unfreeze(chain, alice, 40 * TRX)
    next_block(chain)

    after = account(chain, address(alice))
    assert after.stake.frozen_v2_energy_sun == 60 * TRX
    assert after.stake.unfrozen_v2 == (UnfreezeV2(ENERGY, 40 * TRX, head_ms + 9_000),)
    assert chain.state().property(TOTAL_ENERGY_WEIGHT) == 60
    assert info(chain, tx).withdraw_expire_amount_sun == 0


def test_the_wait_defaults_to_the_unfreeze_delay_days() -> None:
    chain = make_chain(StakingConfig())
    ctx = chain.context()

    assert unfreeze_delay_ms(ctx) == 14 * 86_400_000
    assert unfreeze_delay_ms(ExecutionContext(0, 0, 0, ctx.parameters)) == 14 * 86_400_000


def test_withdraw_expire_unfreeze_returns_what_has_waited_long_enough() -> None:
    chain = make_chain(StakingConfig(unfreeze_delay_ms=2 * BLOCK_MS))
    alice = keys(chain)[0]
    freeze(chain, alice, 100 * TRX)
    unfreeze(chain, alice, 30 * TRX)
    next_block(chain)
    unfreeze(chain, alice, 20 * TRX)  # expires one block later than the first

    with pytest.raises(ContractValidateError) as caught:
        submit(chain, alice, "WithdrawExpireUnfreezeContract")
    assert caught.value.detail == "no unFreeze balance to withdraw "

    next_block(chain)  # the first unfreeze's expire time is now the head's
    before = account(chain, address(alice)).balance_sun
    tx = submit(chain, alice, "WithdrawExpireUnfreezeContract")
    next_block(chain)

    after = account(chain, address(alice))
    assert info(chain, tx).withdraw_expire_amount_sun == 30 * TRX
    assert after.balance_sun == before + 30 * TRX - info(chain, tx).fee_sun
    assert [item.unfreeze_amount for item in after.stake.unfrozen_v2] == [20 * TRX]


def test_an_unfreeze_pays_out_expired_ones_first() -> None:
    chain = make_chain(StakingConfig(unfreeze_delay_ms=0))
    alice = keys(chain)[0]
    freeze(chain, alice, 100 * TRX)
    unfreeze(chain, alice, 10 * TRX)
    next_block(chain)

    tx = unfreeze(chain, alice, 5 * TRX)
    next_block(chain)

    assert info(chain, tx).withdraw_expire_amount_sun == 10 * TRX
    assert [i.unfreeze_amount for i in account(chain, address(alice)).stake.unfrozen_v2] == [
        5 * TRX
    ]


@pytest.mark.parametrize(
    ("frozen_resource", "resource", "amount", "message"),
    [
        (ENERGY, ENERGY, 11 * TRX, "Invalid unfreeze_balance, [11000000] is error"),
        (ENERGY, ENERGY, 0, "Invalid unfreeze_balance, [0] is error"),
        (ENERGY, BANDWIDTH, TRX, "no frozenBalance(BANDWIDTH)"),
        (BANDWIDTH, ENERGY, TRX, "no frozenBalance(Energy)"),
        (ENERGY, TRON_POWER, TRX, "ResourceCode error.valid ResourceCode[BANDWIDTH、Energy]"),
    ],
)
def test_unfreeze_refusals(frozen_resource: int, resource: int, amount: int, message: str) -> None:
    chain = make_chain()
    alice = keys(chain)[0]
    freeze(chain, alice, 10 * TRX, frozen_resource)

    with pytest.raises(ContractValidateError) as caught:
        unfreeze(chain, alice, amount, resource)

    assert caught.value.detail == message


def test_delegated_trx_cannot_be_unfrozen() -> None:
    chain = make_chain()
    alice, bob = keys(chain)[:2]
    freeze(chain, alice, 100 * TRX)
    submit(
        chain,
        alice,
        "DelegateResourceContract",
        resource=ENERGY,
        balance=60 * TRX,
        receiver_address=address(bob),
    )

    with pytest.raises(ContractValidateError) as caught:
        unfreeze(chain, alice, 50 * TRX)

    assert caught.value.detail == "Invalid unfreeze_balance, [50000000] is error"


def test_at_most_32_unfreezes_wait_at_once() -> None:
    chain = make_chain()
    alice = keys(chain)[0]
    freeze(chain, alice, 100 * TRX, BANDWIDTH)  # staked bandwidth pays for the 33 transactions
    freeze(chain, alice, 100 * TRX)
    for _ in range(UNFREEZE_MAX_TIMES):
        unfreeze(chain, alice, TRX)

    with pytest.raises(ContractValidateError) as caught:
        unfreeze(chain, alice, TRX)

    assert caught.value.detail == "Invalid unfreeze operation, unfreezing times is over limit"


def test_cancel_all_unfreeze_refreezes_what_waits_and_pays_out_what_expired() -> None:
    chain = make_chain(StakingConfig(unfreeze_delay_ms=2 * BLOCK_MS))
    alice = keys(chain)[0]
    freeze(chain, alice, 100 * TRX)
    unfreeze(chain, alice, 30 * TRX)
    next_block(chain)
    unfreeze(chain, alice, 20 * TRX)
    next_block(chain)  # the first has waited its 6 s, the second has not

    tx = submit(chain, alice, "CancelAllUnfreezeV2Contract")
    next_block(chain)

    after = account(chain, address(alice))
    assert info(chain, tx).withdraw_expire_amount_sun == 30 * TRX
    assert after.stake.frozen_v2_energy_sun == 70 * TRX
    assert after.stake.unfrozen_v2 == ()
    assert chain.state().property(TOTAL_ENERGY_WEIGHT) == 70
    with pytest.raises(ContractValidateError) as caught:
        submit(chain, alice, "CancelAllUnfreezeV2Contract")
    assert caught.value.detail == "No unfreezeV2 list to cancel"


def test_energy_used_from_the_stake_recovers_over_the_day() -> None:
    chain = make_chain()
    alice = keys(chain)[0]
    freeze(chain, alice, 1_000 * TRX)
    next_block(chain)
    ctx, state = chain.context(), chain.state()
    staked = account(chain, address(alice))
    assert available_energy(staked, ctx, state) == TOTAL_ENERGY_LIMIT

    spent = use_energy(staked, 28_800_000, ctx)

    assert available_energy(spent, ctx, state) == TOTAL_ENERGY_LIMIT - 28_800_000
    later = ExecutionContext(
        0, ctx.head_timestamp_ms + 43_200_000, ctx.genesis_timestamp_ms, ctx.parameters
    )
    assert available_energy(spent, later, state) == TOTAL_ENERGY_LIMIT - 14_400_000


def test_solid_view_sees_the_stake_once_solidified() -> None:
    chain = make_chain()
    alice = keys(chain)[0]
    freeze(chain, alice, 5 * TRX)
    next_block(chain)

    assert account(chain, address(alice), View.SOLID).stake.frozen_v2_energy_sun == 0
    next_block(chain, 2)
    assert account(chain, address(alice), View.SOLID).stake.frozen_v2_energy_sun == 5 * TRX


def test_staked_energy_pays_for_a_contract_call_before_any_trx_is_burnt() -> None:
    chain = make_chain()
    alice, bob, carol = keys(chain)[:3]
    freeze(chain, alice, 1_000 * TRX)
    next_block(chain)
    call = selector("transfer(address,uint256)") + encode_address(address(bob)) + encode_uint(1)

    trigger = {"contract_address": USDT_ADDRESS, "data": call, "fee_limit_sun": 10 * TRX}
    staked = submit(chain, alice, "TriggerSmartContract", **trigger)
    burnt = submit(chain, carol, "TriggerSmartContract", **trigger)
    next_block(chain)

    paid, unpaid = info(chain, staked).vm, info(chain, burnt).vm
    assert paid is not None and unpaid is not None
    assert paid.contract_ret == "SUCCESS" and paid.energy_usage > 0
    assert paid.energy_fee_sun == 0
    assert unpaid.energy_usage == 0 and unpaid.energy_fee_sun > 0
    caller = account(chain, address(alice))
    assert caller.energy_usage == paid.energy_usage
    ctx, state = chain.context(), chain.state()
    # One block later a sliver of the usage has already recovered.
    left = available_energy(caller, ctx, state)
    assert TOTAL_ENERGY_LIMIT - paid.energy_usage <= left < TOTAL_ENERGY_LIMIT


def test_a_genesis_file_sets_the_staking_table(tmp_path: Path) -> None:
    path = tmp_path / "genesis.toml"
    path.write_text(
        "[staking]\nunfreeze_delay_ms = 500\nwithdraw_cooldown_ms = 0\n"
        "vote_reward_per_block_sun = 7\n"
    )

    assert load_genesis(path).staking == StakingConfig(
        unfreeze_delay_ms=500, withdraw_cooldown_ms=0, vote_reward_per_block_sun=7
    )
    path.write_text("[staking]\nunfreeze_delay_days = 1\n")
    with pytest.raises(ValidationError, match="unfreeze_delay_days"):
        load_genesis(path)
