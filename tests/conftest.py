"""Fixtures: settings, the real servers started by `make stack-up`, worker processes.

A test that needs a server which is not reachable skips on a developer's
machine and fails under CI=true, so CI can never go green without them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import aio_pika
import pytest

from tests.support import (
    TEST_MASTER_KEYS,
    WorkerProcess,
    delete_namespace,
    free_port,
    require_server,
)
from worker.settings import Settings, load_settings


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings()


@pytest.fixture
def amqp_url(settings: Settings) -> str:
    require_server("RabbitMQ", settings.amqp.url, 5672)
    return settings.amqp.url


@pytest.fixture
def mongo_url(settings: Settings) -> str:
    require_server("FerretDB", settings.mongo.url, 27017)
    return settings.mongo.url


@pytest.fixture
def devnet_url(settings: Settings) -> str:
    url = settings.tron.endpoints[0]
    require_server("devnet", url, 18090)
    return url


@pytest.fixture
def namespace() -> str:
    """A private topology namespace per test, so tests never see each other's messages."""
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def amqp(
    amqp_url: str, namespace: str
) -> AsyncIterator[aio_pika.abc.AbstractRobustConnection]:
    """A connection for the test itself; deletes the namespace's queues and exchanges after."""
    connection = await aio_pika.connect_robust(amqp_url)
    yield connection
    await delete_namespace(connection, namespace)
    await connection.close()


@pytest.fixture
def make_worker(
    tmp_path: Path, namespace: str, amqp_url: str, mongo_url: str, devnet_url: str
) -> Iterator[Callable[..., WorkerProcess]]:
    """Build (not start) worker processes; every one still running at the end is killed."""
    workers: list[WorkerProcess] = []

    def make(**overrides: str) -> WorkerProcess:
        port = free_port()
        env = {
            **os.environ,
            "TRON_WORKER_AMQP__NAMESPACE": namespace,
            "TRON_WORKER_MONGO__DATABASE": f"t_{namespace.replace('-', '_')}",
            "TRON_WORKER_SIDECAR__HOST": "127.0.0.1",
            "TRON_WORKER_SIDECAR__PORT": str(port),
            "TRON_WORKER_SIDECAR__CHECK_INTERVAL_S": "0.5",
            "TRON_WORKER_LOG__FORMAT": "json",
            "TRON_WORKER_LOG__LEVEL": "debug",
            "TRON_WORKER_KEYSTORE__MASTER_KEYS": TEST_MASTER_KEYS,
            # Short leases so takeovers happen within a test; the database timeouts
            # shrink with them (lease_s must outlast 1.5 x the worst-case store call).
            "TRON_WORKER_WORKER__LEASE_S": "6",
            "TRON_WORKER_MONGO__SOCKET_TIMEOUT_S": "1",
            "TRON_WORKER_MONGO__SERVER_SELECTION_TIMEOUT_S": "1",
            "TRON_WORKER_WORKER__SWEEP_INTERVAL_S": "0.5",
            "PYTHONWARNINGS": "default",
            **overrides,
        }
        worker = WorkerProcess(env, f"http://127.0.0.1:{port}", tmp_path / f"worker-{port}.log")
        workers.append(worker)
        return worker

    yield make
    for worker in workers:
        worker.kill()


@pytest.fixture
async def tron(devnet):  # type: ignore[no-untyped-def]
    """Unmodified tronpy AsyncTron against the module's in-process `devnet` fixture."""
    from tronpy import AsyncTron
    from tronpy.providers import AsyncHTTPProvider

    async with AsyncTron(provider=AsyncHTTPProvider(devnet.url)) as client:
        yield client
