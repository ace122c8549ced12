"""worker/health.py and worker/sidecar.py: readiness follows the dependencies' checks."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer

from worker.health import DependencyCheck, HealthMonitor
from worker.metrics import Metrics
from worker.sidecar import build_sidecar_app


class Clock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


class Switch:
    """A probe whose answer the test sets."""

    def __init__(self) -> None:
        self.error: Exception | None = None

    async def __call__(self) -> None:
        if self.error is not None:
            raise self.error


def _monitor(clock: Clock, db: Switch, node: Switch, metrics: Metrics) -> HealthMonitor:
    return HealthMonitor(
        [
            DependencyCheck("database", db, timeout_s=1, fresh_s=5),
            DependencyCheck("tron", node, timeout_s=1, fresh_s=30, tolerate_failures=True),
        ],
        interval_s=1,
        metrics=metrics,
        clock=clock,
    )


async def test_readiness_follows_checks_and_tron_tolerates_a_blip() -> None:
    clock, db, node, metrics = Clock(), Switch(), Switch(), Metrics()
    monitor = _monitor(clock, db, node, metrics)
    assert not monitor.ready(), "nothing checked yet"
    await monitor.check_all()
    assert monitor.ready()
    node.error = ConnectionError("node down")
    clock.now_s += 10
    await monitor.check_all()
    assert monitor.ready(), "a node answered 10 s ago: still fresh"
    clock.now_s += 25
    await monitor.check_all()
    assert not monitor.ready(), "no node answer for 35 s"
    assert monitor.snapshot()["tron"]["last_error"] == "ConnectionError: node down"
    assert metrics.dependency_up.labels("tron")._value.get() == 0
    db.error = ConnectionError("db down")
    node.error = None
    await monitor.check_all()
    assert not monitor.ready(), "the database fails at once, no tolerance"
    assert metrics.dependency_up.labels("database")._value.get() == 0
    db.error = None
    await monitor.check_all()
    assert monitor.ready()


async def test_sidecar_endpoints() -> None:
    clock, db, node, metrics = Clock(), Switch(), Switch(), Metrics()
    monitor = _monitor(clock, db, node, metrics)
    app = build_sidecar_app(monitor, metrics, stale_after_s=60, clock=clock)
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/health/live")).status == 200
        response = await client.get("/health/ready")
        assert response.status == 503
        assert set((await response.json())["down"]) == {"database", "tron"}
        await monitor.check_all()
        assert (await client.get("/health/ready")).status == 200
        detail = await (await client.get("/health")).json()
        assert detail["status"] == "ready"
        assert detail["dependencies"]["database"]["up"] is True
        assert detail["dependencies"]["database"]["latency_s"] is not None
        metrics_text = await (await client.get("/metrics")).text()
        assert 'tron_worker_dependency_up{dependency="database"} 1.0' in metrics_text
        assert "process_resident_memory_bytes" in metrics_text
        clock.now_s += 61
        assert (await client.get("/health/live")).status == 503, "health loop stalled"
