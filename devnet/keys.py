"""TRON addresses and secp256k1 keys, implemented here rather than borrowed from tronpy.

devnet is the yardstick tronpy is measured against, so it must not share
tronpy's address code: a bug there would otherwise be mirrored, not caught.
An address is 21 bytes, 0x41 followed by the last 20 bytes of keccak256 of
the uncompressed public key (without its 0x04 prefix); shown as 42 hex digits
(`41…`) or base58check (`T…`).
"""

from __future__ import annotations

import functools
import hashlib

import coincurve
from Crypto.Hash import keccak

__all__ = [
    "ADDRESS_PREFIX",
    "SignatureError",
    "address_from_private_key",
    "address_to_base58",
    "base58check_decode",
    "base58check_encode",
    "keccak256",
    "parse_address",
    "recover_address",
    "sign_digest",
]

ADDRESS_PREFIX = 0x41
ADDRESS_LENGTH = 21

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_ALPHABET_INDEX = {char: index for index, char in enumerate(_ALPHABET)}


def keccak256(data: bytes) -> bytes:
    """Return the Ethereum-style keccak256 digest (not NIST SHA3-256)."""
    return keccak.new(digest_bits=256, data=data).digest()


def _checksum(payload: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]


def base58check_encode(payload: bytes) -> str:
    """Encode bytes as base58 with a 4-byte double-sha256 checksum (java-tron encode58Check)."""
    data = payload + _checksum(payload)
    number = int.from_bytes(data, "big")
    chars = []
    while number:
        number, remainder = divmod(number, 58)
        chars.append(_ALPHABET[remainder])
    leading_zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * leading_zeros + "".join(reversed(chars))


def base58check_decode(text: str) -> bytes:
    """Decode base58check text and verify its checksum; ValueError when malformed."""
    number = 0
    for char in text:
        if char not in _ALPHABET_INDEX:
            raise ValueError(f"invalid base58 character {char!r}")
        number = number * 58 + _ALPHABET_INDEX[char]
    leading_zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    data = b"\0" * leading_zeros + body
    if len(data) < 5 or _checksum(data[:-4]) != data[-4:]:
        raise ValueError("base58check checksum mismatch")
    return data[:-4]


def address_to_base58(address: bytes) -> str:
    """Render a 21-byte address as the `T…` form."""
    return base58check_encode(address)


def parse_address(text: str) -> bytes:
    """Accept `T…` base58check or `41…` hex and return the 21-byte address; ValueError otherwise."""
    if len(text) == 2 * ADDRESS_LENGTH and text[:2] == "41":
        address = bytes.fromhex(text)
    else:
        address = base58check_decode(text)
    if len(address) != ADDRESS_LENGTH or address[0] != ADDRESS_PREFIX:
        raise ValueError(f"not a TRON address: {text!r}")
    return address


def address_from_private_key(private_key: bytes) -> bytes:
    """Derive the 21-byte address of a 32-byte secp256k1 private key."""
    public_key = coincurve.PrivateKey(private_key).public_key.format(compressed=False)
    return bytes([ADDRESS_PREFIX]) + keccak256(public_key[1:])[-20:]


class SignatureError(ValueError):
    """A signature from which no public key can be recovered (java.security.SignatureException)."""


def _recovery_id(v_byte: int) -> int:
    """ECKey.signatureToKeyBytes: v as a Java byte, +27 when below 27, header 27..34."""
    header = v_byte - 256 if v_byte >= 128 else v_byte
    if header < 27:
        header += 27  # stays within a Java byte: -101..53
    if header < 27 or header > 34:
        raise SignatureError(f"Header byte out of range: {header}")
    if header >= 31:
        header -= 4
    return header - 27


def recover_address(digest: bytes, signature: bytes) -> bytes:
    """Recover the 21-byte address that signed digest; r || s || v, extra bytes ignored.

    Raises:
        SignatureError: with java-tron's message, when no key can be recovered.
    """
    recovery_id = _recovery_id(signature[64])
    compact = signature[:64] + bytes([recovery_id])
    try:
        public_key = coincurve.PublicKey.from_signature_and_message(compact, digest, hasher=None)
    except Exception:  # coincurve raises ValueError or its own errors for bad points
        raise SignatureError("Could not recover public key from signature") from None
    return _address_of_public_key(public_key.format(compressed=False))


@functools.lru_cache(maxsize=4096)
def _address_of_public_key(uncompressed: bytes) -> bytes:
    # Cached: a node sees the same few signers again and again, and keccak is not free.
    return bytes([ADDRESS_PREFIX]) + keccak256(uncompressed[1:])[-20:]


def sign_digest(private_key: bytes, digest: bytes) -> bytes:
    """Sign a 32-byte digest as java-tron does: 65 bytes r || s || recovery id (0 or 1)."""
    return coincurve.PrivateKey(private_key).sign_recoverable(digest, hasher=None)
