"""devnet/chain.py: block 0, linkage, ids, signatures and the solidified view."""

from __future__ import annotations

import coincurve
import pytest

from devnet.chain import BLOCK_VERSION, GENESIS_WITNESS_TEXT, Chain, ChainError, View
from devnet.encoding import ZERO_HASH, block_number_from_id, compute_block_id, sha256
from devnet.genesis import build_genesis
from devnet.keys import ADDRESS_PREFIX, keccak256

START_MS = 1_800_000_000_000


def make_chain(lag: int = 2, blocks: int = 0) -> Chain:
    chain = Chain(build_genesis(), solidify_lag_blocks=lag)
    witnesses = chain.genesis.witnesses
    for n in range(blocks):
        chain.produce_block(START_MS + 3000 * n, witnesses[n % len(witnesses)])
    return chain


def test_genesis_block_is_built_like_java_tron_block_zero() -> None:
    chain = make_chain()
    block = chain.head_block

    assert block.number == 0
    assert block.header.version == 0
    assert block.header.tx_trie_root == ZERO_HASH
    assert block.header.witness_address == GENESIS_WITNESS_TEXT
    assert block.header.parent_hash == chain.genesis.parent_hash
    assert block.witness_signature == b""
    assert block.block_id == compute_block_id(0, block.raw_bytes)


def test_produced_blocks_link_to_their_parent_and_carry_number_in_id() -> None:
    chain = make_chain(blocks=5)

    for number in range(1, 6):
        block = chain.block_by_number(number)
        parent = chain.block_by_number(number - 1)
        assert block is not None and parent is not None
        assert block.header.parent_hash == parent.block_id
        assert block_number_from_id(block.block_id) == number
        assert block.header.version == BLOCK_VERSION
        assert chain.block_by_id(block.block_id) is block


def test_witness_signature_recovers_to_the_witness_address() -> None:
    chain = make_chain(blocks=1)
    block = chain.head_block

    public_key = coincurve.PublicKey.from_signature_and_message(
        block.witness_signature, sha256(block.raw_bytes), hasher=None
    )
    address = bytes([ADDRESS_PREFIX]) + keccak256(public_key.format(compressed=False)[1:])[-20:]
    assert address == block.header.witness_address == chain.genesis.witnesses[0].address


def test_block_timestamp_must_move_forward() -> None:
    chain = make_chain(blocks=1)
    witness = chain.genesis.witnesses[0]

    with pytest.raises(ChainError):
        chain.produce_block(chain.head_block.timestamp_ms, witness)
    assert chain.head_block.number == 1


def test_solidified_head_trails_by_the_lag_and_never_goes_below_genesis() -> None:
    chain = make_chain(lag=3, blocks=2)
    assert chain.solid_number == 0

    for _ in range(5):
        chain.produce_block(chain.head_block.timestamp_ms + 3000, chain.genesis.witnesses[0])

    assert chain.head_block.number == 7
    assert chain.solid_number == 4
    assert chain.head(View.SOLID) is chain.block_by_number(4)


def test_solid_view_hides_unsolidified_blocks_by_number_and_id() -> None:
    chain = make_chain(lag=2, blocks=5)
    newest = chain.head_block

    assert chain.block_by_number(5, View.SOLID) is None
    assert chain.block_by_id(newest.block_id, View.SOLID) is None
    assert chain.block_by_number(3, View.SOLID) is chain.block_by_number(3)
    assert chain.block_by_id(newest.block_id, View.HEAD) is newest


@pytest.mark.parametrize("number", [-1, 6, 2**63 - 1])
def test_unknown_block_numbers_return_none(number: int) -> None:
    assert make_chain(blocks=5).block_by_number(number) is None


def test_unknown_block_id_returns_none() -> None:
    assert make_chain(blocks=1).block_by_id(bytes(32)) is None


def test_zero_lag_means_the_head_is_solid() -> None:
    chain = make_chain(lag=0, blocks=3)

    assert chain.head(View.SOLID) is chain.head_block


def test_negative_lag_is_rejected() -> None:
    with pytest.raises(ValueError):
        Chain(build_genesis(), solidify_lag_blocks=-1)
