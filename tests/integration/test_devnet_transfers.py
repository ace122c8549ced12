"""Unmodified tronpy AsyncTron against an in-process devnet: TRX transfers and every refusal.

50 ms blocks and a 4-block solidification lag; waits use tronpy's own
`wait()` (short poll interval) or the producer's new-block event, never
fixed sleeps. Balances are checked to the sun against the fees the receipts
report and the fees java-tron's rules give.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from tronpy import AsyncTron
from tronpy.async_tron import AsyncTransaction
from tronpy.exceptions import (
    BadSignature,
    TaposError,
    TransactionError,
    TransactionNotFound,
    UnknownError,
    ValidationError,
)
from tronpy.keys import PrivateKey

from devnet.server import Devnet, DevnetConfig
from devnet.transactions import bandwidth_bytes, parse_transaction
from tests.devnet_support import address, genesis_key

INTERVAL_S = 0.05
LAG = 4
WAIT_S = 10.0
POLL_S = 0.05
TRX = 1_000_000
ACTIVATION_FEE_SUN = 1_000_000 + 100_000  # account creation + create-account bandwidth fee


@pytest.fixture
async def devnet() -> AsyncIterator[Devnet]:
    config = DevnetConfig(port=0, block_interval_s=INTERVAL_S, solidify_lag_blocks=LAG)
    async with Devnet(config) as running:
        yield running


async def balance_sun(tron: AsyncTron, who: str) -> int:
    return int((await tron.get_account(who)).get("balance", 0))


async def send(tron: AsyncTron, key: PrivateKey, to: str, amount: int) -> dict:
    """Transfer with tronpy's builder, sign, broadcast and wait for the receipt."""
    txn = await tron.trx.transfer(address(key), to, amount).build()
    ret = await txn.sign(key).broadcast()
    return await ret.wait(timeout=WAIT_S, interval=POLL_S)


async def test_genesis_accounts_are_funded(devnet: Devnet, tron: AsyncTron) -> None:
    for n in range(4):
        balance = await tron.get_account_balance(address(genesis_key(devnet, n)))
        assert balance == Decimal(1_000_000)


async def test_transfer_to_a_new_account_activates_it_for_1_1_trx(
    devnet: Devnet, tron: AsyncTron
) -> None:
    alice, fresh = genesis_key(devnet, 0), PrivateKey.random()
    before = await balance_sun(tron, address(alice))

    info = await send(tron, alice, address(fresh), 3 * TRX)

    assert info["fee"] == ACTIVATION_FEE_SUN
    assert info["receipt"] == {"net_fee": 100_000}
    assert info["contractResult"] == [""] and "result" not in info["receipt"]
    assert await balance_sun(tron, address(alice)) == before - 3 * TRX - ACTIVATION_FEE_SUN
    account = await tron.get_account(address(fresh))
    assert account["balance"] == 3 * TRX
    assert account["create_time"] > 0
    transaction = await tron.get_transaction(info["id"])
    assert transaction["ret"] == [{"contractRet": "SUCCESS"}]
    assert transaction["raw_data"]["contract"][0]["parameter"]["value"]["amount"] == 3 * TRX


async def test_transfer_between_accounts_pays_with_free_bandwidth(
    devnet: Devnet, tron: AsyncTron
) -> None:
    alice, bob = genesis_key(devnet, 1), genesis_key(devnet, 2)
    alice_before, bob_before = (
        await balance_sun(tron, address(alice)),
        await balance_sun(tron, address(bob)),
    )
    bandwidth_before = await tron.get_bandwidth(address(alice))

    txn = await tron.trx.transfer(address(alice), address(bob), 12_345).build()
    ret = await txn.sign(alice).broadcast()
    info = await ret.wait(timeout=WAIT_S, interval=POLL_S)

    billed = bandwidth_bytes(parse_transaction(txn.to_json(), visible=False))
    assert info["receipt"] == {"net_usage": billed}
    assert "fee" not in info
    assert await balance_sun(tron, address(alice)) == alice_before - 12_345
    assert await balance_sun(tron, address(bob)) == bob_before + 12_345
    assert await tron.get_bandwidth(address(alice)) == bandwidth_before - billed
    resource = await tron.get_account_resource(address(alice))
    assert resource["freeNetUsed"] == billed and resource["freeNetLimit"] == 600


async def test_a_memo_costs_one_trx(devnet: Devnet, tron: AsyncTron) -> None:
    alice, bob = genesis_key(devnet, 3), genesis_key(devnet, 0)
    before = await balance_sun(tron, address(alice))

    txn = await tron.trx.transfer(address(alice), address(bob), 1).memo("order 7").build()
    info = await (await txn.sign(alice).broadcast()).wait(timeout=WAIT_S, interval=POLL_S)

    assert info["fee"] == 1_000_000
    assert await balance_sun(tron, address(alice)) == before - 1 - 1_000_000
    transaction = await tron.get_transaction(info["id"])
    assert bytes.fromhex(transaction["raw_data"]["data"]) == b"order 7"


async def test_included_in_its_block_and_solidified_after_the_lag(
    devnet: Devnet, tron: AsyncTron
) -> None:
    alice = genesis_key(devnet, 0)

    info = await send(tron, alice, address(genesis_key(devnet, 1)), 1)
    devnet.producer.pause()

    block = await tron.get_block(info["blockNumber"])
    assert [t["txID"] for t in block["transactions"]] == [info["id"]]
    assert block["block_header"]["raw_data"]["timestamp"] == info["blockTimeStamp"]
    with pytest.raises(TransactionNotFound):
        await tron.get_solid_transaction_info(info["id"])
    devnet.producer.resume()
    await devnet.producer.wait_for_number(info["blockNumber"] + LAG, WAIT_S)
    assert await tron.get_solid_transaction_info(info["id"]) == info
    assert (await tron.get_solid_transaction(info["id"]))["txID"] == info["id"]


async def test_createtransaction_then_tronpy_signs_and_broadcasts(
    devnet: Devnet, tron: AsyncTron
) -> None:
    alice, bob = genesis_key(devnet, 2), genesis_key(devnet, 3)
    # Hex addresses: tronpy re-posts raw_data without `visible`, so base58 would not
    # parse on the way back (java-tron would drop the contract: "No contract!").
    body = {"owner_address": alice.public_key.to_hex_address(),
            "to_address": bob.public_key.to_hex_address(), "amount": 42}  # fmt: skip
    created = await tron.provider.make_request("wallet/createtransaction", body)

    txn = await AsyncTransaction.create(created, client=tron)
    info = await (await txn.sign(alice).broadcast()).wait(timeout=WAIT_S, interval=POLL_S)

    assert info["id"] == created["txID"]


async def test_wrong_signer_is_bad_signature(devnet: Devnet, tron: AsyncTron) -> None:
    alice, mallory = genesis_key(devnet, 0), genesis_key(devnet, 1)
    txn = await tron.trx.transfer(address(alice), address(mallory), 1).build()
    signature = mallory.sign_msg_hash(bytes.fromhex(txn.txid)).hex()

    with pytest.raises(BadSignature) as caught:
        await txn.set_signature([signature]).broadcast()

    assert str(caught.value) == (
        f"Validate signature error: {signature} is signed by {address(mallory)} "
        "but it is not contained of permission."
    )


async def test_unknown_reference_block_is_tapos_error(devnet: Devnet, tron: AsyncTron) -> None:
    alice = genesis_key(devnet, 0)
    built = await tron.trx.transfer(address(alice), address(genesis_key(devnet, 1)), 1).build()
    raw = dict(built.to_json()["raw_data"], ref_block_hash="00" * 8)
    txn = await AsyncTransaction.create(raw, client=tron)  # txID from getsignweight

    with pytest.raises(TaposError) as caught:
        await txn.sign(alice).broadcast()

    assert str(caught.value) == "Tapos check error."


async def test_expired_transaction_is_transaction_error(devnet: Devnet, tron: AsyncTron) -> None:
    alice = genesis_key(devnet, 0)
    builder = tron.trx.transfer(address(alice), address(genesis_key(devnet, 1)), 1)
    txn = (await builder.expiration(300).build()).sign(alice)
    head = devnet.chain.head_block.number
    await devnet.producer.wait_for_number(head + round(0.5 / INTERVAL_S), WAIT_S)

    with pytest.raises(TransactionError) as caught:
        await txn.broadcast()

    assert str(caught.value) == "Transaction expired"


async def test_expiration_beyond_a_day_is_transaction_error(
    devnet: Devnet, tron: AsyncTron
) -> None:
    alice = genesis_key(devnet, 0)
    builder = tron.trx.transfer(address(alice), address(genesis_key(devnet, 1)), 1)
    txn = (await builder.expiration(25 * 3600 * 1000).build()).sign(alice)

    with pytest.raises(TransactionError) as caught:
        await txn.broadcast()

    assert str(caught.value) == "Transaction expired"


async def test_broadcasting_twice_is_dup_transaction_error(devnet: Devnet, tron: AsyncTron) -> None:
    alice = genesis_key(devnet, 1)
    txn = await tron.trx.transfer(address(alice), address(genesis_key(devnet, 2)), 1).build()
    await (await txn.sign(alice).broadcast()).wait(timeout=WAIT_S, interval=POLL_S)

    with pytest.raises(UnknownError) as caught:
        await txn.broadcast()

    assert caught.value.args == ("Dup transaction.", "DUP_TRANSACTION_ERROR")


@pytest.mark.parametrize(
    ("to_self", "amount", "message"),
    [
        (False, 10**7 * TRX, "Validate TransferContract error, balance is not sufficient."),
        (True, 1, "Cannot transfer TRX to yourself."),
        (False, 0, "Amount must be greater than 0."),
    ],
)
async def test_transfer_validation_is_validation_error(
    devnet: Devnet, tron: AsyncTron, to_self: bool, amount: int, message: str
) -> None:
    alice = genesis_key(devnet, 2)
    to = address(alice) if to_self else address(genesis_key(devnet, 3))
    txn = await tron.trx.transfer(address(alice), to, amount).build()

    with pytest.raises(ValidationError) as caught:
        await txn.sign(alice).broadcast()

    assert str(caught.value) == f"Contract validate error : {message}"


async def test_sender_without_an_account_is_validation_error(tron: AsyncTron) -> None:
    stranger = PrivateKey.random()
    txn = await tron.trx.transfer(address(stranger), address(PrivateKey.random()), 1).build()

    with pytest.raises(ValidationError) as caught:
        await txn.sign(stranger).broadcast()

    assert str(caught.value) == (
        f"Contract validate error : account [{address(stranger)}] does not exist"
    )


async def test_no_bandwidth_left_and_no_trx_to_burn_is_bandwith_error(
    devnet: Devnet, tron: AsyncTron
) -> None:
    poor = PrivateKey.random()
    await send(tron, genesis_key(devnet, 3), address(poor), 10)  # 10 sun and 600 free bytes
    back = address(genesis_key(devnet, 3))
    for _ in range(2):  # ~266 free bytes each
        await send(tron, poor, back, 1)

    txn = await tron.trx.transfer(address(poor), back, 1).build()
    with pytest.raises(UnknownError) as caught:
        await txn.sign(poor).broadcast()

    assert caught.value.args == ("Account resource insufficient error.", "BANDWITH_ERROR")
    assert await balance_sun(tron, address(poor)) == 8
