"""The native USDT contract on its own: what each function does, returns and costs.

Calls run with `devnet.vm.run_call` on a genesis state, so results, energy
and storage are exact. Figures: 14,650 energy to a holder, 29,650 to an
empty balance (java-tron issue 2982); refusals are bare REVERTs with no data,
and `transfer` returns false, as the mainnet contract does.
"""

from __future__ import annotations

from devnet.chain import Chain
from devnet.evm_abi import encode_address, encode_uint, selector
from devnet.genesis import build_genesis
from devnet.keys import address_from_private_key
from devnet.ledger import StateView
from devnet.trc20 import (
    APPROVAL_TOPIC,
    MAX_UINT,
    TETHER,
    TRANSFER_TOPIC,
    USDT_ADDRESS,
    log_energy,
    sstore_energy,
)
from devnet.trc20_genesis import DEFAULT_USDT_BALANCE
from devnet.vm import Call, RunResult, run_call

LIMIT = 100_000_000
FRESH = address_from_private_key(bytes.fromhex("11" * 32))


def genesis_state() -> tuple[Chain, StateView, list[bytes]]:
    chain = Chain(build_genesis(), solidify_lag_blocks=2)
    holders = [spec.address for spec in chain.genesis.accounts]
    return chain, chain.state(), holders


def call(
    state: StateView, caller: bytes, signature: str, *words: bytes, limit: int = LIMIT
) -> RunResult:
    data = selector(signature) + b"".join(words)
    return run_call(TETHER, Call(caller, USDT_ADDRESS, data), state, limit)


def keep(state: StateView, result: RunResult) -> None:
    assert result.succeeded
    state.top.absorb(result.scratch.top)


def balance(state: StateView, holder: bytes) -> int:
    return TETHER.storage(state).balance(holder[1:])


def owner_of(chain: Chain) -> bytes:
    assert chain.genesis.usdt is not None
    return chain.genesis.usdt.owner_address


def test_genesis_gives_every_account_a_million_usdt_and_a_matching_supply() -> None:
    chain, state, holders = genesis_state()
    assert [balance(state, h) for h in holders] == [DEFAULT_USDT_BALANCE] * 4
    supply = call(state, holders[0], "totalSupply()")
    assert supply.result == encode_uint(4 * DEFAULT_USDT_BALANCE)
    assert call(state, holders[0], "owner()").result == encode_address(owner_of(chain))
    assert TETHER.origin(state) == owner_of(chain)


def test_views_answer_with_abi_words_and_cost_a_little_energy() -> None:
    _, state, holders = genesis_state()
    assert call(state, FRESH, "decimals()").result == encode_uint(6)
    name = call(state, FRESH, "name()")
    assert name.result[64:74] == b"Tether USD" and name.energy_used == 1_082
    answer = call(state, FRESH, "balanceOf(address)", encode_address(holders[1]))
    assert answer.result == encode_uint(DEFAULT_USDT_BALANCE)
    assert answer.energy_used == 537 and answer.logs == ()


def test_transfer_to_a_holder_costs_14650_and_returns_false() -> None:
    _, state, holders = genesis_state()
    sender, to = holders[0], holders[1]
    result = call(state, sender, "transfer(address,uint256)", encode_address(to), encode_uint(5))
    assert result.contract_ret == "SUCCESS"
    assert result.result == bytes(32)  # StandardTokenWithFees.transfer has no return statement
    assert result.energy_used == 14_650 and result.energy_penalty == 0
    [log] = result.logs
    assert log.address == USDT_ADDRESS[1:]
    assert log.topics == (TRANSFER_TOPIC, encode_address(sender), encode_address(to))
    assert log.data == encode_uint(5)
    assert balance(state, to) == DEFAULT_USDT_BALANCE  # nothing kept until absorbed
    keep(state, result)
    assert (balance(state, sender), balance(state, to)) == (
        DEFAULT_USDT_BALANCE - 5,
        DEFAULT_USDT_BALANCE + 5,
    )


def test_transfer_to_an_empty_balance_pays_a_zero_slot_store() -> None:
    _, state, holders = genesis_state()
    result = call(state, holders[0], "transfer(address,uint256)", encode_address(FRESH),
                  encode_uint(1))  # fmt: skip
    assert result.energy_used == 29_650
    assert sstore_energy(0, 1) - sstore_energy(7, 1) == 15_000
    keep(state, result)
    emptied = call(state, FRESH, "transfer(address,uint256)", encode_address(holders[2]),
                   encode_uint(1))  # fmt: skip
    assert emptied.energy_used == 14_650  # clearing a slot costs 5,000 and refunds nothing
    keep(state, emptied)
    assert balance(state, FRESH) == 0


def test_transfer_to_oneself_changes_nothing_but_costs_the_same() -> None:
    _, state, holders = genesis_state()
    me = holders[3]
    result = call(state, me, "transfer(address,uint256)", encode_address(me), encode_uint(9))
    assert result.energy_used == 14_650
    keep(state, result)
    assert balance(state, me) == DEFAULT_USDT_BALANCE


def test_refusals_are_bare_reverts_that_keep_the_energy_spent_so_far() -> None:
    _, state, holders = genesis_state()
    too_much = call(state, holders[0], "transfer(address,uint256)", encode_address(holders[1]),
                    encode_uint(DEFAULT_USDT_BALANCE + 1))  # fmt: skip
    assert (too_much.contract_ret, too_much.result) == ("REVERT", b"")
    assert too_much.runtime_error == "REVERT opcode executed"
    assert too_much.energy_used == 2_100
    to_zero = call(state, holders[0], "transfer(address,uint256)", bytes(32), encode_uint(1))
    assert (to_zero.contract_ret, to_zero.energy_used) == ("REVERT", 2_100)
    unknown = call(state, holders[0], "mint(uint256)", encode_uint(1))
    assert (unknown.contract_ret, unknown.energy_used) == ("REVERT", 421)
    paid = run_call(TETHER, Call(holders[0], USDT_ADDRESS, selector("decimals()"), 1), state,
                    LIMIT)  # fmt: skip
    assert (paid.contract_ret, paid.energy_used) == ("REVERT", 115)  # non-payable
    assert balance(state, holders[0]) == DEFAULT_USDT_BALANCE


def test_only_the_owner_blacklists_and_a_listed_sender_cannot_transfer() -> None:
    chain, state, holders = genesis_state()
    evil = encode_address(holders[2])
    refused = call(state, holders[0], "addBlackList(address)", evil)
    assert (refused.contract_ret, refused.energy_used) == ("REVERT", 512)
    listed = call(state, owner_of(chain), "addBlackList(address)", evil)
    assert listed.energy_used == 512 + 20_000 + log_energy(2, 0) + 563
    keep(state, listed)
    assert call(state, FRESH, "isBlackListed(address)", evil).result == encode_uint(1)
    assert call(state, FRESH, "getBlackListStatus(address)", evil).result == encode_uint(1)
    blocked = call(state, holders[2], "transfer(address,uint256)", encode_address(holders[0]),
                   encode_uint(1))  # fmt: skip
    assert (blocked.contract_ret, blocked.result, blocked.energy_used) == ("REVERT", b"", 736)
    keep(state, call(state, owner_of(chain), "removeBlackList(address)", evil))
    assert call(state, FRESH, "isBlackListed(address)", evil).result == encode_uint(0)


def test_approve_and_transfer_from_spend_the_allowance_unless_it_is_infinite() -> None:
    _, state, holders = genesis_state()
    owner, spender = holders[0], holders[1]
    approved = call(state, owner, "approve(address,uint256)", encode_address(spender),
                    encode_uint(100))  # fmt: skip
    assert approved.result == encode_uint(1)
    assert approved.energy_used == 650 + 20_000 + log_energy(3, 32) + 794
    assert approved.logs[0].topics[0] == APPROVAL_TOPIC
    keep(state, approved)
    pulled = call(state, spender, "transferFrom(address,address,uint256)", encode_address(owner),
                  encode_address(FRESH), encode_uint(60))  # fmt: skip
    assert pulled.result == encode_uint(1)
    assert pulled.energy_used == 802 + 1_598 + 5_000 + 20_000 + 5_000 + 1_756 + 794
    keep(state, pulled)
    left = call(state, FRESH, "allowance(address,address)", encode_address(owner),
                encode_address(spender))  # fmt: skip
    assert left.result == encode_uint(40)
    over = call(state, spender, "transferFrom(address,address,uint256)", encode_address(owner),
                encode_address(FRESH), encode_uint(41))  # fmt: skip
    assert over.contract_ret == "REVERT"
    keep(state, call(state, owner, "approve(address,uint256)", encode_address(spender),
                     encode_uint(MAX_UINT)))  # fmt: skip
    keep(state, call(state, spender, "transferFrom(address,address,uint256)",
                     encode_address(owner), encode_address(FRESH), encode_uint(7)))  # fmt: skip
    assert TETHER.storage(state).allowance(owner[1:], spender[1:]) == MAX_UINT
    assert balance(state, FRESH) == 67


def test_out_of_energy_spends_the_whole_limit_and_names_the_step() -> None:
    _, state, holders = genesis_state()
    result = call(state, holders[0], "transfer(address,uint256)", encode_address(holders[1]),
                  encode_uint(5), limit=10_000)  # fmt: skip
    assert result.contract_ret == "OUT_OF_ENERGY"
    assert result.energy_used == 10_000 and result.result == b"" and result.logs == ()
    assert result.runtime_error == (
        "Not enough energy for 'SSTORE' operation executing: curInvokeEnergyLimit[10000], "
        "curOpEnergy[5000], usedEnergy[7100]"
    )
    exact = call(state, holders[0], "transfer(address,uint256)", encode_address(holders[1]),
                 encode_uint(5), limit=14_650)  # fmt: skip
    assert exact.succeeded


def test_a_dynamic_energy_factor_adds_a_penalty_to_every_step() -> None:
    _, state, holders = genesis_state()
    TETHER.storage(state).set_energy_factor(34_000)  # 3.4 x on top: mainnet's maximum
    result = call(state, holders[0], "transfer(address,uint256)", encode_address(holders[1]),
                  encode_uint(5))  # fmt: skip
    # 3.4 x 14,650 = 49,810, less what each step's floor division drops (mainnet, with
    # per-opcode rounding, shows 49,635 for the same transfer).
    assert (result.energy_used, result.energy_penalty) == (14_650 + 49_808, 49_808)
    starved = call(state, holders[0], "transfer(address,uint256)", encode_address(holders[1]),
                   encode_uint(5), limit=1_000)  # fmt: skip
    assert "curOpEnergy[736], penaltyEnergy[2502], usedEnergy[0]" in starved.runtime_error
