"""The Solidity ABI as TRON's VM speaks it: selectors, 32-byte words, addresses and events.

A call's data is a 4-byte selector, the first 4 bytes of keccak256 of the
function's signature (`transfer(address,uint256)` -> a9059cbb), followed by
one 32-byte big-endian word per static argument; a string return value is
an offset word, a length word and the bytes padded to a whole word. An
address travels as its 20-byte EVM form: TRON's 0x41 prefix is dropped
going in and put back coming out. Contracts compiled with Solidity 0.4
(TRON's USDT among them) read an address argument as the low 20 bytes of its
word and ignore the rest, and read past the end of short call data as zeros;
`CallData` does the same.
"""

from __future__ import annotations

from devnet.keys import ADDRESS_PREFIX, keccak256

__all__ = [
    "WORD",
    "CallData",
    "encode_address",
    "encode_bool",
    "encode_string",
    "encode_uint",
    "event_topic",
    "evm_address",
    "selector",
    "tron_address",
]

WORD = 32
_UINT256_LIMIT = 2**256


def selector(signature: str) -> bytes:
    """The 4-byte function selector of a canonical signature, e.g. `balanceOf(address)`."""
    return keccak256(signature.encode())[:4]


def event_topic(signature: str) -> bytes:
    """topics[0] of an event: keccak256 of its canonical signature."""
    return keccak256(signature.encode())


def evm_address(address: bytes) -> bytes:
    """The 20-byte VM form of a 21-byte TRON address (or of a 20-byte one, unchanged)."""
    return address[-20:]


def tron_address(address20: bytes) -> bytes:
    """The 21-byte TRON address of a 20-byte VM address."""
    return bytes([ADDRESS_PREFIX]) + address20


def encode_uint(value: int) -> bytes:
    """A uint256 word.

    Raises:
        ValueError: value is negative or does not fit 256 bits.
    """
    if not 0 <= value < _UINT256_LIMIT:
        raise ValueError(f"uint256 out of range: {value}")
    return value.to_bytes(WORD, "big")


def encode_bool(value: bool) -> bytes:
    return encode_uint(int(value))


def encode_address(address: bytes) -> bytes:
    """An address word: the 20-byte form, left-padded with zeros."""
    return evm_address(address).rjust(WORD, b"\0")


def encode_string(text: str) -> bytes:
    """A lone dynamic `string` return value: offset, length, UTF-8 bytes padded to words."""
    raw = text.encode()
    padded = raw.ljust(-(-len(raw) // WORD) * WORD, b"\0")
    return encode_uint(WORD) + encode_uint(len(raw)) + padded


class CallData:
    """A call's data split into selector and argument words, read as Solidity 0.4 reads it."""

    __slots__ = ("_args", "selector")

    def __init__(self, data: bytes) -> None:
        self.selector = data[:4]
        self._args = data[4:]

    def word(self, index: int) -> bytes:
        """Argument word index; bytes past the end of the data read as zeros."""
        start = index * WORD
        return self._args[start : start + WORD].ljust(WORD, b"\0")

    def uint(self, index: int) -> int:
        return int.from_bytes(self.word(index), "big")

    def address(self, index: int) -> bytes:
        """The 20-byte address in the low bytes of word index (the high 12 bytes ignored)."""
        return self.word(index)[-20:]
