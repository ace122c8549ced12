"""worker/circuit.py: the breaker's state machine on an injected clock, no sleeps."""

from __future__ import annotations

import pytest

from worker.circuit import CircuitBreaker, CircuitState

THRESHOLD = 3
RESET_S = 10.0


class Clock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def changes() -> list[CircuitState]:
    return []


@pytest.fixture
def breaker(clock: Clock, changes: list[CircuitState]) -> CircuitBreaker:
    return CircuitBreaker(
        failure_threshold=THRESHOLD, reset_s=RESET_S, clock=clock, on_change=changes.append
    )


def _open(breaker: CircuitBreaker) -> None:
    for _ in range(THRESHOLD):
        assert breaker.allow()
        breaker.record_failure()


def test_starts_closed_and_lets_requests_through(breaker: CircuitBreaker) -> None:
    assert breaker.state is CircuitState.CLOSED
    assert all(breaker.allow() for _ in range(10))


def test_opens_after_threshold_consecutive_failures(
    breaker: CircuitBreaker, changes: list[CircuitState]
) -> None:
    for _ in range(THRESHOLD - 1):
        breaker.record_failure()
    assert breaker.state is CircuitState.CLOSED and changes == []

    breaker.record_failure()

    assert breaker.state is CircuitState.OPEN
    assert changes == [CircuitState.OPEN]
    assert not breaker.allow()


def test_a_success_resets_the_count_of_failures(breaker: CircuitBreaker) -> None:
    for _ in range(THRESHOLD - 1):
        breaker.record_failure()
    breaker.record_success()
    for _ in range(THRESHOLD - 1):
        breaker.record_failure()
    assert breaker.state is CircuitState.CLOSED


def test_stays_open_until_the_cool_down_is_over(breaker: CircuitBreaker, clock: Clock) -> None:
    _open(breaker)
    clock.now_s += RESET_S - 0.001
    assert not breaker.allow()
    assert breaker.state is CircuitState.OPEN


def test_half_open_lets_exactly_one_probe_through(
    breaker: CircuitBreaker, clock: Clock, changes: list[CircuitState]
) -> None:
    _open(breaker)
    clock.now_s += RESET_S

    assert breaker.allow()
    assert breaker.state is CircuitState.HALF_OPEN
    assert not breaker.allow(), "a second request while the probe is out"
    assert changes == [CircuitState.OPEN, CircuitState.HALF_OPEN]


def test_successful_probe_closes(
    breaker: CircuitBreaker, clock: Clock, changes: list[CircuitState]
) -> None:
    _open(breaker)
    clock.now_s += RESET_S
    assert breaker.allow()

    breaker.record_success()

    assert breaker.state is CircuitState.CLOSED
    assert changes[-1] is CircuitState.CLOSED
    assert breaker.allow() and breaker.allow()
    # closed again means a full count of failures is needed to reopen
    for _ in range(THRESHOLD - 1):
        breaker.record_failure()
    assert breaker.state is CircuitState.CLOSED


def test_failed_probe_reopens_and_restarts_the_cool_down(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    _open(breaker)
    clock.now_s += RESET_S
    assert breaker.allow()

    breaker.record_failure()  # one failure is enough while half-open

    assert breaker.state is CircuitState.OPEN
    clock.now_s += RESET_S / 2
    assert not breaker.allow()
    clock.now_s += RESET_S / 2
    assert breaker.allow()


def test_released_probe_lets_another_probe_go(breaker: CircuitBreaker, clock: Clock) -> None:
    _open(breaker)
    clock.now_s += RESET_S
    assert breaker.allow()
    assert not breaker.allow()

    breaker.release()  # e.g. the probe was cancelled: no verdict

    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.allow()


def test_no_change_callback_without_a_transition(
    breaker: CircuitBreaker, changes: list[CircuitState]
) -> None:
    breaker.record_success()
    breaker.record_failure()
    breaker.record_success()
    assert changes == []


@pytest.mark.parametrize(("threshold", "reset_s"), [(0, 1.0), (1, -1.0)])
def test_rejects_nonsense_configuration(threshold: int, reset_s: float) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(failure_threshold=threshold, reset_s=reset_s)
