"""scripts/stack.py against the real shared stack: `up` is idempotent, `status` sees it all.

These tests only bring the stack up (a no-op when it runs); they never stop it,
since other tests are using it.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path

import aio_pika
import pytest

from worker.settings import Settings

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("rabbitmq", "ferretdb", "devnet")


def stack(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "stack.py"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,  # a cold FerretDB build takes minutes
    )


def pids(settings: Settings) -> dict[str, int]:
    stack_dir = ROOT / settings.stack.dir  # an absolute setting replaces ROOT
    return {
        name: int((stack_dir / name / f"{name}.pid").read_text().split()[0]) for name in SERVICES
    }


@pytest.fixture(scope="module")
def stack_up() -> None:
    done = stack("up")
    assert done.returncode == 0, done.stdout + done.stderr


def test_status_lists_three_running_services(stack_up: None) -> None:
    done = stack("status")

    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for name in SERVICES:
        assert any(line.startswith(f"{name}: running (pid ") for line in lines), done.stdout


def test_second_up_is_a_no_op_that_keeps_the_pids(stack_up: None, settings: Settings) -> None:
    before = pids(settings)

    done = stack("up")

    assert done.returncode == 0, done.stdout + done.stderr
    assert pids(settings) == before
    assert done.stdout.count("already running") == len(SERVICES), done.stdout


def test_status_of_one_service(stack_up: None) -> None:
    done = stack("status", "ferretdb")

    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("ferretdb: running (pid ")
    assert "rabbitmq" not in done.stdout


async def test_rabbitmq_node_serves_quorum_queues(stack_up: None, amqp_url: str) -> None:
    connection = await aio_pika.connect(amqp_url)  # guest/guest, allowed from loopback
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(
            f"test-stack-{uuid.uuid4()}", durable=True, arguments={"x-queue-type": "quorum"}
        )
        try:
            await channel.default_exchange.publish(aio_pika.Message(b"ping"), queue.name)
            message = None
            for _ in range(50):  # a quorum queue commits the publish before get() sees it
                message = await queue.get(fail=False)
                if message is not None:
                    break
                await asyncio.sleep(0.1)
            assert message is not None
            await message.ack()
            assert message.body == b"ping"
        finally:
            await queue.delete(if_unused=False, if_empty=False)


def test_unknown_service_is_a_usage_error() -> None:
    done = stack("up", "postgres")

    assert done.returncode == 1
    assert "usage:" in done.stderr


def test_bad_settings_exit_2_with_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "stack.py"), "status"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"TRON_WORKER_AMQP__URL": "http://127.0.0.1:5672/", "PATH": "/usr/bin:/bin"},
        timeout=60,
    )

    assert done.returncode == 2
    assert done.stderr.startswith("settings error: amqp.url")
    assert len(done.stderr.strip().splitlines()) == 1
