"""A private stack for one chaos run: its own RabbitMQ node, FerretDB and devnet, a TCP
proxy standing for the primary TRON endpoint, and worker processes to kill.

Private, so stopping the broker or the database breaks nothing but this run: the
RabbitMQ node is started by scripts/stack.py's own service definition (the Debian
package, a node name and ports of its own under the run's directory), FerretDB is
the binary `make stack-up` built, devnet runs as `python -m devnet` with fast blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp

from tests.support import ROOT, FerretDBServer, WorkerProcess, free_port, worker_env

__all__ = ["ChaosStack", "Fleet", "Proxy"]


def _stack_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("chaos_stack_script", ROOT / "scripts/stack.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


class Proxy:
    """A TCP relay to devnet that can be taken down: connections are refused (reset at
    once) and those open are cut, as when a node's host goes away."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.up = True
        self.latency_s = 0.0  # added before each request chunk is passed on (a slow server)
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self._cut()

    def down(self) -> None:
        self.up = False
        self._cut()

    def _cut(self) -> None:
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._open.update((writer, up_writer))

        async def pipe(
            source: asyncio.StreamReader, sink: asyncio.StreamWriter, slow: bool
        ) -> None:
            with contextlib.suppress(Exception):
                while data := await source.read(65536):
                    if slow and self.latency_s:
                        await asyncio.sleep(self.latency_s)
                    sink.write(data)
                    await sink.drain()
            with contextlib.suppress(Exception):
                sink.close()

        await asyncio.gather(pipe(reader, up_writer, True), pipe(up_reader, writer, False))
        self._open.difference_update((writer, up_writer))


class ChaosStack:
    """RabbitMQ, FerretDB and devnet of a run's own, under `directory`."""

    def __init__(self, directory: Path, *, block_interval_s: float = 0.25) -> None:
        self.directory = directory
        self.block_interval_s = block_interval_s
        self._script = _stack_script()
        port, dist = free_port(), free_port()
        self.rabbitmq = self._script.rabbitmq(directory, port, f"chaos{port}@localhost", dist)
        self.amqp_url = f"amqp://guest:guest@127.0.0.1:{port}/"
        self.ferretdb = FerretDBServer(directory, free_port())
        self.devnet_port = free_port()
        self.devnet_url = f"http://127.0.0.1:{self.devnet_port}"
        self.proxy = Proxy(self.devnet_port)
        self.fired: dict[str, int] = {}  # devnet faults that fired, by trigger
        self._devnet: subprocess.Popen[bytes] | None = None

    @property
    def mongo_url(self) -> str:
        return self.ferretdb.url

    async def __aenter__(self) -> ChaosStack:
        await asyncio.to_thread(self._script.up, self.rabbitmq, 120.0)
        self.ferretdb.start()
        log = (self.directory / "devnet.log").open("ab")
        self._devnet = subprocess.Popen(  # noqa: ASYNC220 (started once, not awaited)
            [sys.executable, "-m", "devnet", "--port", str(self.devnet_port),
             "--block-interval-s", str(self.block_interval_s), "--solidify-lag", "2",
             "--log-level", "WARNING"],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        await self.proxy.start()
        await _until_answers(f"{self.devnet_url}/wallet/getnowblock", 60)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.proxy.close()
        if self._devnet is not None:
            self._devnet.terminate()
            self._devnet.wait(timeout=20)
        self.ferretdb.stop()
        await asyncio.to_thread(self._script.down, self.rabbitmq, 60.0)

    async def broker_down(self) -> None:
        await asyncio.to_thread(self._script.down, self.rabbitmq, 60.0)

    async def broker_up(self) -> None:
        await asyncio.to_thread(self._script.up, self.rabbitmq, 120.0)

    def database_down(self) -> None:
        self.ferretdb.stop()

    def database_up(self) -> None:
        self.ferretdb.start()

    async def devnet(self, path: str, body: dict[str, Any], method: str = "POST") -> Any:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            async with http.request(method, self.devnet_url + path, json=body) as response:
                return await response.json(content_type=None)


async def _until_answers(url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(aiohttp.ClientError, OSError):
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
                async with http.post(url, json={}) as response:
                    if response.status == 200:
                        return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout_s} s")


class Fleet:
    """N `tron-worker run` processes against the chaos stack; any can be killed with
    SIGKILL and started again."""

    def __init__(self, stack: ChaosStack, namespace: str, count: int, logs: Path) -> None:
        self.stack = stack
        self.namespace = namespace
        self.logs = logs
        self.workers = [self._make(index) for index in range(count)]
        self._locks = [asyncio.Lock() for _ in self.workers]
        self.kills = 0
        self.exit_codes: list[int] = []  # of the graceful restarts

    def _make(self, index: int) -> WorkerProcess:
        port = free_port()
        env = worker_env(
            self.namespace,
            port,
            TRON_WORKER_AMQP__URL=self.stack.amqp_url.replace("guest:guest@", "guest@"),
            TRON_WORKER_MONGO__URL=self.stack.mongo_url,
            TRON_WORKER_TRON__ENDPOINTS=f'["{self.stack.proxy.url}", "{self.stack.devnet_url}"]',
            TRON_WORKER_LOG__LEVEL="info",
            TRON_WORKER_CHAIN__FOLLOWER_INTERVAL_S="0.2",
            TRON_WORKER_CHAIN__MANAGED_REFRESH_S="1",
            TRON_WORKER_CHAIN__EXPIRATION_S="10",
            TRON_WORKER_AMQP__RECONNECT_INTERVAL_S="0.5",
        )
        return WorkerProcess(env, f"http://127.0.0.1:{port}", self.logs / f"worker-{index}.log")

    def start(self) -> None:
        for worker in self.workers:
            worker.start()

    async def ready(self) -> None:
        for worker in self.workers:
            await worker.wait_status("/health/ready", 200, timeout_s=120)

    async def restart(self, index: int, *, down_s: float = 0.0, graceful: bool = False) -> None:
        """SIGKILL (or SIGTERM, waiting for a clean exit) worker `index`, then start it
        again after down_s; one restart of a worker at a time."""
        async with self._locks[index]:
            worker = self.workers[index]
            if worker.process is not None and worker.process.poll() is None:
                if graceful:
                    # Under load means serving: a SIGTERM before the worker installed its
                    # handler (still importing after a kill's restart) is the default
                    # action, exit -15, which says nothing about a graceful stop.
                    await worker.wait_status("/health/live", 200, timeout_s=60)
                    worker.process.send_signal(signal.SIGTERM)
                    self.exit_codes.append(await worker.exited(60))
                else:
                    os.kill(worker.process.pid, signal.SIGKILL)
                    await worker.exited(10)
                    self.kills += 1
            await asyncio.sleep(down_s)
            worker.start()

    async def stop(self) -> list[int]:
        return [await worker.stop(timeout_s=60) for worker in self.workers]

    def kill_all(self) -> None:
        for worker in self.workers:
            worker.kill()
