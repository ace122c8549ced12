"""Money end to end: TRX transfers (publish -> `broadcast`, -> `confirmed`) and USDT
payout lines (-> `item.broadcast`, -> `item.confirmed`).

Runs against the stack's RabbitMQ and FerretDB and a private devnet subprocess
(fast blocks), with 1 and then 2 worker processes, and compares transfers with a
sequential tronpy loop (build -> sign -> broadcast -> wait for the receipt)
against the same devnet. Machines here are shared and noisy: read the ratios
measured in one run, not the absolute rates. `make bench` (bench/performance.py)
runs the same loads with ceilings, latency and costs.

    .venv/bin/python bench/transfer_loop.py --transfers 200 --payouts 20
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import start_devnet, wait_devnet
from bench.loads import LINES, Fleet, measure_tronpy, run_load
from tests.support import free_port


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transfers", type=int, default=200)
    parser.add_argument("--payouts", type=int, default=20, help=f"USDT payouts of {LINES} lines")
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        devnet = start_devnet(port, Path(tmp) / "devnet.log")
        url = f"http://127.0.0.1:{port}"
        try:
            await wait_devnet(url)
            naive = await measure_tronpy(url, min(args.transfers, 50))
            baseline = naive["confirmed_per_s"]
            print(f"tronpy sequential (build, sign, broadcast, wait solid): {baseline:6.2f}/s")
            for workers in (1, 2):
                async with Fleet(url, workers, Path(tmp), devnet.pid) as fleet:
                    result = await run_load(fleet, "trx", args.transfers)
                print(
                    f"{workers} worker(s): {result.broadcast_per_s:6.1f} broadcast/s, "
                    f"{result.confirmed_per_s:6.1f} confirmed/s "
                    f"({result.confirmed_per_s / baseline:.1f}x the tronpy loop)"
                )
            for workers in (1, 2):
                async with Fleet(url, workers, Path(tmp), devnet.pid) as fleet:
                    result = await run_load(fleet, "usdt", args.payouts)
                print(
                    f"{workers} worker(s), USDT payouts of {LINES} lines: "
                    f"{result.broadcast_per_s:6.1f} lines broadcast/s, "
                    f"{result.confirmed_per_s:6.1f} lines confirmed/s"
                )
        finally:
            devnet.terminate()
            devnet.wait(timeout=20)


if __name__ == "__main__":
    asyncio.run(main())
