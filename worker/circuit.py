"""A circuit breaker per TRON endpoint: a small state machine with an injected clock.

    CLOSED --N consecutive failures--> OPEN --cool-down over, one probe allowed--> HALF_OPEN
    HALF_OPEN --probe succeeds--> CLOSED        HALF_OPEN --probe fails--> OPEN (cool-down anew)

Ours rather than a library's. Looked at on PyPI: pybreaker 1.4.1 (maintained, but its
async path needs Tornado and it reads the wall clock), purgatory 3.0.1 (asyncio, but
wall-clock `time.time()`, a message bus and unit of work for a counter, and every
request passes while half-open), circuitbreaker 2.1.3 (a decorator with a global
monitor registry; module-level monotonic), aiobreaker 1.2.0 (no release since 2021,
wall clock). None takes a clock, so none can be tested without sleeps, and all decide
"failure" by the exception a wrapped call raises, while the gateway classifies by
java-tron's answer and records the verdict itself. Forty lines of our own do both.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable

__all__ = ["CircuitBreaker", "CircuitState"]


class CircuitState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Says whether a request may go to one endpoint; the caller reports each outcome.

    Args:
        failure_threshold: consecutive failures that open the circuit.
        reset_s: cool-down after opening, before one probe request is let through.
        clock: monotonic seconds (injected so tests need no sleeps).
        on_change: called with the new state on every transition (metrics, logs).
    """

    def __init__(
        self,
        *,
        failure_threshold: int,
        reset_s: float,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[CircuitState], None] | None = None,
    ) -> None:
        if failure_threshold < 1 or reset_s < 0:
            raise ValueError("failure_threshold must be >= 1 and reset_s >= 0")
        self._threshold = failure_threshold
        self._reset_s = reset_s
        self._clock = clock
        self._on_change = on_change
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._opened_at_s = 0.0
        self._probe_out = False

    @property
    def state(self) -> CircuitState:
        return self._state

    def allow(self) -> bool:
        """May a request go now? While half-open, only one probe is out at a time."""
        if self._state is CircuitState.CLOSED:
            return True
        if self._state is CircuitState.OPEN:
            if self._clock() - self._opened_at_s < self._reset_s:
                return False
            self._set(CircuitState.HALF_OPEN)
        if self._probe_out:
            return False
        self._probe_out = True
        return True

    def record_success(self) -> None:
        """The endpoint answered: close (a success from any request is evidence enough)."""
        self._failures = 0
        self._probe_out = False
        self._set(CircuitState.CLOSED)

    def record_failure(self) -> None:
        """The endpoint did not answer usefully: count it, and open or reopen if due."""
        self._probe_out = False
        self._failures += 1
        if self._state is not CircuitState.CLOSED or self._failures >= self._threshold:
            self._opened_at_s = self._clock()  # a failed probe restarts the cool-down
            self._set(CircuitState.OPEN)

    def release(self) -> None:
        """A request ended without a verdict (cancelled): let another probe go."""
        self._probe_out = False

    def _set(self, state: CircuitState) -> None:
        if state is not self._state:
            self._state = state
            if self._on_change is not None:
                self._on_change(state)
