"""Unmodified tronpy AsyncTron and the USDT contract on an in-process devnet.

50 ms blocks and a 4-block solidification lag. Every figure is exact: at the
genesis energy price (getEnergyFee, 100 sun) a transfer to a USDT holder
burns 14,650 x 100 sun, one to an empty balance 29,650 x 100, and the
transaction's bytes fit in the sender's free daily bandwidth. What tronpy
sees is what mainnet gives it: `transfer` returns false even when it works
(the mainnet contract's quirk), refusals are REVERTs whose only message is
"REVERT opcode executed", and logs carry `T...` addresses when visible.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tronpy import AsyncTron
from tronpy.abi import trx_abi
from tronpy.async_contract import AsyncContract
from tronpy.async_tron import AsyncTransaction
from tronpy.exceptions import TvmError
from tronpy.keys import PrivateKey

from devnet.server import Devnet, DevnetConfig

INTERVAL_S = 0.05
LAG = 4
WAIT_S = 10.0
POLL_S = 0.05
TRX = 1_000_000
ENERGY_PRICE_SUN = 100
USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
MILLION_USDT = 10**12
FEE_LIMIT = 50 * TRX


@pytest.fixture
async def devnet() -> AsyncIterator[Devnet]:
    config = DevnetConfig(port=0, block_interval_s=INTERVAL_S, solidify_lag_blocks=LAG)
    async with Devnet(config) as running:
        yield running


@pytest.fixture
async def usdt(tron: AsyncTron) -> AsyncContract:
    return await tron.get_contract(USDT)


def key(devnet: Devnet, n: int) -> PrivateKey:
    found = devnet.genesis.accounts[n].private_key
    assert found is not None
    return PrivateKey(found)


def owner_key(devnet: Devnet) -> PrivateKey:
    assert devnet.genesis.usdt is not None
    return PrivateKey(devnet.genesis.usdt.owner_private_key)


def address(private_key: PrivateKey) -> str:
    return private_key.public_key.to_base58check_address()


def fresh_address(label: str) -> str:
    return address(PrivateKey(hashlib.sha256(label.encode()).digest()))


async def trx_balance(tron: AsyncTron, who: str) -> int:
    return int((await tron.get_account(who)).get("balance", 0))


async def call(
    usdt: AsyncContract, function: str, sender: PrivateKey, *args: Any, fee_limit: int = FEE_LIMIT
) -> tuple[dict[str, Any], Any]:
    """Build with tronpy's contract method, sign, broadcast; (receipt, broadcast ret)."""
    builder = await usdt.functions[function](*args)
    txn = await builder.with_owner(address(sender)).fee_limit(fee_limit).build()
    ret = await txn.sign(sender).broadcast()
    return await ret.wait(timeout=WAIT_S, interval=POLL_S), ret


async def test_get_contract_gives_an_abi_tronpy_calls(
    devnet: Devnet, tron: AsyncTron, usdt: AsyncContract
) -> None:
    alice = key(devnet, 0)
    assert (usdt.name, usdt.user_resource_percent, usdt.origin_energy_limit) == (
        "TetherToken",
        30,
        10_000_000,
    )
    assert usdt.origin_address == address(owner_key(devnet))
    assert {"transfer", "transferFrom", "approve", "addBlackList"} <= set(dir(usdt.functions))
    assert await usdt.functions.decimals() == 6
    assert await usdt.functions.symbol() == "USDT"
    assert await usdt.functions.name() == "Tether USD"
    assert await usdt.functions.totalSupply() == 4 * MILLION_USDT
    assert await usdt.functions.balanceOf(address(alice)) == MILLION_USDT
    info = await tron.get_contract_info(USDT)
    assert info["smart_contract"]["contract_address"] == USDT
    # No dynamic-energy factor; cycles are maintenance periods since genesis (time 0 here).
    assert set(info["contract_state"]) == {"update_cycle"}


async def test_accounts_are_unaffected_and_the_contract_is_an_account(
    devnet: Devnet, tron: AsyncTron
) -> None:
    account = await tron.get_account(address(key(devnet, 0)))
    assert account["balance"] == 1_000_000 * TRX
    assert not {"trc20", "assetV2"} & set(account)  # TRC20 balances are not in accounts
    contract = await tron.get_account(USDT)
    assert (contract["type"], contract["account_name"]) == ("Contract", "TetherToken")


async def test_transfer_moves_tokens_burns_energy_and_logs_a_transfer(
    devnet: Devnet, tron: AsyncTron, usdt: AsyncContract
) -> None:
    alice, bob = key(devnet, 0), address(key(devnet, 1))
    before = await trx_balance(tron, address(alice))

    info, ret = await call(usdt, "transfer", alice, bob, 2_500_000)

    assert info["receipt"] == {
        "energy_fee": 14_650 * ENERGY_PRICE_SUN,
        "energy_usage_total": 14_650,
        "net_usage": info["receipt"]["net_usage"],
        "result": "SUCCESS",
    }
    assert info["fee"] == 14_650 * ENERGY_PRICE_SUN
    assert info["contract_address"] == USDT
    assert info["contractResult"] == ["00" * 32]  # mainnet's USDT returns false
    assert await ret.result() is False
    assert await trx_balance(tron, address(alice)) == before - info["fee"]
    assert await usdt.functions.balanceOf(address(alice)) == MILLION_USDT - 2_500_000
    assert await usdt.functions.balanceOf(bob) == MILLION_USDT + 2_500_000
    [event] = usdt.events.Transfer.process_receipt(info)
    assert event["args"] == {"from": address(alice), "to": bob, "value": 2_500_000}
    assert (await tron.get_transaction(info["id"]))["ret"] == [{"contractRet": "SUCCESS"}]


async def test_transfer_to_an_empty_balance_costs_29650_energy(
    devnet: Devnet, tron: AsyncTron, usdt: AsyncContract
) -> None:
    stranger = fresh_address("trc20/stranger")
    info, _ = await call(usdt, "transfer", key(devnet, 1), stranger, 1)
    assert info["receipt"]["energy_usage_total"] == 29_650
    assert info["fee"] == 29_650 * ENERGY_PRICE_SUN
    assert await usdt.functions.balanceOf(stranger) == 1


async def test_insufficient_balance_reverts_and_still_pays_for_energy(
    devnet: Devnet, tron: AsyncTron, usdt: AsyncContract
) -> None:
    alice, bob = key(devnet, 2), address(key(devnet, 3))
    before = await trx_balance(tron, address(alice))

    info, ret = await call(usdt, "transfer", alice, bob, MILLION_USDT + 1)

    assert info["result"] == "FAILED"
    assert info["resMessage"] == "REVERT opcode executed"
    assert info["receipt"]["result"] == "REVERT"
    assert info["contractResult"] == [""]  # a bare require: no reason data
    assert "log" not in info
    assert info["fee"] == info["receipt"]["energy_fee"] == 2_100 * ENERGY_PRICE_SUN
    with pytest.raises(TvmError, match=r"^REVERT opcode executed$"):
        await ret.result()
    assert (await tron.get_transaction(info["id"]))["ret"] == [{"contractRet": "REVERT"}]
    assert await trx_balance(tron, address(alice)) == before - info["fee"]
    assert await usdt.functions.balanceOf(address(alice)) == MILLION_USDT


async def test_the_owner_blacklists_and_a_listed_sender_reverts(
    devnet: Devnet, tron: AsyncTron, usdt: AsyncContract
) -> None:
    owner, carol, dave = owner_key(devnet), key(devnet, 2), address(key(devnet, 3))

    refused, _ = await call(usdt, "addBlackList", key(devnet, 0), address(carol))
    assert refused["receipt"]["result"] == "REVERT"  # onlyOwner
    listed, _ = await call(usdt, "addBlackList", owner, address(carol))
    assert listed["receipt"]["result"] == "SUCCESS"
    assert await usdt.functions.isBlackListed(address(carol)) is True

    blocked, _ = await call(usdt, "transfer", carol, dave, 1)
    assert (blocked["result"], blocked["receipt"]["result"]) == ("FAILED", "REVERT")
    assert await usdt.functions.balanceOf(address(carol)) == MILLION_USDT

    await call(usdt, "removeBlackList", owner, address(carol))
    cleared, _ = await call(usdt, "transfer", carol, dave, 1)
    assert cleared["receipt"]["result"] == "SUCCESS"


async def test_a_fee_limit_too_low_runs_out_of_energy_and_burns_it_all(
    devnet: Devnet, tron: AsyncTron, usdt: AsyncContract
) -> None:
    alice, bob = key(devnet, 0), address(key(devnet, 1))
    before = await trx_balance(tron, address(alice))

    info, ret = await call(usdt, "transfer", alice, bob, 1, fee_limit=1 * TRX)

    assert info["receipt"]["result"] == "OUT_OF_ENERGY"
    assert info["receipt"]["energy_usage_total"] == TRX // ENERGY_PRICE_SUN
    assert info["fee"] == info["receipt"]["energy_fee"] == 1 * TRX
    assert info["resMessage"].startswith("Not enough energy for 'SSTORE' operation executing")
    with pytest.raises(TvmError, match="Not enough energy"):
        await ret.result()
    assert (await tron.get_transaction(info["id"]))["ret"] == [{"contractRet": "OUT_OF_ENERGY"}]
    assert await trx_balance(tron, address(alice)) == before - 1 * TRX
    assert await usdt.functions.balanceOf(bob) == MILLION_USDT


async def test_estimates_cover_the_energy_the_transfer_then_uses(
    devnet: Devnet, tron: AsyncTron, usdt: AsyncContract
) -> None:
    alice, bob = key(devnet, 0), address(key(devnet, 1))
    parameter = trx_abi.encode_single("(address,uint256)", (bob, 7)).hex()
    selector = "transfer(address,uint256)"

    estimate = await tron.get_estimated_energy(address(alice), USDT, selector, parameter)
    constant = await tron.trigger_constant_contract(address(alice), USDT, selector, parameter)
    info, _ = await call(usdt, "transfer", alice, bob, 7, fee_limit=estimate * ENERGY_PRICE_SUN)

    used = info["receipt"]["energy_usage_total"]
    assert constant["energy_used"] == used == 14_650
    assert constant["constant_result"] == ["00" * 32]
    # java-tron's search stops within 1 TRX of fee limit: 21,975 here (see devnet.vm_constant).
    assert used <= estimate < used + TRX // ENERGY_PRICE_SUN
    assert estimate == 21_975
    exact, _ = await call(usdt, "transfer", alice, bob, 7, fee_limit=used * ENERGY_PRICE_SUN)
    assert exact["receipt"]["result"] == "SUCCESS"


async def test_constant_calls_that_revert_raise_tvm_error(devnet: Devnet, tron: AsyncTron) -> None:
    poor = fresh_address("trc20/poor")
    parameter = trx_abi.encode_single("(address,uint256)", (address(key(devnet, 0)), 1)).hex()
    with pytest.raises(TvmError, match=r"^REVERT opcode executed$"):
        await tron.trigger_constant_contract(poor, USDT, "transfer(address,uint256)", parameter)


async def test_approve_then_transfer_from_spends_the_allowance(
    devnet: Devnet, tron: AsyncTron, usdt: AsyncContract
) -> None:
    alice, bob, shop = key(devnet, 0), key(devnet, 1), fresh_address("trc20/shop")
    approved, ret = await call(usdt, "approve", alice, address(bob), 100)
    assert await ret.result() is True
    assert approved["log"][0]["topics"][0].startswith("8c5be1e5")  # Approval
    pulled, ret = await call(usdt, "transferFrom", bob, address(alice), shop, 60)
    assert await ret.result() is True
    assert await usdt.functions.allowance(address(alice), address(bob)) == 40
    assert await usdt.functions.balanceOf(shop) == 60
    assert pulled["receipt"]["energy_usage_total"] == 4_950 + 5_000 + 20_000 + 5_000


async def test_staked_energy_pays_before_any_trx_is_burnt(
    devnet: Devnet, tron: AsyncTron, usdt: AsyncContract
) -> None:
    alice = key(devnet, 3)
    frozen = await tron.trx.freeze_balance(address(alice), 1_000 * TRX, "ENERGY").build()
    await (await frozen.sign(alice).broadcast()).wait(timeout=WAIT_S, interval=POLL_S)
    before = await trx_balance(tron, address(alice))

    info, _ = await call(usdt, "transfer", alice, address(key(devnet, 0)), 5)

    assert info["receipt"] == {
        "energy_usage": 14_650,
        "energy_usage_total": 14_650,
        "net_usage": info["receipt"]["net_usage"],
        "result": "SUCCESS",
    }
    assert "fee" not in info
    assert await trx_balance(tron, address(alice)) == before
    resource = await tron.get_account_resource(address(alice))
    assert resource["EnergyUsed"] == 14_650


async def test_receipts_reach_the_solidified_view_after_the_lag(
    devnet: Devnet, tron: AsyncTron, usdt: AsyncContract
) -> None:
    alice, bob = key(devnet, 1), address(key(devnet, 2))
    info, _ = await call(usdt, "transfer", alice, bob, 3)
    devnet.producer.pause()
    solid_before = await solid_balance_of(tron, bob)
    assert solid_before == MILLION_USDT
    devnet.producer.resume()
    await devnet.producer.wait_for_number(info["blockNumber"] + LAG, WAIT_S)
    assert await tron.get_solid_transaction_info(info["id"]) == info
    assert await solid_balance_of(tron, bob) == MILLION_USDT + 3


async def solid_balance_of(tron: AsyncTron, who: str) -> int:
    """balanceOf through /walletsolidity/triggerconstantcontract (tronpy reads the head only)."""
    answer = await tron.provider.make_request(
        "walletsolidity/triggerconstantcontract",
        {
            "owner_address": who,
            "contract_address": USDT,
            "function_selector": "balanceOf(address)",
            "parameter": trx_abi.encode_single("(address)", (who,)).hex(),
            "visible": True,
        },
    )
    return int(answer["constant_result"][0], 16)


async def test_triggersmartcontract_builds_a_transaction_tronpy_can_sign(
    devnet: Devnet, tron: AsyncTron, usdt: AsyncContract
) -> None:
    alice, bob = key(devnet, 2), address(key(devnet, 0))
    # Hex addresses: tronpy re-posts raw_data without `visible` (see the TRX transfer tests).
    answer = await tron.provider.make_request(
        "wallet/triggersmartcontract",
        {
            "owner_address": alice.public_key.to_hex_address(),
            "contract_address": "41a614f803b6fd780986a42c78ec9c7f77e6ded13c",
            "function_selector": "transfer(address,uint256)",
            "parameter": trx_abi.encode_single("(address,uint256)", (bob, 11)).hex(),
            "fee_limit": 30 * TRX,
        },
    )
    assert answer["result"] == {"result": True}
    built = answer["transaction"]
    assert built["raw_data"]["fee_limit"] == 30 * TRX
    assert built["raw_data"]["contract"][0]["parameter"]["value"]["data"].startswith("a9059cbb")
    assert hashlib.sha256(bytes.fromhex(built["raw_data_hex"])).hexdigest() == built["txID"]

    txn = await AsyncTransaction.create(built, client=tron)
    info = await (await txn.sign(alice).broadcast()).wait(timeout=WAIT_S, interval=POLL_S)
    assert info["receipt"]["result"] == "SUCCESS"
    assert await usdt.functions.balanceOf(bob) == MILLION_USDT + 11


async def test_trigger_errors_come_back_as_java_trons_return(tron: AsyncTron) -> None:
    no_owner = await tron.provider.make_request(
        "wallet/triggersmartcontract", {"contract_address": USDT, "visible": True}
    )
    assert no_owner == {
        "result": {
            "code": "OTHER_ERROR",
            "message": "class java.security.InvalidParameterException : owner_address isn't set.",
        }
    }
    stranger = fresh_address("trc20/not-a-contract")
    body = {"owner_address": stranger, "contract_address": stranger, "visible": True,
            "function_selector": "decimals()"}  # fmt: skip
    built = await tron.provider.make_request("wallet/triggersmartcontract", body)
    assert built["result"] == {
        "code": "CONTRACT_VALIDATE_ERROR",
        "message": "No contract or not a valid smart contract",
    }
    constant = await tron.provider.make_request("wallet/triggerconstantcontract", body)
    assert constant["result"]["message"] == "Smart contract is not exist."
    assert (
        await tron.provider.make_request("wallet/getcontract", {"value": stranger, "visible": True})
        == {}
    )
