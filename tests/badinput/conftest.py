"""Module-scoped access to the real servers, so one worker serves a whole corpus module.

tests/conftest.py's server fixtures are per test; these ask the same `require_server`,
which skips on a developer's machine and fails under CI=true.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.support import require_server
from worker.settings import load_settings


@dataclass(frozen=True)
class Servers:
    amqp_url: str
    mongo_url: str
    devnet_url: str


@pytest.fixture(scope="module")
def servers() -> Servers:
    settings = load_settings()
    require_server("RabbitMQ", settings.amqp.url, 5672)
    require_server("FerretDB", settings.mongo.url, 27017)
    require_server("devnet", settings.tron.endpoints[0], 18090)
    return Servers(settings.amqp.url, settings.mongo.url, settings.tron.endpoints[0])
