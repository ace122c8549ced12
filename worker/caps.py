"""Daily caps as insert chains (DESIGN "Money controls"; issue 10's precise rules).

A cap's window is a day in the configured zone; each (cap, key, window) is a chain in
`cap_links` (worker/reservations.py). To reserve an item's amount under a cap:

1. insert `cap_resv/resv:<c>:<item>:<cap>` holding the chain (so the window), the
   amount and the limit — a redo reads it back and so reserves in the window and for
   the amount of the first try, even past midnight;
2. append a link carrying that id (a redo finds its own link: `append_once`);
3. the link's running total decides: at or under the limit the item is admitted;
   over it, a negative `…:undo` link gives the amount back and the item is refused.

The total includes every reservation appended before it, so of two racers for the
last of a cap the one that pushed the total over backs off; a racer that arrives
while a refused one has not yet undone may be refused too (conservative: never more
than the cap passes). A release (`…:release`, negative) goes into the reservation's
own window and is written once, when its item is terminal without paying.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from worker.reservations import Reservations
from worker.store import CommandStore, Doc

__all__ = ["CapRefusal", "Caps", "resv_id"]

_NO_LIMIT = 2**63 - 1


def resv_id(ref: str, item: int, cap: str) -> str:
    return f"resv:{ref}:{item}:{cap}"


@dataclass(frozen=True)
class CapRefusal:
    cap: str
    key: str
    window: str
    limit: int
    used: int  # reserved in the window before this item
    amount: int

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


class Caps:
    def __init__(self, store: CommandStore, clock: Callable[[], datetime], zone: str) -> None:
        self._store = store
        self._clock = clock
        self._zone = ZoneInfo(zone)
        self._chains = Reservations(store, clock, links="cap_links", operations="cap_ops")

    def window(self) -> str:
        """Today, in the caps' zone (YYYY-MM-DD)."""
        return self._clock().astimezone(self._zone).date().isoformat()

    async def reserve(
        self, ref: str, item: int, cap: str, key: str, limit: int, amount: int
    ) -> CapRefusal | None:
        """Reserve `amount` of item `item` of command `ref` under cap `cap` for `key`
        (e.g. cap "destination", key "USDT:T…"); None when admitted. Idempotent."""
        record, link = await self._append(ref, item, cap, key, limit, amount)
        if int(link["total"]) <= int(record["limit"]):
            return None
        rid = resv_id(ref, item, cap)
        await self._chains.append_once(record["chain"], f"{rid}:undo", -int(record["amount"]))
        return CapRefusal(
            cap,
            str(record["key"]),
            str(record["window"]),
            int(record["limit"]),
            int(link["total"]) - int(record["amount"]),
            int(record["amount"]),
        )

    async def count(self, ref: str, item: int, cap: str, key: str, amount: int) -> int:
        """Add `amount` to a running total with no limit (once); the total with it."""
        _, link = await self._append(ref, item, cap, key, _NO_LIMIT, amount)
        return int(link["total"])

    async def _append(
        self, ref: str, item: int, cap: str, key: str, limit: int, amount: int
    ) -> tuple[Doc, Doc]:
        rid = resv_id(ref, item, cap)
        window = self.window()
        record: Doc = {
            "_id": rid,
            "chain": f"{cap}:{key}:{window}",
            "cap": cap,
            "key": key,
            "window": window,
            "amount": amount,
            "limit": limit,
            "at": self._clock(),
        }
        if not await self._store.insert("cap_resv", record):
            stored = await self._store.get("cap_resv", rid)
            if stored is not None:
                record = stored  # a redo keeps the first try's window and amount
        link = await self._chains.append_once(record["chain"], rid, int(record["amount"]))
        return record, link

    async def release(self, ref: str, item: int, cap: str) -> None:
        """Give back an admitted reservation (once); nothing if it was refused or never made."""
        rid = resv_id(ref, item, cap)
        record = await self._store.get("cap_resv", rid)
        if record is None or await self._store.get("cap_ops", f"{rid}:undo") is not None:
            return
        if await self._store.get("cap_ops", rid) is None:
            return  # the record was inserted but no link appended: nothing to give back
        await self._chains.append_once(record["chain"], f"{rid}:release", -int(record["amount"]))

    async def used(self, cap: str, key: str, window: str | None = None) -> int:
        """What is reserved under a cap in a window (today by default)."""
        return await self._chains.reserved(f"{cap}:{key}:{window or self.window()}")
