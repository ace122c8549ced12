"""devnet/genesis.py: the default genesis is deterministic; genesis files are validated."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from devnet.genesis import GenesisConfig, build_genesis, load_genesis
from devnet.keys import address_from_private_key, address_to_base58
from devnet.params import DEFAULT_CHAIN_PARAMETERS

WITNESS_KEY = "11" * 32


def test_default_genesis_is_deterministic_with_three_witnesses() -> None:
    first, second = load_genesis(None), load_genesis(None)

    assert first == second
    assert [address_to_base58(w.address) for w in first.witnesses] == [
        "TLzh7J4TLTUidPUuZ9Mr5tB1NCSADX7dXi",
        "TCL7g863C8ZZTKvh6JBM7fsxc7ypuF3tCX",
        "TMVKHEysffvtYqb2NnWbz1yFQuKEo2aUn8",
    ]
    assert first.timestamp_ms == 0


def test_default_chain_parameters_keep_java_tron_order_and_tronpy_keys() -> None:
    parameters = build_genesis().chain_parameters

    assert list(parameters) == list(DEFAULT_CHAIN_PARAMETERS)
    assert list(parameters)[:4] == [
        "getMaintenanceTimeInterval",
        "getAccountUpgradeCost",
        "getCreateAccountFee",
        "getTransactionFee",
    ]
    assert parameters["getTransactionFee"] == 1_000
    assert parameters["getCreateNewAccountFeeInSystemContract"] == 1_000_000
    assert parameters["getFreeNetLimit"] == 600
    assert parameters["getUnfreezeDelayDays"] == 14
    assert parameters["getMaxFeeLimit"] == 15_000_000_000


def test_json_genesis_overrides_parameters_and_witnesses(tmp_path: Path) -> None:
    path = tmp_path / "genesis.json"
    path.write_text(
        json.dumps(
            {
                "timestamp_ms": 1_700_000_000_000,
                "witnesses": [{"name": "solo", "private_key": WITNESS_KEY}],
                "chain_parameters": {"getUnfreezeDelayDays": 1, "getEnergyFee": 420},
            }
        )
    )

    genesis = load_genesis(path)

    assert [w.name for w in genesis.witnesses] == ["solo"]
    assert genesis.timestamp_ms == 1_700_000_000_000
    assert genesis.chain_parameters["getUnfreezeDelayDays"] == 1
    assert genesis.chain_parameters["getEnergyFee"] == 420
    assert list(genesis.chain_parameters) == list(DEFAULT_CHAIN_PARAMETERS)


def test_toml_genesis_is_read_by_suffix(tmp_path: Path) -> None:
    path = tmp_path / "genesis.toml"
    path.write_text(
        f'[[witnesses]]\nname = "solo"\nprivate_key = "{WITNESS_KEY}"\n'
        "[chain_parameters]\ngetMemoFee = 0\n"
    )

    genesis = load_genesis(path)

    assert genesis.witnesses[0].name == "solo"
    assert genesis.chain_parameters["getMemoFee"] == 0


@pytest.mark.parametrize(
    "document",
    [
        {"chain_parameters": {"getEnergyFees": 1}},  # typo of a known key
        {"witnesses": []},
        {"witnesses": [{"name": "x", "private_key": "zz" * 32}]},
        {"witnesses": [{"name": "x", "private_key": "00" * 32}]},  # not a valid scalar
        {"parent_hash": "abcd"},
        {"unexpected": 1},
    ],
)
def test_invalid_genesis_is_rejected(document: dict) -> None:
    with pytest.raises(ValueError):
        GenesisConfig.model_validate(document)


def test_witness_repr_does_not_show_the_private_key() -> None:
    witness = build_genesis().witnesses[0]

    assert witness.private_key.hex() not in repr(witness)


def test_default_accounts_are_funded_test_keys_derived_from_their_seed() -> None:
    accounts = load_genesis(None).accounts

    assert [a.name for a in accounts] == [f"devnet-account-{n}" for n in range(1, 5)]
    for n, account in enumerate(accounts, start=1):
        seed = hashlib.sha256(f"lucid-tron-devnet/account/{n}".encode()).digest()
        assert account.private_key == seed
        assert account.address == address_from_private_key(seed)
        assert account.balance_sun == 1_000_000 * 1_000_000
    assert address_to_base58(accounts[0].address) == "TYJuPw2HjXBp11c5up3uZwrmdt9arhXjaq"


def test_accounts_can_be_given_by_address_and_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "genesis.toml"
    path.write_text(
        '[[accounts]]\naddress = "TYJuPw2HjXBp11c5up3uZwrmdt9arhXjaq"\nbalance_sun = 5\n'
    )

    genesis = load_genesis(path)

    [account] = genesis.accounts
    assert address_to_base58(account.address) == "TYJuPw2HjXBp11c5up3uZwrmdt9arhXjaq"
    assert (account.balance_sun, account.private_key) == (5, None)


@pytest.mark.parametrize(
    "account",
    [
        {"balance_sun": 1},  # neither key nor address
        {
            "private_key": "11" * 32,
            "address": "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t",
            "balance_sun": 1,
        },
        {"address": "TYJuPw2HjXBp11c5up3uZwrmdt9arhXjaX", "balance_sun": 1},
        {"private_key": "11" * 32, "balance_sun": -1},
    ],
)
def test_invalid_accounts_are_rejected(account: dict) -> None:
    with pytest.raises(ValueError):
        GenesisConfig.model_validate({"accounts": [account]})


def test_an_account_listed_twice_is_rejected() -> None:
    twice = [{"private_key": "11" * 32, "balance_sun": 1}] * 2

    with pytest.raises(ValueError, match="listed twice"):
        GenesisConfig.model_validate({"accounts": twice})
