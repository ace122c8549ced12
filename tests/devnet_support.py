"""Helpers shared by the devnet tests (each test module builds its own `devnet` fixture)."""

from __future__ import annotations

from tronpy.keys import PrivateKey

from devnet.server import Devnet


def genesis_key(devnet: Devnet, n: int) -> PrivateKey:
    """The private key of genesis test account n."""
    key = devnet.genesis.accounts[n].private_key
    assert key is not None
    return PrivateKey(key)


def address(key: PrivateKey) -> str:
    return key.public_key.to_base58check_address()
