"""Shared fixtures: settings, and the real servers started by `make stack-up`.

A test that needs a server which is not reachable skips on a developer's
machine and fails under CI=true, so CI can never go green without them.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest

from worker.settings import Settings, load_settings

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
