"""The composition root: builds every component from Settings and runs them until stopped.

Nothing else in the code base constructs adapters or reads settings; modules
receive what they need from here.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import socket

import aiohttp
import structlog

from worker.broker import Broker
from worker.consumer import Consumer
from worker.database import ensure_indexes, make_client, ping
from worker.errors import TransientError
from worker.gateway import Gateway
from worker.health import DeliveryAges, DependencyCheck, HealthMonitor, tron_node_check
from worker.keystore import Keystore, KeystoreError
from worker.metrics import Metrics
from worker.settings import Settings
from worker.sidecar import Sidecar, build_sidecar_app
from worker.store import MongoStore
from worker.topology import build_topology
from worker.wiring import build_pipeline

__all__ = ["StartupError", "run_worker", "serve_until_signalled"]

log = structlog.get_logger()


class StartupError(Exception):
    """A setting that only fails when its component is built (one line, exit 2)."""


def serve_until_signalled(settings: Settings, *, burst: bool = False) -> int:
    """Run the worker until SIGTERM or SIGINT (or, in burst mode, until drained)."""

    async def main() -> None:
        # Each command makes many short-lived objects (pymongo, asyncio): with the default
        # thresholds the collector took 6% of the worker's CPU (docs/performance.md).
        # What start-up built lives as long as the process, so it is not scanned again.
        gc.freeze()
        gc.set_threshold(10_000, 20, 20)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, _on_signal, stop, signum)
        await run_worker(settings, stop, burst=burst)

    asyncio.run(main())
    return 0


def _on_signal(stop: asyncio.Event, signum: int) -> None:
    log.info("shutdown requested", signal=signal.Signals(signum).name)
    stop.set()


async def run_worker(settings: Settings, stop: asyncio.Event, *, burst: bool = False) -> None:
    """Start everything, serve until `stop` is set, then shut down in order.

    burst: also stop once nothing is queued, running, unpublished or left unfinished, as
    arq's burst mode does, so tests and one-off drains wait on that instead of sleeping.
    """
    metrics = Metrics()
    broker = Broker(
        settings.amqp,
        build_topology(settings.amqp),
        connection_name=f"tron-worker {socket.gethostname()}:{os.getpid()}",
    )
    mongo = make_client(settings.mongo, metrics)  # counts round trips on /metrics
    headers = {}
    if settings.tron.api_key is not None:
        headers[settings.tron.api_key_header] = settings.tron.api_key.get_secret_value()
    sc = settings.sidecar
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=sc.tron_check_timeout_s))
    amqp = settings.amqp
    ages = DeliveryAges(
        skew_s=amqp.signature_skew_s if amqp.require_signature else None, metrics=metrics
    )
    health = HealthMonitor(
        [
            DependencyCheck(
                "broker", _broker_probe(broker), sc.broker_check_timeout_s, sc.check_interval_s * 2
            ),
            DependencyCheck(
                "database",
                lambda: ping(mongo, sc.database_check_timeout_s),
                sc.database_check_timeout_s,
                sc.check_interval_s * 2 + sc.database_check_timeout_s,
            ),
            DependencyCheck(
                "tron",
                tron_node_check(http, settings.tron.endpoints, headers),
                sc.tron_check_timeout_s * len(settings.tron.endpoints),
                sc.tron_fresh_s,
                tolerate_failures=True,
            ),
        ],
        interval_s=sc.check_interval_s,
        metrics=metrics,
        deliveries=ages,
    )
    store = MongoStore(mongo[settings.mongo.database])
    gateway = Gateway(settings.tron, metrics)
    try:
        wired = build_pipeline(
            settings,
            store=store,
            broker=broker,
            node=gateway,
            keys=Keystore(settings.keystore),
            owner=f"{socket.gethostname()}:{os.getpid()}",
            metrics=metrics,
        )
    except (KeystoreError, ValueError) as exc:
        raise StartupError(str(exc)) from None
    pipeline, sweeper, outbox, follower = (
        wired.pipeline,
        wired.sweeper,
        wired.outbox,
        wired.follower,
    )
    consumer = Consumer(
        broker,
        pipeline.process,
        max_concurrency=settings.worker.max_concurrency,
        observe=ages.observe_body,
    )
    sidecar = Sidecar(
        build_sidecar_app(health, metrics, stale_after_s=sc.check_interval_s * 5 + 30),
        sc.host,
        sc.port,
    )
    try:
        # The sidecar first, so liveness answers while dependencies are still coming up.
        await sidecar.start()
        log.info(
            "sidecar listening", host=sc.host, port=sidecar.port, network=settings.tron.network
        )
        async with asyncio.TaskGroup() as tasks:
            background = [tasks.create_task(health.run(stop), name="health")]
            started = await _until_connected(broker, mongo, settings, stop)
            if started:
                consuming = tasks.create_task(consumer.run(), name="consumer")
                ws = settings.worker
                loops = {
                    "relay": outbox.run(stop, ws.relay_interval_s),
                    "sweeper": sweeper.run(stop, ws.sweep_interval_s, ws.cleanup_interval_s),
                    "follower": follower.run(stop),
                    "balance_check": wired.balance_check.run(stop),  # judges where it follows
                }
                if burst:
                    loops["burst"] = _stop_when_drained(broker, store, consumer, stop)
                background += [tasks.create_task(c, name=n) for n, c in loops.items()]
                log.info("worker started", queues=len(broker.topology.work_queues))
            await stop.wait()
            grace = asyncio.get_running_loop().time() + settings.worker.shutdown_grace_s
            if started:
                await _drain(consumer, consuming, settings.worker.shutdown_grace_s)
            await _finish(background, grace - asyncio.get_running_loop().time())
    finally:
        # Close in reverse order of need: the broker after in-flight acks, the sidecar last
        # so probes see the worker until it is really gone.
        await broker.close()
        await mongo.close()
        await gateway.aclose()
        await http.close()
        await sidecar.stop()
        log.info("worker stopped")


async def _finish(background: list[asyncio.Task[None]], grace_s: float) -> None:
    """Give the background loops what is left of the shutdown grace to see `stop`, then
    cancel the rest. Cancelling one mid-round is what a SIGKILL at that await would do, and
    every round is built to survive that (decisions are inserts, steps are idempotent)."""
    log.info("waiting for background tasks", grace_s=round(max(grace_s, 0.0), 1))
    _, late = await asyncio.wait(background, timeout=max(grace_s, 1.0))
    for task in late:
        log.warning("background task cancelled at shutdown", task=task.get_name(), at=_awaits(task))
        task.cancel()


def _awaits(task: asyncio.Task[None]) -> list[str]:
    """Where a suspended task waits: function:line down its chain of awaits."""
    where: list[str] = []
    coro = task.get_coro()
    while (frame := getattr(coro, "cr_frame", None)) is not None and len(where) < 12:
        where.append(f"{frame.f_code.co_name}:{frame.f_lineno}")
        coro = coro.cr_await  # type: ignore[union-attr]
    return where


def _broker_probe(broker: Broker):  # type: ignore[no-untyped-def]
    async def probe() -> None:
        if not broker.is_open():
            raise ConnectionError("broker connection or channel is closed")

    return probe


async def _until_connected(
    broker: Broker, mongo: object, settings: Settings, stop: asyncio.Event
) -> bool:
    """Connect to the broker and create indexes, retrying until done or stopped."""
    database = mongo[settings.mongo.database]  # type: ignore[index]
    steps = [("broker", broker.connect), ("database", lambda: ensure_indexes(database))]
    for name, step in steps:
        while not stop.is_set():
            try:
                await step()
                break
            except TransientError as exc:
                log.warning("dependency not available yet", dependency=name, error=str(exc))
                try:
                    await asyncio.wait_for(stop.wait(), timeout=settings.amqp.reconnect_interval_s)
                except TimeoutError:
                    pass
    return not stop.is_set()


async def _stop_when_drained(
    broker: Broker, store: MongoStore, consumer: Consumer, stop: asyncio.Event
) -> None:
    """Burst mode: set `stop` once the queues, the consumer, the outbox and the sweeper's
    work list are all empty, twice in a row (a delivery may be on its way meanwhile)."""
    quiet_rounds = 0
    while not stop.is_set():
        try:
            drained = (
                consumer.idle
                and await broker.messages_waiting() == 0
                and await store.count("outbox") == 0
                and await store.count("active") == 0
            )
        except TransientError:
            drained = False
        quiet_rounds = quiet_rounds + 1 if drained else 0
        if quiet_rounds >= 2:
            log.info("burst: everything drained, stopping")
            stop.set()
            return
        try:
            await asyncio.wait_for(stop.wait(), timeout=0.25)
        except TimeoutError:
            pass


async def _drain(consumer: Consumer, consuming: asyncio.Task[None], grace_s: float) -> None:
    """Stop taking deliveries, then give in-flight ones grace_s to finish."""
    consumer.stop()
    log.info("draining in-flight deliveries", grace_s=grace_s)
    try:
        await asyncio.wait_for(asyncio.shield(consuming), timeout=grace_s)
        log.info("drained")
    except TimeoutError:
        # Unacked deliveries go back to the queue when the channel closes.
        log.warning("grace period over, cancelling in-flight deliveries", grace_s=grace_s)
        consuming.cancel()
