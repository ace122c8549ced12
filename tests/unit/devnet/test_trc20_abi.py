"""The Solidity ABI devnet's native contracts speak, checked against known values and tronpy.

Selectors and topics are the ones every TRC20 explorer shows (transfer
a9059cbb, balanceOf 70a08231, Transfer ddf252ad...); encodings are checked
against tronpy's own codec (eth_abi with TRON addresses), which is what
decodes devnet's answers on the client side.
"""

from __future__ import annotations

import pytest
from tronpy.abi import trx_abi

from devnet.evm_abi import (
    CallData,
    encode_address,
    encode_bool,
    encode_string,
    encode_uint,
    event_topic,
    evm_address,
    selector,
    tron_address,
)
from devnet.keys import address_to_base58

USDT = bytes.fromhex("41a614f803b6fd780986a42c78ec9c7f77e6ded13c")


@pytest.mark.parametrize(
    ("signature", "expected"),
    [
        ("transfer(address,uint256)", "a9059cbb"),
        ("balanceOf(address)", "70a08231"),
        ("approve(address,uint256)", "095ea7b3"),
        ("transferFrom(address,address,uint256)", "23b872dd"),
        ("allowance(address,address)", "dd62ed3e"),
        ("totalSupply()", "18160ddd"),
        ("decimals()", "313ce567"),
        ("symbol()", "95d89b41"),
        ("name()", "06fdde03"),
        ("Error(string)", "08c379a0"),
    ],
)
def test_selectors_are_the_first_four_bytes_of_keccak(signature: str, expected: str) -> None:
    assert selector(signature).hex() == expected


def test_event_topics_are_the_whole_keccak() -> None:
    transfer = event_topic("Transfer(address,address,uint256)")
    approval = event_topic("Approval(address,address,uint256)")
    assert transfer.hex() == "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
    assert approval.hex() == "8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925"


def test_addresses_drop_and_regain_the_tron_prefix() -> None:
    assert evm_address(USDT).hex() == "a614f803b6fd780986a42c78ec9c7f77e6ded13c"
    assert tron_address(evm_address(USDT)) == USDT
    assert encode_address(USDT) == bytes(12) + USDT[1:]


def test_words_decode_with_tronpys_codec() -> None:
    assert trx_abi.decode_single("(uint256)", encode_uint(10**12)) == (10**12,)
    assert trx_abi.decode_single("(bool)", encode_bool(True)) == (True,)
    assert trx_abi.decode_single("(address)", encode_address(USDT)) == (address_to_base58(USDT),)
    for text in ("", "USDT", "Tether USD", "x" * 33):
        assert trx_abi.decode_single("(string)", encode_string(text)) == (text,)


def test_uint256_bounds_are_enforced() -> None:
    assert encode_uint(2**256 - 1) == b"\xff" * 32
    for bad in (-1, 2**256):
        with pytest.raises(ValueError, match="uint256 out of range"):
            encode_uint(bad)


def test_call_data_reads_what_tronpy_encodes() -> None:
    to = "THWZBfBSYeTb6NBrHZv2HbzmMTdnwQK26K"
    data = selector("transfer(address,uint256)") + trx_abi.encode_single(
        "(address,uint256)", (to, 1_234_567)
    )
    call = CallData(data)
    assert call.selector.hex() == "a9059cbb"
    assert address_to_base58(tron_address(call.address(0))) == to
    assert call.uint(1) == 1_234_567


def test_call_data_is_read_as_solidity_0_4_reads_it() -> None:
    # Short data reads as zeros; the 12 bytes above an address are ignored (tronpy may send 41).
    word = bytes(11) + USDT
    call = CallData(selector("balanceOf(address)") + word + b"\x01")
    assert call.address(0) == USDT[1:]
    assert call.word(1) == b"\x01" + bytes(31)
    assert call.uint(5) == 0
    assert CallData(b"\xa9\x05").selector == b"\xa9\x05"
