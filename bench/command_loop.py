"""Throughput of the command loop: delivery -> confirmed event -> ack, on the real stack.

Runs a worker process per configuration against the RabbitMQ, FerretDB and
devnet of `make stack-up`, publishes N commands, and times until N events
arrived. Machines here are shared and noisy, so the figure that matters is the
ratio between configurations measured in the same run, not the absolute rate.

    .venv/bin/python bench/command_loop.py --commands 2000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aio_pika

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import BENCH_MASTER_KEYS, command_body
from tests.support import WorkerProcess, delete_namespace, free_port
from worker.settings import load_settings


async def measure(commands: int, concurrency: int, prefetch: int) -> dict[str, float]:
    """Commands per second and per-command latency for one worker configuration."""
    settings = load_settings()
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = {
        "TRON_WORKER_AMQP__NAMESPACE": namespace,
        "TRON_WORKER_AMQP__PREFETCH": str(prefetch),
        "TRON_WORKER_WORKER__MAX_CONCURRENCY": str(concurrency),
        "TRON_WORKER_SIDECAR__HOST": "127.0.0.1",
        "TRON_WORKER_SIDECAR__PORT": str(port),
        "TRON_WORKER_LOG__LEVEL": "warning",
        "TRON_WORKER_KEYSTORE__MASTER_KEYS": BENCH_MASTER_KEYS,
        "TRON_WORKER_MONGO__DATABASE": f"bench_{namespace.replace('-', '_')}",
    }
    with tempfile.TemporaryDirectory() as tmp:
        worker = WorkerProcess(
            {**os.environ, **env}, f"http://127.0.0.1:{port}", Path(tmp) / "worker.log"
        )
        worker.start()
        connection = await aio_pika.connect_robust(settings.amqp.url)
        try:
            await worker.wait_status("/health/ready", 200)
            return await _drive(connection, namespace, commands)
        finally:
            worker.terminate()
            await delete_namespace(connection, namespace)
            await connection.close()


async def _drive(connection, namespace: str, commands: int) -> dict[str, float]:
    channel = await connection.channel()
    # The publisher must not be the bottleneck: no per-message confirm wait on this side.
    publisher = await connection.channel(publisher_confirms=False)
    events = await channel.declare_queue(exclusive=True)
    await events.bind(f"{namespace}.events", routing_key="#")
    exchange = await publisher.get_exchange(f"{namespace}.commands")
    sent_at: dict[str, float] = {}
    latencies_s: list[float] = []
    done = asyncio.Event()

    async def on_event(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            command_id = json.loads(message.body)["command_id"]
            latencies_s.append(time.perf_counter() - sent_at[command_id])
            if len(latencies_s) == commands:
                done.set()

    await events.consume(on_event)
    started_s = time.perf_counter()
    for _ in range(commands):
        command_id, body = command_body("wallet.create", {"count": 1})
        sent_at[command_id] = time.perf_counter()
        await exchange.publish(aio_pika.Message(body), routing_key="command.wallet.create")
    await asyncio.wait_for(done.wait(), timeout=600)
    elapsed_s = time.perf_counter() - started_s
    latencies_s.sort()
    return {
        "commands_per_s": commands / elapsed_s,
        "p50_ms": statistics.median(latencies_s) * 1000,
        "p95_ms": latencies_s[int(len(latencies_s) * 0.95) - 1] * 1000,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=2000)
    args = parser.parse_args()
    configs = [("concurrency 1, prefetch 1", 1, 1), ("concurrency 16, prefetch 16", 16, 16)]
    results = []
    for label, concurrency, prefetch in configs:
        result = await measure(args.commands, concurrency, prefetch)
        results.append(result)
        print(
            f"{label:28s} {result['commands_per_s']:8.0f} commands/s  "
            f"p50 {result['p50_ms']:7.1f} ms  p95 {result['p95_ms']:7.1f} ms"
        )
    ratio = results[1]["commands_per_s"] / results[0]["commands_per_s"]
    print(f"ratio (16 / 1): {ratio:.2f}x commands/s, same machine, same run")


if __name__ == "__main__":
    asyncio.run(main())
