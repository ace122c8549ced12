"""worker/health.py DeliveryAges: the age of recent deliveries, in /health and a gauge.

The claimed-key side of the skew window (a late duplicate is a duplicate, never
UNAUTHENTICATED) is tested in tests/unit/test_hardening.py.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from worker.consumer import Consumer
from worker.health import DeliveryAges, DependencyCheck, HealthMonitor
from worker.metrics import Metrics
from worker.sidecar import build_sidecar_app

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
GAUGE = "tron_worker_oldest_queued_command_age_seconds"


class WallClock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def _body(issued_at: datetime | str) -> bytes:
    stamp = issued_at if isinstance(issued_at, str) else issued_at.isoformat()
    return json.dumps({"type": "wallet.create", "issued_at": stamp, "payload": {}}).encode()


def _ages(clock: WallClock, metrics: Metrics, skew_s: float | None = 300.0) -> DeliveryAges:
    return DeliveryAges(skew_s=skew_s, metrics=metrics, window_s=60, clock=clock)


def test_a_ten_minute_old_delivery_is_outside_the_window_until_the_window_passes() -> None:
    clock, metrics = WallClock(), Metrics()
    ages = _ages(clock, metrics)
    ages.observe_body(_body(NOW - timedelta(minutes=10)))
    clock.now += timedelta(seconds=1)
    ages.observe_body(_body(NOW - timedelta(minutes=1)))
    assert ages.report() == {
        "oldest_queued_command_age_s": 600.0,
        "oldest_queued_command_window_s": 60,
        "signature_skew_s": 300.0,
        "backlog_outside_skew_window": True,
    }
    assert metrics.registry.get_sample_value(GAUGE) == 600.0
    clock.now = NOW + timedelta(seconds=60)
    assert ages.oldest_s() == 61.0, "the 600 s one left the window; the newer one is still in"
    clock.now = NOW + timedelta(seconds=61)
    report = ages.report()
    assert report["oldest_queued_command_age_s"] is None, "nothing arrived in the last 60 s"
    assert report["backlog_outside_skew_window"] is False
    assert metrics.registry.get_sample_value(GAUGE) == 0.0


def test_the_oldest_wins_over_later_younger_deliveries_and_a_new_oldest_replaces_it() -> None:
    clock, metrics = WallClock(), Metrics()
    ages = _ages(clock, metrics)
    for age_s in (30, 5, 20, 10):
        ages.observe_body(_body(NOW - timedelta(seconds=age_s)))
    assert ages.oldest_s() == 30.0
    ages.observe_body(_body(NOW - timedelta(seconds=400)))
    assert ages.oldest_s() == 400.0
    assert ages.report()["backlog_outside_skew_window"] is True
    ages.observe_body(_body(NOW + timedelta(seconds=30)))  # a publisher clock ahead: age 0
    assert ages.oldest_s() == 400.0


def test_bodies_without_a_readable_issued_at_are_skipped() -> None:
    clock, metrics = WallClock(), Metrics()
    ages = _ages(clock, metrics)
    for body in (
        b"not json",
        b"\xff\xfe",
        b"[1, 2]",
        b'{"type": "wallet.create"}',
        _body("2026-11-23T11:00:00"),  # naive: ambiguous
        _body("yesterday"),
        json.dumps({"issued_at": 1763899200}).encode(),
        b"[" * 100_000,
    ):
        ages.observe_body(body)
    assert ages.oldest_s() is None
    assert metrics.registry.get_sample_value(GAUGE) == 0.0


def test_without_signatures_there_is_no_window_to_be_outside_of() -> None:
    clock, metrics = WallClock(), Metrics()
    ages = _ages(clock, metrics, skew_s=None)
    ages.observe_body(_body(NOW - timedelta(hours=2)))
    report = ages.report()
    assert report["oldest_queued_command_age_s"] == 7200.0
    assert report["signature_skew_s"] is None
    assert report["backlog_outside_skew_window"] is False


async def test_health_shows_the_backlog_and_readiness_ignores_it() -> None:
    clock, metrics = WallClock(), Metrics()
    ages = _ages(clock, metrics)

    async def up() -> None:
        return None

    monitor = HealthMonitor(
        [DependencyCheck("database", up, timeout_s=1, fresh_s=5)],
        interval_s=1,
        metrics=metrics,
        deliveries=ages,
    )
    await monitor.check_all()
    app = build_sidecar_app(monitor, metrics, stale_after_s=60)
    async with TestClient(TestServer(app)) as client:
        quiet = await (await client.get("/health")).json()
        assert quiet["oldest_queued_command_age_s"] is None
        assert quiet["signature_skew_s"] == 300.0
        assert quiet["backlog_outside_skew_window"] is False
        ages.observe_body(_body(NOW - timedelta(minutes=10)))
        detail = await (await client.get("/health")).json()
        assert detail["status"] == "ready"
        assert detail["dependencies"]["database"]["up"] is True
        assert detail["oldest_queued_command_age_s"] == 600.0
        assert detail["oldest_queued_command_window_s"] == 60
        assert detail["backlog_outside_skew_window"] is True
        assert (await client.get("/health/ready")).status == 200
        assert f"{GAUGE} 600.0" in await (await client.get("/metrics")).text()


def test_health_without_delivery_ages_adds_nothing() -> None:
    monitor = HealthMonitor([], interval_s=1, metrics=Metrics())
    assert monitor.backlog() == {}


# --- the consumer measures each delivery as it arrives ------------------------------------


class FakeQueue:
    def __init__(self, name: str) -> None:
        self.name = name
        self.callback: Any = None
        self.consuming = asyncio.Event()

    async def consume(self, callback: Any) -> str:
        self.callback = callback
        self.consuming.set()
        return f"tag-{self.name}"

    async def cancel(self, tag: str) -> None:
        self.callback = None


class FakeTopology:
    work_queues = ("wallet",)


class FakeBroker:
    topology = FakeTopology()

    def __init__(self) -> None:
        self.queue = FakeQueue("tron.wallet")

    async def work_queue(self, family: str) -> FakeQueue:
        return self.queue


class FakeMessage:
    def __init__(self, body: bytes) -> None:
        self.body = body


async def test_the_consumer_observes_every_delivery_body_before_processing_it() -> None:
    broker, observed, processed = FakeBroker(), [], []
    done = asyncio.Event()

    async def process(family: str, delivery: Any) -> None:
        processed.append((family, delivery.body))
        done.set()

    consumer = Consumer(
        broker,  # type: ignore[arg-type]
        process,
        max_concurrency=1,
        observe=observed.append,
    )
    running = asyncio.create_task(consumer.run())
    await asyncio.wait_for(broker.queue.consuming.wait(), timeout=5)
    body = _body(NOW)
    await broker.queue.callback(FakeMessage(body))
    await asyncio.wait_for(done.wait(), timeout=5)
    consumer.stop()
    await asyncio.wait_for(running, timeout=5)
    assert observed == [body]
    assert processed == [("wallet", body)]


def test_a_wall_clock_stepping_back_starts_the_window_afresh() -> None:
    clock, metrics = WallClock(), Metrics()
    ages = _ages(clock, metrics)
    ages.observe_body(_body(NOW - timedelta(minutes=10)))
    clock.now = NOW - timedelta(hours=1)
    assert ages.oldest_s() is None


async def test_stopping_while_the_broker_is_down_drains_instead_of_crashing() -> None:
    """A SIGTERM during a broker outage: cancelling the consumer fails with its channel
    (the chaos run saw exit 1 from this); run() must still return once drained."""
    broker = FakeBroker()

    async def closed(tag: str) -> None:
        raise RuntimeError("channel closed")

    broker.queue.cancel = closed  # type: ignore[method-assign]

    async def process(family: str, delivery: Any) -> None:
        return None

    consumer = Consumer(broker, process, max_concurrency=1)  # type: ignore[arg-type]
    running = asyncio.create_task(consumer.run())
    await asyncio.wait_for(broker.queue.consuming.wait(), timeout=5)
    consumer.stop()
    await asyncio.wait_for(running, timeout=5)
    assert running.exception() is None
