"""Helpers shared by the tests: reaching the real servers, and running real processes."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest

ROOT = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def require_server(name: str, url: str, default_port: int) -> None:
    """Skip (fail under CI=true) unless something accepts TCP connections at url."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError as exc:
        message = f"{name} is not reachable at {host}:{port} ({exc}); run `make stack-up`"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


async def next_message(queue, timeout_s: float = 10.0):  # type: ignore[no-untyped-def]
    """The next message of an aio-pika queue (basic.get), polling until timeout_s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        message = await queue.get(fail=False)
        if message is not None:
            return message
        await asyncio.sleep(0.05)
    raise AssertionError(f"nothing arrived in {queue.name} within {timeout_s} s")


async def queue_depth(connection, name: str) -> int:  # type: ignore[no-untyped-def]
    """Ready messages in a queue, asked on a fresh channel: a robust channel remembers its
    declarations and would answer with the count from the first time it declared the queue."""
    channel = await connection.channel()
    try:
        queue = await channel.declare_queue(name, passive=True)
        return queue.declaration_result.message_count
    finally:
        await channel.close()


async def delete_namespace(connection, namespace: str) -> None:  # type: ignore[no-untyped-def]
    """Delete every queue and exchange of a topology namespace (tests and benches)."""
    from worker.settings import load_settings
    from worker.topology import build_topology

    topology = build_topology(
        load_settings(environ={"TRON_WORKER_AMQP__NAMESPACE": namespace}).amqp
    )
    channel = await connection.channel()
    for queue in topology.queues:
        await channel.queue_delete(queue.name)
    for exchange in topology.exchanges:
        await channel.exchange_delete(exchange.name)
    await channel.close()


# A fixed, test-only master key (base64 of 32 bytes) for worker processes under test.
TEST_MASTER_KEYS = '{"local-dev": "dGVzdC1vbmx5LW1hc3Rlci1rZXktMzItYnl0ZXMhISE="}'


def rabbitmqctl(*args: str) -> str:
    """Run rabbitmqctl against the stack's private node (its own cookie lives in its HOME)."""
    from worker.settings import load_settings

    stack = load_settings().stack
    home = ROOT / stack.dir / "rabbitmq" / "home"
    done = subprocess.run(
        ["/usr/lib/rabbitmq/bin/rabbitmqctl", "-q", "-n", stack.rabbitmq_node, *args],
        env={**os.environ, "HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def close_connections_of(process_id: int) -> int:
    """Close, from the broker's side, every AMQP connection a worker process opened."""
    closed = 0
    for line in rabbitmqctl("list_connections", "pid", "client_properties").splitlines():
        connection, _, properties = line.partition("\t")
        if f":{process_id}" in properties and "tron-worker" in properties:
            rabbitmqctl("close_connection", connection, "chaos test: broker connection dropped")
            closed += 1
    return closed


def worker_env(namespace: str, sidecar_port: int, **overrides: str) -> dict[str, str]:
    """The environment of a worker process under test: its own topology namespace and
    database, a sidecar port, a test master key, short leases and sweeps."""
    return {
        **os.environ,
        "TRON_WORKER_AMQP__NAMESPACE": namespace,
        "TRON_WORKER_MONGO__DATABASE": f"t_{namespace.replace('-', '_')}",
        "TRON_WORKER_SIDECAR__HOST": "127.0.0.1",
        "TRON_WORKER_SIDECAR__PORT": str(sidecar_port),
        "TRON_WORKER_SIDECAR__CHECK_INTERVAL_S": "0.5",
        "TRON_WORKER_LOG__FORMAT": "json",
        "TRON_WORKER_LOG__LEVEL": "debug",
        "TRON_WORKER_KEYSTORE__MASTER_KEYS": TEST_MASTER_KEYS,
        # Short leases so takeovers happen within a test; the database timeouts shrink
        # with them (lease_s must outlast 1.5 x the worst-case store call).
        "TRON_WORKER_WORKER__LEASE_S": "6",
        "TRON_WORKER_MONGO__SOCKET_TIMEOUT_S": "1",
        "TRON_WORKER_MONGO__SERVER_SELECTION_TIMEOUT_S": "1",
        "TRON_WORKER_WORKER__SWEEP_INTERVAL_S": "0.5",
        "PYTHONWARNINGS": "default",
        **overrides,
    }


def npm_ci(directory: Path, why: str) -> str:
    """The node binary, with `directory`'s node_modules installed from its package-lock.json
    (`npm ci`, again whenever the lock file changed; one install at a time across test
    sessions). Without node and npm: skip, or fail under CI=true."""
    import fcntl
    import shutil
    import tempfile

    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        message = f"node and npm (v20+) are needed {why}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    installed = directory / "node_modules" / ".package-lock.json"
    lock = directory / "package-lock.json"
    guard = Path(tempfile.gettempdir()) / f"lucid-tron-worker-npm-{directory.name}.lock"
    with guard.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        if installed.is_file() and installed.stat().st_mtime >= lock.stat().st_mtime:
            return node
        done = subprocess.run(
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert done.returncode == 0, f"npm ci in {directory} failed:\n{done.stdout}\n{done.stderr}"
    return node


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class WorkerProcess:
    """`tron-worker run` in a subprocess, with its sidecar on a free port."""

    env: dict[str, str]
    sidecar_url: str
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self, crash_at: str | None = None, *, burst: bool = False) -> None:
        """Start `tron-worker run` (`--burst`: it exits 0 once drained); crash_at plants a
        SIGKILL (see tests/crashpoints.py)."""
        self.log = self.log_path.open("ab")
        argv = ["-m", "tests.crashpoints", crash_at] if crash_at else ["-m", "worker", "run"]
        if burst:
            argv.append("--burst")
        self.process = subprocess.Popen(
            [sys.executable, *argv],
            env=self.env,
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def status(self, path: str) -> int | None:
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
                async with http.get(self.sidecar_url + path) as response:
                    return response.status
        except (aiohttp.ClientError, TimeoutError):
            return None

    async def wait_status(self, path: str, expected: int, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        last = None
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, self.output()[-3000:]
            last = await self.status(path)
            if last == expected:
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"{path} stayed {last}, wanted {expected}\n{self.output()[-3000:]}")

    def terminate(self, timeout_s: float = 30) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout_s)
        finally:
            self.log.close()

    def wait_exit(self, timeout_s: float = 60) -> int:
        assert self.process is not None
        try:
            return self.process.wait(timeout=timeout_s)
        finally:
            self.log.close()

    async def stop(self, timeout_s: float = 30) -> int:
        """terminate() without blocking the event loop."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return await self.exited(timeout_s)

    async def exited(self, timeout_s: float = 60) -> int:
        """wait_exit without blocking the event loop (an in-process devnet serves from it)."""
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        while (code := self.process.poll()) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"still running after {timeout_s} s\n{self.output()[-3000:]}")
            await asyncio.sleep(0.1)
        self.log.close()
        return code

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
            self.log.close()


class FerretDBServer:
    """A private FerretDB server (the binary `make stack-up` built) for stop/start tests."""

    def __init__(self, tmp_path: Path, port: int) -> None:
        self.binary = ROOT / ".stack" / "bin" / "ferretdb"
        self.dir = tmp_path / "ferretdb"
        self.port = port
        self.url = f"mongodb://127.0.0.1:{port}/"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if not self.binary.exists():
            pytest.fail(f"{self.binary} missing: run `make stack-up`")
        (self.dir / "data").mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                str(self.binary),
                "--handler=sqlite",
                f"--sqlite-url=file:{self.dir / 'data'}/",
                f"--listen-addr=127.0.0.1:{self.port}",
                f"--state-dir={self.dir}",
                "--telemetry=disable",
                "--debug-addr=127.0.0.1:0",
                "--log-level=error",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
