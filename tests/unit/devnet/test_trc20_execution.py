"""TriggerSmartContract on a hand-driven chain: validation, energy limit, bill and receipts.

Blocks are produced by hand, so every fee is exact: at the default 100 sun
per energy a transfer to a holder burns 14,650 x 100 = 1,465,000 sun, and
bandwidth is covered by the daily free allowance. Staking goes through
FreezeBalanceV2 transactions like any client's.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from devnet import builders
from devnet.chain import Chain, View
from devnet.errors import ContractValidateError
from devnet.evm_abi import encode_address, encode_uint, selector
from devnet.genesis import build_genesis
from devnet.keys import address_from_private_key, address_to_base58
from devnet.ledger import TxInfo
from devnet.render_results import render_transaction_info
from devnet.transactions import Contract, RawData, Transaction
from devnet.trc20 import TETHER, USDT_ADDRESS
from devnet.trc20_genesis import DEFAULT_USDT_BALANCE
from devnet.vm_constant import call_constant, estimate_energy, search_fee_limit

START_MS = 1_800_000_000_000
TRX = 1_000_000
FEE_LIMIT = 100 * TRX
FRESH = address_from_private_key(bytes.fromhex("11" * 32))
_unique = itertools.count()


@pytest.fixture
def chain() -> Chain:
    chain = Chain(build_genesis(), solidify_lag_blocks=2)
    chain.produce_block(START_MS, chain.genesis.witnesses[0])
    return chain


def next_block(chain: Chain) -> None:
    chain.produce_block(chain.head_block.timestamp_ms + 3_000, chain.genesis.witnesses[0])


def key(chain: Chain, n: int) -> bytes:
    found = chain.genesis.accounts[n].private_key
    assert found is not None
    return found


def owner_key(chain: Chain) -> bytes:
    assert chain.genesis.usdt is not None
    return chain.genesis.usdt.owner_private_key


def addr(private_key: bytes) -> bytes:
    return address_from_private_key(private_key)


def signed(
    chain: Chain, private_key: bytes, type_name: str, fee_limit: int, **fields: object
) -> Transaction:
    head = chain.head_block
    raw = RawData(
        contracts=(
            builders.build_contract(type_name, {"owner_address": addr(private_key), **fields}),
        ),
        ref_block_bytes=head.block_id[6:8],
        ref_block_hash=head.block_id[8:16],
        expiration_ms=head.timestamp_ms + 60_000,
        timestamp_ms=head.timestamp_ms + next(_unique),
        fee_limit_sun=fee_limit,
    )
    return builders.sign(raw, private_key)


def trigger(
    chain: Chain, private_key: bytes, signature: str, *words: bytes,
    fee_limit: int = FEE_LIMIT, contract: bytes = USDT_ADDRESS, **fields: object,
) -> Transaction:  # fmt: skip
    data = selector(signature) + b"".join(words)
    tx = signed(chain, private_key, "TriggerSmartContract", fee_limit,
                contract_address=contract, data=data, **fields)  # fmt: skip
    chain.broadcast(tx)
    return tx


def transfer(chain: Chain, private_key: bytes, to: bytes, amount: int, **kw: object) -> Transaction:
    return trigger(chain, private_key, "transfer(address,uint256)", encode_address(to),
                   encode_uint(amount), **kw)  # fmt: skip


def freeze_energy(chain: Chain, private_key: bytes, amount_sun: int) -> None:
    chain.broadcast(signed(chain, private_key, "FreezeBalanceV2Contract", 0,
                           frozen_balance=amount_sun, resource=1))  # fmt: skip
    next_block(chain)


def included(chain: Chain, tx: Transaction) -> TxInfo:
    next_block(chain)
    record = chain.transaction(tx.txid)
    assert record is not None and record.info is not None
    return record.info


def trx(chain: Chain, who: bytes) -> int:
    account = chain.account(who)
    assert account is not None
    return account.balance_sun


def usdt(chain: Chain, who: bytes, view: View = View.HEAD) -> int:
    return TETHER.storage(chain.state(view)).balance(who[1:])


def test_a_transfer_burns_its_energy_and_moves_the_tokens(chain: Chain) -> None:
    sender, to = key(chain, 0), addr(key(chain, 1))
    before = trx(chain, addr(sender))
    tx = transfer(chain, sender, to, 2_500_000)
    info = included(chain, tx)
    vm = info.vm
    assert vm is not None and vm.contract_ret == "SUCCESS"
    assert (vm.energy_usage_total, vm.energy_fee_sun, vm.energy_usage) == (14_650, 1_465_000, 0)
    assert info.fee_sun == 1_465_000 and info.net_fee_sun == 0 and info.net_usage > 0
    assert before - trx(chain, addr(sender)) == 1_465_000
    assert usdt(chain, to) == DEFAULT_USDT_BALANCE + 2_500_000
    record = chain.transaction(tx.txid)
    assert record is not None and record.contract_ret == "SUCCESS"


def test_a_revert_is_included_billed_and_changes_no_tokens(chain: Chain) -> None:
    sender = key(chain, 0)
    tx = transfer(chain, sender, addr(key(chain, 1)), DEFAULT_USDT_BALANCE + 1)
    info = included(chain, tx)
    assert info.vm is not None
    assert (info.vm.contract_ret, info.vm.result, info.vm.runtime_error) == (
        "REVERT",
        b"",
        "REVERT opcode executed",
    )
    assert info.fee_sun == 2_100 * 100
    assert usdt(chain, addr(sender)) == DEFAULT_USDT_BALANCE
    [in_block] = chain.head_block.transactions
    assert in_block.contract_ret == "REVERT"
    assert in_block.encoded().endswith(bytes.fromhex("2a02" + "1802"))  # ret { contractRet: 2 }


def test_a_fee_limit_too_low_runs_out_of_energy_and_pays_all_of_it(chain: Chain) -> None:
    sender = key(chain, 0)
    before = trx(chain, addr(sender))
    info = included(chain, transfer(chain, sender, addr(key(chain, 1)), 1, fee_limit=TRX))
    assert info.vm is not None and info.vm.contract_ret == "OUT_OF_ENERGY"
    assert (info.vm.energy_usage_total, info.vm.energy_fee_sun) == (10_000, TRX)
    assert info.vm.runtime_error.startswith("Not enough energy for 'SSTORE' operation executing")
    assert before - trx(chain, addr(sender)) == TRX
    assert usdt(chain, addr(key(chain, 1))) == DEFAULT_USDT_BALANCE


def test_a_poor_callers_energy_limit_is_what_its_balance_buys(chain: Chain) -> None:
    poor = bytes.fromhex("22" * 32)  # activated with 50,000 sun: 500 energy at 100 sun
    chain.broadcast(
        builders.transfer(
            key(chain, 0),
            addr(poor),
            50_000,
            chain.head_block.block_id,
            chain.head_block.timestamp_ms,
        )
    )
    next_block(chain)  # fmt: skip
    info = included(chain, transfer(chain, poor, addr(key(chain, 1)), 0))
    assert info.vm is not None and info.vm.contract_ret == "OUT_OF_ENERGY"
    assert info.vm.energy_usage_total == 500 and info.fee_sun == 50_000
    assert trx(chain, addr(poor)) == 0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"fee_limit": 15_000 * TRX + 1}, "feeLimit must be >= 0 and <= 15000000000"),
        ({"fee_limit": -1}, "feeLimit must be >= 0 and <= 15000000000"),
        ({"contract": FRESH}, "No contract or not a smart contract"),
        ({"call_value": 2_000_000 * TRX},
         "Validate InternalTransfer error, balance is not sufficient."),
        ({"token_id": 5}, "tokenId must be > 1000000"),
        ({"call_token_value": 3}, "invalid arguments with tokenValue = 3, tokenId = 0"),
        ({"call_token_value": 3, "token_id": 1_000_001}, "No asset !"),
    ],
)  # fmt: skip
def test_invalid_calls_are_refused_at_broadcast(
    chain: Chain, fields: dict[str, object], message: str
) -> None:
    with pytest.raises(ContractValidateError) as refused:
        trigger(chain, key(chain, 0), "decimals()", **fields)
    assert refused.value.detail == message


def test_trx_sent_to_the_non_payable_contract_is_returned_by_the_revert(chain: Chain) -> None:
    sender = key(chain, 0)
    before = trx(chain, addr(sender))
    info = included(chain, trigger(chain, sender, "decimals()", call_value=5 * TRX))
    assert info.vm is not None and info.vm.contract_ret == "REVERT"
    assert before - trx(chain, addr(sender)) == 115 * 100
    assert trx(chain, USDT_ADDRESS) == 0


def test_staked_energy_pays_first_and_the_fee_limit_still_caps_it(chain: Chain) -> None:
    sender = key(chain, 0)
    freeze_energy(chain, sender, 1_000 * TRX)  # the only staker: all 180e9 energy a day
    before = trx(chain, addr(sender))
    info = included(chain, transfer(chain, sender, addr(key(chain, 1)), 1))
    assert info.vm is not None
    assert (info.vm.energy_usage, info.vm.energy_fee_sun, info.fee_sun) == (14_650, 0, 0)
    assert trx(chain, addr(sender)) == before
    capped = included(chain, transfer(chain, sender, addr(key(chain, 1)), 1, fee_limit=TRX))
    assert capped.vm is not None and capped.vm.contract_ret == "OUT_OF_ENERGY"
    assert (capped.vm.energy_usage, capped.vm.energy_fee_sun) == (10_000, 0)


def test_the_deployer_pays_seventy_percent_from_its_own_stake(chain: Chain) -> None:
    freeze_energy(chain, owner_key(chain), 1_000 * TRX)
    sender = key(chain, 2)
    info = included(chain, transfer(chain, sender, addr(key(chain, 3)), 1))
    assert info.vm is not None
    assert info.vm.origin_energy_usage == 14_650 * 70 // 100
    assert info.vm.energy_fee_sun == (14_650 - 10_255) * 100 == info.fee_sun
    owner = chain.account(addr(owner_key(chain)))
    assert owner is not None and owner.energy_usage > 0


def test_info_reaches_the_solidified_view_after_the_lag(chain: Chain) -> None:
    sender, to = key(chain, 0), addr(key(chain, 1))
    tx = transfer(chain, sender, to, 7)
    included(chain, tx)
    assert chain.transaction(tx.txid, View.SOLID) is None
    assert usdt(chain, to, View.SOLID) == DEFAULT_USDT_BALANCE
    next_block(chain)
    next_block(chain)
    solid = chain.transaction(tx.txid, View.SOLID)
    assert solid is not None and solid.info is not None and solid.info.vm is not None
    assert usdt(chain, to, View.SOLID) == DEFAULT_USDT_BALANCE + 7


def test_transaction_info_prints_logs_as_java_tron_does(chain: Chain) -> None:
    sender, to = key(chain, 0), addr(key(chain, 1))
    tx = transfer(chain, sender, to, 16)
    info = included(chain, tx)
    hex_form = render_transaction_info(tx.txid, info, visible=False)
    assert hex_form["contract_address"] == USDT_ADDRESS.hex()
    assert hex_form["contractResult"] == ["00" * 32]
    assert hex_form["receipt"] == {
        "energy_fee": 1_465_000, "energy_usage_total": 14_650,
        "net_usage": info.net_usage, "result": "SUCCESS",
    }  # fmt: skip
    [log] = hex_form["log"]
    assert log["address"] == USDT_ADDRESS[1:].hex()  # 20 bytes
    assert log["topics"][2] == encode_address(to).hex() and log["data"] == "10".rjust(64, "0")
    visible = render_transaction_info(tx.txid, info, visible=True)
    assert visible["log"][0]["address"] == "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
    assert visible["contract_address"] == address_to_base58(USDT_ADDRESS)
    assert "result" not in visible and "resMessage" not in visible


def test_a_failed_call_prints_result_failed_and_its_message(chain: Chain) -> None:
    tx = transfer(chain, key(chain, 0), addr(key(chain, 1)), DEFAULT_USDT_BALANCE + 1)
    info = included(chain, tx)
    hex_form = render_transaction_info(tx.txid, info, visible=False)
    assert hex_form["result"] == "FAILED"
    assert hex_form["resMessage"] == b"REVERT opcode executed".hex()
    assert hex_form["receipt"]["result"] == "REVERT" and hex_form["contractResult"] == [""]
    assert render_transaction_info(tx.txid, info, True)["resMessage"] == "REVERT opcode executed"


def test_java_trons_fee_limit_search_gives_the_figures_clients_see() -> None:
    # tronweb issue 487: triggerconstantcontract said 31,895 energy, estimateenergy 33,889
    # (420 sun per energy then).
    def succeeds_from(needed: int, price: int) -> Callable[[int], bool]:
        return lambda fee_limit: fee_limit // price >= needed

    high = search_fee_limit(31_895, 420, 15_000 * TRX, succeeds_from(31_895, 420))
    assert -(-high // 420) == 33_889
    high = search_fee_limit(14_650, 100, 15_000 * TRX, succeeds_from(14_650, 100))
    assert -(-high // 100) == 21_975


def test_estimates_and_constant_calls_change_nothing(chain: Chain) -> None:
    sender = key(chain, 0)

    def contract_to(to: bytes, amount: int) -> Contract:
        data = selector("transfer(address,uint256)") + encode_address(to) + encode_uint(amount)
        return builders.build_contract("TriggerSmartContract", {
            "owner_address": addr(sender), "contract_address": USDT_ADDRESS, "data": data,
        })  # fmt: skip

    ctx, state = chain.context(), chain.state()
    to_holder = estimate_energy(contract_to(addr(key(chain, 1)), 5), ctx, state)
    assert to_holder.energy_required == 21_975  # 14,650 used: see the search test above
    assert estimate_energy(contract_to(FRESH, 5), ctx, state).energy_required == 37_063
    failing = estimate_energy(contract_to(FRESH, DEFAULT_USDT_BALANCE + 1), ctx, state)
    assert (failing.energy_required, failing.run.contract_ret) == (0, "REVERT")
    assert call_constant(contract_to(FRESH, 5), ctx, state).energy_used == 29_650
    assert usdt(chain, FRESH) == 0
    missing = builders.build_contract("TriggerSmartContract", {
        "owner_address": addr(sender), "contract_address": FRESH, "data": b"",
    })  # fmt: skip
    with pytest.raises(ContractValidateError, match=r"Smart contract is not exist\."):
        call_constant(missing, ctx, state)


def test_the_contract_is_an_account_of_type_contract(chain: Chain) -> None:
    account = chain.account(USDT_ADDRESS)
    assert account is not None
    assert (account.type, account.account_name, account.balance_sun) == (2, b"TetherToken", 0)
    owner = chain.account(addr(owner_key(chain)))
    assert owner is not None and owner.balance_sun == 1_000_000 * TRX
