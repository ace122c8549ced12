"""devnet/keys.py: addresses and signatures, checked against published pairs and tronpy."""

from __future__ import annotations

import coincurve
import pytest
from tronpy.keys import PrivateKey as TronpyPrivateKey

from devnet.encoding import sha256
from devnet.keys import (
    address_from_private_key,
    address_to_base58,
    base58check_decode,
    base58check_encode,
    parse_address,
    sign_digest,
)

# base58 / hex pairs printed side by side in mil2er/tron-wallet-demo, README.md.
PUBLISHED_PAIRS = [
    ("TFWCgEouJUC1bHLMfjdzLQdXPeiCE1byfw", "413cb540bbfa4f7143f2b8c3e185aebac6a5af9c3e"),
    ("TWgezbnYkrQrWJY4tv2vbftyvUwaM9r7s1", "41e33944686502898789d865324356a0b33ce7b028"),
]


@pytest.mark.parametrize(("base58", "hex_address"), PUBLISHED_PAIRS)
def test_base58_and_hex_forms_of_published_addresses(base58: str, hex_address: str) -> None:
    assert parse_address(base58).hex() == hex_address
    assert parse_address(hex_address).hex() == hex_address
    assert address_to_base58(bytes.fromhex(hex_address)) == base58


@pytest.mark.parametrize(
    "bad",
    [
        "TFWCgEouJUC1bHLMfjdzLQdXPeiCE1byfx",  # checksum broken
        "0OIl",  # not base58
        "423cb540bbfa4f7143f2b8c3e185aebac6a5af9c3e",  # hex without the 0x41 prefix
        base58check_encode(b"\x41" + bytes(19)),  # 20 bytes, not 21
    ],
)
def test_parse_address_rejects_malformed(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_address(bad)


def test_base58check_round_trip_keeps_leading_zero_bytes() -> None:
    payload = b"\x00\x00\x41abc"

    assert base58check_encode(payload).startswith("11")
    assert base58check_decode(base58check_encode(payload)) == payload


@pytest.mark.parametrize("seed", [1, 2, 0xDEADBEEF])
def test_address_from_private_key_matches_tronpy(seed: int) -> None:
    private_key = sha256(seed.to_bytes(8, "big"))

    expected = TronpyPrivateKey(private_key).public_key.to_hex_address()

    assert address_from_private_key(private_key).hex() == expected


def test_signature_is_r_s_recid_and_recovers_the_signer() -> None:
    private_key = sha256(b"signer")
    digest = sha256(b"block header raw bytes")

    signature = sign_digest(private_key, digest)

    assert len(signature) == 65 and signature[64] in (0, 1)
    recovered = coincurve.PublicKey.from_signature_and_message(signature, digest, hasher=None)
    assert recovered == coincurve.PrivateKey(private_key).public_key
