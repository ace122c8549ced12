"""The chain: block 0 from genesis, appended blocks, and the head and solidified views.

Pure state with no clock and no I/O, so it is tested without sleeps: the
producer decides *when* and *by whom* a block is made, `Chain` checks and
records it. The solidified head trails the head by a fixed number of blocks
(`solidify_lag_blocks`), standing in for java-tron's 70 % witness confirmation.
Reads through `View.SOLID` see only solidified blocks, as java-tron's
`/walletsolidity/*` cursor does.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from devnet.encoding import (
    ZERO_HASH,
    BlockHeaderRaw,
    compute_block_id,
    encode_block_header_raw,
    sha256,
)
from devnet.genesis import Genesis, Witness
from devnet.keys import sign_digest

__all__ = ["BLOCK_VERSION", "GENESIS_WITNESS_TEXT", "Block", "Chain", "ChainError", "View"]

# Parameter.ChainConstant.BLOCK_VERSION in java-tron 4.8 (mainnet blocks carry version 32).
BLOCK_VERSION = 32

# BlockUtil.newGenesisBlockCapsule stores these bytes as block 0's witness_address.
GENESIS_WITNESS_TEXT = (
    b"A new system must allow existing systems to be linked together without "
    b"requiring any central control or coordination"
)


class ChainError(Exception):
    """A block that would break the chain's invariants (time going backwards)."""


class View(enum.Enum):
    """Which part of the chain a read sees: everything, or only solidified blocks."""

    HEAD = "head"
    SOLID = "solid"


@dataclass(frozen=True, slots=True)
class Block:
    """A block as stored: header fields, their protobuf bytes, id and witness signature."""

    header: BlockHeaderRaw
    raw_bytes: bytes
    block_id: bytes
    witness_signature: bytes
    transactions: tuple[object, ...] = ()

    @property
    def number(self) -> int:
        return self.header.number

    @property
    def timestamp_ms(self) -> int:
        return self.header.timestamp_ms


def _make_block(header: BlockHeaderRaw, witness: Witness | None) -> Block:
    raw_bytes = encode_block_header_raw(header)
    signature = sign_digest(witness.private_key, sha256(raw_bytes)) if witness else b""
    return Block(
        header=header,
        raw_bytes=raw_bytes,
        block_id=compute_block_id(header.number, raw_bytes),
        witness_signature=signature,
    )


def build_genesis_block(genesis: Genesis) -> Block:
    """Build block 0 the way java-tron does: no version, no signature, a text as witness."""
    header = BlockHeaderRaw(
        timestamp_ms=genesis.timestamp_ms,
        tx_trie_root=ZERO_HASH,
        parent_hash=genesis.parent_hash,
        number=0,
        witness_address=GENESIS_WITNESS_TEXT,
        version=0,
    )
    return _make_block(header, witness=None)


class Chain:
    """Blocks by number and id, plus the head and solidified heads."""

    def __init__(self, genesis: Genesis, solidify_lag_blocks: int) -> None:
        if solidify_lag_blocks < 0:
            raise ValueError("solidify_lag_blocks must be >= 0")
        self.genesis = genesis
        self.solidify_lag_blocks = solidify_lag_blocks
        self._blocks: list[Block] = [build_genesis_block(genesis)]
        self._numbers_by_id: dict[bytes, int] = {self._blocks[0].block_id: 0}

    @property
    def head_block(self) -> Block:
        return self._blocks[-1]

    @property
    def solid_number(self) -> int:
        """Number of the newest solidified block (never below genesis)."""
        return max(0, self.head_block.number - self.solidify_lag_blocks)

    @property
    def solid_block(self) -> Block:
        return self._blocks[self.solid_number]

    def head(self, view: View = View.HEAD) -> Block:
        """Return the newest block visible in view."""
        return self.solid_block if view is View.SOLID else self.head_block

    def block_by_number(self, number: int, view: View = View.HEAD) -> Block | None:
        """Return block number if it exists and is visible in view, else None."""
        if number < 0 or number > self.head(view).number:
            return None
        return self._blocks[number]

    def block_by_id(self, block_id: bytes, view: View = View.HEAD) -> Block | None:
        """Return the block with this 32-byte id if it is visible in view, else None."""
        number = self._numbers_by_id.get(block_id)
        if number is None:
            return None
        return self.block_by_number(number, view)

    def produce_block(self, timestamp_ms: int, witness: Witness) -> Block:
        """Append a block signed by witness at timestamp_ms on top of the head.

        Raises:
            ChainError: timestamp_ms is not after the head block's timestamp.
        """
        parent = self.head_block
        if timestamp_ms <= parent.timestamp_ms:
            raise ChainError(
                f"block timestamp {timestamp_ms} ms is not after head {parent.timestamp_ms} ms"
            )
        header = BlockHeaderRaw(
            timestamp_ms=timestamp_ms,
            tx_trie_root=ZERO_HASH,
            parent_hash=parent.block_id,
            number=parent.number + 1,
            witness_address=witness.address,
            version=BLOCK_VERSION,
        )
        block = _make_block(header, witness)
        self._blocks.append(block)
        self._numbers_by_id[block.block_id] = block.number
        return block
