"""The chain follower: one pass over the solidified chain decides every attempt's fate.

One per deployment: every worker contends for its lease (an insert of the next
epoch, like a command's), and a stalled follower is taken over. The holder
walks solidified blocks in order from a persisted cursor, one node call pair
per block (the block and its receipts, from the same endpoint) however many
transactions are in flight:

- a block is accepted only if its number is the next one and its parentHash is
  the cursor's block id; a block past the node's solidified head (`{}`) means
  wait, never skip (a failover may land on a lagging node);
- every block goes to reconciliation first (worker/reconcile.py): an outflow from a
  managed wallet that no journaled attempt explains pauses that wallet;
- every transaction of an attempt in flight, or owned by a managed wallet, is
  recorded as `seen`; an attempt found in a block gets its fate, `confirmed`
  (contractRet SUCCESS) or `failed` (with the node's reason);
- an attempt is proven `absent` only when all three hold (DESIGN rule 4): no
  `seen` record for its txid; the cursor has passed the first solidified block
  whose timestamp is at or past the attempt's expiration, that block included
  (java-tron checks expiration against the parent's time, so that block can
  still hold it); and the follower's unbroken coverage began at or before the
  attempt's reference block. Past expiration without such coverage the fate is
  `unknown`, which the command turns into needs_attention, never a rebuild.

After deciding a fate the follower marks the command active, so the sweeper
takes it over and its handler acts on the fate (emit, finish, or rebuild). A fate
`confirmed` or `failed` whose insert this decision won also counts the receipt's fee
(by the asset moved) and, for a DelegateResource of energy, the sun delegated: a redo of
the block finds the stored fate and counts nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import structlog

from worker.errors import LeaseLost, TransientError
from worker.journal import Journal
from worker.leases import FOLLOWER_REF, Lease, Leases
from worker.loops import Backoff
from worker.metrics import Metrics
from worker.ports import SolidBlock, TronNode
from worker.reconcile import Reconciler, owner_hex
from worker.store import CommandStore, Doc

__all__ = ["ChainFollower", "receipt_figures"]

log = structlog.get_logger()

_ENERGY = 1  # core.ResourceCode ENERGY, as a DelegateResource plan's `fields.resource`


def receipt_figures(transaction: dict[str, Any], receipt: dict[str, Any]) -> dict[str, Any]:
    """What the events report of an included transaction, from its block and receipt."""
    result = receipt.get("receipt", {})
    ret = (transaction.get("ret") or [{}])[0]
    return {
        "contract_ret": ret.get("contractRet", "SUCCESS"),
        "fee_sun": int(receipt.get("fee", 0)),
        "energy_used": int(result.get("energy_usage_total", 0)),
        "net_usage": int(result.get("net_usage", 0)),
        "net_fee_sun": int(result.get("net_fee", 0)),
        "result_message": _text(receipt.get("resMessage")),
        "logs": list(receipt.get("log", [])),
        # What a staking contract moved (java-tron's TransactionInfo; absent: 0).
        "withdraw_amount": int(receipt.get("withdraw_amount", 0)),
        "withdraw_expire_amount": int(receipt.get("withdraw_expire_amount", 0)),
        "unfreeze_amount": int(receipt.get("unfreeze_amount", 0)),
    }


def _text(value: Any) -> str | None:
    """java-tron hex-encodes resMessage; show it as text when it is."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return bytes.fromhex(value).decode("utf-8", errors="replace")
    except ValueError:
        return value


class ChainFollower:
    def __init__(
        self,
        node: TronNode,
        journal: Journal,
        leases: Leases,
        store: CommandStore,
        metrics: Metrics,
        *,
        managed_addresses: Callable[[], Awaitable[set[str]]],
        poll_interval_s: float,
        clock: Callable[[], datetime] | None = None,
        reconciler: Reconciler | None = None,
    ) -> None:
        self._node = node
        self._journal = journal
        self._leases = leases
        self._store = store
        self._metrics = metrics
        self._managed_addresses = managed_addresses
        self._poll_interval_s = poll_interval_s
        self._clock = clock or (lambda: datetime.now(UTC))
        self._cursor: Doc | None = None
        self._reconciler = reconciler

    async def run(self, stop: asyncio.Event) -> None:
        """Contend for the follower's lease and walk the chain while holding it."""
        backoff = Backoff(self._poll_interval_s)
        while not stop.is_set():
            try:
                lease = await self._leases.acquire(FOLLOWER_REF)
                if lease is not None:
                    log.info("following the chain", epoch=lease.epoch)
                    self._cursor = None  # whoever held it before may have moved it
                    async with self._leases.kept(lease):
                        await self._follow(stop, lease)
            except Exception as exc:  # a loop that dies stops the worker: log, count, go on
                self._metrics.background_errors_total.labels("follower").inc()
                log.warning("chain follower paused", error=f"{type(exc).__name__}: {exc}"[:300])
            await backoff.wait(stop)

    async def _follow(self, stop: asyncio.Event, lease: Lease) -> None:
        """Step while the lease holds; a failed step (a node outage, a lagging or wrong
        node) is retried with backoff, keeping the lease: only LeaseLost ends it."""
        backoff = Backoff(self._poll_interval_s, max_s=30.0)
        while not stop.is_set():
            await self._leases.check(lease)
            try:
                advanced = await self.step()
                backoff.reset()
            except LeaseLost:
                raise
            except Exception as exc:
                self._metrics.background_errors_total.labels("follower").inc()
                log.warning("follower step failed", error=f"{type(exc).__name__}: {exc}"[:300])
                self._cursor = None  # re-read: a stale holder may have written it
                backoff.failed()
                await backoff.wait(stop)
                continue
            if not advanced:
                await _wait(stop, self._poll_interval_s)

    async def step(self) -> bool:
        """Process the next solidified block; False when there is none yet."""
        cursor = self._cursor or await self._journal.cursor() or await self._start()
        number = cursor["number"] + 1
        block = await self._node.solid_block(number)
        if block is None:
            return False
        if block.number != number or block.parent_id != cursor["block_id"]:
            raise TransientError(
                f"block {block.number} from {block.endpoint} does not follow block "
                f"{cursor['number']} {cursor['block_id'][:16]}… (parent {block.parent_id[:16]}…)"
            )
        await self._process(block, cursor)
        self._cursor = {
            "number": block.number,
            "block_id": block.id,
            "timestamp_ms": block.timestamp_ms,
            "coverage_from": cursor["coverage_from"],
        }
        await self._journal.move_cursor(self._cursor)
        self._metrics.follower_block.set(block.number)
        self._metrics.follower_block_timestamp_seconds.set(block.timestamp_ms / 1000)
        return True

    async def _start(self) -> Doc:
        """No cursor yet: coverage begins at the current solidified head."""
        head = await self._node.solid_head()
        cursor = {
            "number": head.number,
            "block_id": head.id,
            "timestamp_ms": head.timestamp_ms,
            "coverage_from": head.number,
        }
        await self._journal.move_cursor(cursor)
        log.info("chain follower starts", block=head.number)
        return cursor

    async def _process(self, block: SolidBlock, cursor: Doc) -> None:
        inflight = {doc["_id"]: doc for doc in await self._journal.inflight()}
        self._metrics.follower_attempts_in_flight.set(len(inflight))
        managed = await self._managed_addresses() if block.transactions else set()
        receipts = {receipt.get("id"): receipt for receipt in block.receipts}
        where = {"block_number": block.number, "block_id": block.id}
        if self._reconciler is not None:
            # Before any fate: an attempt's outflow is summed before it stops being in flight.
            await self._reconciler.check_block(block, managed, inflight)
        for transaction in block.transactions:
            txid = str(transaction.get("txID", ""))
            tracked = inflight.pop(txid, None)
            if tracked is None and owner_hex(transaction) not in managed:
                continue
            await self._journal.see(txid, {**where, "block_time_ms": block.timestamp_ms})
            if tracked is None:
                continue
            figures = receipt_figures(transaction, receipts.get(txid, {}))
            fate = "confirmed" if figures["contract_ret"] == "SUCCESS" else "failed"
            details = {**where, "block_time_ms": block.timestamp_ms, **figures}
            await self._decide(tracked, fate, details)
        for tracked in inflight.values():
            if tracked["expiration_ms"] > block.timestamp_ms:
                continue  # block n can still hold it
            if await self._journal.seen(tracked["_id"]) is not None:
                continue  # decided when it was seen (a fate exists or is being written)
            covered = cursor["coverage_from"] <= tracked["ref_block_number"]
            await self._decide(
                tracked,
                "absent" if covered else "unknown",
                {**where, "block_time_ms": block.timestamp_ms},
            )

    async def _decide(self, tracked: Doc, fate: str, details: dict[str, Any]) -> None:
        """Fate, then wake-up, then stop tracking: a crash anywhere in between leaves the
        attempt tracked, and the redo of this block (the cursor did not move) finishes."""
        # What the counters need is read first: a failed read fails the step before the
        # fate exists, so the redo still counts.
        plan = await self._plan(tracked) if fate in ("confirmed", "failed") else None
        # The store keeps a writer's own nonce (worker/store.py): the fate that stands is
        # this decision's only if it carries this one; a redo's insert loses to the first.
        nonce = uuid.uuid4().hex
        stored = await self._journal.decide(tracked, fate, {**details, "nonce": nonce})
        if stored.get("nonce") == nonce:  # this decision stands: count it (a redo's does not)
            self._metrics.fates_total.labels(fate).inc()
            if plan is not None:
                self._count(plan, fate, int(details.get("fee_sun", 0)))
        # Wake the command: the sweeper takes it over and its handler acts on the fate.
        await self._store.insert(
            "active",
            {
                "_id": tracked["command"],
                "ref": tracked["attempt"].split(":", 1)[0],
                "marked_at": self._clock(),
            },
        )
        await self._journal.untrack(tracked)
        log.info("attempt decided", attempt=tracked["attempt"], txid=tracked["_id"], fate=fate)

    async def _plan(self, tracked: Doc) -> dict[str, Any]:
        """The journaled attempt's plan (what it moves), read by `_id`; {} when there is none."""
        attempt = await self._store.get("tx_attempts", tracked["attempt"])
        return dict((attempt or {}).get("plan") or {})

    def _count(self, plan: dict[str, Any], fate: str, fee_sun: int) -> None:
        """Count what an included transaction of this worker cost and, once confirmed,
        the energy it delegated (plan shapes: handlers/trc20.py, handlers/stake.py)."""
        asset = str(plan.get("symbol") or plan.get("token") or "TRX")
        self._metrics.fees_burned_sun_total.labels(asset).inc(max(0, fee_sun))
        fields = plan.get("fields") or {}
        delegated = plan.get("contract_type") == "DelegateResourceContract"
        if fate == "confirmed" and delegated and fields.get("resource") == _ENERGY:
            self._metrics.energy_delegated_total.inc(max(0, int(fields.get("balance", 0))))


async def _wait(stop: asyncio.Event, timeout_s: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=timeout_s)
