"""The hot-wallet pool: which wallet pays a batch, with its funds reserved.

Wallets created with purpose `hot` form the pool. To take a wallet for a batch the
pool appends the batch's needs to that wallet's reservation chains (one per asset,
worker/reservations.py) and then checks the running total against the node's
balance: the link's total includes every reservation made before it, so of two
batches racing for the last funds the one that pushed the total over backs off
(its take is undone by a negative link) and tries the next wallet. The choice is
then decided once by an insert (`payout_sources/<c>`), so a redo gets the same
wallet. Reservations are given back when every line of the batch is terminal;
until then a spent amount is counted twice (the balance is lower and the
reservation stands): conservative, never the other way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from worker import abi
from worker.ports import TronNode
from worker.reservations import Reservations, chain_of
from worker.store import CommandStore

__all__ = ["HotWalletPool"]


class HotWalletPool:
    def __init__(
        self,
        store: CommandStore,
        node: TronNode,
        reservations: Reservations,
        *,
        refresh_s: float,
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._node = node
        self._reservations = reservations
        self._refresh_s = refresh_s
        self._clock = clock
        self._hot: list[str] = []
        self._read_at: datetime | None = None

    async def choose(
        self,
        ref: str,
        candidates: list[str] | None,
        needs_for: Callable[[str], Awaitable[dict[str, int] | None]],
    ) -> str | None:
        decided = await self._store.get("payout_sources", ref)
        if decided is not None:
            return str(decided["wallet"])
        for wallet in candidates if candidates is not None else await self._hot_wallets():
            if await self._store.get("reservation_ops", _op(ref, "untake", wallet, "TRX")):
                continue  # tried and backed off before this redo
            needs = await needs_for(wallet)
            if needs is None or not await self._take(ref, wallet, needs):
                continue
            record = {"_id": ref, "wallet": wallet, "needs": needs, "at": self._clock()}
            if await self._store.insert("payout_sources", record):
                return wallet
            await self._untake(ref, wallet, needs)  # a stale holder decided first
            decided = await self._store.get("payout_sources", ref)
            return None if decided is None else str(decided["wallet"])
        return None

    async def release(self, ref: str) -> None:
        decided = await self._store.get("payout_sources", ref)
        if decided is None:
            return
        for asset, amount in decided["needs"].items():
            chain = chain_of(decided["wallet"], asset)
            await self._reservations.append_once(chain, _op(ref, "release", "", asset), -amount)

    async def _take(self, ref: str, wallet: str, needs: dict[str, int]) -> bool:
        fits = True
        for asset, amount in needs.items():
            chain = chain_of(wallet, asset)
            link = await self._reservations.append_once(
                chain, _op(ref, "take", wallet, asset), amount
            )
            if link["total"] > await self._balance_of(wallet, asset):
                fits = False
        if not fits:
            await self._untake(ref, wallet, needs)
        return fits

    async def _untake(self, ref: str, wallet: str, needs: dict[str, int]) -> None:
        # "untake" of TRX is always written (even for no TRX), so a redo knows to skip.
        for asset in {"TRX", *needs}:
            chain = chain_of(wallet, asset)
            delta = -needs.get(asset, 0)
            await self._reservations.append_once(chain, _op(ref, "untake", wallet, asset), delta)

    async def _balance_of(self, wallet: str, asset: str) -> int:
        """The node's view: sun for TRX, else the token's base units."""
        if asset == "TRX":
            account = await self._node.account(wallet)
            return int((account or {}).get("balance", 0))
        result = await self._node.constant_call(wallet, asset, abi.balance_of(wallet))
        return abi.decode_uint(result)

    async def _hot_wallets(self) -> list[str]:
        """Hot wallets' addresses, re-read every refresh_s (a paged scan of `wallets`)."""
        now = self._clock()
        if self._read_at is None or (now - self._read_at).total_seconds() >= self._refresh_s:
            found: list[str] = []
            after: str | None = None
            while page := await self._store.scan("wallets", 500, after=after):
                found.extend(doc["address"] for doc in page if doc.get("purpose") == "hot")
                after = page[-1]["_id"]
            self._hot, self._read_at = found, now
        return self._hot


def _op(ref: str, kind: str, wallet: str, asset: str) -> str:
    return f"{ref}:{kind}:{wallet}:{asset}"
