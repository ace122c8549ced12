"""Small repositories over the store: each kind of stored document has one home here
(or in worker/leases.py and worker/outbox.py), and every `_id` comes from
schemas/documents.py, built from `c`, the command's ref.

    commands  `<scope>:<key>`   the claim; afterwards only the lease holder writes it
    active    `<scope>:<key>`   a non-terminal command some delivery let go of
    gates     `<c>`             "effects may follow" or "void": decided by insert
    wallets   `<c>:<index>`     what wallet.create made
    addresses `<base58 address>` which wallet an address is (lookups by `_id` only)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from schemas.documents import gate_id, wallet_id
from worker.errors import TransientError
from worker.store import CommandStore, Doc
from worker.txbuild import address_from_base58

__all__ = ["Commands", "Gates", "ManagedAddresses", "StoreWallets"]


class Commands:
    """The `commands` collection and its `active` markers."""

    def __init__(self, store: CommandStore, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._clock = clock

    async def insert(self, doc: Doc) -> bool:
        return await self._store.insert("commands", doc)

    async def get(self, key: str) -> Doc | None:
        return await self._store.get("commands", key)

    async def mark_active(self, command: Doc) -> None:
        """Leave a marker the sweeper finds: before a delivery of a non-terminal command is
        acked without finishing it, something must remember to finish it."""
        await self._store.insert(
            "active", {"_id": command["_id"], "ref": command["ref"], "marked_at": self._clock()}
        )

    async def unmark(self, key: str) -> None:
        await self._store.delete("active", key)

    async def write(self, command: Doc, fields: Doc) -> None:
        """A lease holder's write; the in-memory document follows it."""
        fields = {**fields, "updated_at": self._clock()}
        await self._store.set_fields("commands", command["_id"], fields)
        command.update(fields)


class Gates:
    """One insert decides whether a command may have effects or is given up.

    A handler opens the gate before its first effect; a give-up voids it. Whoever
    inserts first wins, so a command that is failed by giving up can never gain an
    effect afterwards (a stale lease holder's effect would need the gate open), and a
    command that may have effects is never failed by giving up. FerretDB has no atomic
    conditional update, so this is an insert like every decision that can race.
    """

    def __init__(self, store: CommandStore, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._clock = clock

    async def open(self, ref: str, epoch: int) -> bool:
        """True when effects may go on (opened now or before); False: it was voided.
        A takeover (epoch 2 on) reads first: the gate is almost always decided by then,
        and a decision never changes, so the insert is needed only when there is none."""
        if epoch > 1:
            found = await self._store.get("gates", gate_id(ref))
            if found is not None:
                return bool(found["state"] == "open")
        return await self._decide(ref, "open", epoch) == "open"

    async def void(self, ref: str, epoch: int) -> bool:
        """True when no effect can ever happen (voided now or before); False: it is open."""
        return await self._decide(ref, "void", epoch) == "void"

    async def is_open(self, ref: str) -> bool:
        found = await self._store.get("gates", gate_id(ref))
        return found is not None and found["state"] == "open"

    async def _decide(self, ref: str, state: str, epoch: int) -> str:
        doc = {"_id": gate_id(ref), "state": state, "epoch": epoch, "at": self._clock()}
        if await self._store.insert("gates", doc):
            return state
        found = await self._store.get("gates", gate_id(ref))
        if found is None:  # inserted and gone: only cleanup deletes gates, after expiry
            return "void"
        return str(found["state"])


class StoreWallets:
    """The handlers' WalletStore over `wallets` (`_id` = `<c>:<index>`)."""

    def __init__(self, store: CommandStore) -> None:
        self._store = store

    async def add_once(self, ref: str, index: int, record: dict[str, Any]) -> dict[str, Any]:
        """Insert the record as wallet `index` unless one is there; the one stored."""
        doc = {**record, "_id": wallet_id(ref, index), "ref": ref, "index": index}
        if not await self._store.insert("wallets", doc):
            stored = await self._store.get("wallets", wallet_id(ref, index))
            if stored is None:
                raise TransientError(f"wallet {wallet_id(ref, index)} vanished after its insert")
            doc = stored
        # After the wallet: an address always names a stored wallet (a redo adds it again).
        await self._store.insert("addresses", {"_id": doc["address"], "wallet": doc["_id"]})
        return doc

    async def get(self, ref: str, index: int) -> dict[str, Any] | None:
        return await self._store.get("wallets", wallet_id(ref, index))

    async def by_address(self, address: str) -> dict[str, Any] | None:
        found = await self._store.get("addresses", address)
        return None if found is None else await self._store.get("wallets", found["wallet"])


class ManagedAddresses:
    """The managed wallets' addresses as java-tron's hex (`41…`), re-read every refresh_s:
    what the chain follower records as `seen`. Paged by `_id` over `addresses`."""

    def __init__(
        self, store: CommandStore, *, refresh_s: float, clock: Callable[[], datetime]
    ) -> None:
        self._store = store
        self._refresh_s = refresh_s
        self._clock = clock
        self._addresses: set[str] = set()
        self._read_at: datetime | None = None

    async def __call__(self) -> set[str]:
        now = self._clock()
        if self._read_at is None or (now - self._read_at).total_seconds() >= self._refresh_s:
            found: set[str] = set()
            after: str | None = None
            while page := await self._store.scan("addresses", 1000, after=after):
                found.update(address_from_base58(doc["_id"]).hex() for doc in page)
                after = page[-1]["_id"]
            self._addresses, self._read_at = found, now
        return self._addresses
