"""Unmodified tronpy AsyncTron against an in-process devnet: Stake 2.0, votes and rewards.

Every operation is checked against what the node then reports (getaccount's
frozenV2/unfrozenV2/votes/delegated fields, getaccountresource's limits,
the delegation reads, listwitnesses, getReward), and each main refusal
against java-tron's text and tronpy's exception type. Genesis shortens the
unfreeze wait to 200 ms; 50 ms blocks; waits use tronpy's `wait()` or the
producer's new-block event, never fixed sleeps.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from tronpy import AsyncTron
from tronpy.async_tron import AsyncTransactionBuilder
from tronpy.exceptions import ValidationError
from tronpy.keys import PrivateKey

from devnet.genesis import GenesisConfig, build_genesis
from devnet.server import Devnet, DevnetConfig
from devnet.staking_config import StakingConfig
from tests.devnet_support import address, genesis_key

INTERVAL_S = 0.05
LAG = 4
WAIT_S = 10.0
POLL_S = 0.05
TRX = 1_000_000
UNFREEZE_DELAY_MS = 200
BLOCK_REWARD_SUN = 128 * TRX  # getWitness127PayPerBlock, devnet's default vote reward
TOTAL_ENERGY_LIMIT = 180_000_000_000
TOTAL_NET_LIMIT = 43_200_000_000


@pytest.fixture
async def devnet() -> AsyncIterator[Devnet]:
    genesis = build_genesis(
        GenesisConfig(staking=StakingConfig(unfreeze_delay_ms=UNFREEZE_DELAY_MS))
    )
    config = DevnetConfig(port=0, block_interval_s=INTERVAL_S, solidify_lag_blocks=LAG)
    async with Devnet(config, genesis=genesis) as running:
        yield running


async def run(builder: AsyncTransactionBuilder, key: PrivateKey) -> dict[str, Any]:
    """Build with tronpy, sign, broadcast and wait for the receipt."""
    txn = await builder.build()
    ret = await txn.sign(key).broadcast()
    return await ret.wait(timeout=WAIT_S, interval=POLL_S)


async def refusal(builder: AsyncTransactionBuilder, key: PrivateKey) -> str:
    txn = await builder.build()
    with pytest.raises(ValidationError) as caught:
        await txn.sign(key).broadcast()
    return str(caught.value)


async def balance_sun(tron: AsyncTron, who: str) -> int:
    return int((await tron.get_account(who)).get("balance", 0))


async def executed_at_ms(tron: AsyncTron, info: dict[str, Any]) -> int:
    """The head a transaction executed on: the block before the one that carries it."""
    block = await tron.get_block(info["blockNumber"] - 1)
    return int(block["block_header"]["raw_data"]["timestamp"])


async def test_freezing_shows_in_frozen_v2_and_buys_energy_and_bandwidth(
    devnet: Devnet, tron: AsyncTron
) -> None:
    alice = genesis_key(devnet, 0)
    before = await balance_sun(tron, address(alice))

    first = await run(tron.trx.freeze_balance(address(alice), 1_000 * TRX, "ENERGY"), alice)
    second = await run(tron.trx.freeze_balance(address(alice), 500 * TRX, "BANDWIDTH"), alice)

    account = await tron.get_account(address(alice))
    assert account["frozenV2"] == [
        {"amount": 500 * TRX},
        {"type": "ENERGY", "amount": 1_000 * TRX},
        {"type": "TRON_POWER"},
    ]
    fees = first.get("fee", 0) + second.get("fee", 0)
    assert account["balance"] == before - 1_500 * TRX - fees
    resources = await tron.get_account_resource(address(alice))
    assert resources["EnergyLimit"] == TOTAL_ENERGY_LIMIT  # the only staker takes it all
    assert resources["NetLimit"] == TOTAL_NET_LIMIT
    assert resources["TotalEnergyWeight"] == 1_000
    assert resources["TotalNetWeight"] == 500
    assert resources["tronPowerLimit"] == 1_500
    assert await tron.get_energy(address(alice)) == TOTAL_ENERGY_LIMIT
    free_left = 600 - resources.get("freeNetUsed", 0)  # getFreeNetLimit
    assert await tron.get_bandwidth(address(alice)) == (
        free_left + TOTAL_NET_LIMIT - resources.get("NetUsed", 0)
    )

    await devnet.producer.wait_for_number(second["blockNumber"] + LAG, WAIT_S)
    solid = await tron.provider.make_request(
        "walletsolidity/getaccount", {"address": address(alice), "visible": True}
    )
    assert solid["frozenV2"] == account["frozenV2"]


async def test_unfreeze_waits_then_withdraw_expire_unfreeze_returns_the_trx(
    devnet: Devnet, tron: AsyncTron
) -> None:
    alice = genesis_key(devnet, 1)
    await run(tron.trx.freeze_balance(address(alice), 100 * TRX, "ENERGY"), alice)

    info = await run(
        tron.trx.unfreeze_balance(address(alice), "ENERGY", unfreeze_balance=40 * TRX), alice
    )

    account = await tron.get_account(address(alice))
    expire_ms = await executed_at_ms(tron, info) + UNFREEZE_DELAY_MS
    assert account["unfrozenV2"] == [
        {"type": "ENERGY", "unfreeze_amount": 40 * TRX, "unfreeze_expire_time": expire_ms}
    ]
    assert account["frozenV2"][1] == {"type": "ENERGY", "amount": 60 * TRX}
    assert (await tron.get_account_resource(address(alice)))["TotalEnergyWeight"] == 60

    await devnet.producer.wait_for_number(info["blockNumber"] + 5, WAIT_S)  # 250 ms later
    withdrawable = await tron.provider.make_request(
        "wallet/getcanwithdrawunfreezeamount", {"owner_address": address(alice), "visible": True}
    )
    assert withdrawable == {"amount": 40 * TRX}
    before = await balance_sun(tron, address(alice))
    withdrawn = await run(tron.trx.withdraw_stake_balance(address(alice)), alice)

    assert withdrawn["withdraw_expire_amount"] == 40 * TRX
    after = await tron.get_account(address(alice))
    assert after["balance"] == before + 40 * TRX - withdrawn.get("fee", 0)
    assert "unfrozenV2" not in after


async def test_locked_delegation_moves_energy_and_refuses_an_early_undelegate(
    devnet: Devnet, tron: AsyncTron
) -> None:
    alice, bob = genesis_key(devnet, 0), genesis_key(devnet, 2)
    await run(tron.trx.freeze_balance(address(alice), 100 * TRX, "ENERGY"), alice)
    assert await tron.get_can_delegated_max_size(address(alice), "ENERGY") == {
        "max_size": 100 * TRX
    }

    info = await run(
        tron.trx.delegate_resource(
            address(alice), address(bob), 40 * TRX, "ENERGY", lock=True, lock_period=100
        ),
        alice,
    )

    expire_ms = await executed_at_ms(tron, info) + 100 * 3_000
    assert await tron.get_delegated_resource_v2(address(alice), address(bob)) == {
        "delegatedResource": [
            {
                "from": address(alice),
                "to": address(bob),
                "frozen_balance_for_energy": 40 * TRX,
                "expire_time_for_energy": expire_ms,
            }
        ]
    }
    assert await tron.get_delegated_resource_account_index_v2(address(alice)) == {
        "account": address(alice),
        "toAccounts": [address(bob)],
    }
    assert await tron.get_delegated_resource_account_index_v2(address(bob)) == {
        "account": address(bob),
        "fromAccounts": [address(alice)],
    }
    owner, receiver = await tron.get_account(address(alice)), await tron.get_account(address(bob))
    assert owner["account_resource"]["delegated_frozenV2_balance_for_energy"] == 40 * TRX
    assert owner["frozenV2"][1] == {"type": "ENERGY", "amount": 60 * TRX}
    assert receiver["account_resource"]["acquired_delegated_frozenV2_balance_for_energy"] == (
        40 * TRX
    )
    assert await tron.get_energy(address(bob)) == TOTAL_ENERGY_LIMIT * 40 // 100
    assert (await tron.get_account_resource(address(alice)))["EnergyLimit"] == (
        TOTAL_ENERGY_LIMIT * 60 // 100
    )
    assert await tron.get_can_delegated_max_size(address(alice), "ENERGY") == {"max_size": 60 * TRX}

    message = await refusal(
        tron.trx.undelegate_resource(address(alice), address(bob), 40 * TRX, "ENERGY"), alice
    )
    assert message == (
        "Contract validate error : insufficient delegateFrozenBalance(Energy), "
        "request=40000000, unlock_balance=0"
    )


async def test_undelegating_bandwidth_gives_the_stake_back(devnet: Devnet, tron: AsyncTron) -> None:
    alice, bob = genesis_key(devnet, 1), genesis_key(devnet, 3)
    await run(tron.trx.freeze_balance(address(alice), 50 * TRX, "BANDWIDTH"), alice)
    await run(
        tron.trx.delegate_resource(address(alice), address(bob), 30 * TRX, "BANDWIDTH"), alice
    )
    receiver = await tron.get_account(address(bob))
    assert receiver["acquired_delegated_frozenV2_balance_for_bandwidth"] == 30 * TRX
    assert (await tron.get_account_resource(address(bob)))["NetLimit"] == (
        TOTAL_NET_LIMIT * 30 // 50
    )

    await run(
        tron.trx.undelegate_resource(address(alice), address(bob), 30 * TRX, "BANDWIDTH"), alice
    )

    assert await tron.get_delegated_resource_v2(address(alice), address(bob)) == {}
    assert await tron.get_delegated_resource_account_index_v2(address(alice)) == {
        "account": address(alice)
    }
    owner, receiver = await tron.get_account(address(alice)), await tron.get_account(address(bob))
    assert owner["frozenV2"][0] == {"amount": 50 * TRX}
    assert "delegated_frozenV2_balance_for_bandwidth" not in owner
    assert "acquired_delegated_frozenV2_balance_for_bandwidth" not in receiver


async def test_votes_earn_rewards_that_withdraw_rewards_pays_out_once_a_day(
    devnet: Devnet, tron: AsyncTron
) -> None:
    alice = genesis_key(devnet, 2)
    await run(tron.trx.freeze_balance(address(alice), 100 * TRX, "ENERGY"), alice)
    witness = (await tron.list_witnesses())[0]["address"]

    voted = await run(tron.trx.vote_witness(address(alice), (witness, 100)), alice)

    account = await tron.get_account(address(alice))
    assert account["votes"] == [{"vote_address": witness, "vote_count": 100}]
    listed = {w["address"]: w for w in await tron.list_witnesses()}
    assert listed[witness]["voteCount"] == 100
    assert (await tron.get_account_resource(address(alice)))["tronPowerUsed"] == 100
    await devnet.producer.wait_for_number(voted["blockNumber"] + 2, WAIT_S)
    pending = await tron.provider.make_request(
        "wallet/getReward", {"address": address(alice), "visible": True}
    )
    assert pending["reward"] >= 2 * BLOCK_REWARD_SUN

    before = await balance_sun(tron, address(alice))
    withdrawn = await run(tron.trx.withdraw_rewards(address(alice)), alice)

    # Alone with its votes, alice earns every block from the vote's to the withdrawal's.
    blocks = withdrawn["blockNumber"] - voted["blockNumber"]
    assert withdrawn["withdraw_amount"] == blocks * BLOCK_REWARD_SUN
    after = await tron.get_account(address(alice))
    assert after["balance"] == before + withdrawn["withdraw_amount"] - withdrawn.get("fee", 0)
    assert "allowance" not in after
    assert after["latest_withdraw_time"] == await executed_at_ms(tron, withdrawn)

    message = await refusal(tron.trx.withdraw_rewards(address(alice)), alice)
    assert message == (
        f"Contract validate error : The last withdraw time is {after['latest_withdraw_time']}, "
        "less than 24 hours"
    )


@pytest.mark.parametrize(
    ("operation", "message"),
    [
        ("freeze", "frozenBalance must be less than or equal to accountBalance"),
        ("unfreeze", "Invalid unfreeze_balance, [11000000] is error"),
        ("vote", "The total number of votes[11000000] is greater than the tronPower[10000000]"),
        ("undelegate", "delegated Resource does not exist"),
        ("withdraw", "witnessAccount does not have any reward"),
    ],
)
async def test_refusals_carry_java_trons_messages(
    devnet: Devnet, tron: AsyncTron, operation: str, message: str
) -> None:
    alice, bob = genesis_key(devnet, 3), genesis_key(devnet, 0)
    await run(tron.trx.freeze_balance(address(alice), 10 * TRX, "ENERGY"), alice)
    witness = (await tron.list_witnesses())[0]["address"]
    builders = {
        "freeze": tron.trx.freeze_balance(address(alice), 2_000_000 * TRX, "ENERGY"),
        "unfreeze": tron.trx.unfreeze_balance(address(alice), "ENERGY", unfreeze_balance=11 * TRX),
        "vote": tron.trx.vote_witness(address(alice), (witness, 11)),
        "undelegate": tron.trx.undelegate_resource(address(alice), address(bob), TRX, "ENERGY"),
        "withdraw": tron.trx.withdraw_rewards(address(alice)),
    }

    assert await refusal(builders[operation], alice) == f"Contract validate error : {message}"
