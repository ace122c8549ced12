"""Broadcast capacity of one devnet process: signed TRX transfers accepted per second.

Starts `python -m devnet` as its own process on a free loopback port, signs N
transfers between the default genesis accounts up front (real secp256k1
signatures over the real txid, TaPoS on the devnet's head block), then posts
them to /wallet/broadcasttransaction with C concurrent connections and times
until every answer is in. Every transfer must be accepted; the devnet keeps
producing blocks meanwhile, so each transaction is executed twice (on
broadcast and in its block), as java-tron does.

    .venv/bin/python bench/devnet_broadcast.py --transactions 20000 --concurrency 32

Machines here are shared and noisy: compare runs made back to back.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import cpu_seconds
from devnet import builders
from devnet.genesis import load_genesis
from devnet.transactions import render_transaction

READY_PREFIX = "devnet ready on "
START_TIMEOUT_S = 30.0


async def start_devnet(block_interval_s: float) -> tuple[asyncio.subprocess.Process, str]:
    """Run the devnet CLI on a free port; return the process and its URL from the ready line."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "devnet", "--port", "0",
        "--block-interval-s", str(block_interval_s), "--log-level", "WARNING",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert process.stdout is not None
    line = (await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT_S)).decode()
    if not line.startswith(READY_PREFIX):
        process.kill()
        raise RuntimeError(f"devnet did not start: {line!r}")
    return process, line.removeprefix(READY_PREFIX).split(" ")[0]


def sign_all(count: int, head: dict[str, Any]) -> list[bytes]:
    """Pre-sign count transfers round-robin between the genesis test accounts."""
    accounts = [a for a in load_genesis(None).accounts if a.private_key is not None]
    now_ms = time.time_ns() // 1_000_000
    ref_block_id = bytes.fromhex(head["blockID"])
    bodies = []
    for n in range(count):
        sender = accounts[n % len(accounts)]
        receiver = accounts[(n + 1) % len(accounts)].address
        assert sender.private_key is not None
        tx = builders.transfer(sender.private_key, receiver, n + 1, ref_block_id, now_ms,
                               lifetime_ms=600_000)  # fmt: skip
        bodies.append(json.dumps(render_transaction(tx, visible=False)).encode())
    return bodies


async def broadcast_all(url: str, bodies: list[bytes], concurrency: int) -> tuple[int, float]:
    """Post every body with `concurrency` workers; return (accepted count, seconds)."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    accepted = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    headers = {"Content-Type": "application/json"}
    endpoint = f"{url}/wallet/broadcasttransaction"
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal accepted
            while not queue.empty():
                body = queue.get_nowait()
                async with session.post(endpoint, data=body, headers=headers) as response:
                    answer = await response.read()
                # Cheaper than parsing every answer; a refusal is parsed and shown.
                if answer.startswith(b'{"result":true,'):
                    accepted += 1
                else:
                    print("refused:", json.loads(answer), file=sys.stderr)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return accepted, time.perf_counter() - started


async def main(transactions: int, concurrency: int, block_interval_s: float) -> int:
    process, url = await start_devnet(block_interval_s)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{url}/wallet/getnowblock") as response:
                head = await response.json(content_type=None)
        signing_started = time.perf_counter()
        bodies = sign_all(transactions, head)
        signing_s = time.perf_counter() - signing_started
        cpu_before_s = cpu_seconds(process.pid)
        accepted, elapsed_s = await broadcast_all(url, bodies, concurrency)
        devnet_cpu_s = cpu_seconds(process.pid) - cpu_before_s
    finally:
        process.terminate()
        await process.wait()
    print(
        f"signed {transactions} transfers in {signing_s:.1f} s; "
        f"broadcast with {concurrency} connections: {accepted} accepted in {elapsed_s:.2f} s "
        f"= {accepted / elapsed_s:,.0f} accepted/s (block interval {block_interval_s} s); "
        f"devnet used {devnet_cpu_s:.2f} CPU s = {accepted / devnet_cpu_s:,.0f} accepted "
        "per devnet CPU second"
    )
    return 0 if accepted == transactions else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--block-interval-s", type=float, default=3.0)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.transactions, args.concurrency, args.block_interval_s)))
