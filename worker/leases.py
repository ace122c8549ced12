"""Leases: who may work on a command right now, decided by inserting the next epoch.

    epoch 1   held by the worker whose claim insert landed: the claim is the lease, so
              a fresh command costs no lease write. It runs until the command's
              `created_at` + lease_s, or later once its holder renewed it (which
              writes `leases/<c>:1`).
    epoch n+1 inserted by whoever finds epoch n expired (or released); the insert
              under the unique `_id` `<c>:<n+1>` decides between racers

The holder renews its own lease document every lease_s/3 (one writer per
document), and before every effect checks that no later epoch exists (the
fencing check), so a worker that stalled past its lease stops at its next step.
A stale holder that slips a write past its check can only write what is
content-idempotent (inserts under deterministic ids); the give-up gate
(worker/gates.py) keeps it from racing a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from schemas.documents import lease_id
from worker.errors import LeaseLost
from worker.store import CommandStore, Doc

__all__ = ["FOLLOWER_REF", "Lease", "LeaseLost", "Leases"]

FOLLOWER_REF = "chain-follower"  # the one lease every worker contends for

log = structlog.get_logger()


@dataclass(frozen=True)
class Lease:
    ref: str  # the command's `c`
    epoch: int
    owner: str

    @property
    def doc_id(self) -> str:
        return lease_id(self.ref, self.epoch)


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
        self._seen_epoch: dict[str, int] = {}
        self._follow_ref = FOLLOWER_REF

    def of_claim(self, ref: str) -> Lease:
        """Epoch 1, held by the worker whose claim insert just landed."""
        return Lease(ref, 1, self._owner)

    async def latest(self, ref: str) -> Doc | None:
        """The highest epoch's lease document, found by `_id` (epochs are few: the sweeper
        caps them); epoch 1 has a document only once its holder renewed it."""
        # Epochs only grow, so a long-lived lease (the follower's) is probed from the last
        # epoch this process saw instead of from 2 every time.
        latest, epoch = None, self._seen_epoch.get(ref, 2)
        while (doc := await self._store.get("leases", lease_id(ref, epoch))) is not None:
            latest, epoch = doc, epoch + 1
        if latest is None:
            latest = await self._store.get("leases", lease_id(ref, 1))
        elif ref == self._follow_ref:
            self._seen_epoch[ref] = latest["epoch"]
        return latest

    async def take_over(self, command: Doc) -> Lease | None:
        """The next epoch of a command whose lease ran out; None while someone holds it."""
        return await self.take_over_from(command, await self.latest(command["ref"]))

    async def take_over_from(self, command: Doc, latest: Doc | None) -> Lease | None:
        """take_over, given the newest lease as the caller just read it (None: only the
        claim's); had a newer one come meanwhile, the insert of the next epoch loses."""
        ref = command["ref"]
        now = self._clock()
        if latest is None:  # epoch 1, never renewed: it runs from the claim
            expires_at, epoch = command["created_at"] + timedelta(seconds=self._lease_s), 1
        else:
            expires_at, epoch = latest["expires_at"], latest["epoch"]
        if expires_at > now:
            return None
        lease = Lease(ref, epoch + 1, self._owner)
        if not await self._store.insert("leases", self._doc(lease, now)):
            return None
        log.info("lease taken over", ref=ref, epoch=lease.epoch)
        return lease

    async def acquire(self, ref: str) -> Lease | None:
        """A lease on something that is not a command (the chain follower): epoch 1 if
        nobody ever held it, else the next epoch once the latest expired; None while held."""
        latest = await self.latest(ref)
        now = self._clock()
        if latest is not None and latest["expires_at"] > now:
            return None
        lease = Lease(ref, 1 if latest is None else latest["epoch"] + 1, self._owner)
        if not await self._store.insert("leases", self._doc(lease, now)):
            return None
        return lease

    async def check(self, lease: Lease) -> None:
        """The fencing check before an effect.

        Raises:
            LeaseLost: a later epoch exists.
        """
        next_id = lease_id(lease.ref, lease.epoch + 1)
        if await self._store.get("leases", next_id) is not None:
            raise LeaseLost(f"command {lease.ref} moved on to epoch {lease.epoch + 1}")

    async def renew(self, lease: Lease) -> None:
        await self._store.put("leases", self._doc(lease, self._clock()))

    async def release(self, lease: Lease) -> None:
        """Let the next delivery or the sweeper take the command at once (best effort)."""
        try:
            await self._store.put("leases", self._doc(lease, self._clock(), lease_s=0))
        except Exception as exc:
            log.warning("lease release failed; it expires by itself", error=str(exc))

    def _doc(self, lease: Lease, now: datetime, lease_s: float | None = None) -> Doc:
        return {
            "_id": lease.doc_id,
            "ref": lease.ref,
            "epoch": lease.epoch,
            "owner": lease.owner,
            "renewed_at": now,
            "expires_at": now + timedelta(seconds=self._lease_s if lease_s is None else lease_s),
        }

    @contextlib.asynccontextmanager
    async def kept(self, lease: Lease) -> AsyncIterator[None]:
        """Renew the lease every lease_s/3 while the block runs."""
        renewing = asyncio.create_task(self._renew_forever(lease))
        try:
            yield
        finally:
            renewing.cancel()
            # Whatever ended the renewals, it is not the block's outcome: the block's own
            # fencing checks decide whether its work stood.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await renewing

    async def _renew_forever(self, lease: Lease) -> None:
        while True:
            await asyncio.sleep(self._lease_s / 3)
            try:
                await self.renew(lease)
            except Exception as exc:
                # The next fencing check decides whether the work may go on.
                log.warning("lease renewal failed", ref=lease.ref, error=str(exc))
