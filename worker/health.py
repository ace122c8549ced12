"""Dependency health: periodic checks with timeouts, a snapshot for the sidecar.

Checks run in the background on an interval so probes never wait on a slow
dependency and a probe storm cannot overload one. A dependency counts as up
while its last success is younger than its `fresh_s` and its last check did
not fail — except the TRON node, which may miss a beat (`tolerate_failures`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import structlog

from worker.logs import redact
from worker.metrics import Metrics

__all__ = ["DependencyCheck", "DependencyStatus", "HealthMonitor", "tron_node_check"]

log = structlog.get_logger()


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
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._checks = checks
        self._interval_s = interval_s
        self._metrics = metrics
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
