"""Dependency health: periodic checks with timeouts, a snapshot for the sidecar.

Checks run in the background on an interval so probes never wait on a slow
dependency and a probe storm cannot overload one. A dependency counts as up
while its last success is younger than its `fresh_s` and its last check did
not fail — except the TRON node, which may miss a beat (`tolerate_failures`).

`DeliveryAges` adds what no probe can ask RabbitMQ cheaply: how old the commands
reaching this worker are, against the signature's `issued_at` skew window.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import structlog

from schemas.commands import MAX_BODY_BYTES
from schemas.types import parse_timestamp
from worker.logs import redact
from worker.metrics import Metrics

__all__ = [
    "DELIVERY_AGE_WINDOW_S",
    "DeliveryAges",
    "DependencyCheck",
    "DependencyStatus",
    "HealthMonitor",
    "tron_node_check",
]

log = structlog.get_logger()

# Long enough that a Prometheus scrape every 15-60 s sees every delivery's age.
DELIVERY_AGE_WINDOW_S = 60.0


@dataclass(frozen=True)
class DependencyCheck:
    name: str
    probe: Callable[[], Awaitable[None]]  # raises when the dependency is not usable
    timeout_s: float
    fresh_s: float
    tolerate_failures: bool = False  # up while the last success is fresh, even if later ones failed


@dataclass
class DependencyStatus:
    last_ok_at_s: float | None = None  # time.monotonic()
    last_checked_at_s: float | None = None
    last_failed: bool = True
    latency_s: float | None = None
    last_error: str | None = None

    def is_up(self, check: DependencyCheck, now_s: float) -> bool:
        if self.last_ok_at_s is None or now_s - self.last_ok_at_s > check.fresh_s:
            return False
        return check.tolerate_failures or not self.last_failed


class HealthMonitor:
    def __init__(
        self,
        checks: list[DependencyCheck],
        *,
        interval_s: float,
        metrics: Metrics,
        deliveries: DeliveryAges | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._checks = checks
        self._interval_s = interval_s
        self._metrics = metrics
        self._deliveries = deliveries
        self._clock = clock
        self._status = {check.name: DependencyStatus() for check in checks}
        self.last_round_at_s: float | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Check every dependency each interval until stop is set."""
        while not stop.is_set():
            await self.check_all()
            try:
                await asyncio.wait_for(stop.wait(), timeout=self._interval_s)
            except TimeoutError:
                pass

    async def check_all(self) -> None:
        await asyncio.gather(*(self._check(check) for check in self._checks))
        self.last_round_at_s = self._clock()

    async def _check(self, check: DependencyCheck) -> None:
        status = self._status[check.name]
        started_s = self._clock()
        try:
            async with asyncio.timeout(check.timeout_s):
                await check.probe()
        except Exception as exc:
            first_check = status.last_checked_at_s is None
            was_up = not status.last_failed
            status.last_failed = True
            text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            status.last_error = str(redact(text))[:300]
            if first_check or was_up:  # log transitions, not every failed round
                log.warning(
                    "dependency check failed", dependency=check.name, error=status.last_error
                )
        else:
            if status.last_failed and status.last_ok_at_s is not None:
                log.info("dependency recovered", dependency=check.name)
            status.last_failed = False
            status.last_ok_at_s = self._clock()
            status.latency_s = status.last_ok_at_s - started_s
            self._metrics.dependency_check_seconds.labels(check.name).set(status.latency_s)
        status.last_checked_at_s = self._clock()
        self._metrics.dependency_up.labels(check.name).set(
            1 if status.is_up(check, self._clock()) else 0
        )

    def ready(self) -> bool:
        now_s = self._clock()
        return all(self._status[c.name].is_up(c, now_s) for c in self._checks)

    def snapshot(self) -> dict[str, Any]:
        """Each dependency's state, for /health."""
        now_s = self._clock()
        report: dict[str, Any] = {}
        for check in self._checks:
            status = self._status[check.name]
            report[check.name] = {
                "up": status.is_up(check, now_s),
                "latency_s": _round(status.latency_s),
                "last_ok_s_ago": _round(
                    None if status.last_ok_at_s is None else now_s - status.last_ok_at_s
                ),
                "last_checked_s_ago": _round(
                    None if status.last_checked_at_s is None else now_s - status.last_checked_at_s
                ),
                "last_error": status.last_error,
            }
        return report

    def backlog(self) -> dict[str, Any]:
        """How old recent deliveries were, against the skew window, for /health.

        Informational only: readiness never depends on it (a backlog is work to do).
        """
        return {} if self._deliveries is None else self._deliveries.report()


class DeliveryAges:
    """How old commands are when they reach this worker: its view of a queue backlog.

    RabbitMQ does not tell a consumer the age of its queue's head cheaply, so each
    delivery is measured instead: age = now - its `issued_at`, when the broker hands it
    over (before authentication: a forged body can raise the figure, never hide a
    backlog). `oldest_s()` is the largest age among the deliveries received in the
    last `window_s`, None when none arrived; while a queue is backed up it grows toward
    the backlog's age. With signatures required, a command older than `skew_s` whose
    key nobody claimed yet is rejected UNAUTHENTICATED (duplicates of claimed keys are
    not: see worker/auth.py), which `backlog_outside_skew_window` tells an operator.
    """

    def __init__(
        self,
        *,
        skew_s: float | None,  # None: signatures not required, so no window applies
        metrics: Metrics,
        window_s: float = DELIVERY_AGE_WINDOW_S,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._skew_s = skew_s
        self._window_s = window_s
        self._clock = clock or (lambda: datetime.now(UTC))
        # (received at, age_s): received-at ascending and age descending, so the front
        # is the oldest command still in the window (a sliding-window maximum).
        self._recent: deque[tuple[datetime, float]] = deque()
        # Read at scrape time, so the gauge drops to 0 once the window passes quietly.
        metrics.oldest_queued_command_age_seconds.set_function(lambda: self.oldest_s() or 0.0)

    def observe_body(self, body: bytes) -> None:
        """Note one delivery's age; a body without a readable `issued_at` is skipped."""
        issued_at = _issued_at(body)
        if issued_at is not None:
            self.observe(issued_at)

    def observe(self, issued_at: datetime) -> None:
        now = self._clock()
        age_s = max(0.0, (now - issued_at).total_seconds())  # a clock ahead is no backlog
        self._expire(now)
        while self._recent and self._recent[-1][1] <= age_s:
            self._recent.pop()
        self._recent.append((now, age_s))

    def oldest_s(self) -> float | None:
        """The largest age among deliveries of the last window_s; None if there were none."""
        self._expire(self._clock())
        return self._recent[0][1] if self._recent else None

    def report(self) -> dict[str, Any]:
        oldest_s = self.oldest_s()
        return {
            "oldest_queued_command_age_s": _round(oldest_s),
            "oldest_queued_command_window_s": self._window_s,
            "signature_skew_s": self._skew_s,
            "backlog_outside_skew_window": (
                oldest_s is not None and self._skew_s is not None and oldest_s > self._skew_s
            ),
        }

    def _expire(self, now: datetime) -> None:
        if self._recent and self._recent[-1][0] > now:
            self._recent.clear()  # the wall clock stepped back: start the window afresh
        horizon = now - timedelta(seconds=self._window_s)
        while self._recent and self._recent[0][0] <= horizon:
            self._recent.popleft()


def _issued_at(body: bytes) -> datetime | None:
    """The envelope's `issued_at`, or None; the pipeline judges the body, not this."""
    if len(body) > MAX_BODY_BYTES:
        return None
    try:
        data = json.loads(body)
        return parse_timestamp(data["issued_at"]) if isinstance(data, dict) else None
    except Exception:  # must not raise: whatever the body is, the pipeline judges it
        return None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def tron_node_check(
    session: aiohttp.ClientSession, endpoints: list[str], headers: dict[str, str]
) -> Callable[[], Awaitable[None]]:
    """A probe that passes when any endpoint answers `getnodeinfo` with a block."""

    async def probe() -> None:
        errors = []
        for endpoint in endpoints:
            try:
                async with session.post(
                    f"{endpoint}/wallet/getnodeinfo", json={}, headers=headers
                ) as resp:
                    resp.raise_for_status()
                    info = await resp.json(content_type=None)
                if not isinstance(info, dict) or "block" not in info:
                    raise ValueError("answer has no 'block'")
                return
            except (aiohttp.ClientError, ValueError, TimeoutError) as exc:
                errors.append(f"{endpoint}: {type(exc).__name__} {exc}".strip())
        raise ConnectionError("; ".join(errors))

    return probe
