"""worker/logs.py: JSON lines with bound context, and secrets redacted."""

from __future__ import annotations

import io
import json

import structlog

from worker.logs import REDACTED, configure_logging, redact


def _capture(**event) -> dict:
    stream = io.StringIO()
    configure_logging("info", "json", stream)
    structlog.contextvars.bind_contextvars(command_id="c-1")
    try:
        structlog.get_logger().info("something happened", **event)
    finally:
        structlog.contextvars.clear_contextvars()
    return json.loads(stream.getvalue().strip().splitlines()[-1])


def test_json_line_carries_bound_context() -> None:
    line = _capture(amount_sun=5)
    assert line["event"] == "something happened"
    assert line["command_id"] == "c-1"
    assert line["amount_sun"] == 5
    assert line["level"] == "info"


def test_secret_named_keys_are_redacted_even_nested() -> None:
    line = _capture(
        private_key="deadbeef" * 8,
        password="hunter2",
        nested={"api_key": "k", "x-signature": "ab", "token": "USDT"},
    )
    assert line["private_key"] == REDACTED
    assert line["password"] == REDACTED
    assert line["nested"] == {"api_key": REDACTED, "x-signature": REDACTED, "token": "USDT"}
    assert "hunter2" not in json.dumps(line)


def test_url_passwords_are_masked_in_any_string() -> None:
    masked = redact("cannot reach amqp://svc:hunter2@10.0.0.1:5672/ now")
    assert "hunter2" not in masked
    assert "amqp://svc:[REDACTED]@10.0.0.1:5672/" in masked


def test_stdlib_loggers_go_through_the_same_pipeline() -> None:
    import logging

    stream = io.StringIO()
    configure_logging("info", "json", stream)
    logging.getLogger("aio_pika").warning("lost amqp://u:pw123@h/")
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["level"] == "warning"
    assert "pw123" not in line["event"]
