"""The few pieces of the Solidity ABI a TRC20 transfer needs, and its Transfer log.

TRON addresses in the ABI are the 20 bytes after the 0x41 prefix, left-padded to
32; amounts are uint256. No I/O.
"""

from __future__ import annotations

from typing import Any

from worker.txbuild import address_from_base58

__all__ = [
    "TRANSFER_TOPIC",
    "balance_of",
    "decode_uint",
    "is_blacklisted",
    "is_transfer_log",
    "transfer_call",
]

TRANSFER_SELECTOR = "a9059cbb"  # transfer(address,uint256)
BALANCE_OF_SELECTOR = "70a08231"  # balanceOf(address)
IS_BLACKLISTED_SELECTOR = "e47d6060"  # isBlackListed(address), USDT's public mapping
# keccak256("Transfer(address,address,uint256)")
TRANSFER_TOPIC = "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"


def _word_of_address(address: str) -> str:
    return address_from_base58(address)[1:].hex().rjust(64, "0")


def _word_of_uint(value: int) -> str:
    if not 0 <= value < 2**256:
        raise ValueError("a uint256 must be in 0 .. 2**256 - 1")
    return f"{value:064x}"


def transfer_call(to: str, amount: int) -> str:
    """Call data (hex) of `transfer(to, amount)`."""
    return TRANSFER_SELECTOR + _word_of_address(to) + _word_of_uint(amount)


def balance_of(owner: str) -> str:
    """Call data (hex) of `balanceOf(owner)`."""
    return BALANCE_OF_SELECTOR + _word_of_address(owner)


def is_blacklisted(holder: str) -> str:
    """Call data (hex) of USDT's `isBlackListed(holder)` (a bool as a uint256 word)."""
    return IS_BLACKLISTED_SELECTOR + _word_of_address(holder)


def decode_uint(result: bytes) -> int:
    return int.from_bytes(result[:32], "big") if result else 0


def is_transfer_log(log: dict[str, Any], *, token: str, sender: str, to: str, amount: int) -> bool:
    """Whether a receipt's log is the token contract's Transfer(sender, to, amount)."""
    topics = [str(topic).lower().rjust(64, "0") for topic in log.get("topics", [])]
    contract = str(log.get("address", "")).lower()
    token_hex = address_from_base58(token)[1:].hex()
    return (
        contract[-40:] == token_hex
        and len(topics) == 3
        and topics[0] == TRANSFER_TOPIC
        and topics[1] == _word_of_address(sender)
        and topics[2] == _word_of_address(to)
        and int(str(log.get("data", "0")) or "0", 16) == amount
    )
