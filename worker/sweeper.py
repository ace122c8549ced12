"""Background duties: finish commands whose lease ran out, and delete old terminal ones.

A command is swept when its `active` marker says some delivery let go of it
unfinished (a retry tier, a duplicate while it ran, a give-up that could not
fail it) and its lease expired: its worker died, or gave it back after a
transient failure. A worker SIGKILLed mid-command left its delivery unacked, so
the broker brings that back instead.
Every takeover is a new lease epoch, so the epoch counts the tries; past
`max_epochs` the command is given up: failed if it never had an effect,
`needs_attention` otherwise. The markers are read a page at a time with a
cursor, so young markers cannot starve old work, and one command's failure
does not stop the round.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import structlog

from schemas.documents import gate_id, lease_id
from worker.errors import PermanentError, TransientError
from worker.executor import Executor
from worker.leases import Leases
from worker.loops import Backoff
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
        duties: tuple[Callable[[], Awaitable[object]], ...] = (),
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
        self._cursor: str | None = None  # where the next page of markers starts
        self._duties = duties  # more periodic work each round, e.g. expiring approvals

    async def sweep_once(self, limit: int = 50, stop: asyncio.Event | None = None) -> int:
        """One page of markers: take over and finish what is stuck; the number taken over.
        Stops between commands once `stop` is set (shutdown need not wait for a page)."""
        markers = await self._store.scan("active", limit, after=self._cursor)
        self._cursor = markers[-1]["_id"] if len(markers) == limit else None
        taken = 0
        for marker in markers:
            if stop is not None and stop.is_set():
                break
            try:
                taken += await self._sweep_marker(marker)
            except Exception as exc:  # one command's trouble must not stop the round
                self._metrics.background_errors_total.labels("sweeper").inc()
                log.error(
                    "sweep of one command failed",
                    key=marker.get("_id"),
                    error=f"{type(exc).__name__}: {exc}"[:300],
                )
            finally:
                structlog.contextvars.clear_contextvars()
        return taken

    async def _sweep_marker(self, marker: Doc) -> int:
        command = await self._store.get("commands", marker["_id"])
        if command is None or command["terminal"]:
            # Finished (its finisher did not know of the marker), or deleted by cleanup.
            await self._store.delete("active", marker["_id"])
            return 0
        latest = await self._leases.latest(command["ref"])
        epoch = latest["epoch"] if latest is not None else 1
        # Takeovers since the command last made progress (a Pending write), not since its
        # claim: the chain follower's wake-ups are progress, not failed tries.
        stuck = epoch - int(command.get("progress_epoch", 0))
        if stuck >= self._max_epochs:
            reason = f"taken over {stuck} times without progress"
            result = await self._executor.give_up(
                command["_id"], "RETRIES_EXHAUSTED", reason, attention=True
            )
            log.error("command given up by the sweeper", key=command["_id"], result=result)
            return 0
        lease = await self._leases.take_over_from(command, latest)
        if lease is None:
            return 0
        self._metrics.lease_takeovers_total.inc()
        try:
            async with asyncio.timeout(self._command_timeout_s):
                outcome = await self._executor.execute(command, lease, fresh=False)
            log.info(
                "swept command finished",
                key=command["_id"],
                epoch=lease.epoch,
                outcome=type(outcome).__name__,
            )
        except (TransientError, TimeoutError) as exc:
            # Its lease (released, or expiring) lets the next sweep or delivery try again.
            log.warning("swept command deferred", key=command["_id"], error=repr(exc))
        except PermanentError as exc:
            # Retrying cannot help: never retried, so it ends here.
            result = await self._executor.give_up(
                command["_id"], exc.code, str(exc), attention=True
            )
            log.error("swept command given up", key=command["_id"], result=result)
        return 1

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
            ref = command["ref"]
            for event_id in command.get("events", []):
                await self._store.delete("outbox", event_id)
                await self._store.delete("events", event_id)
            await self._store.delete("leases", lease_id(ref, 1))  # may never have been written
            number = 2
            while await self._store.get("leases", lease_id(ref, number)) is not None:
                await self._store.delete("leases", lease_id(ref, number))
                number += 1
            await self._store.delete("gates", gate_id(ref))
            await self._store.delete("commands", command["_id"])
            deleted += 1
        if deleted:
            log.info("old commands deleted", count=deleted)
        return deleted

    async def run(
        self, stop: asyncio.Event, sweep_interval_s: float, cleanup_interval_s: float
    ) -> None:
        """Sweep until stop; any failure is logged, counted and backed off from."""
        next_cleanup_s = 0.0
        loop = asyncio.get_running_loop()
        backoff = Backoff(sweep_interval_s)
        while not stop.is_set():
            try:
                await self.sweep_once(stop=stop)
                for duty in self._duties:
                    await duty()
                if loop.time() >= next_cleanup_s:
                    await self.cleanup_once()
                    next_cleanup_s = loop.time() + cleanup_interval_s
                backoff.reset()
            except Exception as exc:  # a loop that dies stops the worker: log, count, go on
                self._metrics.background_errors_total.labels("sweeper").inc()
                log.error("sweep round failed", error=f"{type(exc).__name__}: {exc}"[:300])
                backoff.failed()
            await backoff.wait(stop)
