"""Fixtures: settings, the real servers started by `make stack-up`, worker processes.

A test that needs a server which is not reachable skips on a developer's
machine and fails under CI=true, so CI can never go green without them.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import aio_pika
import pytest

from tests.support import (
    WorkerProcess,
    delete_namespace,
    free_port,
    require_server,
    worker_env,
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
        env = worker_env(namespace, port, **overrides)
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
