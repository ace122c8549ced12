"""What background loops share: wait for the next round, longer after each failure."""

from __future__ import annotations

import asyncio

__all__ = ["Backoff"]


class Backoff:
    """interval_s between healthy rounds; after failures, doubling up to max_s."""

    def __init__(self, interval_s: float, max_s: float = 60.0) -> None:
        self._interval_s = interval_s
        self._max_s = max(max_s, interval_s)
        self._failures = 0

    @property
    def delay_s(self) -> float:
        return min(self._interval_s * 2**self._failures, self._max_s)

    def failed(self) -> None:
        self._failures = min(self._failures + 1, 32)

    def reset(self) -> None:
        self._failures = 0

    async def wait(self, stop: asyncio.Event) -> None:
        """Sleep for the current delay, or until stop is set."""
        try:
            await asyncio.wait_for(stop.wait(), timeout=self.delay_s)
        except TimeoutError:
            pass
