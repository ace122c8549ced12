"""The aiohttp sidecar: liveness, readiness, dependency detail and Prometheus metrics."""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from worker.health import HealthMonitor
from worker.metrics import Metrics

__all__ = ["Sidecar", "build_sidecar_app"]


def build_sidecar_app(
    health: HealthMonitor,
    metrics: Metrics,
    *,
    stale_after_s: float,
    clock: Callable[[], float] = time.monotonic,
) -> web.Application:
    """Routes only; no I/O happens here beyond reading the monitor's last results."""

    async def live(_request: web.Request) -> web.Response:
        # Responsive = this handler runs and the health loop has not stalled.
        last = health.last_round_at_s
        if last is not None and clock() - last > stale_after_s:
            return web.json_response({"status": "stalled"}, status=503)
        return web.json_response({"status": "alive"})

    async def ready(_request: web.Request) -> web.Response:
        if health.ready():
            return web.json_response({"status": "ready"})
        down = [name for name, state in health.snapshot().items() if not state["up"]]
        return web.json_response({"status": "not ready", "down": down}, status=503)

    async def detail(_request: web.Request) -> web.Response:
        is_ready = health.ready()
        body = {
            "status": "ready" if is_ready else "not ready",
            "dependencies": health.snapshot(),
            **health.backlog(),  # informational: never part of readiness
        }
        # Always 200: this is for people and dashboards; probes use /health/ready.
        return web.json_response(body)

    async def scrape(_request: web.Request) -> web.Response:
        response = web.Response(body=metrics.exposition())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    app = web.Application()
    app.router.add_get("/health/live", live)
    app.router.add_get("/health/ready", ready)
    app.router.add_get("/health", detail)
    app.router.add_get("/metrics", scrape)
    return app


class Sidecar:
    """Serves the app on host:port; port 0 picks a free port (see `port`)."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        self._host = host
        self._port = port
        self.port: int | None = None

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port, reuse_address=True)
        await site.start()
        server = site._server  # the bound socket tells the real port when 0 was asked
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self._port

    async def stop(self) -> None:
        await self._runner.cleanup()
