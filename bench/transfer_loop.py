"""Money end to end: TRX transfers (publish -> `broadcast`, -> `confirmed`) and USDT
payout lines (-> `item.broadcast`, -> `item.confirmed`).

Runs against the stack's RabbitMQ and FerretDB and a private devnet subprocess
(fast blocks), with 1 and then 2 worker processes, and compares transfers with a
sequential tronpy loop (build -> sign -> broadcast -> wait for the receipt)
against the same devnet. Machines here are shared and noisy: read the ratios
measured in one run, not the absolute rates.

    .venv/bin/python bench/transfer_loop.py --transfers 200 --payouts 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import aio_pika
import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.command_loop import BENCH_MASTER_KEYS
from tests.support import WorkerProcess, delete_namespace, free_port
from worker.settings import load_settings

BLOCK_INTERVAL_S = 0.3
FUND_SUN = 10_000_000_000


async def _post(url: str, body: dict) -> dict:
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=body) as response:
            return await response.json()


def _start_devnet(port: int, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "devnet", "--host", "127.0.0.1", "--port", str(port),
         "--block-interval-s", str(BLOCK_INTERVAL_S), "--solidify-lag", "3",
         "--log-level", "WARNING"],
        stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )  # fmt: skip


async def _wait_devnet(url: str) -> None:
    for _ in range(100):
        try:
            await _post(url + "/wallet/getnodeinfo", {})
            return
        except aiohttp.ClientError:
            await asyncio.sleep(0.1)
    raise RuntimeError("devnet did not start")


async def measure_workers(
    devnet_url: str, workers: int, transfers: int, payouts: int = 0
) -> dict[str, float]:
    settings = load_settings()
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    env = {
        "TRON_WORKER_AMQP__NAMESPACE": namespace,
        "TRON_WORKER_LOG__LEVEL": "warning",
        "TRON_WORKER_KEYSTORE__MASTER_KEYS": BENCH_MASTER_KEYS,
        "TRON_WORKER_MONGO__DATABASE": f"bench_{namespace.replace('-', '_')}",
        "TRON_WORKER_TRON__ENDPOINTS": json.dumps([devnet_url]),
        "TRON_WORKER_CHAIN__FOLLOWER_INTERVAL_S": "0.1",
        "TRON_WORKER_WORKER__SWEEP_INTERVAL_S": "0.2",
        "TRON_WORKER_SIDECAR__HOST": "127.0.0.1",
    }
    connection = await aio_pika.connect_robust(settings.amqp.url)
    with tempfile.TemporaryDirectory() as tmp:
        processes = []
        for index in range(workers):
            port = free_port()
            process = WorkerProcess(
                {**os.environ, **env, "TRON_WORKER_SIDECAR__PORT": str(port)},
                f"http://127.0.0.1:{port}",
                Path(tmp) / f"worker-{index}.log",
            )
            process.start()
            processes.append(process)
        try:
            for process in processes:
                await process.wait_status("/health/ready", 200)
            if payouts:
                return await _drive_payouts(connection, namespace, devnet_url, payouts)
            return await _drive(connection, namespace, devnet_url, transfers)
        finally:
            for process in processes:
                process.terminate()
            await delete_namespace(connection, namespace)
            await connection.close()


def _command(kind: str, payload: dict) -> bytes:
    command_id = str(uuid.uuid4())
    return json.dumps(
        {
            "command_id": command_id,
            "idempotency_key": command_id,
            "type": kind,
            "schema_version": 1,
            "issued_at": datetime.now(UTC).isoformat(),
            "payload": payload,
        }
    ).encode()


async def _drive(connection, namespace: str, devnet_url: str, transfers: int) -> dict[str, float]:
    channel = await connection.channel()
    events = await channel.declare_queue(exclusive=True)
    await events.bind(f"{namespace}.events", routing_key="#")
    exchange = await channel.get_exchange(f"{namespace}.commands")
    seen: dict[str, list[str]] = {}
    created = asyncio.get_running_loop().create_future()
    broadcast_done, confirmed_done = asyncio.Event(), asyncio.Event()

    async def on_event(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            event = json.loads(message.body)
            seen.setdefault(event["type"], []).append(event["event_id"])
            if event["type"] == "wallet.created" and not created.done():
                created.set_result(event["payload"]["addresses"][0])
            if len(set(seen.get("transfer.broadcast", []))) >= transfers:
                broadcast_done.set()
            if len(set(seen.get("transfer.confirmed", []))) >= transfers:
                confirmed_done.set()

    await events.consume(on_event)
    await exchange.publish(
        aio_pika.Message(_command("wallet.create", {"count": 1, "purpose": "hot"})),
        routing_key="command.wallet.create",
    )
    wallet = await asyncio.wait_for(created, 60)
    await _post(devnet_url + "/devnet/fund", {"address": wallet, "amount_sun": FUND_SUN})
    await asyncio.sleep(BLOCK_INTERVAL_S * 5)  # the credit reaches the solidified view
    recipient = "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8"
    started_s = time.perf_counter()
    for index in range(transfers):
        payload = {"wallet": wallet, "to": recipient, "amount_sun": 1000 + index}
        await exchange.publish(
            aio_pika.Message(_command("transfer.trx", payload)), routing_key="command.transfer.trx"
        )
    await asyncio.wait_for(broadcast_done.wait(), timeout=600)
    broadcast_s = time.perf_counter() - started_s
    await asyncio.wait_for(confirmed_done.wait(), timeout=600)
    confirmed_s = time.perf_counter() - started_s
    return {"broadcast_per_s": transfers / broadcast_s, "confirmed_per_s": transfers / confirmed_s}


LINES = 10  # per USDT payout


async def _drive_payouts(connection, namespace: str, devnet_url: str, payouts: int) -> dict:
    channel = await connection.channel()
    events = await channel.declare_queue(exclusive=True)
    await events.bind(f"{namespace}.events", routing_key="#")
    exchange = await channel.get_exchange(f"{namespace}.commands")
    counts: dict[str, set[str]] = {}
    created = asyncio.get_running_loop().create_future()
    broadcast_done, confirmed_done = asyncio.Event(), asyncio.Event()
    items = payouts * LINES

    async def on_event(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            event = json.loads(message.body)
            counts.setdefault(event["type"], set()).add(event["event_id"])
            if event["type"] == "wallet.created" and not created.done():
                created.set_result(event["payload"]["addresses"][0])
            if len(counts.get("payout.item.broadcast", ())) >= items:
                broadcast_done.set()
            if len(counts.get("payout.item.confirmed", ())) >= items:
                confirmed_done.set()

    await events.consume(on_event)
    await exchange.publish(
        aio_pika.Message(_command("wallet.create", {"count": 1, "purpose": "hot"})),
        routing_key="command.wallet.create",
    )
    wallet = await asyncio.wait_for(created, 60)
    await _post(devnet_url + "/devnet/fund", {"address": wallet, "amount_sun": FUND_SUN})
    await _post(devnet_url + "/devnet/fund", {"address": wallet, "token": "USDT", "amount": 10**12})
    await asyncio.sleep(BLOCK_INTERVAL_S * 5)
    recipient = "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8"
    started_s = time.perf_counter()
    for index in range(payouts):
        lines = [{"to": recipient, "amount": 1000 + line, "reference": f"{index}-{line}"}
                 for line in range(LINES)]  # fmt: skip
        payload = {"asset": "USDT", "source_wallet": wallet, "recipients": lines}
        await exchange.publish(
            aio_pika.Message(_command("payout.create", payload)),
            routing_key="command.payout.create",
        )
    await asyncio.wait_for(broadcast_done.wait(), timeout=600)
    broadcast_s = time.perf_counter() - started_s
    await asyncio.wait_for(confirmed_done.wait(), timeout=600)
    confirmed_s = time.perf_counter() - started_s
    return {"broadcast_per_s": items / broadcast_s, "confirmed_per_s": items / confirmed_s}


async def measure_tronpy(devnet_url: str, transfers: int) -> float:
    """The sequential baseline: tronpy builds, signs, broadcasts and waits, one at a time."""
    from tronpy import AsyncTron
    from tronpy.keys import PrivateKey
    from tronpy.providers import AsyncHTTPProvider

    key = PrivateKey.random()
    sender = key.public_key.to_base58check_address()
    await _post(devnet_url + "/devnet/fund", {"address": sender, "amount_sun": FUND_SUN})
    await asyncio.sleep(BLOCK_INTERVAL_S * 5)
    recipient = "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8"
    async with AsyncTron(provider=AsyncHTTPProvider(devnet_url)) as tron:
        started_s = time.perf_counter()
        for index in range(transfers):
            built = await tron.trx.transfer(sender, recipient, 1000 + index).build()
            result = await built.sign(key).broadcast()
            await result.wait(timeout=60, interval=0.05, solid=True)
        return transfers / (time.perf_counter() - started_s)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transfers", type=int, default=200)
    parser.add_argument("--payouts", type=int, default=20, help=f"USDT payouts of {LINES} lines")
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        devnet = _start_devnet(port, Path(tmp) / "devnet.log")
        url = f"http://127.0.0.1:{port}"
        try:
            await _wait_devnet(url)
            baseline = await measure_tronpy(url, min(args.transfers, 50))
            print(f"tronpy sequential (build, sign, broadcast, wait solid): {baseline:6.2f}/s")
            for workers in (1, 2):
                result = await measure_workers(url, workers, args.transfers)
                print(
                    f"{workers} worker(s): {result['broadcast_per_s']:6.1f} broadcast/s, "
                    f"{result['confirmed_per_s']:6.1f} confirmed/s "
                    f"({result['confirmed_per_s'] / baseline:.1f}x the tronpy loop)"
                )
            for workers in (1, 2):
                result = await measure_workers(url, workers, 0, payouts=args.payouts)
                print(
                    f"{workers} worker(s), USDT payouts of {LINES} lines: "
                    f"{result['broadcast_per_s']:6.1f} lines broadcast/s, "
                    f"{result['confirmed_per_s']:6.1f} lines confirmed/s"
                )
        finally:
            devnet.terminate()
            devnet.wait(timeout=20)


if __name__ == "__main__":
    asyncio.run(main())
