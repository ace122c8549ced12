"""Background duties: finish commands whose lease ran out, and delete old terminal ones.

A command is swept when its `active` marker says it is not terminal and its
lease expired: its worker died (SIGKILL after the claim), or gave it back after
a transient failure.
Every takeover is a new lease epoch, so the epoch counts the tries; past
`max_epochs` the command is failed (if it signed nothing) instead of retried.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog

from worker.errors import TransientError
from worker.executor import Executor
from worker.leases import Leases
from worker.metrics import Metrics
from worker.store import CommandStore, Doc

__all__ = ["Sweeper"]

log = structlog.get_logger()


class Sweeper:
    def __init__(
        self,
        store: CommandStore,
        leases: Leases,
        executor: Executor,
        metrics: Metrics,
        *,
        lease_s: float,
        max_epochs: int,
        retention_days: int,
        command_timeout_s: float = 60.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._store = store
        self._leases = leases
        self._executor = executor
        self._metrics = metrics
        self._lease_s = lease_s
        self._max_epochs = max_epochs
        self._command_timeout_s = command_timeout_s
        self._retention = timedelta(days=retention_days)
        self._clock = clock or (lambda: datetime.now(UTC))

    async def sweep_once(self, limit: int = 50) -> int:
        """Take over and finish commands whose lease ran out; the number taken over."""
        before = self._clock() - timedelta(seconds=self._lease_s)
        taken = 0
        for marker in await self._store.scan("active", limit):
            if marker["created_at"] >= before:
                continue  # too young to be stuck
            command = await self._store.get("commands", marker["_id"])
            if command is None:
                # The claim is still being written, or its worker died between marker and
                # claim (then the unacked delivery comes back and claims again). Only once
                # the command has expired can nothing claim it any more.
                if marker["expires_at"] <= self._clock():
                    await self._store.delete("active", marker["_id"])
                continue
            if command["terminal"]:
                await self._store.delete("active", marker["_id"])
                continue
            if await self._sweep_command(command):
                taken += 1
        return taken

    async def _sweep_command(self, command: Doc) -> bool:
        latest = await self._leases.latest(command["command_id"])
        if latest is not None and latest["epoch"] >= self._max_epochs:
            reason = f"taken over {latest['epoch']} times without finishing"
            if await self._executor.give_up(command["command_id"], reason):
                log.error("command given up", command_id=command["command_id"])
            return False
        lease = await self._leases.take_over(command, latest)
        if lease is None:
            return False
        self._metrics.lease_takeovers_total.inc()
        try:
            async with asyncio.timeout(self._command_timeout_s):
                outcome = await self._executor.execute(command, lease)
            log.info(
                "swept command finished",
                command_id=command["command_id"],
                epoch=lease.epoch,
                outcome=type(outcome).__name__,
            )
        except (TransientError, TimeoutError) as exc:
            # Its lease (released, or expiring) lets the next sweep or delivery try again.
            log.warning("swept command deferred", command_id=command["command_id"], error=repr(exc))
        finally:
            structlog.contextvars.clear_contextvars()
        return True

    async def cleanup_once(self, limit: int = 500) -> int:
        """Delete terminal commands past retention and expiry (not a TTL index: FerretDB).

        Wallets stay: they are what the command made. A command is deleted only once it
        has expired too, so a replayed delivery is rejected EXPIRED, never run again.
        """
        now = self._clock()
        deleted = 0
        for command in await self._store.terminal_before(now - self._retention, limit):
            if command["expires_at"] > now:
                continue
            command_id = command["command_id"]
            for event_id in command.get("events", []):
                await self._store.delete("outbox", event_id)
                await self._store.delete("events", event_id)
            for collection in ("leases", "tx_attempts"):
                number = 1
                while await self._store.get(collection, f"{command_id}:{number}") is not None:
                    await self._store.delete(collection, f"{command_id}:{number}")
                    number += 1
            await self._store.delete("commands", command["_id"])
            deleted += 1
        if deleted:
            log.info("old commands deleted", count=deleted)
        return deleted

    async def run(
        self, stop: asyncio.Event, sweep_interval_s: float, cleanup_interval_s: float
    ) -> None:
        next_cleanup_s = 0.0
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            try:
                await self.sweep_once()
                if loop.time() >= next_cleanup_s:
                    await self.cleanup_once()
                    next_cleanup_s = loop.time() + cleanup_interval_s
            except TransientError as exc:
                log.warning("sweep deferred", error=str(exc))
            try:
                await asyncio.wait_for(stop.wait(), timeout=sweep_interval_s)
            except TimeoutError:
                pass
