"""Broadcast and execution on a Chain: fees, bandwidth, state views and every refusal.

No clock and no HTTP: blocks are produced by hand, 3 s apart, so every
number below is exact. Replies are java-tron's texts (Wallet.broadcastTransaction
and the actuators), details are its exception messages.
"""

from __future__ import annotations

import pytest

from devnet import builders, mempool
from devnet.chain import Chain, View
from devnet.encoding import merkle_root, sha256
from devnet.errors import (
    ContractValidateError,
    DuplicateTransaction,
    ResourceInsufficient,
    SignatureInvalid,
    TaposError,
    TransactionExpired,
    TransactionRejected,
)
from devnet.genesis import AccountSpec, GenesisConfig, build_genesis
from devnet.keys import address_from_private_key, address_to_base58
from devnet.transactions import RawData, bandwidth_bytes, make_transaction

START_MS = 1_800_000_000_000
TRX = 1_000_000
FRESH_KEY = bytes.fromhex("11" * 32)
FRESH = address_from_private_key(FRESH_KEY)


def make_chain(lag: int = 2, **parameters: int) -> Chain:
    config = GenesisConfig(chain_parameters=parameters) if parameters else GenesisConfig()
    chain = Chain(build_genesis(config), solidify_lag_blocks=lag)
    chain.produce_block(START_MS, chain.genesis.witnesses[0])
    return chain


def next_block(chain: Chain) -> None:
    chain.produce_block(chain.head_block.timestamp_ms + 3000, chain.genesis.witnesses[0])


def keys(chain: Chain) -> list[bytes]:
    return [account.private_key for account in chain.genesis.accounts if account.private_key]


def address(key: bytes) -> bytes:
    return address_from_private_key(key)


def balance(chain: Chain, who: bytes, view: View = View.HEAD) -> int:
    account = chain.account(who, view)
    assert account is not None
    return account.balance_sun


def send(chain: Chain, key: bytes, to: bytes, amount: int, **kwargs: object):  # type: ignore[no-untyped-def]
    tx = builders.transfer(key, to, amount, chain.head_block.block_id, START_MS, **kwargs)  # type: ignore[arg-type]
    chain.broadcast(tx)
    return tx


def test_transfer_between_accounts_uses_free_bandwidth_and_costs_nothing_else() -> None:
    chain = make_chain()
    alice, bob = keys(chain)[:2]
    before = balance(chain, address(alice))

    tx = send(chain, alice, address(bob), 7 * TRX)
    next_block(chain)

    record = chain.transaction(tx.txid)
    assert record is not None and record.info is not None
    assert record.info.net_usage == bandwidth_bytes(tx)
    assert record.info.fee_sun == record.info.net_fee_sun == 0
    assert balance(chain, address(alice)) == before - 7 * TRX
    assert balance(chain, address(bob)) == before + 7 * TRX
    sender = chain.account(address(alice))
    assert sender is not None and sender.free_net_usage == bandwidth_bytes(tx)


def test_transfer_to_a_new_account_burns_the_activation_fees() -> None:
    chain = make_chain()
    alice = keys(chain)[0]
    before = balance(chain, address(alice))

    tx = send(chain, alice, FRESH, 3 * TRX)
    next_block(chain)

    info = chain.transaction(tx.txid).info  # type: ignore[union-attr]
    assert info is not None
    # getCreateNewAccountFeeInSystemContract (1 TRX) + getCreateAccountFee (0.1 TRX)
    assert info.fee_sun == 1_100_000
    assert info.net_fee_sun == 100_000 and info.net_usage == 0
    assert balance(chain, address(alice)) == before - 3 * TRX - 1_100_000
    created = chain.account(FRESH)
    assert created is not None and created.balance_sun == 3 * TRX
    assert created.create_time_ms == START_MS  # the head block when it executed
    assert created.owner_permission is not None and created.active_permissions


def test_once_free_bandwidth_is_spent_bytes_are_burnt_at_the_transaction_fee() -> None:
    chain = make_chain(getFreeNetLimit=300)
    alice, bob = keys(chain)[:2]
    first = send(chain, alice, address(bob), 1)
    before = balance(chain, address(alice))

    second = send(chain, alice, address(bob), 2)
    next_block(chain)

    assert chain.transaction(first.txid).info.net_fee_sun == 0  # type: ignore[union-attr]
    info = chain.transaction(second.txid).info  # type: ignore[union-attr]
    assert info is not None
    assert info.net_fee_sun == info.fee_sun == 1_000 * bandwidth_bytes(second)
    assert balance(chain, address(alice)) == before - 2 - info.fee_sun


def test_a_memo_costs_the_memo_fee() -> None:
    chain = make_chain()
    alice, bob = keys(chain)[:2]

    tx = send(chain, alice, address(bob), 1, memo=b"invoice 42")
    next_block(chain)

    assert tx.raw.data == b"invoice 42"
    assert chain.transaction(tx.txid).info.fee_sun == 1_000_000  # type: ignore[union-attr]


def test_pending_effects_show_on_head_but_not_solid_until_the_lag_passes() -> None:
    chain = make_chain(lag=2)
    alice, bob = keys(chain)[:2]
    start = balance(chain, address(bob))

    tx = send(chain, alice, address(bob), 5)

    assert balance(chain, address(bob)) == start + 5
    pending = chain.transaction(tx.txid)
    assert pending is not None and pending.info is None
    assert chain.transaction(tx.txid, View.SOLID) is None
    next_block(chain)
    assert chain.transaction(tx.txid).info.block_number == 2  # type: ignore[union-attr]
    assert balance(chain, address(bob), View.SOLID) == start
    next_block(chain)
    next_block(chain)
    assert chain.solid_number == 2
    assert balance(chain, address(bob), View.SOLID) == start + 5
    assert chain.transaction(tx.txid, View.SOLID) is not None


def test_block_carries_its_transactions_under_their_merkle_root() -> None:
    chain = make_chain()
    alice, bob = keys(chain)[:2]
    txs = [send(chain, alice, address(bob), n) for n in (1, 2, 3)]

    next_block(chain)

    block = chain.head_block
    assert [item.transaction.txid for item in block.transactions] == [tx.txid for tx in txs]
    leaves = [sha256(item.encoded()) for item in block.transactions]
    assert block.header.tx_trie_root == merkle_root(leaves)
    assert block.transactions[0].encoded().endswith(b"\x2a\x02\x18\x01")  # ret SUCCESS


def test_transactions_that_do_not_fit_wait_for_the_next_block_with_the_same_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chain = make_chain()
    alice, bob = keys(chain)[:2]
    txs = [send(chain, alice, address(bob), n) for n in (1, 2, 3)]
    expected = balance(chain, address(alice))
    monkeypatch.setattr(mempool, "BLOCK_SIZE", 2 * 300)

    next_block(chain)
    next_block(chain)

    assert [len(chain.block_by_number(n).transactions) for n in (2, 3)] == [2, 1]  # type: ignore[union-attr]
    assert chain.transaction(txs[2].txid).info.block_number == 3  # type: ignore[union-attr]
    assert balance(chain, address(alice)) == expected


def rejection(chain: Chain, tx) -> TransactionRejected:  # type: ignore[no-untyped-def]
    with pytest.raises(TransactionRejected) as caught:
        chain.broadcast(tx)
    return caught.value


def test_signature_by_a_stranger_is_sigerror_naming_the_signer() -> None:
    chain = make_chain()
    alice, bob = keys(chain)[:2]
    tx = builders.transfer(alice, address(bob), 1, chain.head_block.block_id, START_MS)
    forged = make_transaction(tx.raw, [builders.sign(tx.raw, bob).signatures[0]])

    error = rejection(chain, forged)

    assert isinstance(error, SignatureInvalid) and error.code == "SIGERROR"
    assert error.reply == (
        f"Validate signature error: {forged.signatures[0].hex()} is signed by "
        f"{address_to_base58(address(bob))} but it is not contained of permission."
    )


@pytest.mark.parametrize(
    ("mangle", "detail"),
    [
        (lambda sig: [], "miss sig or contract"),
        (lambda sig: [sig[:64]], "Signature size is 64"),
        (lambda sig: [sig[:64] + bytes([35])], "Header byte out of range: 35"),
        (lambda sig: [sig, sig], "Signature count is 2 more than key counts of permission : 1"),
    ],
)
def test_malformed_signatures_are_sigerror(mangle, detail: str) -> None:  # type: ignore[no-untyped-def]
    chain = make_chain()
    alice, bob = keys(chain)[:2]
    tx = builders.transfer(alice, address(bob), 1, chain.head_block.block_id, START_MS)

    error = rejection(chain, make_transaction(tx.raw, mangle(tx.signatures[0])))

    assert error.code == "SIGERROR" and error.detail == detail


def test_unknown_reference_block_is_tapos_error() -> None:
    chain = make_chain()
    alice, bob = keys(chain)[:2]
    tx = builders.transfer(alice, address(bob), 1, chain.head_block.block_id, START_MS)
    raw = RawData(tx.raw.contracts, b"\x12\x34", 0, b"\x00" * 8, tx.raw.expiration_ms,
                  timestamp_ms=tx.raw.timestamp_ms)  # fmt: skip

    error = rejection(chain, builders.sign(raw, alice))

    assert isinstance(error, TaposError)
    assert (error.code, error.reply) == ("TAPOS_ERROR", "Tapos check error.")


@pytest.mark.parametrize("lifetime_ms", [1_000, 24 * 3600 * 1000 + 1])
def test_expired_or_too_distant_expiration_is_expiration_error(lifetime_ms: int) -> None:
    chain = make_chain()
    alice, bob = keys(chain)[:2]
    tx = builders.transfer(alice, address(bob), 1, chain.head_block.block_id, START_MS,
                           lifetime_ms=lifetime_ms)  # fmt: skip

    error = rejection(chain, tx)

    assert isinstance(error, TransactionExpired)
    assert (error.code, error.reply) == ("TRANSACTION_EXPIRATION_ERROR", "Transaction expired")


def test_the_same_transaction_twice_is_dup_before_and_after_its_block() -> None:
    chain = make_chain()
    alice, bob = keys(chain)[:2]
    tx = send(chain, alice, address(bob), 1)

    assert isinstance(rejection(chain, tx), DuplicateTransaction)
    next_block(chain)
    error = rejection(chain, tx)
    assert (error.code, error.reply) == ("DUP_TRANSACTION_ERROR", "Dup transaction.")


@pytest.mark.parametrize(
    ("to", "amount", "detail"),
    [
        (None, 1, "Cannot transfer TRX to yourself."),
        (b"\x41" + b"\x01" * 19, 1, "Invalid toAddress!"),
        (b"\x42" + b"\x01" * 20, 1, "Invalid toAddress!"),
        (FRESH, 0, "Amount must be greater than 0."),
        (FRESH, -5, "Amount must be greater than 0."),
        (FRESH, 10**6 * TRX, "Validate TransferContract error, balance is not sufficient."),
        (FRESH, 2**63 - 1, "long overflow"),
    ],
)
def test_transfer_validation_errors(to: bytes | None, amount: int, detail: str) -> None:
    chain = make_chain()
    alice = keys(chain)[0]

    error = rejection(
        chain,
        builders.transfer(alice, to or address(alice), amount, chain.head_block.block_id, START_MS),
    )

    assert isinstance(error, ContractValidateError)
    assert error.reply == f"Contract validate error : {detail}"


def test_owner_without_an_account_cannot_send() -> None:
    chain = make_chain()

    error = rejection(chain, builders.transfer(FRESH_KEY, FRESH[:-1] + b"\x00", 1,
                                               chain.head_block.block_id, START_MS))  # fmt: skip

    assert error.code == "CONTRACT_VALIDATE_ERROR"
    assert error.detail == f"account [{address_to_base58(FRESH)}] does not exist"


def test_transaction_without_contract_is_no_contract() -> None:
    chain = make_chain()
    tx = builders.sign(RawData(contracts=(), expiration_ms=START_MS + 60_000), keys(chain)[0])

    assert rejection(chain, tx).reply == "Contract validate error : No contract!"


def test_no_bandwidth_and_too_little_trx_to_burn_is_bandwith_error() -> None:
    accounts = (AccountSpec(private_key=FRESH_KEY.hex(), balance_sun=1_000),)
    genesis = build_genesis(
        GenesisConfig(accounts=accounts, chain_parameters={"getFreeNetLimit": 0})
    )
    chain = Chain(genesis, solidify_lag_blocks=2)
    chain.produce_block(START_MS, genesis.witnesses[0])
    other = address(bytes.fromhex("22" * 32))

    error = rejection(
        chain, builders.transfer(FRESH_KEY, other, 1, chain.head_block.block_id, START_MS)
    )

    assert isinstance(error, ResourceInsufficient) and error.code == "BANDWITH_ERROR"
    assert error.reply == "Account resource insufficient error."
    assert error.detail.startswith(f"account [{address_to_base58(FRESH)}] has insufficient")
