"""Background duties: finish commands whose lease ran out, and delete old terminal ones.

A command is swept when it is not terminal and its lease expired: its worker
died (SIGKILL after the claim), or gave it back after a transient failure.
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
from worker.store import CommandStore

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
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._store = store
        self._leases = leases
        self._executor = executor
        self._metrics = metrics
        self._lease_s = lease_s
        self._max_epochs = max_epochs
        self._retention = timedelta(days=retention_days)
        self._clock = clock or (lambda: datetime.now(UTC))

    async def sweep_once(self, limit: int = 20) -> int:
        """Take over and finish stale commands; the number taken over."""
        before = self._clock() - timedelta(seconds=self._lease_s)
        taken = 0
        for command in await self._store.stale_commands(before, limit):
            latest = await self._store.latest_lease(command["command_id"])
            if latest is not None and latest["epoch"] >= self._max_epochs:
                reason = f"taken over {latest['epoch']} times without finishing"
                if await self._executor.give_up(command["command_id"], reason):
                    log.error("command given up", command_id=command["command_id"])
                continue
            lease = await self._leases.take_over(command)
            if lease is None:
                continue
            taken += 1
            self._metrics.lease_takeovers_total.inc()
            try:
                await self._executor.execute(command, lease)
            except TransientError as exc:
                log.warning(
                    "swept command deferred", command_id=command["command_id"], error=str(exc)
                )
            finally:
                structlog.contextvars.clear_contextvars()
        return taken

    async def cleanup_once(self) -> int:
        """Delete terminal commands older than the retention (not a TTL index: FerretDB)."""
        deleted = await self._store.delete_terminal_before(self._clock() - self._retention)
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
