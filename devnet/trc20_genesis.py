"""The `[usdt]` table of a genesis file: who owns the USDT contract and who holds tokens.

By default the contract's owner (who may blacklist) and deployer (its
`origin_address`, who would share the energy bill from its own stake) is a
dedicated test key, sha256("lucid-tron-devnet/usdt-owner"), funded with
`owner_balance_sun` TRX unless genesis lists it among its accounts; every
genesis account holds 1,000,000 USDT (10^12 base units) unless `balances`
says otherwise. `energy_factor` is the contract's dynamic-energy factor in
1/10000 (mainnet's USDT sits near its maximum, 3.4 x); 0 means no penalty.
Like mainnet, the contract is an account of type Contract named after it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, field_validator

from devnet.accounts import Account, new_account
from devnet.keys import address_from_private_key, parse_address
from devnet.ledger import Layer, StateView
from devnet.trc20 import TETHER, TetherToken

__all__ = [
    "DEFAULT_USDT",
    "DEFAULT_USDT_BALANCE",
    "DEFAULT_USDT_OWNER_KEY",
    "UsdtConfig",
    "UsdtGenesis",
    "build_usdt_genesis",
    "install_usdt",
]

# sha256("lucid-tron-devnet/usdt-owner"): a public test key (TMmCQvu4dwxSWiVfHSW8ns7eohTfG2xFJz).
DEFAULT_USDT_OWNER_KEY = "e5c4c45fc9c7778a926db0da94ac41ea5cc5e4924b997178699c75e9a38d02a1"
DEFAULT_USDT_BALANCE = 1_000_000 * 10**6
ACCOUNT_TYPE_CONTRACT = 2


class UsdtConfig(BaseModel):
    """USDT settings of genesis; unknown keys are errors, as elsewhere in genesis."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    owner_private_key: str = DEFAULT_USDT_OWNER_KEY
    owner_balance_sun: int = Field(default=1_000_000 * 10**6, ge=0, lt=2**63)
    balances: dict[str, int] | None = Field(
        default=None, description="address (T... or 41...) -> base units; unset: every account"
    )
    energy_factor: int = Field(default=0, ge=0)

    @field_validator("owner_private_key")
    @classmethod
    def _valid_key(cls, value: str) -> str:
        try:
            address_from_private_key(bytes.fromhex(value))
        except ValueError as exc:
            raise ValueError(f"owner_private_key is not a 32-byte secp256k1 key: {exc}") from None
        return value.lower()

    @field_validator("balances")
    @classmethod
    def _valid_balances(cls, value: dict[str, int] | None) -> dict[str, int] | None:
        for address, amount in (value or {}).items():
            parse_address(address)  # ValueError -> validation error
            if not 0 <= amount < 2**256:
                raise ValueError(f"USDT balance of {address} is not a uint256")
        return value


DEFAULT_USDT = UsdtConfig()


@dataclass(frozen=True, slots=True)
class UsdtGenesis:
    """Decoded USDT genesis: owner (address and key), its TRX, token balances, energy factor."""

    owner_address: bytes
    owner_private_key: bytes
    owner_balance_sun: int
    balances: tuple[tuple[bytes, int], ...]
    energy_factor: int = 0

    def __repr__(self) -> str:
        return f"UsdtGenesis(owner={self.owner_address.hex()}, holders={len(self.balances)})"


def build_usdt_genesis(config: UsdtConfig, account_addresses: Iterable[bytes]) -> UsdtGenesis:
    """Decode the config; without `balances`, every genesis account gets the default."""
    key = bytes.fromhex(config.owner_private_key)
    if config.balances is None:
        balances = tuple((address, DEFAULT_USDT_BALANCE) for address in account_addresses)
    else:
        balances = tuple((parse_address(a), amount) for a, amount in config.balances.items())
    return UsdtGenesis(
        owner_address=address_from_private_key(key),
        owner_private_key=key,
        owner_balance_sun=config.owner_balance_sun,
        balances=balances,
        energy_factor=config.energy_factor,
    )


def install_usdt(
    layer: Layer, usdt: UsdtGenesis, timestamp_ms: int, contract: TetherToken = TETHER
) -> None:
    """Deploy the contract into block 0's state: its account, the owner's, the storage."""
    layer.accounts[contract.address] = Account(
        address=contract.address,
        account_name=contract.name.encode(),
        type=ACCOUNT_TYPE_CONTRACT,
        create_time_ms=timestamp_ms,
    )
    if usdt.owner_address not in layer.accounts:
        layer.accounts[usdt.owner_address] = new_account(
            usdt.owner_address, create_time_ms=timestamp_ms, balance_sun=usdt.owner_balance_sun
        )
    store = contract.storage(StateView((layer,)))
    store.set_owner(usdt.owner_address[1:])
    store.set_origin(usdt.owner_address)
    store.set_energy_factor(usdt.energy_factor)
    for holder, amount in usdt.balances:
        store.mint(holder[1:], amount)
