"""Pending transactions and how they become a block's transactions and state.

Every pending transaction already executed once, on the pending layer, when
it was broadcast. java-tron executes it again when packing a block, on top
of the head; devnet does too when it must (the pending bytes exceed the
block size, so some are postponed), and otherwise commits the pending layer
as it is. That shortcut gives the same result: the block's transactions run
in the same order, on the same parent state, with the same head block as
their context (java-tron updates the head only after a block's
transactions ran), so re-execution could not differ.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog

from devnet.context import ExecutionContext
from devnet.encoding import encode_varint
from devnet.errors import TransactionRejected
from devnet.ledger import Layer, Ledger, TxRecord
from devnet.processor import Outcome, TaposRing, process_transaction
from devnet.transactions import Transaction, encode_transaction
from devnet.vm_result import CONTRACT_RESULT_NUMBERS

if TYPE_CHECKING:
    from devnet.snapshot import SnapshotCodec

__all__ = ["BLOCK_SIZE", "BlockTransaction", "Mempool", "PackedBlock", "pack_block"]

log = structlog.get_logger(__name__)

# Parameter.ChainConstant.BLOCK_SIZE: bytes of transactions a block may carry.
BLOCK_SIZE = 2_000_000


@dataclass(frozen=True, slots=True)
class BlockTransaction:
    """A transaction as a block holds it: with its `ret` (contractRet) set."""

    transaction: Transaction
    contract_ret: str = "SUCCESS"

    def encoded(self) -> bytes:
        """The whole Transaction message, ret included: what the Merkle leaf hashes."""
        return encode_transaction(self.transaction, (CONTRACT_RESULT_NUMBERS[self.contract_ret],))


def packed_size(encoded: bytes) -> int:
    """computeTrxSizeForBlockMessage: the transaction as field 1 of a Block."""
    return 1 + len(encode_varint(len(encoded))) + len(encoded)


@dataclass(frozen=True, slots=True)
class Pending:
    """An accepted transaction waiting for a block, with what its execution cost."""

    transaction: Transaction
    outcome: Outcome
    size_bytes: int


@dataclass(slots=True)
class Mempool:
    """Accepted transactions in arrival order."""

    items: list[Pending] = field(default_factory=list)
    size_bytes: int = 0

    def add(self, tx: Transaction, outcome: Outcome) -> None:
        size = packed_size(BlockTransaction(tx).encoded())
        self.items.append(Pending(tx, outcome, size))
        self.size_bytes += size

    def take(self) -> list[Pending]:
        """Remove and return everything pending."""
        items, self.items, self.size_bytes = self.items, [], 0
        return items

    def __len__(self) -> int:
        return len(self.items)

    def to_snapshot(self, codec: SnapshotCodec) -> dict[str, Any]:
        """The pending transactions with their outcomes (devnet.snapshot.Snapshotting)."""
        return {"items": codec.encode(self.items)}

    def from_snapshot(self, data: Mapping[str, Any], codec: SnapshotCodec) -> None:
        self.items = codec.decode(list[Pending], data["items"])
        self.size_bytes = sum(item.size_bytes for item in self.items)


@dataclass(frozen=True, slots=True)
class PackedBlock:
    """What goes into block number: its transactions and state changes; what waits."""

    transactions: tuple[BlockTransaction, ...]
    layer: Layer
    postponed: tuple[Transaction, ...]


def _record(item: Pending, outcome: Outcome, number: int, timestamp_ms: int) -> TxRecord:
    info = outcome.info(item.transaction.txid, number, timestamp_ms)
    return TxRecord(item.transaction, outcome.contract_ret, info)


def pack_block(
    items: list[Pending],
    ledger: Ledger,
    ctx: ExecutionContext,
    tapos: TaposRing,
    number: int,
    timestamp_ms: int,
) -> PackedBlock:
    """Turn pending transactions into block number's transactions and state layer."""
    if sum(item.size_bytes for item in items) <= BLOCK_SIZE:
        layer = ledger.pending
        for item in items:
            layer.transactions[item.transaction.txid] = _record(
                item, item.outcome, number, timestamp_ms
            )
        transactions = tuple(BlockTransaction(i.transaction, i.outcome.contract_ret) for i in items)
        return PackedBlock(transactions, layer, ())
    state, packed, postponed, size = ledger.committed_view().child(), [], [], 0
    for item in items:
        if size + item.size_bytes > BLOCK_SIZE:
            postponed.append(item.transaction)
            continue
        try:
            outcome = process_transaction(
                item.transaction, ctx, state, tapos, signatures_verified=True
            )
        except TransactionRejected as exc:
            log.info("pending transaction dropped", txid=item.transaction.txid.hex(),
                     code=exc.code, detail=exc.detail)  # fmt: skip
            continue
        state.put_transaction(item.transaction.txid, _record(item, outcome, number, timestamp_ms))
        packed.append(BlockTransaction(item.transaction, outcome.contract_ret))
        size += item.size_bytes
    return PackedBlock(tuple(packed), state.top, tuple(postponed))
