"""From the measurements of one `make bench` run to docs/performance.md and its chart.

The ceiling of a load is the slowest resource's rate divided by what one transaction of
that load uses of it, each use counted in the same run:
- FerretDB: the workers' round trips per transaction by database command (their
  tron_worker_db_round_trips_total, read from /metrics), each priced at the measured
  rate of its kind (insert; find; update and findAndModify; delete; anything else as a
  find): 1 / sum(round trips of a kind / rate of that kind) transactions per second.
- RabbitMQ: messages per transaction = (commands published + events the workers
  published, tron_worker_events_published_total) / transactions; each is a publish with
  confirm and a consume with ack, the unit of the broker ceiling.
- devnet: broadcasts per transaction = the workers' broadcast_hex requests
  (tron_worker_node_requests_total) / transactions; the other node calls are reads,
  listed beside it, and not priced (they cost the node far less than a signature check).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.hotspots import Profile
from bench.loads import LoadResult

__all__ = ["Ceiling", "Results", "ceiling_of", "render_chart", "render_markdown", "table"]

DB_KIND = {
    "insert": "insert",
    "find": "find",
    "update": "update",
    "findAndModify": "update",
    "delete": "delete",
}
RESOURCES = ("FerretDB", "RabbitMQ", "devnet")
TARGET_CEILING = 0.60
TARGET_NAIVE = 20.0
TARGET_P99_MS = 150.0
TARGET_CPU_MS = 1.5
TARGET_SCALING = 1.6


@dataclass
class Results:
    started_at: datetime
    command: str
    machine: dict[str, Any]
    quick: bool
    rabbitmq: dict[str, float]
    ferretdb: dict[str, float]
    devnet: dict[str, float]
    naive: dict[str, float]
    loads: dict[str, LoadResult]  # "trx-1-full", "trx-1-half", "usdt-2-full", ...
    profile: Profile | None = None
    profile_load: LoadResult | None = None
    profile_error: str = ""
    wall_s: float = 0.0
    listener_us: float = 0.0  # what counting one database round trip costs the worker
    profile_s: float = 0.0  # how long py-spy sampled


@dataclass
class Ceiling:
    per_s: float
    bound_by: str
    by_resource: dict[str, float]  # transactions per second each resource allows


def ceiling_of(load: LoadResult, results: Results) -> Ceiling:
    db_s_per_tx = sum(
        count / load.items / results.ferretdb[DB_KIND.get(command, "find")]
        for command, count in load.db_round_trips.items()
    )
    broadcasts = load.node_requests.get("broadcast_hex", 0.0) / load.items
    by_resource = {  # in RESOURCES order
        "FerretDB": 1 / db_s_per_tx if db_s_per_tx else math.inf,
        "RabbitMQ": results.rabbitmq["per_s"] / load.broker_messages_per_item,
        "devnet": results.devnet["per_s"] / broadcasts if broadcasts else math.inf,
    }
    bound_by = min(by_resource, key=lambda name: by_resource[name])
    return Ceiling(by_resource[bound_by], bound_by, by_resource)


LABELS = {"trx": "TRX transfer", "usdt": "USDT payout line"}


def _label(load: LoadResult) -> str:
    pace = "full" if load.paced_per_s is None else f"half ({load.paced_per_s:.1f}/s paced)"
    return f"{LABELS[load.kind]}, {load.workers} proc, {pace}"


def _pace(load: LoadResult) -> str:
    return "full" if load.paced_per_s is None else "half"


def _f(value: float, digits: int = 1) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:,.{digits}f}"


def table(results: Results) -> list[list[str]]:
    """The main table: one row per load, header first."""
    rows = [
        [
            "load",
            "published/s",
            "broadcast/s",
            "confirmed/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "worker CPU ms/tx",
            "DB trips/tx",
            "broker msgs/tx",
            "broadcasts/tx",
            "ceiling/s (bound)",
            "worker/ceiling",
            "worker/naive",
        ]
    ]
    naive = results.naive["confirmed_per_s"]
    for load in results.loads.values():
        ceiling = ceiling_of(load, results)
        full = load.paced_per_s is None
        rows.append(
            [
                _label(load),
                _f(load.publish_per_s),
                _f(load.broadcast_per_s),
                _f(load.confirmed_per_s),
                _f(load.latency_ms(50), 0),
                _f(load.latency_ms(95), 0),
                _f(load.latency_ms(99), 0),
                _f(load.worker_cpu_ms_per_item, 2),
                _f(load.per_item(load.db_round_trips), 1),
                _f(load.broker_messages_per_item, 2),
                _f(load.node_requests.get("broadcast_hex", 0.0) / load.items, 2),
                f"{_f(ceiling.per_s)} ({ceiling.bound_by})",
                f"{load.confirmed_per_s / ceiling.per_s:.1%}" if full else "-",
                f"{load.confirmed_per_s / naive:.1f}x" if full and load.kind == "trx" else "-",
            ]
        )
    return rows


def text_table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


def _md(rows: list[list[str]], text_columns: int = 1) -> str:
    """A markdown table; the first text_columns are left-aligned, the figures right."""
    head, *body = rows
    align = ["---"] * text_columns + ["---:"] * (len(head) - text_columns)
    return "\n".join("| " + " | ".join(r) + " |" for r in [head, align, *body])


def targets(results: Results) -> list[list[str]]:
    """Each target against what this run measured: met or not met, never rounded up."""
    loads, naive = results.loads, results.naive["confirmed_per_s"]
    rows = [["target", "measured", "met?"]]

    def add(name: str, value: float, ok: bool, fmt: str) -> None:
        rows.append([name, fmt.format(value), "met" if ok else "**not met**"])

    for key in ("trx-1-full", "trx-2-full", "usdt-1-full", "usdt-2-full"):
        if key in loads:
            load = loads[key]
            share = load.confirmed_per_s / ceiling_of(load, results).per_s
            add(f">= 60% of the ceiling ({_label(load)})", share, share >= TARGET_CEILING, "{:.1%}")
    for key in ("trx-1-full", "trx-2-full"):
        if key in loads:
            ratio = loads[key].confirmed_per_s / naive
            add(
                f">= 20x the naive loop ({_label(loads[key])})",
                ratio,
                ratio >= TARGET_NAIVE,
                "{:.1f}x",
            )
    for key in ("trx-1-half", "trx-2-half"):
        if key in loads:
            p99 = loads[key].latency_ms(99)
            add(
                f"p99 <= 150 ms at half load ({_label(loads[key])})",
                p99,
                p99 <= TARGET_P99_MS,
                "{:,.0f} ms",
            )
    for key in ("trx-1-full", "trx-2-full"):
        if key in loads:
            cpu = loads[key].worker_cpu_ms_per_item
            add(
                f"<= 1.5 ms worker CPU per TRX transfer ({_label(loads[key])})",
                cpu,
                cpu <= TARGET_CPU_MS,
                "{:.2f} ms",
            )
    for kind in ("trx", "usdt"):
        one, two = loads.get(f"{kind}-1-full"), loads.get(f"{kind}-2-full")
        if one and two:
            scaling = two.confirmed_per_s / one.confirmed_per_s
            add(
                f">= 1.6x from 1 to 2 processes ({LABELS[kind]}, confirmed/s)",
                scaling,
                scaling >= TARGET_SCALING,
                "{:.2f}x",
            )
    return rows


def ceiling_rows(results: Results) -> list[list[str]]:
    """Each resource's measured rate, and how it was measured."""
    rabbit, ferret, devnet = results.rabbitmq, results.ferretdb, results.devnet
    return [
        ["resource", "rate", "how"],
        [
            "RabbitMQ",
            f"{rabbit['per_s']:,.0f} msgs/s",
            f"{rabbit['messages']:.0f} persistent messages published with confirms (<= "
            f"{rabbit['window']:.0f} unconfirmed) into a quorum queue, consumed with prefetch "
            f"{results.machine['prefetch']} and acked one by one, concurrently",
        ],
        [
            "FerretDB insert",
            f"{ferret['insert']:,.0f} ops/s",
            f"{ferret['ops']:.0f} command-sized documents, {ferret['concurrency']:.0f} "
            "concurrent tasks on one client (the worker's options)",
        ],
        ["FerretDB find by _id", f"{ferret['find']:,.0f} ops/s", "the same documents"],
        ["FerretDB update by _id", f"{ferret['update']:,.0f} ops/s", "`$set` of one field"],
        ["FerretDB delete by _id", f"{ferret['delete']:,.0f} ops/s", "the same documents"],
        [
            "devnet broadcasts",
            f"{devnet['per_s']:,.0f} tx/s",
            f"{devnet['transactions']:.0f} pre-signed TRX transfers, "
            f"{devnet['concurrency']:.0f} connections, /wallet/broadcasttransaction "
            f"(bench/devnet_broadcast.py); {devnet['cpu_ms_per_broadcast']:.2f} ms devnet CPU each",
        ],
    ]


def ceiling_cpu(results: Results) -> str:
    """What each ceiling cost the server and the (Python) client in CPU, per operation."""
    rabbit, ferret = results.rabbitmq, results.ferretdb
    parts = [
        f"RabbitMQ message: broker {rabbit['server_cpu_ms']:.2f} ms, "
        f"client {rabbit['client_cpu_ms']:.2f} ms"
    ]
    for name in ("insert", "find", "update", "delete"):
        parts.append(
            f"FerretDB {name}: server {ferret[f'{name}_server_cpu_ms']:.2f} ms, "
            f"client {ferret[f'{name}_client_cpu_ms']:.2f} ms"
        )
    parts.append(f"devnet broadcast: {results.devnet['cpu_ms_per_broadcast']:.2f} ms")
    return "; ".join(parts)


def cpu_rows(results: Results) -> list[list[str]]:
    """Where the machine's CPU went during each load, as % of all cores over its wall time."""
    names = ["workers", "ferretdb", "rabbitmq", "devnet", "bench", "others", "steal"]
    rows = [
        [
            "load",
            "wall s",
            *[f"{n} %" for n in names],
            "machine busy %",
            "CPU per worker process (cores)",
            "worker CPU in kernel %",
            "stack CPU ms/tx",
            "CPU ceiling tx/s",
        ]
    ]
    cores = results.machine["cores"]
    for load in results.loads.values():
        capacity = load.confirmed_s * cores
        rows.append(
            [
                _label(load),
                _f(load.confirmed_s),
                *[_f(100 * load.cpu_s.get(n, 0.0) / capacity, 0) for n in names],
                _f(100 * load.cpu_s["machine"] / capacity, 0),
                _f(load.cpu_s["workers"] / load.confirmed_s / load.workers, 2),
                _f(100 * load.cpu_s.get("workers_system", 0.0) / load.cpu_s["workers"], 0),
                _f(stack_cpu_ms(load), 0),
                _f(cores * 1000 / stack_cpu_ms(load), 0),
            ]
        )
    return rows


STACK = ("workers", "ferretdb", "rabbitmq", "devnet")


def stack_cpu_ms(load: LoadResult) -> float:
    """CPU the worker, FerretDB, RabbitMQ and devnet used together per transaction."""
    return sum(load.cpu_s.get(name, 0.0) for name in STACK) / load.items * 1000


def cost_rows(results: Results) -> list[list[str]]:
    """What one transaction used, counted by the workers themselves."""
    rows = [
        [
            "load",
            "DB round trips per tx, by command",
            "node requests per tx, by method",
            "events per tx",
            "idle: DB trips/s, worker CPU s/s",
            "less idle: DB trips/tx, CPU ms/tx",
        ]
    ]
    for load in results.loads.values():

        def per(counts: dict[str, float], items: int = load.items) -> str:
            return ", ".join(f"{k} {v / items:.2f}" for k, v in sorted(counts.items()))

        idle_trips, idle_cpu = load.idle["db_round_trips_per_s"], load.idle["worker_cpu_per_s"]
        net_trips = load.per_item(load.db_round_trips) - idle_trips * load.confirmed_s / load.items
        net_cpu_ms = (load.cpu_s["workers"] - idle_cpu * load.confirmed_s) / load.items * 1000
        rows.append(
            [
                _label(load),
                per(load.db_round_trips),
                per(load.node_requests),
                _f(sum(load.events_published.values()) / load.items, 2),
                f"{idle_trips:.1f}, {idle_cpu:.3f}",
                f"{net_trips:.1f}, {net_cpu_ms:.1f}",
            ]
        )
    return rows


def _listener_share(results: Results) -> str:
    load = results.loads.get("trx-1-full")
    if load is None:
        return "a small part"
    cost_ms = load.per_item(load.db_round_trips) * results.listener_us / 1000
    return f"{cost_ms / load.worker_cpu_ms_per_item:.1%}"


def _bounds(results: Results) -> list[str]:
    """Observations, from this run's numbers, about what held the worker back."""
    notes = []
    cores = results.machine["cores"]
    for key in ("trx-1-full", "trx-2-full"):
        load = results.loads.get(key)
        if load is None:
            continue
        per_process = load.cpu_s["workers"] / load.confirmed_s / load.workers
        machine = load.cpu_s["machine"] / load.confirmed_s / cores
        ceiling = ceiling_of(load, results)
        notes.append(
            f"{_label(load)}: each worker process used {per_process:.2f} of a core "
            f"(1.00 = a Python process's limit), the machine was {machine:.0%} busy "
            f"({load.cpu_s['others'] / load.confirmed_s:.2f} cores for processes outside "
            f"this bench), and the tightest resource ceiling ({ceiling.bound_by}, "
            f"{ceiling.per_s:,.0f}/s) was {ceiling.per_s / load.confirmed_per_s:.1f}x "
            f"what the worker did. At {load.worker_cpu_ms_per_item:.1f} ms each, the "
            f"worker processes' CPU allows {1000 / load.worker_cpu_ms_per_item * load.workers:,.0f}"
            f" tx/s; the whole stack's {stack_cpu_ms(load):.0f} ms per transaction on "
            f"{cores} cores allows {cores * 1000 / stack_cpu_ms(load):,.0f} tx/s."
        )
    load = results.loads.get("trx-1-full")
    if load is not None:
        db_ms = 1000 / ceiling_of(load, results).by_resource["FerretDB"]
        notes.append(
            f"Round trips: a TRX transfer made {load.per_item(load.db_round_trips):.0f} "
            f"database round trips, {sum(load.node_requests.values()) / load.items:.0f} node "
            f"requests and {load.broker_messages_per_item:.0f} broker messages; the database "
            f"ones alone take {db_ms:.0f} ms of FerretDB time at the rates measured above."
        )
    profile, load = results.profile, results.loads.get("trx-1-full")
    if profile is not None and load is not None:
        sends = dict(profile.top_callers("send (libc.so.6)", 5))
        send_share = sum(sends.values())
        kernel = 100 * load.cpu_s.get("workers_system", 0.0) / load.cpu_s["workers"]
        pymongo = sum(v for c, v in sends.items() if "pymongo" in c)
        notes.append(
            f"In the profile, {send_share:.0f}% of the worker's busy samples are in libc's "
            f"send() ({pymongo:.0f}% writing pymongo requests); /proc charged {kernel:.0f}% "
            "of its CPU to the kernel. "
            + (
                "The gap is the process waiting inside the syscall (on a busy machine, most "
                "likely waking the receiver on the other vCPU; not verified): the single-"
                "threaded event loop does nothing else meanwhile."
                if send_share > kernel + 5
                else "Socket I/O in the kernel is a modest share of the worker's time."
            )
        )
        one = results.loads.get("trx-1-full")
        if one is not None:
            busy = one.cpu_s["machine"] / one.confirmed_s / cores
            notes.append(
                f"Headroom for a second process: with one, the machine was already {busy:.0%} "
                f"busy, so on these {cores} cores a second could add at most "
                f"{1 / busy:.2f}x, and only if nothing costs more per transaction when the "
                "cores are full (the table shows it does)."
            )
    return notes


def render_markdown(results: Results, chart: str | None) -> str:
    m = results.machine
    rows = table(results)
    out = [
        "# Performance",
        "",
        "Generated by `make bench` (bench/performance.py); every figure below comes from "
        "one run. **These machines are shared and noisy** (other engineers' tests run on "
        "the same two cores, and the hypervisor steals time): compare the ratios measured "
        "within this run, not absolute rates across runs.",
        "",
        f"- Run: {results.started_at:%Y-%m-%d %H:%M} UTC, wall time {results.wall_s / 60:.1f} "
        f"min{' (--quick)' if results.quick else ''}",
        f"- Command: `{results.command}`",
        f"- Machine: {m['cores']} cores ({m['cpu']}), {m['memory_gib']:.0f} GiB, "
        f"Python {m['python']}, {m['os']}",
        "- Stack: RabbitMQ and FerretDB (SQLite backend) of `make stack-up`; a private "
        f"devnet with {m['block_interval_s']} s blocks and solidification lag "
        f"{m['solidify_lag']} (so `confirmed` comes ~1 s after `broadcast`); workers with "
        f"the settings.toml defaults (max_concurrency {m['max_concurrency']}, prefetch "
        f"{m['prefetch']}) but the chain follower polling every 0.1 s and the sweeper "
        "every 0.2 s.",
        "",
        "## Results",
        "",
        "A transaction (tx) is a TRX transfer command, or one line of a USDT payout command "
        "of 10 lines. `full`: every command published at once, each publish awaiting its "
        "broker confirm; `half`: published evenly paced at half the confirmed/s the same "
        "processes reached at full load (not half their broadcast/s: in a burst the worker "
        "broadcasts ahead of the confirmation work it leaves for later, a rate it cannot "
        "sustain). Latency is publish -> "
        "`broadcast` event, per transaction (at full load it is mostly time queued behind "
        "the backlog). Rates: transactions / seconds from the first publish to the last "
        "`broadcast` (or `confirmed`) event. Worker CPU is utime+stime of the worker "
        "processes (/proc/<pid>/stat) over the same span, background loops included.",
        "",
        _md(rows),
        "",
        f"Naive loop (tronpy build -> sign -> broadcast -> wait until solidified, one at a "
        f"time, same devnet): **{results.naive['confirmed_per_s']:.2f} confirmed/s** over "
        f"{results.naive['transfers']:.0f} transfers. worker/naive compares confirmed/s.",
        "",
    ]
    if chart:
        out += [f"![throughput, latency and CPU]({chart})", ""]
    out += [
        "## Targets",
        "",
        _md(targets(results), text_columns=1),
        "",
        "## Ceilings",
        "",
        _md(ceiling_rows(results), text_columns=3),
        "",
        "CPU per operation while measuring them (the clients are Python, like the worker, "
        "and share the two cores with the servers): " + ceiling_cpu(results) + ".",
        "",
        "How a load's ceiling is derived (each use counted in this run, see the next table):",
        "",
        *[f"- {line}" for line in _DERIVATION],
        "",
        _md(
            [["load", *[f"{name} allows tx/s" for name in RESOURCES]]]
            + [
                [_label(load), *[_f(v, 0) for v in ceiling_of(load, results).by_resource.values()]]
                for load in results.loads.values()
            ]
        ),
        "",
        "## What a transaction costs",
        "",
        "Counted by the workers (their /metrics before and after each load, summed over "
        "processes), divided by the load's transactions. Background loops (chain follower, "
        "sweeper, relay, health checks) are included; the last column is their rate with "
        "no load, measured just before.",
        "",
        _md(cost_rows(results), text_columns=3),
        "",
        f"Counting is cheap: pymongo's command events and the counter cost "
        f"{results.listener_us:.1f} µs per round trip (measured in this run), "
        f"{_listener_share(results)} of the worker's CPU per TRX transfer.",
        "",
        "## Where the CPU went",
        "",
        "Share of the machine's CPU (all cores over each load's wall time, first publish "
        "to last `confirmed`), by process: `others` is everything outside this bench "
        "(other engineers' work), `steal` what the hypervisor took. Stack CPU is what the "
        "workers, FerretDB, RabbitMQ and devnet used together per transaction; the CPU "
        "ceiling is the machine's cores divided by it: what these cores could do if "
        "nothing else ran. The resource ceilings above were each measured alone, but on "
        "this machine all of them and the workers share the same two cores.",
        "",
        _md(cpu_rows(results)),
        "",
        *[f"- {note}" for note in _bounds(results)],
        "",
        "## Hot spots",
        "",
    ]
    out += _hotspots(results)
    return "\n".join(out).rstrip() + "\n"


_DERIVATION = [
    "FerretDB: the workers' `tron_worker_db_round_trips_total{command}` (a pymongo "
    "CommandListener in worker/database.py) per transaction, each command priced at the "
    "measured rate of its kind (insert; find; update, findAndModify; delete; any other as "
    "a find): ceiling = 1 / sum(trips per tx / rate).",
    "RabbitMQ: (commands published + `tron_worker_events_published_total`) per "
    "transaction, each one message published with confirm and consumed with ack: "
    "ceiling = broker rate / messages per tx.",
    "devnet: `tron_worker_node_requests_total{method=broadcast_hex}` per transaction: "
    "ceiling = broadcast rate / broadcasts per tx. The other node calls (reads) are listed "
    "under costs and not priced.",
    "The load's ceiling is the smallest of the three; worker/ceiling compares confirmed/s with it.",
]


def _hotspots(results: Results) -> list[str]:
    profile, load = results.profile, results.profile_load
    if profile is None or load is None:
        return [f"Not profiled: {results.profile_error or 'py-spy unavailable'}", ""]
    out = [
        f"One worker process sampled by `py-spy record --native --function` at 100 Hz "
        f"({profile.samples:,} samples; idle ones left out: the event loop waiting in "
        f"epoll, and {profile.waiting:,} of idle executor threads blocked on a lock) during "
        f"a separate TRX full load of {load.items} transfers ({load.confirmed_per_s:.1f} "
        f"confirmed/s, {load.worker_cpu_ms_per_item:.1f} ms worker CPU per transfer: py-spy "
        f"stops the process to sample it). The worker was busy in "
        f"{profile.busy_share:.0%} of the sampling instants. Native frames (libc, the "
        "interpreter) show as themselves. Self = the innermost frame; total = anywhere on "
        "the stack; a function is named by its first line.",
        "",
        _md(
            [["#", "function (file:first line)", "self %", "total %"]]
            + [
                [str(i), f"`{frame}`", f"{s:.1f}", f"{t:.1f}"]
                for i, (frame, s, t) in enumerate(profile.top_self(10), 1)
            ]
        ),
        "",
        "Who got there (the nearest Python frame above each of the three largest, as % "
        "of all samples): "
        + "; ".join(
            f"`{frame.split(' (')[0]}` from "
            + ", ".join(
                f"`{c.split(' (')[0]}` {share:.1f}%" for c, share in profile.top_callers(frame)
            )
            for frame, _, _ in profile.top_self(3)
        )
        + ".",
        "",
        _importing(profile),
        "",
        "Self samples by package: "
        + ", ".join(f"{name} {share:.0f}%" for name, share in profile.top_packages(10))
        + ".",
        "",
        "The same samples charged to the innermost function of this repository on the "
        "stack (the library time a call of ours caused counts for that call; `run_worker` "
        "and the like are the event loop's own work: the consumer, the relay, timers):",
        "",
        _md(
            [["function of ours (file:first line)", "% of samples"]]
            + [[f"`{frame}`", f"{share:.1f}"] for frame, share in profile.top_ours(12)]
        ),
        "",
    ]
    return out


def _importing(profile: Profile) -> str:
    total = sum(profile.importing.values())
    if not total:
        return "No samples in the import system while serving."
    callers = ", ".join(
        f"`{frame}` {100 * c / profile.samples:.1f}%"
        for frame, c in profile.importing.most_common(3)
    )
    return (
        f"{100 * total / profile.samples:.1f}% of the samples were inside Python's import "
        f"system while serving requests, called from {callers}: an `import` that fails "
        "(a module not installed) is retried, with a search of sys.path, on every call."
    )


def render_chart(results: Results, path: Path) -> None:
    """Three panels: throughput against ceiling and naive loop, latency, CPU shares."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (rate_ax, latency_ax, cpu_ax) = plt.subplots(1, 3, figsize=(17, 6.2))
    full = [load for load in results.loads.values() if load.paced_per_s is None]
    names = [f"{LABELS[load.kind].split()[0]}\n{load.workers} proc" for load in full]
    xs = range(len(full))
    rate_ax.bar(
        [x - 0.2 for x in xs], [load.broadcast_per_s for load in full], 0.4, label="broadcast/s"
    )
    rate_ax.bar(
        [x + 0.2 for x in xs], [load.confirmed_per_s for load in full], 0.4, label="confirmed/s"
    )
    ceilings = [ceiling_of(load, results).per_s for load in full]
    rate_ax.scatter(
        list(xs),
        ceilings,
        marker="_",
        s=900,
        color="crimson",
        zorder=3,
        label="ceiling (slowest resource)",
    )
    naive = results.naive["confirmed_per_s"]
    rate_ax.axhline(naive, color="grey", linestyle="--", label="naive loop confirmed/s")
    rate_ax.axhline(naive * TARGET_NAIVE, color="grey", linestyle=":", label="20x naive (target)")
    rate_ax.set_yscale("log")
    rate_ax.set_xticks(list(xs), names)
    rate_ax.set_ylabel("transactions per second (log)")
    rate_ax.set_title("Throughput at full load")
    rate_ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3)

    trx = [load for load in results.loads.values() if load.kind == "trx"]
    labels = [f"{load.workers} proc\n{_pace(load)}" for load in trx]
    for offset, q in ((-0.25, 50), (0, 95), (0.25, 99)):
        latency_ax.bar(
            [i + offset for i in range(len(trx))],
            [load.latency_ms(q) for load in trx],
            0.25,
            label=f"p{q}",
        )
    latency_ax.axhline(TARGET_P99_MS, color="crimson", linestyle="--", label="150 ms")
    latency_ax.set_yscale("log")
    latency_ax.set_xticks(range(len(trx)), labels)
    latency_ax.set_ylabel("ms, publish -> broadcast event (log)")
    latency_ax.set_title("TRX transfer latency")
    latency_ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=4)

    parts = ["workers", "ferretdb", "rabbitmq", "devnet", "bench", "others", "steal"]
    loads = list(results.loads.values())
    bottoms = [0.0] * len(loads)
    for part in parts:
        shares = [
            100 * load.cpu_s.get(part, 0.0) / (load.confirmed_s * results.machine["cores"])
            for load in loads
        ]
        cpu_ax.bar(range(len(loads)), shares, bottom=bottoms, label=part)
        bottoms = [b + s for b, s in zip(bottoms, shares, strict=True)]
    ticks = [f"{load.kind} {load.workers}p\n{_pace(load)}" for load in loads]
    cpu_ax.set_xticks(range(len(loads)), ticks, fontsize=8)
    cpu_ax.set_ylim(0, 105)
    cpu_ax.set_ylabel(f"% of the machine's {results.machine['cores']} cores")
    cpu_ax.set_title("Where the CPU went")
    cpu_ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=4)
    fig.suptitle(
        f"lucid-tron-worker bench, {results.started_at:%Y-%m-%d %H:%M} UTC "
        "(shared, noisy machine: compare within this run)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
