"""Money end to end through real worker processes, and the naive loop to compare with.

A `Fleet` is N `tron-worker run` processes on a fresh namespace and database, against
the stack's RabbitMQ and FerretDB and a private devnet. `run_load` publishes TRX
transfers or USDT payouts (as fast as publisher confirms allow, or paced at a rate),
times publish -> `broadcast` and -> `confirmed` per transaction, and counts what it cost
between the first publish and the last confirmed event: CPU of every process involved
(/proc), and the workers' own counters read from their sidecars' /metrics (database
round trips, node requests, events published).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika

from bench.common import (
    BENCH_MASTER_KEYS,
    BLOCK_INTERVAL_S,
    FUND_SUN,
    RECIPIENT,
    CpuMeter,
    by_label,
    command_body,
    cpu_seconds,
    percentile,
    post_json,
    scrape,
    stack_pids,
    system_cpu_seconds,
)
from tests.support import WorkerProcess, delete_namespace, free_port
from worker.database import make_client
from worker.settings import load_settings

__all__ = ["LINES", "Fleet", "LoadResult", "measure_tronpy", "run_load"]

LINES = 10  # recipients per USDT payout
TIMEOUT_S = 300.0  # a load that has not finished by then has failed


@dataclass
class LoadResult:
    """One load on one fleet; `items` are transactions (a transfer, or a payout line)."""

    kind: str  # "trx" or "usdt"
    workers: int
    paced_per_s: float | None  # None: as fast as confirms allow
    commands: int
    items: int
    publish_s: float
    broadcast_s: float
    confirmed_s: float
    latencies_ms: list[float]  # publish -> broadcast, one per item
    cpu_s: dict[str, float]
    idle: dict[str, float]  # per second, with no load: db round trips, worker CPU
    db_round_trips: dict[str, float]  # by database command
    node_requests: dict[str, float]  # by gateway method
    events_published: dict[str, float]  # by event type
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def broadcast_per_s(self) -> float:
        return self.items / self.broadcast_s

    @property
    def confirmed_per_s(self) -> float:
        return self.items / self.confirmed_s

    @property
    def publish_per_s(self) -> float:
        return self.items / self.publish_s

    def latency_ms(self, q: float) -> float:
        return percentile(sorted(self.latencies_ms), q)

    def per_item(self, counts: dict[str, float]) -> float:
        return sum(counts.values()) / self.items

    @property
    def worker_cpu_ms_per_item(self) -> float:
        return self.cpu_s["workers"] / self.items * 1000

    @property
    def broker_messages_per_item(self) -> float:
        """Messages through the broker: the commands published plus the events published."""
        return (self.commands + sum(self.events_published.values())) / self.items


class Fleet:
    """`workers` worker processes on a namespace and database of their own."""

    def __init__(
        self, devnet_url: str, workers: int, log_dir: Path, devnet_pid: int | None = None
    ) -> None:
        self.devnet_url = devnet_url
        self.devnet_pids = [] if devnet_pid is None else [devnet_pid]
        self.settings = load_settings()
        self.namespace = f"bench-{uuid.uuid4().hex[:8]}"
        self.database = f"bench_{self.namespace.replace('-', '_')}"
        env = {
            "TRON_WORKER_AMQP__NAMESPACE": self.namespace,
            "TRON_WORKER_LOG__LEVEL": "warning",
            "TRON_WORKER_KEYSTORE__MASTER_KEYS": BENCH_MASTER_KEYS,
            "TRON_WORKER_MONGO__DATABASE": self.database,
            "TRON_WORKER_TRON__ENDPOINTS": json.dumps([devnet_url]),
            "TRON_WORKER_CHAIN__FOLLOWER_INTERVAL_S": "0.1",
            "TRON_WORKER_WORKER__SWEEP_INTERVAL_S": "0.2",
            "TRON_WORKER_SIDECAR__HOST": "127.0.0.1",
        }
        self.processes = []
        for index in range(workers):
            port = free_port()
            self.processes.append(
                WorkerProcess(
                    {**os.environ, **env, "TRON_WORKER_SIDECAR__PORT": str(port)},
                    f"http://127.0.0.1:{port}",
                    log_dir / f"{self.namespace}-worker-{index}.log",
                )
            )
        self.wallet = ""

    @property
    def pids(self) -> list[int]:
        return [p.process.pid for p in self.processes if p.process is not None]

    @property
    def sidecars(self) -> list[str]:
        return [p.sidecar_url for p in self.processes]

    async def __aenter__(self) -> Fleet:
        self.connection = await aio_pika.connect_robust(self.settings.amqp.url)
        for process in self.processes:
            process.start()
        for process in self.processes:
            await process.wait_status("/health/ready", 200)
        self.wallet = await self._funded_wallet()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        for process in self.processes:
            await process.stop()
        await delete_namespace(self.connection, self.namespace)
        await self.connection.close()
        client = make_client(self.settings.mongo)
        try:
            await client.drop_database(self.database)
        finally:
            await client.close()

    async def _funded_wallet(self) -> str:
        """A hot wallet made by the workers, funded with TRX and USDT on devnet."""
        channel = await self.connection.channel()
        events = await channel.declare_queue(exclusive=True)
        await events.bind(f"{self.namespace}.events", routing_key="wallet.#")
        created: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        async def on_event(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                event = json.loads(message.body)
                if event["type"] == "wallet.created" and not created.done():
                    created.set_result(event["payload"]["addresses"][0])

        await events.consume(on_event)
        exchange = await channel.get_exchange(f"{self.namespace}.commands")
        _, body = command_body("wallet.create", {"count": 1, "purpose": "hot"})
        await exchange.publish(aio_pika.Message(body), routing_key="command.wallet.create")
        wallet = await asyncio.wait_for(created, 60)
        await channel.close()
        url = self.devnet_url + "/devnet/fund"
        await post_json(url, {"address": wallet, "amount_sun": FUND_SUN})
        await post_json(url, {"address": wallet, "token": "USDT", "amount": 10**12})
        return wallet


def _commands(kind: str, wallet: str, count: int) -> list[tuple[str, str, bytes]]:
    """(routing key, command_id, body) of each command, made before the clock starts."""
    made = []
    for index in range(count):
        if kind == "trx":
            amount_sun = 1000 + index
            payload: dict[str, Any] = {"wallet": wallet, "to": RECIPIENT, "amount_sun": amount_sun}
            routing_key = "command.transfer.trx"
            command_id, body = command_body("transfer.trx", payload)
        else:
            lines = [
                {"to": RECIPIENT, "amount": 1000 + line, "reference": f"{index}-{line}"}
                for line in range(LINES)
            ]
            payload = {"asset": "USDT", "source_wallet": wallet, "recipients": lines}
            routing_key = "command.payout.create"
            command_id, body = command_body("payout.create", payload)
        made.append((routing_key, command_id, body))
    return made


class _Tracker:
    """When each command was published, and each transaction's first `broadcast` and its
    `confirmed` event arrived (a transaction: the command, or a payout line by reference)."""

    def __init__(self, items: int) -> None:
        self.items = items
        self.sent_at: dict[str, float] = {}
        self.broadcast_at: dict[tuple[str, Any], float] = {}
        self.confirmed: set[tuple[str, Any]] = set()
        self.broadcast_done, self.confirmed_done = asyncio.Event(), asyncio.Event()

    async def on_event(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            event = json.loads(message.body)
            if event["command_id"] not in self.sent_at:
                return  # the funding wallet's, or a previous load's
            key = (event["command_id"], (event.get("payload") or {}).get("reference"))
            if event["type"].endswith(".broadcast"):
                self.broadcast_at.setdefault(key, time.perf_counter())
                if len(self.broadcast_at) >= self.items:
                    self.broadcast_done.set()
            elif event["type"].endswith(".confirmed"):
                self.confirmed.add(key)
                if len(self.confirmed) >= self.items:
                    self.confirmed_done.set()

    def latencies_ms(self) -> list[float]:
        return [(at - self.sent_at[key[0]]) * 1000 for key, at in self.broadcast_at.items()]


async def _publish(
    exchange: aio_pika.abc.AbstractExchange,
    made: list[tuple[str, str, bytes]],
    tracker: _Tracker,
    per_command_s: float,
) -> None:
    """Each publish awaits its broker confirm; per_command_s > 0 paces them evenly."""
    started = time.perf_counter()
    for index, (routing_key, command_id, body) in enumerate(made):
        if per_command_s:
            await asyncio.sleep(max(0.0, started + index * per_command_s - time.perf_counter()))
        tracker.sent_at[command_id] = time.perf_counter()
        await exchange.publish(aio_pika.Message(body), routing_key=routing_key)


async def run_load(
    fleet: Fleet,
    kind: str,
    commands: int,
    *,
    rate_per_s: float | None = None,
    profiler: Any = None,
) -> LoadResult:
    """Publish `commands` (TRX transfers, or USDT payouts of LINES lines) and time them.

    rate_per_s paces the items (transactions) published per second; profiler, if any, is
    started with the first publish and stopped with the last confirmed event.
    """
    items = commands * (1 if kind == "trx" else LINES)
    tracker = _Tracker(items)
    channel = await fleet.connection.channel()
    events = await channel.declare_queue(exclusive=True)
    await events.bind(f"{fleet.namespace}.events", routing_key="#")
    await events.consume(tracker.on_event)
    exchange = await channel.get_exchange(f"{fleet.namespace}.commands")
    made = _commands(kind, fleet.wallet, commands)
    processes = {"workers": fleet.pids, "bench": [os.getpid()], "devnet": fleet.devnet_pids}
    meter = CpuMeter({**processes, **{name: [pid] for name, pid in stack_pids().items()}})
    idle = await _idle_rates(fleet)
    before = await scrape(fleet.sidecars)
    meter.start()
    system_before_s = sum(map(system_cpu_seconds, fleet.pids))
    if profiler is not None:
        profiler.start(fleet.pids[0])
    started = time.perf_counter()
    try:
        await _publish(
            exchange, made, tracker, 0.0 if rate_per_s is None else (items / commands) / rate_per_s
        )
        publish_s = time.perf_counter() - started
        await asyncio.wait_for(tracker.broadcast_done.wait(), TIMEOUT_S)
        broadcast_s = time.perf_counter() - started
        await asyncio.wait_for(tracker.confirmed_done.wait(), TIMEOUT_S)
        confirmed_s = time.perf_counter() - started
    except TimeoutError:
        raise RuntimeError(
            f"{kind} x{commands} on {len(fleet.pids)} worker(s): only "
            f"{len(tracker.broadcast_at)} broadcast, {len(tracker.confirmed)} confirmed of "
            f"{items} within {TIMEOUT_S:.0f} s"
        ) from None
    finally:
        if profiler is not None:
            profiler.stop()
    meter.stop()
    meter.used_s["workers_system"] = sum(map(system_cpu_seconds, fleet.pids)) - system_before_s
    after = await scrape(fleet.sidecars)
    await channel.close()
    return LoadResult(
        kind=kind,
        workers=len(fleet.pids),
        paced_per_s=rate_per_s,
        commands=commands,
        items=items,
        publish_s=publish_s,
        broadcast_s=broadcast_s,
        confirmed_s=confirmed_s,
        latencies_ms=tracker.latencies_ms(),
        cpu_s=meter.used_s,
        idle=idle,
        db_round_trips=by_label(before, after, "tron_worker_db_round_trips_total", "command"),
        node_requests=by_label(before, after, "tron_worker_node_requests_total", "method"),
        events_published=by_label(before, after, "tron_worker_events_published_total", "type"),
    )


IDLE_S = 2.0


async def _idle_rates(fleet: Fleet) -> dict[str, float]:
    """What the workers do with no load, per second: their loops' database round trips and
    CPU (also lets the funding reach the solidified view before the load starts)."""
    elapsed_s = max(IDLE_S, BLOCK_INTERVAL_S * 5)
    before, cpu_before = await scrape(fleet.sidecars), sum(map(cpu_seconds, fleet.pids))
    await asyncio.sleep(elapsed_s)
    after, cpu_after = await scrape(fleet.sidecars), sum(map(cpu_seconds, fleet.pids))
    trips = by_label(before, after, "tron_worker_db_round_trips_total", "command")
    return {
        "db_round_trips_per_s": sum(trips.values()) / elapsed_s,
        "worker_cpu_per_s": (cpu_after - cpu_before) / elapsed_s,
    }


async def measure_tronpy(devnet_url: str, transfers: int) -> dict[str, float]:
    """The naive loop: tronpy builds, signs, broadcasts and waits (solidified), one at a time."""
    from tronpy import AsyncTron
    from tronpy.keys import PrivateKey
    from tronpy.providers import AsyncHTTPProvider

    key = PrivateKey.random()
    sender = key.public_key.to_base58check_address()
    await post_json(devnet_url + "/devnet/fund", {"address": sender, "amount_sun": FUND_SUN})
    await asyncio.sleep(BLOCK_INTERVAL_S * 5)
    async with AsyncTron(provider=AsyncHTTPProvider(devnet_url)) as tron:
        started = time.perf_counter()
        for index in range(transfers):
            built = await tron.trx.transfer(sender, RECIPIENT, 1000 + index).build()
            result = await built.sign(key).broadcast()
            await result.wait(timeout=60, interval=0.05, solid=True)
        elapsed_s = time.perf_counter() - started
    return {"transfers": transfers, "confirmed_per_s": transfers / elapsed_s}
