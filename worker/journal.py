"""The transaction journal and what the chain follower learns, all insert-only.

    txids        `<txid>`              claims a txid for one attempt (TRON has no nonce:
                                       identical bytes are possible; the loser rebuilds)
    tx_attempts  `<c>:<item>:<attempt>` the signed transaction, stored before its first
                                       broadcast (DESIGN rule 2); never updated
    inflight     `<txid>`              an attempt whose fate the follower must decide
    fates        `<c>:<item>:<attempt>` what the chain decided: confirmed, failed, absent
    seen         `<txid>`              a managed wallet's transaction in a solidified block
    chain        "cursor"              the follower's position (one writer: its lease holder)

A fate is an insert, so the follower's decision about an attempt is made once;
the command's lease holder reads it and acts (emit, finish, or rebuild).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from schemas.documents import attempt_id
from worker.errors import TransientError
from worker.store import CommandStore, Doc

__all__ = ["Journal"]


class Journal:
    def __init__(self, store: CommandStore, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._clock = clock

    # --- the lease holder's side ------------------------------------------------------------

    async def claim_txid(self, txid: str, attempt: str) -> bool:
        """True when this txid now belongs to `attempt` (or already did)."""
        doc = {"_id": txid, "attempt": attempt, "at": self._clock()}
        if await self._store.insert("txids", doc):
            return True
        found = await self._store.get("txids", txid)
        return found is not None and found["attempt"] == attempt

    async def void_first(self, ref: str, item: int) -> bool:
        """Seal attempt 1 of an item that was never journaled, so nothing can be signed for
        it any more (a stale lease holder's journal insert then loses); True when sealed
        now or before, False when a real attempt 1 exists."""
        first = attempt_id(ref, item, 1)
        doc = {"_id": first, "ref": ref, "item": item, "attempt": 1, "void": True}
        doc["created_at"] = self._clock()
        if await self._store.insert("tx_attempts", doc):
            return True
        stored = await self._store.get("tx_attempts", first)
        return stored is not None and bool(stored.get("void"))

    async def record(self, attempt_doc: Doc) -> Doc:
        """Journal an attempt (before any broadcast); the stored one if it was there first."""
        if await self._store.insert("tx_attempts", attempt_doc):
            return attempt_doc
        stored = await self._store.get("tx_attempts", attempt_doc["_id"])
        if stored is None:
            raise TransientError(f"attempt {attempt_doc['_id']} vanished after its insert")
        return stored

    async def track(self, attempt_doc: Doc, command_key: str) -> None:
        """Make the follower decide this attempt's fate (idempotent)."""
        await self._store.insert(
            "inflight",
            {
                "_id": attempt_doc["txid"],
                "attempt": attempt_doc["_id"],
                "command": command_key,
                "expiration_ms": attempt_doc["expiration_ms"],
                "ref_block_number": attempt_doc["ref_block_number"],
                "at": self._clock(),
            },
        )

    async def attempt(self, ref: str, item: int, number: int) -> Doc | None:
        return await self._store.get("tx_attempts", attempt_id(ref, item, number))

    async def latest_attempt(self, ref: str, item: int) -> Doc | None:
        """The item's newest journaled attempt (attempts are few: a setting caps them);
        None when there is none, or when attempt 1 was sealed void."""
        latest, number = None, 1
        while (doc := await self.attempt(ref, item, number)) is not None:
            latest, number = doc, number + 1
        return None if latest is not None and latest.get("void") else latest

    async def fate(self, attempt: str) -> Doc | None:
        return await self._store.get("fates", attempt)

    # --- the follower's side ----------------------------------------------------------------

    async def inflight(self, page_size: int = 1000) -> list[Doc]:
        """Every attempt in flight. All of them, paged: one left out of a block's check
        could be included unmatched, then found `seen` and never decided."""
        found: list[Doc] = []
        after: str | None = None
        while page := await self._store.scan("inflight", page_size, after=after):
            found.extend(page)
            if len(page) < page_size:
                break
            after = page[-1]["_id"]
        return found

    async def decide(self, inflight: Doc, fate: str, details: dict[str, Any]) -> Doc:
        """Record an attempt's fate once; the fate that stands (a redo finds the first).
        The caller wakes the command, then `untrack`s: in that order, a crash in between
        leaves the attempt in flight, and the redo of its block decides and wakes again."""
        doc = {"_id": inflight["attempt"], "fate": fate, "txid": inflight["_id"], **details}
        doc["decided_at"] = self._clock()
        if not await self._store.insert("fates", doc):
            stored = await self._store.get("fates", inflight["attempt"])
            doc = stored if stored is not None else doc
        return doc

    async def untrack(self, inflight: Doc) -> None:
        await self._store.delete("inflight", inflight["_id"])

    async def see(self, txid: str, details: dict[str, Any]) -> None:
        await self._store.insert("seen", {"_id": txid, **details})

    async def seen(self, txid: str) -> Doc | None:
        return await self._store.get("seen", txid)

    async def cursor(self) -> Doc | None:
        return await self._store.get("chain", "cursor")

    async def move_cursor(self, cursor: Doc) -> None:
        await self._store.put("chain", {**cursor, "_id": "cursor", "moved_at": self._clock()})
