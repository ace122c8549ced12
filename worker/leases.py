"""Leases: who may work on a command right now, decided by inserting the next epoch.

    epoch 1   inserted by the worker that claimed the command
    epoch n+1 inserted by whoever finds epoch n expired (or released); the insert
              under the unique `_id` `<command_id>:<n+1>` decides between racers

The holder renews its own lease document every lease_s/3 (one writer), and
before every step checks that no later epoch exists (the fencing check), so a
worker that stalled past its lease stops at its next step.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from worker.errors import TransientError
from worker.store import CommandStore, Doc

__all__ = ["Lease", "LeaseLost", "Leases"]

log = structlog.get_logger()


class LeaseLost(TransientError):
    """Another worker holds a later epoch: stop working on this command."""

    code = "LEASE_LOST"


@dataclass(frozen=True)
class Lease:
    command_id: str
    epoch: int
    owner: str

    @property
    def doc_id(self) -> str:
        return f"{self.command_id}:{self.epoch}"


class Leases:
    def __init__(
        self,
        store: CommandStore,
        *,
        owner: str,
        lease_s: float,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._store = store
        self._owner = owner
        self._lease_s = lease_s
        self._clock = clock or (lambda: datetime.now(UTC))

    async def acquire(self, command_id: str, epoch: int) -> Lease | None:
        """Insert epoch; the Lease when this worker won it, None when another did."""
        now = self._clock()
        doc = {
            "_id": f"{command_id}:{epoch}",
            "command_id": command_id,
            "epoch": epoch,
            "owner": self._owner,
            "acquired_at": now,
            "expires_at": now + timedelta(seconds=self._lease_s),
        }
        if await self._store.insert("leases", doc):
            return Lease(command_id, epoch, self._owner)
        return None

    async def latest(self, command_id: str) -> Doc | None:
        """The highest epoch's lease, found by `_id` (epochs are few: the sweeper caps them)."""
        latest, epoch = None, 1
        while (doc := await self._store.get("leases", f"{command_id}:{epoch}")) is not None:
            latest, epoch = doc, epoch + 1
        return latest

    async def take_over(self, command: Doc, latest: Doc | None = None) -> Lease | None:
        """The next epoch of a command whose lease ran out; None while someone holds it."""
        if latest is None:
            latest = await self.latest(command["command_id"])
        now = self._clock()
        if latest is None:
            # Claimed, then the claimer died before its first lease: count from the claim.
            if command["created_at"] + timedelta(seconds=self._lease_s) > now:
                return None
            return await self.acquire(command["command_id"], 1)
        if latest["expires_at"] > now:
            return None
        lease = await self.acquire(command["command_id"], latest["epoch"] + 1)
        if lease is not None:
            log.info("lease taken over", command_id=lease.command_id, epoch=lease.epoch)
        return lease

    async def check(self, lease: Lease) -> None:
        """The fencing check before a step.

        Raises:
            LeaseLost: a later epoch exists.
        """
        if await self._store.get("leases", f"{lease.command_id}:{lease.epoch + 1}") is not None:
            raise LeaseLost(f"command {lease.command_id} moved on to epoch {lease.epoch + 1}")

    async def renew(self, lease: Lease) -> None:
        expires_at = self._clock() + timedelta(seconds=self._lease_s)
        await self._store.set_fields("leases", lease.doc_id, {"expires_at": expires_at})

    async def release(self, lease: Lease) -> None:
        """Let the next delivery or the sweeper take the command at once (best effort)."""
        try:
            await self._store.set_fields("leases", lease.doc_id, {"expires_at": self._clock()})
        except TransientError as exc:
            log.warning("lease release failed; it expires by itself", error=str(exc))

    @asynccontextmanager
    async def kept(self, lease: Lease) -> AsyncIterator[None]:
        """Renew the lease every lease_s/3 while the block runs."""
        renewing = asyncio.create_task(self._renew_forever(lease))
        try:
            yield
        finally:
            renewing.cancel()
            try:
                await renewing
            except asyncio.CancelledError:
                pass

    async def _renew_forever(self, lease: Lease) -> None:
        while True:
            await asyncio.sleep(self._lease_s / 3)
            try:
                await self.renew(lease)
            except TransientError as exc:
                # The next fencing check decides whether the work may go on.
                log.warning("lease renewal failed", command_id=lease.command_id, error=str(exc))
