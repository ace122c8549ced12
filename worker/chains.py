"""The head of an insert chain: links `<chain>:<n>` (n = 1, 2, …) in one collection.

Every decision that can race is an insert of the next link (DESIGN.md); whoever wants
the current state reads the last one. A per-process hint remembers the last n seen,
then links n+1, n+2… are probed by `_id` until one is missing: only `_id` reads, and
a hint that is wrong (a link cleaned up, another process's store) just starts over.
Used by reservations, caps, kill switches and standing energy delegations.
"""

from __future__ import annotations

from worker.store import CommandStore, Doc

__all__ = ["ChainHeads"]


class ChainHeads:
    def __init__(self, store: CommandStore, collection: str) -> None:
        self._store = store
        self._collection = collection
        self._hints: dict[str, int] = {}

    async def head(self, chain: str) -> Doc | None:
        """The chain's last link (None: it has none)."""
        number, latest = self._hints.get(chain, 0), None
        if number:
            latest = await self._store.get(self._collection, f"{chain}:{number}")
            if latest is None:  # a hint from nowhere: start over
                number = 0
        while (doc := await self._store.get(self._collection, f"{chain}:{number + 1}")) is not None:
            latest, number = doc, number + 1
        if number:
            self._hints[chain] = number
        return latest

    def saw(self, chain: str, number: int) -> None:
        """Link `number` exists (this process just inserted it)."""
        self._hints[chain] = number
