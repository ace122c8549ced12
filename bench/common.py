"""Helpers the benches share: command bodies, a private devnet, CPU accounting, /metrics.

Machines here are shared and noisy: every bench reads ratios measured in one run.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]

# A throwaway master key (base64 of 32 bytes) for the benches' workers.
BENCH_MASTER_KEYS = '{"local-dev": "YmVuY2gtb25seS1tYXN0ZXIta2V5LTMyLWJ5dGVzISE="}'

# The private devnet of the money benches: fast blocks, so confirmations come in ~1 s.
BLOCK_INTERVAL_S = 0.3
SOLIDIFY_LAG = 3
FUND_SUN = 10_000_000_000
RECIPIENT = "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8"


def command_body(kind: str, payload: dict) -> tuple[str, bytes]:
    """(command_id, JSON body) of an unsigned command envelope."""
    command_id = str(uuid.uuid4())
    body = {
        "command_id": command_id,
        "idempotency_key": command_id,
        "type": kind,
        "schema_version": 1,
        "issued_at": datetime.now(UTC).isoformat(),
        "payload": payload,
    }
    return command_id, json.dumps(body).encode()


async def post_json(url: str, body: dict) -> dict:
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=body) as response:
            return await response.json(content_type=None)


def start_devnet(port: int, log: Path) -> subprocess.Popen[bytes]:
    """`python -m devnet` on 127.0.0.1:port with the money benches' fast blocks."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devnet",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--block-interval-s",
            str(BLOCK_INTERVAL_S),
            "--solidify-lag",
            str(SOLIDIFY_LAG),
            "--log-level",
            "WARNING",
        ],
        cwd=ROOT,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


async def wait_devnet(url: str) -> None:
    for _ in range(100):
        try:
            await post_json(url + "/wallet/getnodeinfo", {})
            return
        except aiohttp.ClientError:
            await asyncio.sleep(0.1)
    raise RuntimeError("devnet did not start")


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of an ascending list; nan when empty."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * q // 100))  # ceil(n * q / 100)
    return sorted_values[int(rank) - 1]


# --- CPU accounting (Linux /proc) --------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (its own threads, not children)."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def system_cpu_seconds(pid: int) -> float:
    """The system (kernel) part of cpu_seconds: syscalls, socket I/O included."""
    fields = _stat_fields(pid)
    return 0.0 if fields is None else int(fields[12]) / CLOCK_TICKS


def tree_cpu_seconds(root_pid: int) -> float:
    """cpu_seconds of a process and every live descendant (RabbitMQ runs beam under a shell)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    total, todo = 0.0, [root_pid]
    while todo:
        pid = todo.pop()
        total += cpu_seconds(pid)
        todo.extend(children.get(pid, ()))
    return total


@dataclass(frozen=True)
class MachineCpu:
    """Busy and stolen CPU seconds of the whole machine so far (/proc/stat, all cores)."""

    busy_s: float
    steal_s: float

    @staticmethod
    def now() -> MachineCpu:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
        busy = user + nice + system + irq + softirq
        return MachineCpu(busy / CLOCK_TICKS, steal / CLOCK_TICKS)


def stack_pids() -> dict[str, int]:
    """Pids of the `make stack-up` services from their pid files ("<pid> <port>")."""
    from worker.settings import load_settings

    stack_dir = ROOT / load_settings().stack.dir
    pids = {}
    for name in ("rabbitmq", "ferretdb"):
        try:
            pids[name] = int((stack_dir / name / f"{name}.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return pids


class CpuMeter:
    """CPU seconds of named processes and of the machine between start() and stop().

    Each process counts alone, except those named in `trees`, counted with their
    descendants (RabbitMQ's beam runs under a shell). Never the bench's own tree: it is
    the parent of the workers and the devnet.
    """

    def __init__(
        self, processes: Mapping[str, Iterable[int]], trees: Iterable[str] = ("rabbitmq",)
    ) -> None:
        self.processes = {name: list(pids) for name, pids in processes.items()}
        self.trees = set(trees)
        self._before: dict[str, float] = {}
        self._machine_before = MachineCpu(0.0, 0.0)
        self.used_s: dict[str, float] = {}

    def _read(self) -> dict[str, float]:
        return {
            name: sum(
                (tree_cpu_seconds if name in self.trees else cpu_seconds)(pid) for pid in pids
            )
            for name, pids in self.processes.items()
        }

    def start(self) -> None:
        self._before = self._read()
        self._machine_before = MachineCpu.now()

    def stop(self) -> None:
        after, machine = self._read(), MachineCpu.now()
        self.used_s = {name: after[name] - self._before[name] for name in after}
        self.used_s["machine"] = machine.busy_s - self._machine_before.busy_s
        self.used_s["steal"] = machine.steal_s - self._machine_before.steal_s
        ours = sum(v for k, v in self.used_s.items() if k not in {"machine", "steal"})
        self.used_s["others"] = max(0.0, self.used_s["machine"] - ours)


# --- Prometheus text from a sidecar -------------------------------------------------------

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse_metrics(text: str) -> Samples:
    """Sample name and sorted labels -> value, from the Prometheus text format."""
    from prometheus_client.parser import text_string_to_metric_families

    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


async def scrape(sidecar_urls: Iterable[str]) -> Samples:
    """The /metrics of several workers, summed sample by sample."""
    total: Samples = {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        for url in sidecar_urls:
            async with http.get(url + "/metrics") as response:
                for key, value in parse_metrics(await response.text()).items():
                    total[key] = total.get(key, 0.0) + value
    return total


def by_label(before: Samples, after: Samples, name: str, label: str) -> dict[str, float]:
    """Increase of a counter between two scrapes, summed per value of one label."""
    grown: dict[str, float] = {}
    for (sample, labels), value in after.items():
        if sample != name:
            continue
        key = dict(labels).get(label, "")
        grown[key] = grown.get(key, 0.0) + value - before.get((sample, labels), 0.0)
    return {key: value for key, value in grown.items() if value}
