"""Genesis: the witnesses, chain parameters and block-0 fields a devnet chain starts from.

A genesis file (JSON, or TOML when it ends in `.toml`) is validated by
`GenesisConfig` and turned into a `Genesis` with decoded keys and addresses.
Without a file, a deterministic default is used: three witnesses whose private
keys are sha256("lucid-tron-devnet/witness/<n>") and four funded accounts
(1,000,000 TRX each) whose keys are sha256("lucid-tron-devnet/account/<n>"):
public test keys that must never hold real funds. Each also holds
1,000,000 USDT (devnet.trc20_genesis). A `staking` table sets what java-tron
fixes but tests need short: `unfreeze_delay_ms`, `withdraw_cooldown_ms` and
`vote_reward_per_block_sun` (devnet.staking_config).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from devnet.keys import address_from_private_key, parse_address
from devnet.params import DEFAULT_CHAIN_PARAMETERS
from devnet.staking_config import DEFAULT_STAKING, StakingConfig
from devnet.trc20_genesis import DEFAULT_USDT, UsdtConfig, UsdtGenesis, build_usdt_genesis

__all__ = [
    "DEFAULT_ACCOUNTS",
    "DEFAULT_PARENT_HASH",
    "AccountSpec",
    "Genesis",
    "GenesisAccount",
    "GenesisConfig",
    "Witness",
    "WitnessSpec",
    "build_genesis",
    "load_genesis",
]

# sha256("lucid-tron-devnet/genesis"); mainnet's genesis names its own parentHash the same way.
DEFAULT_PARENT_HASH = "8dd8294196924f9fed946d1c4b4ecb7ba7647e046f6c6e0b98d5798b273e387c"


def _is_hex(text: str, length: int) -> bool:
    try:
        return len(text) == length and len(bytes.fromhex(text)) * 2 == length
    except ValueError:
        return False


def _checked_private_key(value: str) -> str:
    if not _is_hex(value, 64):
        raise ValueError("private_key must be 64 hex digits")
    try:
        address_from_private_key(bytes.fromhex(value))
    except ValueError as exc:
        raise ValueError(f"private_key is not a valid secp256k1 key: {exc}") from None
    return value.lower()


class WitnessSpec(BaseModel):
    """A block-producing witness (super representative) as written in a genesis file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    private_key: str = Field(description="32-byte secp256k1 key, 64 hex digits")
    url: str = ""

    @field_validator("private_key")
    @classmethod
    def _valid_key(cls, value: str) -> str:
        return _checked_private_key(value)


DEFAULT_WITNESSES: tuple[WitnessSpec, ...] = (
    WitnessSpec(
        name="devnet-sr-1",
        private_key="1591ed64d0c484943dff5d42a73b3f08e5c713a1ed2146a0bdf7cea4f74dd2b9",
        url="http://devnet-sr-1.invalid",
    ),
    WitnessSpec(
        name="devnet-sr-2",
        private_key="91e877088ae763fa2b2856bf5b49514f22c9ae27de0617fb124a34c1c519613f",
        url="http://devnet-sr-2.invalid",
    ),
    WitnessSpec(
        name="devnet-sr-3",
        private_key="8485fc792dd9216d6480cad58c8a4e7141f1b85cc987fabaf5795b5c37c28621",
        url="http://devnet-sr-3.invalid",
    ),
)


class AccountSpec(BaseModel):
    """A funded account: by private key (a usable test account) or by address alone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""
    private_key: str | None = Field(default=None, description="64 hex digits")
    address: str | None = Field(default=None, description="T... or 41... hex")
    balance_sun: int = Field(ge=0, lt=2**63)

    @field_validator("private_key")
    @classmethod
    def _valid_key(cls, value: str | None) -> str | None:
        return None if value is None else _checked_private_key(value)

    @field_validator("address")
    @classmethod
    def _valid_address(cls, value: str | None) -> str | None:
        if value is not None:
            parse_address(value)  # ValueError -> validation error
        return value

    @model_validator(mode="after")
    def _key_or_address(self) -> AccountSpec:
        if (self.private_key is None) == (self.address is None):
            raise ValueError("give exactly one of private_key and address")
        return self


_DEFAULT_BALANCE_SUN = 1_000_000 * 1_000_000

DEFAULT_ACCOUNTS: tuple[AccountSpec, ...] = tuple(
    AccountSpec(name=f"devnet-account-{n}", private_key=key, balance_sun=_DEFAULT_BALANCE_SUN)
    for n, key in enumerate(
        (
            "c73875d50164734b2137e10101140a63c251bb79118ff95fb100105af90c4778",
            "5e02ef0193775a56dad6e8f833fbfb5ca00d67c309d6e4fc9c3bac942adb038e",
            "a45f82fc4803758293a97fc73cda378d433650f5e360618b38f82f25445c9db9",
            "d94ed466664140139a872110a7322a94b00ba6427e121157735ee9b7e851496e",
        ),
        start=1,
    )
)


class GenesisConfig(BaseModel):
    """The genesis file schema; unknown keys are errors so typos cannot pass silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    parent_hash: str = DEFAULT_PARENT_HASH
    timestamp_ms: int = Field(default=0, ge=0)
    witnesses: tuple[WitnessSpec, ...] = Field(default=DEFAULT_WITNESSES, min_length=1)
    accounts: tuple[AccountSpec, ...] = DEFAULT_ACCOUNTS
    chain_parameters: dict[str, int] = Field(default_factory=dict)
    staking: StakingConfig = DEFAULT_STAKING  # devnet-only settings, see devnet.staking_config
    usdt: UsdtConfig = DEFAULT_USDT  # the USDT contract's owner and holders, devnet.trc20_genesis

    @field_validator("parent_hash")
    @classmethod
    def _valid_parent_hash(cls, value: str) -> str:
        if not _is_hex(value, 64):
            raise ValueError("parent_hash must be 64 hex digits")
        return value.lower()

    @field_validator("chain_parameters")
    @classmethod
    def _known_parameters(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(value) - set(DEFAULT_CHAIN_PARAMETERS))
        if unknown:
            raise ValueError(f"unknown chain parameters: {', '.join(unknown)}")
        return value

    @model_validator(mode="after")
    def _unique_accounts(self) -> GenesisConfig:
        addresses = [_account_address(spec) for spec in self.accounts]
        if len(set(addresses)) != len(addresses):
            raise ValueError("an account is listed twice")
        return self


def _account_address(spec: AccountSpec) -> bytes:
    if spec.private_key is not None:
        return address_from_private_key(bytes.fromhex(spec.private_key))
    assert spec.address is not None
    return parse_address(spec.address)


@dataclass(frozen=True, slots=True)
class GenesisAccount:
    """A funded account of block 0; private_key is set for test accounts given by key."""

    name: str
    address: bytes
    balance_sun: int
    private_key: bytes | None

    def __repr__(self) -> str:
        return f"GenesisAccount(name={self.name!r}, address={self.address.hex()})"


@dataclass(frozen=True, slots=True)
class Witness:
    """A witness ready to sign blocks: name, 21-byte address and private key."""

    name: str
    address: bytes
    private_key: bytes
    url: str

    def __repr__(self) -> str:
        # Keys of test witnesses are public, but reprs end up in logs; keep the habit.
        return f"Witness(name={self.name!r}, address={self.address.hex()})"


@dataclass(frozen=True, slots=True)
class Genesis:
    """Decoded genesis: what `Chain` needs to build block 0 and answer parameter queries."""

    parent_hash: bytes
    timestamp_ms: int
    witnesses: tuple[Witness, ...]
    chain_parameters: Mapping[str, int]
    accounts: tuple[GenesisAccount, ...] = ()
    staking: StakingConfig = DEFAULT_STAKING
    usdt: UsdtGenesis | None = None  # None: no USDT contract (hand-built test genesis)


def build_genesis(config: GenesisConfig | None = None) -> Genesis:
    """Decode a validated config (the default one when None) into a Genesis."""
    config = config or GenesisConfig()
    witnesses = tuple(
        Witness(
            name=spec.name,
            address=address_from_private_key(bytes.fromhex(spec.private_key)),
            private_key=bytes.fromhex(spec.private_key),
            url=spec.url,
        )
        for spec in config.witnesses
    )
    parameters = dict(DEFAULT_CHAIN_PARAMETERS)
    parameters.update(config.chain_parameters)
    accounts = tuple(
        GenesisAccount(
            name=spec.name,
            address=_account_address(spec),
            balance_sun=spec.balance_sun,
            private_key=bytes.fromhex(spec.private_key) if spec.private_key else None,
        )
        for spec in config.accounts
    )
    return Genesis(
        parent_hash=bytes.fromhex(config.parent_hash),
        timestamp_ms=config.timestamp_ms,
        witnesses=witnesses,
        chain_parameters=MappingProxyType(parameters),
        accounts=accounts,
        staking=config.staking,
        usdt=build_usdt_genesis(config.usdt, [account.address for account in accounts]),
    )


def _read_genesis_file(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".toml":
        return tomllib.loads(text)
    return json.loads(text)


def load_genesis(path: Path | None) -> Genesis:
    """Load and validate a genesis file, or the default genesis when path is None.

    Raises:
        OSError: the file cannot be read.
        ValueError: the file is not valid JSON/TOML or fails validation
            (pydantic's ValidationError is a ValueError).
    """
    if path is None:
        return build_genesis()
    return build_genesis(GenesisConfig.model_validate(_read_genesis_file(path)))
