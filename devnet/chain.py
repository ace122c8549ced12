"""The chain: blocks, world state and pending transactions, with head and solidified views.

Pure state with no clock and no I/O, so it is tested without sleeps: the
producer decides *when* and *by whom* a block is made, `Chain` checks and
records it. The solidified head trails the head by a fixed number of blocks
(`solidify_lag_blocks`), standing in for java-tron's 70 % witness confirmation.
Reads through `View.SOLID` see only solidified blocks and state, as java-tron's
`/walletsolidity/*` cursor does; `View.HEAD` also sees pending transactions,
as java-tron's head reads do.

A broadcast transaction is executed at once on the pending state (so the
next one sees its effects, as on java-tron); when a block is produced every
pending transaction is executed again on top of the head, in order, and the
ones that still pass go into the block.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from devnet.accounts import Account, new_account
from devnet.context import ExecutionContext
from devnet.encoding import (
    ZERO_HASH,
    BlockHeaderRaw,
    compute_block_id,
    encode_block_header_raw,
    merkle_root,
    sha256,
)
from devnet.errors import TransactionRejected
from devnet.genesis import Genesis, Witness
from devnet.governance import add_witness_accounts
from devnet.keys import sign_digest
from devnet.ledger import Layer, Ledger, StateView, TxRecord
from devnet.mempool import BLOCK_SIZE, BlockTransaction, Mempool, pack_block
from devnet.processor import check_before_broadcast, process_transaction
from devnet.transactions import Transaction
from devnet.trc20_genesis import install_usdt

if TYPE_CHECKING:
    from devnet.snapshot import SnapshotCodec

__all__ = [
    "BLOCK_SIZE",
    "BLOCK_VERSION",
    "GENESIS_WITNESS_TEXT",
    "Block",
    "BlockTransaction",
    "Chain",
    "ChainError",
    "View",
]

log = structlog.get_logger(__name__)


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
    transactions: tuple[BlockTransaction, ...] = ()

    @property
    def number(self) -> int:
        return self.header.number

    @property
    def timestamp_ms(self) -> int:
        return self.header.timestamp_ms


def _make_block(
    header: BlockHeaderRaw,
    witness: Witness | None,
    transactions: tuple[BlockTransaction, ...] = (),
) -> Block:
    raw_bytes = encode_block_header_raw(header)
    signature = sign_digest(witness.private_key, sha256(raw_bytes)) if witness else b""
    return Block(
        header=header,
        raw_bytes=raw_bytes,
        block_id=compute_block_id(header.number, raw_bytes),
        witness_signature=signature,
        transactions=transactions,
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


def genesis_layer(genesis: Genesis) -> Layer:
    """The state of block 0: the genesis accounts, created like any transfer-made account."""
    layer = Layer()
    for spec in genesis.accounts:
        layer.accounts[spec.address] = new_account(
            spec.address, create_time_ms=genesis.timestamp_ms, balance_sun=spec.balance_sun
        )
    add_witness_accounts(layer, genesis)
    if genesis.usdt is not None:
        install_usdt(layer, genesis.usdt, genesis.timestamp_ms)
    return layer


def _tapos_key(block: Block) -> tuple[bytes, bytes]:
    """Manager.updateRecentBlock: number bytes 6..8 -> block id bytes 8..16."""
    return block.number.to_bytes(8, "big")[6:8], block.block_id[8:16]


class Chain:
    """Blocks by number and id, world state, pending transactions, head and solid heads."""

    def __init__(
        self, genesis: Genesis, solidify_lag_blocks: int, block_interval_ms: int = 3_000
    ) -> None:
        if solidify_lag_blocks < 0:
            raise ValueError("solidify_lag_blocks must be >= 0")
        self.genesis = genesis
        self.solidify_lag_blocks = solidify_lag_blocks
        self.block_interval_ms = block_interval_ms
        self._blocks: list[Block] = [build_genesis_block(genesis)]
        self._numbers_by_id: dict[bytes, int] = {self._blocks[0].block_id: 0}
        self._tapos: dict[bytes, bytes] = dict([_tapos_key(self._blocks[0])])
        self.ledger = Ledger(genesis_layer(genesis))
        self._mempool = Mempool()

    @property
    def genesis_block(self) -> Block:
        return self._blocks[0]

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

    @property
    def pending_count(self) -> int:
        return len(self._mempool)

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

    def state(self, view: View = View.HEAD) -> StateView:
        """World state as view reads it (HEAD includes pending transactions)."""
        return self.ledger.solid_view() if view is View.SOLID else self.ledger.head_view()

    def account(self, address: bytes, view: View = View.HEAD) -> Account | None:
        return self.state(view).account(address)

    def transaction(self, txid: bytes, view: View = View.HEAD) -> TxRecord | None:
        """A known transaction; pending ones only on HEAD, as java-tron's TransactionStore."""
        return self.state(view).transaction(txid)

    def context(self, view: View = View.HEAD) -> ExecutionContext:
        """What a transaction executes against: the view's newest block and the parameters."""
        block = self.head(view)
        return ExecutionContext(
            block.number,
            block.timestamp_ms,
            self.genesis.timestamp_ms,
            self.genesis.chain_parameters,
            self.genesis.staking,
        )

    def broadcast(self, tx: Transaction, *, dry_run: bool = False) -> None:
        """Validate and execute tx on the pending state and queue it for the next block.

        With dry_run, only check: state and the pool stay untouched (fault injection).

        Raises:
            TransactionRejected: with java-tron's broadcast code and message.
        """
        state = self.ledger.head_view()
        if dry_run:
            state = state.child()
        next_slot_ms = self.head_block.timestamp_ms + self.block_interval_ms
        check_before_broadcast(tx, state, next_slot_ms)
        outcome = process_transaction(
            tx, self.context(), state, self._tapos, signatures_verified=True
        )
        if not dry_run:
            self._mempool.add(tx, outcome)

    def produce_block(self, timestamp_ms: int, witness: Witness) -> Block:
        """Append a block signed by witness at timestamp_ms, packing pending transactions.

        Raises:
            ChainError: timestamp_ms is not after the head block's timestamp.
        """
        parent = self.head_block
        if timestamp_ms <= parent.timestamp_ms:
            raise ChainError(
                f"block timestamp {timestamp_ms} ms is not after head {parent.timestamp_ms} ms"
            )
        number = parent.number + 1
        packed = pack_block(
            self._mempool.take(), self.ledger, self.context(), self._tapos, number, timestamp_ms
        )
        header = BlockHeaderRaw(
            timestamp_ms=timestamp_ms,
            tx_trie_root=merkle_root([sha256(item.encoded()) for item in packed.transactions]),
            parent_hash=parent.block_id,
            number=number,
            witness_address=witness.address,
            version=BLOCK_VERSION,
        )
        block = _make_block(header, witness, packed.transactions)
        self._append(block, packed.layer)
        self._repush(packed.postponed)
        return block

    def to_snapshot(self, codec: SnapshotCodec) -> dict[str, Any]:
        """Blocks after genesis, the ledger and the pool (devnet.snapshot.Snapshotting)."""
        return {
            "genesis_block_id": self.genesis_block.block_id.hex(),
            "blocks": [codec.encode(block) for block in self._blocks[1:]],
            "ledger": self.ledger.to_snapshot(codec),
            "mempool": self._mempool.to_snapshot(codec),
        }

    def from_snapshot(self, data: Mapping[str, Any], codec: SnapshotCodec) -> None:
        """Replace everything after genesis with a snapshot made from the same genesis."""
        if data["genesis_block_id"] != self.genesis_block.block_id.hex():
            raise ValueError("the state file was made from another genesis")
        genesis = self._blocks[0]
        self._blocks, self._numbers_by_id = [genesis], {genesis.block_id: 0}
        self._tapos = dict([_tapos_key(genesis)])
        for block in (codec.decode(Block, item) for item in data["blocks"]):
            if block.header.parent_hash != self.head_block.block_id:
                raise ValueError(f"block {block.number} of the state file does not link")
            self._blocks.append(block)
            self._numbers_by_id[block.block_id] = block.number
            self._tapos.update([_tapos_key(block)])
        self.ledger.from_snapshot(data["ledger"], codec)
        self._mempool.from_snapshot(data["mempool"], codec)
        self.ledger.solidify(self.solid_number)  # a shorter lag than when saved

    def _append(self, block: Block, layer: Layer) -> None:
        self._blocks.append(block)
        self._numbers_by_id[block.block_id] = block.number
        self._tapos.update([_tapos_key(block)])
        self.ledger.commit_block(block.number, layer)
        self.ledger.solidify(self.solid_number)

    def _repush(self, transactions: tuple[Transaction, ...]) -> None:
        """Put transactions that did not fit back in pending, dropping any that now fail."""
        for tx in transactions:
            try:
                outcome = process_transaction(
                    tx, self.context(), self.ledger.head_view(), self._tapos,
                    signatures_verified=True,
                )  # fmt: skip
            except TransactionRejected as exc:
                log.info("postponed transaction dropped", txid=tx.txid.hex(), code=exc.code)
                continue
            self._mempool.add(tx, outcome)
