"""Accepting and executing a transaction: Wallet.broadcastTransaction and processTransaction.

Check order matters, because it decides which error a client sees first:
1. broadcast: at least one contract ("No contract!"), expiration not before
   the next slot, signatures;
2. process: exactly one contract, TaPoS, size and expiration window
   (expiration > head time and <= head time + 24 h), duplicate, signatures
   again (skipped when already verified), bandwidth, multi-sign fee, memo
   fee, then the actuator's validate and execute.
Each transaction runs on a child view that is kept only when it succeeds, as
java-tron keeps a revoking session per transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from devnet.actuators import actuator_for
from devnet.bandwidth import consume_bandwidth, consume_memo_fee, consume_multi_sign_fee
from devnet.context import ExecutionContext, Receipt
from devnet.errors import (
    ContractValidateError,
    DuplicateTransaction,
    SignatureInvalid,
    TaposError,
    TooBigTransaction,
    TransactionExpired,
)
from devnet.ledger import StateView, TxInfo, TxRecord
from devnet.signatures import SignatureCheckError, validate_signatures
from devnet.transactions import MAX_RESULT_SIZE_IN_TX, Transaction

__all__ = [
    "MAXIMUM_TIME_UNTIL_EXPIRATION_MS",
    "TRANSACTION_MAX_BYTE_SIZE",
    "Outcome",
    "TaposRing",
    "check_before_broadcast",
    "process_transaction",
]

MAXIMUM_TIME_UNTIL_EXPIRATION_MS = 24 * 60 * 60 * 1000
TRANSACTION_MAX_BYTE_SIZE = 500 * 1024

# RecentBlockStore: bytes 6..8 of the block number -> bytes 8..16 of the block id.
TaposRing = Mapping[bytes, bytes]


@dataclass(frozen=True, slots=True)
class Outcome:
    """A transaction that executed: its bill, ready to become TransactionInfo."""

    receipt: Receipt

    @property
    def contract_ret(self) -> str:
        """ret[0].contractRet: the VM's result for contract calls, SUCCESS otherwise."""
        vm = self.receipt.vm
        return vm.contract_ret if vm is not None else "SUCCESS"

    def info(self, txid: bytes, block_number: int, block_timestamp_ms: int) -> TxInfo:
        del txid  # the record is keyed by it already
        receipt = self.receipt
        return TxInfo(
            fee_sun=receipt.fee_sun,
            block_number=block_number,
            block_timestamp_ms=block_timestamp_ms,
            net_usage=receipt.net_usage,
            net_fee_sun=receipt.net_fee_sun,
            withdraw_amount_sun=receipt.extras.get("withdraw_amount", 0),
            unfreeze_amount_sun=receipt.extras.get("unfreeze_amount", 0),
            withdraw_expire_amount_sun=receipt.extras.get("withdraw_expire_amount", 0),
            vm=receipt.vm,
        )


def _check_signatures(tx: Transaction, state: StateView) -> None:
    try:
        validate_signatures(tx, state)
    except SignatureCheckError as exc:
        raise SignatureInvalid(str(exc)) from None


def check_before_broadcast(tx: Transaction, state: StateView, next_slot_ms: int) -> None:
    """The checks Wallet.broadcastTransaction makes before pushing to pending.

    Raises:
        TransactionRejected: with java-tron's code and message.
    """
    if not tx.raw.contracts:
        raise ContractValidateError("No contract!")
    if tx.raw.expiration_ms < next_slot_ms:
        raise TransactionExpired(
            f"Transaction expiration time is {tx.raw.expiration_ms}, "
            f"but next slot time is {next_slot_ms}"
        )
    _check_signatures(tx, state)


def _check_tapos(tx: Transaction, ring: TaposRing) -> None:
    ref_bytes, ref_hash = tx.raw.ref_block_bytes, tx.raw.ref_block_hash
    known = ring.get(ref_bytes)
    if known is None:
        raise TaposError(
            f"Tapos failed, block not found, ref block {int.from_bytes(ref_bytes, 'big')}, "
            f"{ref_hash.hex()}"
        )
    if known != ref_hash:
        raise TaposError(
            f"Tapos failed, different block hash, {int.from_bytes(ref_bytes, 'big')}, "
            f"{ref_hash.hex()} , recent block {known.hex()}"
        )


def _check_common(tx: Transaction, head_timestamp_ms: int) -> None:
    size = len(tx.wire_bytes) + 2 * MAX_RESULT_SIZE_IN_TX
    if size > TRANSACTION_MAX_BYTE_SIZE:
        raise TooBigTransaction(
            f"Too big transaction with result, TxId {tx.txid.hex()}, the size is {size} bytes, "
            f"maxTxSize {TRANSACTION_MAX_BYTE_SIZE}"
        )
    expiration = tx.raw.expiration_ms
    if (
        expiration <= head_timestamp_ms
        or expiration > head_timestamp_ms + MAXIMUM_TIME_UNTIL_EXPIRATION_MS
    ):
        raise TransactionExpired(
            f"Transaction expiration, transaction expiration time is {expiration}, "
            f"but headBlockTime is {head_timestamp_ms}"
        )


def process_transaction(
    tx: Transaction,
    ctx: ExecutionContext,
    state: StateView,
    ring: TaposRing,
    *,
    signatures_verified: bool = False,
) -> Outcome:
    """Manager.processTransaction; on success state (its top layer) holds the changes.

    Raises:
        TransactionRejected: with java-tron's code and message; state is untouched.
    """
    if len(tx.raw.contracts) != 1:
        raise ContractValidateError(
            f"tx {tx.txid.hex()} contract size should be exactly 1, this is extend feature ,"
            f"actual :{len(tx.raw.contracts)}"
        )
    _check_tapos(tx, ring)
    _check_common(tx, ctx.head_timestamp_ms)
    if state.transaction(tx.txid) is not None:
        raise DuplicateTransaction(f"dup trans : {tx.txid.hex()} ")
    if not signatures_verified:
        _check_signatures(tx, state)
    scratch = state.child()
    receipt = consume_bandwidth(tx, ctx, scratch)
    consume_multi_sign_fee(tx, ctx, scratch, receipt)
    consume_memo_fee(tx, ctx, scratch, receipt)
    contract = tx.raw.contracts[0]
    actuator = actuator_for(contract)
    if tx.raw.fee_limit_sun:
        ctx = replace(ctx, fee_limit_sun=tx.raw.fee_limit_sun)
    actuator.validate(contract, ctx, scratch)
    receipt.contract_fee_sun = actuator.execute(contract, ctx, scratch, receipt)
    outcome = Outcome(receipt)
    scratch.put_transaction(tx.txid, TxRecord(tx, outcome.contract_ret))
    state.top.absorb(scratch.top)
    return outcome
