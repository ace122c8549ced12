"""devnet/faults_tamper.py: a tampered transaction is self-consistent and pays someone else."""

from __future__ import annotations

import pytest

from devnet.builders import build_contract
from devnet.encoding import sha256
from devnet.faults import Tamper
from devnet.faults_tamper import tamper_transaction
from devnet.keys import address_to_base58, parse_address
from devnet.transactions import (
    RawData,
    Transaction,
    encode_raw,
    make_transaction,
    parse_transaction,
    render_transaction,
)

OWNER = parse_address("TPL66VK2gCXNCD7EJg9pgJRfqcRazjhUZY")
HONEST = bytes.fromhex("41" + "22" * 20)
THIEF = bytes.fromhex("41" + "ee" * 20)
USDT = parse_address("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t")


def built(type_name: str, **value: object) -> Transaction:
    raw = RawData(
        contracts=(build_contract(type_name, {"owner_address": OWNER, **value}),),
        ref_block_bytes=b"\x00\x07",
        ref_block_hash=bytes(range(8)),
        expiration_ms=1_800_000_060_000,
        timestamp_ms=1_800_000_000_000,
        fee_limit_sun=30_000_000,
    )
    return make_transaction(raw)


def tamper(**fields: object) -> Tamper:
    return Tamper.model_validate(fields)


def token_call(selector: str, *words: bytes | int) -> bytes:
    encoded = [
        word.rjust(32, b"\0") if isinstance(word, bytes) else word.to_bytes(32, "big")
        for word in words
    ]
    return bytes.fromhex(selector) + b"".join(encoded)


def assert_consistent(tx: Transaction) -> None:
    """What a careful client checks: raw_data re-encodes to raw_data_hex, whose sha256 is txID."""
    rendered = render_transaction(tx, visible=False)
    reparsed = parse_transaction(rendered, visible=False)
    assert reparsed.raw_bytes.hex() == rendered["raw_data_hex"]
    assert sha256(bytes.fromhex(rendered["raw_data_hex"])).hex() == rendered["txID"]
    assert encode_raw(tx.raw) == tx.raw_bytes


def test_a_trx_transfer_pays_the_tampered_recipient_and_amount() -> None:
    honest = built("TransferContract", to_address=HONEST, amount=5_000_000)

    tampered = tamper_transaction(honest, tamper(to=address_to_base58(THIEF), amount_delta=1))

    assert tampered is not None
    assert_consistent(tampered)
    assert tampered.txid != honest.txid and tampered.raw_bytes != honest.raw_bytes
    assert tampered.contract is not None
    assert tampered.contract.value == {
        "owner_address": OWNER, "to_address": THIEF, "amount": 5_000_001,
    }  # fmt: skip
    # Everything else is the node's own: reference block, expiration, fee limit.
    assert tampered.raw.ref_block_hash == honest.raw.ref_block_hash
    assert tampered.raw.expiration_ms == honest.raw.expiration_ms
    assert tampered.raw.fee_limit_sun == honest.raw.fee_limit_sun


def test_visible_json_of_the_tampered_transaction_names_the_new_recipient() -> None:
    honest = built("TransferContract", to_address=HONEST, amount=1)
    tampered = tamper_transaction(honest, tamper(to=THIEF.hex()))
    assert tampered is not None

    value = render_transaction(tampered, visible=True)["raw_data"]["contract"][0]["parameter"]
    assert value["value"]["to_address"] == address_to_base58(THIEF)
    assert value["value"]["amount"] == 1


def test_an_amount_only_tamper_keeps_the_recipient_and_never_goes_below_zero() -> None:
    honest = built("TransferContract", to_address=HONEST, amount=3)

    tampered = tamper_transaction(honest, tamper(amount_delta=-10))

    assert tampered is not None and tampered.contract is not None
    assert tampered.contract.value["to_address"] == HONEST
    assert tampered.contract.value["amount"] == 0


@pytest.mark.parametrize(
    ("selector", "words", "expected"),
    [
        ("a9059cbb", (HONEST[1:], 7), (THIEF[1:], 8)),  # transfer(to, value)
        ("095ea7b3", (HONEST[1:], 7), (THIEF[1:], 8)),  # approve(spender, value)
        ("23b872dd", (OWNER[1:], HONEST[1:], 7), (OWNER[1:], THIEF[1:], 8)),  # transferFrom
    ],
)
def test_a_trc20_call_pays_the_tampered_recipient_and_amount(
    selector: str, words: tuple[bytes | int, ...], expected: tuple[bytes | int, ...]
) -> None:
    honest = built("TriggerSmartContract", contract_address=USDT, data=token_call(selector, *words))

    tampered = tamper_transaction(honest, tamper(to=address_to_base58(THIEF), amount_delta=1))

    assert tampered is not None and tampered.contract is not None
    assert_consistent(tampered)
    assert tampered.contract.value["data"] == token_call(selector, *expected)
    assert tampered.contract.value["contract_address"] == USDT


def test_an_unknown_contract_call_is_left_alone() -> None:
    honest = built("TriggerSmartContract", contract_address=USDT, data=bytes.fromhex("18160ddd"))

    assert tamper_transaction(honest, tamper(to=address_to_base58(THIEF))) is None


def test_stake_contracts_change_receiver_and_balance() -> None:
    honest = built("DelegateResourceContract", resource=1, balance=10_000_000,
                   receiver_address=HONEST)  # fmt: skip

    tampered = tamper_transaction(honest, tamper(to=address_to_base58(THIEF), amount_delta=5))

    assert tampered is not None and tampered.contract is not None
    assert_consistent(tampered)
    assert tampered.contract.value["receiver_address"] == THIEF
    assert tampered.contract.value["balance"] == 10_000_005


def test_a_contract_with_nothing_to_change_is_left_alone() -> None:
    honest = built("WithdrawBalanceContract")

    assert tamper_transaction(honest, tamper(to=address_to_base58(THIEF), amount_delta=1)) is None
