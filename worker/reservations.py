"""Reservations of a wallet's funds as insert chains (DESIGN "Money controls").

A chain `<wallet>:<asset>` is a sequence of links `<chain>:<n>`, each holding the
running total reserved after it. To append: read the head (a best-effort hint,
then probe n+1, n+2… by `_id`) and insert n+1 with total + delta; a duplicate key
means someone else moved first: read again and retry. Nothing is decided in a
process's memory, so two workers can never both count the same balance.

Every append is an *operation* with its own id (a payout's claim on a wallet, a
line's release): the operation's record is inserted first and names where the
chain stood, so a redo finds its own link instead of appending twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from worker.chains import ChainHeads
from worker.store import CommandStore, Doc

__all__ = ["Reservations", "chain_of"]


class Reservations:
    def __init__(
        self,
        store: CommandStore,
        clock: Callable[[], datetime],
        *,
        links: str = "reservations",
        operations: str = "reservation_ops",
    ) -> None:
        self._store = store
        self._clock = clock
        self._links = links  # the chains' links
        self._operations = operations  # one record per append, inserted first
        self._heads = ChainHeads(store, links)

    async def head(self, chain: str) -> Doc | None:
        """The chain's last link (None: nothing was ever reserved)."""
        return await self._heads.head(chain)

    async def reserved(self, chain: str) -> int:
        head = await self.head(chain)
        return int(head["total"]) if head is not None else 0

    async def append_once(self, chain: str, operation: str, delta: int) -> Doc:
        """Append `delta` to the chain as `operation`, once: a redo gets the same link."""
        head = await self.head(chain)
        start = head["n"] if head is not None else 0
        record = {"_id": operation, "chain": chain, "delta": delta, "from": start}
        if not await self._store.insert(self._operations, record):
            found = await self._store.get(self._operations, operation)
            if found is not None:
                link = await self._find(chain, operation, int(found["from"]))
                if link is not None:
                    return link
                delta = int(found["delta"])
        while True:
            head = await self.head(chain)
            number = head["n"] + 1 if head is not None else 1
            total = (int(head["total"]) if head is not None else 0) + delta
            link = {"_id": f"{chain}:{number}", "chain": chain, "n": number, "total": total,
                    "delta": delta, "operation": operation, "at": self._clock()}  # fmt: skip
            if await self._store.insert(self._links, link):
                self._heads.saw(chain, number)
                return link

    async def _find(self, chain: str, operation: str, start: int) -> Doc | None:
        """The operation's link, if it was appended after `start` (a redo after a crash)."""
        number = start + 1
        while (doc := await self._store.get(self._links, f"{chain}:{number}")) is not None:
            if doc["operation"] == operation:
                return doc
            number += 1
        return None


def chain_of(wallet: str, asset: str) -> str:
    return f"{wallet}:{asset}"
