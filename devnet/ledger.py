"""World state in layers: solidified base, one layer per unsolidified block, pending on top.

java-tron keeps state in revoking stores: the solidified state, a session per
block not yet solidified, and a session for pending transactions that reads
on the head view already see (a just-broadcast transfer shows in
/wallet/getaccount and /wallet/gettransactionbyid before it is in a block).
A `Layer` is one such session; a `StateView` reads through a stack of them
and writes to the top one. Values are immutable, so folding a layer into the
one below is a dict update.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from devnet.accounts import Account
from devnet.transactions import Transaction
from devnet.vm_result import VmReceipt

if TYPE_CHECKING:
    from devnet.snapshot import SnapshotCodec

__all__ = ["Layer", "Ledger", "StateView", "TxInfo", "TxRecord"]


@dataclass(frozen=True, slots=True)
class TxInfo:
    """What java-tron's TransactionInfo holds for a system contract (zeros are unset)."""

    fee_sun: int = 0
    block_number: int = 0
    block_timestamp_ms: int = 0
    net_usage: int = 0
    net_fee_sun: int = 0
    contract_result: tuple[bytes, ...] = (b"",)
    withdraw_amount_sun: int = 0
    unfreeze_amount_sun: int = 0
    withdraw_expire_amount_sun: int = 0
    vm: VmReceipt | None = None  # a smart-contract call's result, logs and energy bill


@dataclass(frozen=True, slots=True)
class TxRecord:
    """A known transaction: pending (no block yet) or included, with its result."""

    transaction: Transaction
    contract_ret: str = "SUCCESS"
    info: TxInfo | None = None

    @property
    def block_number(self) -> int | None:
        return self.info.block_number if self.info else None


@dataclass(slots=True)
class Layer:
    """Changes made on top of the layers below: accounts, transactions, dynamic properties."""

    accounts: dict[bytes, Account] = field(default_factory=dict)
    transactions: dict[bytes, TxRecord] = field(default_factory=dict)
    properties: dict[str, int] = field(default_factory=dict)

    def absorb(self, other: Layer) -> None:
        """Fold the changes of a layer built on top of this one into it."""
        self.accounts.update(other.accounts)
        self.transactions.update(other.transactions)
        self.properties.update(other.properties)


class StateView:
    """Reads through layers (top first) and writes to the top one."""

    __slots__ = ("_layers",)

    def __init__(self, layers: Iterable[Layer]) -> None:
        self._layers = tuple(layers)

    @property
    def top(self) -> Layer:
        return self._layers[0]

    def child(self) -> StateView:
        """A scratch view on top of this one; absorb its top layer to keep its writes."""
        return StateView((Layer(), *self._layers))

    def account(self, address: bytes) -> Account | None:
        for layer in self._layers:
            found = layer.accounts.get(address)
            if found is not None:
                return found
        return None

    def put_account(self, account: Account) -> None:
        self.top.accounts[account.address] = account

    def transaction(self, txid: bytes) -> TxRecord | None:
        for layer in self._layers:
            found = layer.transactions.get(txid)
            if found is not None:
                return found
        return None

    def put_transaction(self, txid: bytes, record: TxRecord) -> None:
        self.top.transactions[txid] = record

    def property(self, name: str, default: int = 0) -> int:
        for layer in self._layers:
            if name in layer.properties:
                return layer.properties[name]
        return default

    def put_property(self, name: str, value: int) -> None:
        self.top.properties[name] = value


class Ledger:
    """The solidified base, a layer per unsolidified block (oldest first) and pending."""

    def __init__(self, genesis_layer: Layer) -> None:
        self._base = genesis_layer
        self._blocks: list[tuple[int, Layer]] = []
        self.pending = Layer()

    def head_view(self) -> StateView:
        """State as /wallet/* reads it: pending included."""
        return StateView((self.pending, *self._block_layers_newest_first(), self._base))

    def committed_view(self) -> StateView:
        """State after the head block, without pending: where a new block executes."""
        return StateView((*self._block_layers_newest_first(), self._base))

    def solid_view(self) -> StateView:
        """State as /walletsolidity/* reads it."""
        return StateView((self._base,))

    def _block_layers_newest_first(self) -> list[Layer]:
        return [layer for _, layer in reversed(self._blocks)]

    def commit_block(self, number: int, layer: Layer) -> None:
        """Record the state changes of block number; pending starts over empty."""
        self._blocks.append((number, layer))
        self.pending = Layer()

    def to_snapshot(self, codec: SnapshotCodec) -> dict[str, Any]:
        """Every layer, block layers oldest first (devnet.snapshot.Snapshotting)."""
        return {
            "base": codec.encode(self._base),
            "blocks": [[number, codec.encode(layer)] for number, layer in self._blocks],
            "pending": codec.encode(self.pending),
        }

    def from_snapshot(self, data: Mapping[str, Any], codec: SnapshotCodec) -> None:
        self._base = codec.decode(Layer, data["base"])
        self._blocks = [(number, codec.decode(Layer, layer)) for number, layer in data["blocks"]]
        self.pending = codec.decode(Layer, data["pending"])

    def solidify(self, solid_number: int) -> None:
        """Fold the layers of blocks up to solid_number into the solidified base."""
        while self._blocks and self._blocks[0][0] <= solid_number:
            self._base.absorb(self._blocks.pop(0)[1])
