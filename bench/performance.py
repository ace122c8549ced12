"""`make bench`: ceilings, the naive loop and the worker (1 and 2 processes), in one run.

1. Ceilings of the shared resources, measured as the worker uses them
   (bench/ceilings.py): RabbitMQ publish-with-confirm + consume-with-ack, FerretDB
   inserts and `_id` finds, updates and deletes at the worker's max_concurrency, devnet
   signed broadcasts.
2. The naive loop: tronpy build -> sign -> broadcast -> wait, one transfer at a time,
   against the private devnet the workers then use.
3. Worker fleets of 1 and 2 processes (bench/loads.py): TRX transfers at full load and
   at half the confirmed/s that reached, then USDT payouts of 10 lines at full load.
4. One more worker process under py-spy during a TRX full load (bench/hotspots.py).

It prints the table and writes docs/performance.md and docs/performance.png (with
--quick, a smoke run of a minute or two, into .stack/bench/ unless --out says where).
Worker logs, py-spy's raw samples and results.json go to .stack/bench/<time>/.
Machines here are shared and noisy: read the ratios within one run.

    .venv/bin/python bench/performance.py [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import platform
import sys
import time
import timeit
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ceilings import devnet_ceiling, ferretdb_ceiling, rabbitmq_ceiling
from bench.common import BLOCK_INTERVAL_S, ROOT, SOLIDIFY_LAG, start_devnet, wait_devnet
from bench.hotspots import PySpy, parse_raw
from bench.loads import Fleet, LoadResult, measure_tronpy, run_load
from bench.report import Results, render_chart, render_markdown, table, targets, text_table
from tests.support import free_port
from worker.settings import load_settings

SIZES = {
    # rabbitmq msgs, ferretdb ops per phase, devnet broadcasts, naive transfers,
    # TRX transfers at full load, at half load, USDT payouts (x10 lines), profiled TRX
    "full": {
        "rabbitmq": 20_000,
        "ferretdb": 3_000,
        "devnet": 3_000,
        "naive": 30,
        "trx": 500,
        "trx_half": 250,
        "payouts": 25,
        "profile": 300,
    },
    "quick": {
        "rabbitmq": 3_000,
        "ferretdb": 500,
        "devnet": 500,
        "naive": 8,
        "trx": 100,
        "trx_half": 50,
        "payouts": 5,
        "profile": 100,
    },
}
ORDER = ["trx-1-full", "trx-1-half", "trx-2-full", "trx-2-half", "usdt-1-full", "usdt-2-full"]


def say(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


def machine(settings) -> dict:  # type: ignore[no-untyped-def]
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory_kib = int(Path("/proc/meminfo").read_text().split()[1])
    os_name = platform.platform()
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("PRETTY_NAME="):
            os_name = line.split("=", 1)[1].strip('"')
    return {
        "cores": os.cpu_count() or 1,
        "cpu": cpu,
        "memory_gib": memory_kib / 2**20,
        "python": platform.python_version(),
        "os": os_name,
        "load_average_at_start": os.getloadavg(),
        "block_interval_s": BLOCK_INTERVAL_S,
        "solidify_lag": SOLIDIFY_LAG,
        "max_concurrency": settings.worker.max_concurrency,
        "prefetch": settings.amqp.prefetch,
    }


def command_line(argv: list[str]) -> str:
    """How this run was asked for: `make bench ...` under make, else the python command."""
    if "MAKELEVEL" in os.environ:
        extra = " ".join(argv)
        return "make bench" + (f" BENCH_ARGS='{extra}'" if extra else "")
    return " ".join([".venv/bin/python", "bench/performance.py", *argv])


async def run(args: argparse.Namespace, argv: list[str]) -> Results:
    size = SIZES["quick" if args.quick else "full"]
    settings = load_settings()
    concurrency = settings.worker.max_concurrency
    started_at, started = datetime.now(UTC), time.perf_counter()
    work = ROOT / ".stack" / "bench" / f"{started_at:%Y%m%d-%H%M%S}"
    work.mkdir(parents=True, exist_ok=True)

    say(f"ceilings (concurrency {concurrency}) ...")
    rabbitmq = await rabbitmq_ceiling(settings, size["rabbitmq"], concurrency)
    say(f"  RabbitMQ {rabbitmq['per_s']:,.0f} msgs/s (publish+confirm, consume+ack)")
    ferretdb = await ferretdb_ceiling(settings, size["ferretdb"], concurrency)
    say(
        "  FerretDB "
        + ", ".join(f"{k} {ferretdb[k]:,.0f}/s" for k in ("insert", "find", "update", "delete"))
    )
    devnet = await devnet_ceiling(size["devnet"], concurrency)
    say(f"  devnet {devnet['per_s']:,.0f} broadcasts/s")

    port = free_port()
    process = start_devnet(port, work / "devnet.log")
    url = f"http://127.0.0.1:{port}"
    loads: dict[str, LoadResult] = {}
    spy = PySpy(work / "py-spy.raw")
    profile_load = None
    try:
        await wait_devnet(url)
        say(f"naive loop, {size['naive']} transfers ...")
        naive = await measure_tronpy(url, size["naive"])
        say(f"  {naive['confirmed_per_s']:.2f} confirmed/s")
        for workers in (1, 2):
            async with Fleet(url, workers, work, process.pid) as fleet:
                say(f"{workers} worker process(es): TRX x{size['trx']} at full load ...")
                full = loads[f"trx-{workers}-full"] = await run_load(fleet, "trx", size["trx"])
                _progress(full)
                # Half the rate it completes commands at: its broadcast/s in a burst runs
                # ahead of the confirmation work it leaves behind, so it is not sustainable.
                half_rate = full.confirmed_per_s / 2
                say(f"  TRX x{size['trx_half']} at half load ({half_rate:.1f}/s) ...")
                half = await run_load(fleet, "trx", size["trx_half"], rate_per_s=half_rate)
                loads[f"trx-{workers}-half"] = half
                _progress(half)
                say(f"  USDT payouts x{size['payouts']} (10 lines each) ...")
                usdt = loads[f"usdt-{workers}-full"] = await run_load(
                    fleet, "usdt", size["payouts"]
                )
                _progress(usdt)
        if spy.available:
            async with Fleet(url, 1, work, process.pid) as fleet:
                say(f"profile: 1 worker under py-spy, TRX x{size['profile']} ...")
                profile_load = await run_load(fleet, "trx", size["profile"], profiler=spy)
                _progress(profile_load)
    finally:
        process.terminate()
        process.wait(timeout=20)
    results = Results(
        started_at=started_at,
        command=command_line(argv),
        machine=machine(settings),
        quick=args.quick,
        rabbitmq=rabbitmq,
        ferretdb=ferretdb,
        devnet=devnet,
        naive=naive,
        loads={key: loads[key] for key in ORDER if key in loads},
        profile=spy.result() if spy.available else None,
        profile_load=profile_load,
        profile_error=spy.error or ("" if spy.available else "py-spy is not installed"),
        listener_us=listener_cost_us(),
        profile_s=spy.stopped - spy.started,
    )
    results.wall_s = time.perf_counter() - started
    (work / "results.json").write_text(json.dumps(_raw(results), indent=1, default=str))
    say(f"raw results and logs in {work.relative_to(ROOT)}")
    return results


def listener_cost_us(calls: int = 50_000) -> float:
    """What counting one round trip costs the worker: pymongo's started and succeeded events
    (built only because a listener is registered) plus RoundTripCounter.started."""
    from pymongo import monitoring

    from worker.database import RoundTripCounter
    from worker.metrics import Metrics

    listener = RoundTripCounter(Metrics().db_round_trips_total)
    command = {"find": "commands", "filter": {"_id": "x"}, "limit": 1}
    address = ("127.0.0.1", 27017)
    zero = timedelta(0)

    def one() -> None:
        event = monitoring.CommandStartedEvent(command, "db", 1, address, 1)
        listener.started(event)
        listener.succeeded(monitoring.CommandSucceededEvent(zero, {"ok": 1}, "find", 1, address, 1))

    return timeit.timeit(one, number=calls) / calls * 1e6


def _progress(load: LoadResult) -> None:
    say(
        f"  {load.broadcast_per_s:.1f} broadcast/s, {load.confirmed_per_s:.1f} confirmed/s, "
        f"p99 {load.latency_ms(99):,.0f} ms, {load.worker_cpu_ms_per_item:.1f} ms CPU/tx, "
        f"{load.per_item(load.db_round_trips):.1f} DB trips/tx"
    )


def _raw(results: Results) -> dict:
    raw = {k: v for k, v in dataclasses.asdict(results).items() if k != "profile"}
    if results.profile is not None:
        raw["profile_top"] = results.profile.top_self(25)
    return raw


def load_results(work: Path) -> Results:
    """A finished run again, from its results.json and py-spy samples: the report can be
    rendered anew (after a change to bench/report.py) without measuring again."""
    raw = json.loads((work / "results.json").read_text())
    raw.pop("profile_top", None)
    raw["started_at"] = datetime.fromisoformat(raw["started_at"])
    raw["loads"] = {key: LoadResult(**load) for key, load in raw["loads"].items()}
    if raw["profile_load"] is not None:
        raw["profile_load"] = LoadResult(**raw["profile_load"])
    results = Results(**raw)
    if not results.profile_s and results.profile_load is not None:
        results.profile_s = results.profile_load.confirmed_s  # py-spy sampled about that long
    samples = work / "py-spy.raw"
    if samples.exists() and results.profile_load is not None:
        results.profile = parse_raw(samples.read_text(), results.profile_s)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a minute or two")
    parser.add_argument("--out", type=Path, help="where performance.md/.png go")
    parser.add_argument(
        "--render", type=Path, metavar="RUN_DIR", help="only render .stack/bench/<time>/ again"
    )
    argv = sys.argv[1:]
    args = parser.parse_args(argv)
    if args.render:
        results = load_results(args.render)
        args.quick = results.quick
    else:
        results = asyncio.run(run(args, argv))
    out = args.out or (ROOT / ".stack" / "bench" if args.quick else ROOT / "docs")
    out.mkdir(parents=True, exist_ok=True)
    chart = out / "performance.png"
    render_chart(results, chart)
    (out / "performance.md").write_text(render_markdown(results, chart.name))
    print()
    print(text_table(table(results)))
    print()
    print(text_table(targets(results)))
    print()
    print(f"wrote {out / 'performance.md'} and {chart.name}; wall time {results.wall_s:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
