"""The `[usdt]` table of genesis: default owner and holders, overrides, and what is refused."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from pydantic import ValidationError

from devnet.chain import Chain
from devnet.genesis import GenesisConfig, build_genesis, load_genesis
from devnet.keys import address_from_private_key, address_to_base58
from devnet.trc20 import TETHER, USDT_ADDRESS
from devnet.trc20_genesis import DEFAULT_USDT_BALANCE, DEFAULT_USDT_OWNER_KEY

ALICE_KEY = "11" * 32
ALICE = address_from_private_key(bytes.fromhex(ALICE_KEY))


def test_the_default_owner_is_a_seeded_test_key_and_every_account_holds_usdt() -> None:
    usdt = load_genesis(None).usdt
    assert usdt is not None
    seed = hashlib.sha256(b"lucid-tron-devnet/usdt-owner").digest()
    assert usdt.owner_private_key == seed == bytes.fromhex(DEFAULT_USDT_OWNER_KEY)
    assert address_to_base58(usdt.owner_address) == "TMmCQvu4dwxSWiVfHSW8ns7eohTfG2xFJz"
    holders = [account.address for account in load_genesis(None).accounts]
    assert usdt.balances == tuple((h, DEFAULT_USDT_BALANCE) for h in holders)
    assert "e5c4" not in repr(usdt)  # reprs stay free of keys


def test_a_genesis_file_sets_owner_holders_and_energy_factor(tmp_path: Path) -> None:
    path = tmp_path / "genesis.toml"
    path.write_text(
        f'[[accounts]]\nprivate_key = "{ALICE_KEY}"\nbalance_sun = 7\n\n'
        f'[usdt]\nowner_private_key = "{ALICE_KEY}"\nenergy_factor = 34000\n\n'
        f'[usdt.balances]\n"{address_to_base58(ALICE)}" = 5\n"{USDT_ADDRESS.hex()}" = 6\n'
    )
    chain = Chain(load_genesis(path), solidify_lag_blocks=0)
    store = TETHER.storage(chain.state())
    assert store.owner() == ALICE[1:] and store.origin() == ALICE
    assert (store.balance(ALICE[1:]), store.balance(USDT_ADDRESS[1:])) == (5, 6)
    assert store.total_supply() == 11 and store.energy_factor() == 34_000
    owner = chain.account(ALICE)
    assert owner is not None and owner.balance_sun == 7  # listed: keeps its genesis TRX


@pytest.mark.parametrize(
    ("usdt", "message"),
    [
        ({"owner_private_key": "00" * 32}, "owner_private_key is not a 32-byte secp256k1 key"),
        ({"owner_private_key": "zz"}, "owner_private_key is not a 32-byte secp256k1 key"),
        ({"balances": {"TNotAnAddress": 1}}, "not a TRON address|checksum|base58"),
        ({"balances": {address_to_base58(ALICE): -1}}, "is not a uint256"),
        ({"energy_factor": -1}, "greater than or equal to 0"),
        ({"owner": ALICE_KEY}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_usdt_settings_are_refused(usdt: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        GenesisConfig.model_validate({"usdt": usdt})


def test_a_hand_built_genesis_without_usdt_has_no_contract() -> None:
    genesis = build_genesis()
    bare = type(genesis)(
        parent_hash=genesis.parent_hash,
        timestamp_ms=0,
        witnesses=genesis.witnesses,
        chain_parameters=genesis.chain_parameters,
    )
    chain = Chain(bare, solidify_lag_blocks=0)
    assert chain.account(USDT_ADDRESS) is None
