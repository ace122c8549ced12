"""A hand-driven Chain for the staking tests: blocks 3 s apart, contracts signed by test keys.

No clock and no HTTP, so every amount and time below is exact: the head
block a transaction executes on is the chain's head when it is submitted.
"""

from __future__ import annotations

import itertools
from typing import Any

from devnet import builders
from devnet.accounts import Account
from devnet.chain import Chain, View
from devnet.genesis import GenesisConfig, build_genesis
from devnet.keys import address_from_private_key
from devnet.ledger import TxInfo
from devnet.staking_config import StakingConfig
from devnet.transactions import RawData, Transaction

__all__ = [
    "BLOCK_MS",
    "START_MS",
    "TRX",
    "account",
    "address",
    "info",
    "keys",
    "make_chain",
    "next_block",
    "submit",
]

START_MS = 1_800_000_000_000
BLOCK_MS = 3_000
TRX = 1_000_000
_unique = itertools.count()


def make_chain(staking: StakingConfig | None = None, **parameters: int) -> Chain:
    """A chain with block 1 at START_MS; lag 2, so reads on SOLID trail by two blocks."""
    config = GenesisConfig(
        chain_parameters=parameters, staking=staking or StakingConfig(unfreeze_delay_ms=9_000)
    )
    chain = Chain(build_genesis(config), solidify_lag_blocks=2)
    chain.produce_block(START_MS, chain.genesis.witnesses[0])
    return chain


def next_block(chain: Chain, count: int = 1) -> None:
    for _ in range(count):
        chain.produce_block(chain.head_block.timestamp_ms + BLOCK_MS, chain.genesis.witnesses[0])


def keys(chain: Chain) -> list[bytes]:
    return [spec.private_key for spec in chain.genesis.accounts if spec.private_key]


def address(key: bytes) -> bytes:
    return address_from_private_key(key)


def submit(
    chain: Chain, key: bytes, type_name: str, *, fee_limit_sun: int = 0, **fields: Any
) -> Transaction:
    """Sign a contract of type_name owned by key's address and broadcast it (may raise)."""
    head = chain.head_block
    value = {"owner_address": address(key), **fields}
    raw = RawData(
        contracts=(builders.build_contract(type_name, value),),
        ref_block_bytes=head.block_id[6:8],
        ref_block_hash=head.block_id[8:16],
        expiration_ms=head.timestamp_ms + 60_000,
        timestamp_ms=head.timestamp_ms + next(_unique),  # distinct txids for equal contracts
        fee_limit_sun=fee_limit_sun,
    )
    tx = builders.sign(raw, key)
    chain.broadcast(tx)
    return tx


def info(chain: Chain, tx: Transaction) -> TxInfo:
    record = chain.transaction(tx.txid)
    assert record is not None and record.info is not None, "not in a block yet"
    return record.info


def account(chain: Chain, who: bytes, view: View = View.HEAD) -> Account:
    found = chain.account(who, view)
    assert found is not None
    return found
