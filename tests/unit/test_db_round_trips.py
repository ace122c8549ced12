"""The database round-trip counter: a pymongo command listener feeding
tron_worker_db_round_trips_total{command}, which bench/ reads from /metrics."""

from __future__ import annotations

from pymongo import monitoring

from worker.database import RoundTripCounter, make_client
from worker.metrics import Metrics
from worker.settings import load_settings

NAME = "tron_worker_db_round_trips_total"


def started(command: dict) -> monitoring.CommandStartedEvent:
    return monitoring.CommandStartedEvent(
        command=command,
        database_name="tron_worker",
        request_id=1,
        connection_id=("127.0.0.1", 27017),
        operation_id=1,
    )


def count(metrics: Metrics, command: str) -> float | None:
    return metrics.registry.get_sample_value(NAME, {"command": command})


def test_each_command_sent_counts_once_under_its_name() -> None:
    metrics = Metrics()
    listener = RoundTripCounter(metrics.db_round_trips_total)
    listener.started(started({"insert": "commands", "documents": [{"_id": "a"}]}))
    listener.started(started({"insert": "events", "documents": [{"_id": "b"}]}))
    listener.started(started({"find": "leases", "filter": {"_id": "a:1"}}))
    assert count(metrics, "insert") == 2
    assert count(metrics, "find") == 1
    assert count(metrics, "update") is None
    assert f'{NAME}{{command="insert"}} 2.0' in metrics.exposition().decode()


async def test_make_client_registers_the_listener_only_with_metrics() -> None:
    settings = load_settings().mongo
    metrics = Metrics()
    counted = make_client(settings, metrics)
    plain = make_client(settings)
    try:
        listeners = counted.options.event_listeners
        assert [type(listener) for listener in listeners] == [RoundTripCounter]
        listeners[0].started(started({"delete": "outbox", "deletes": []}))
        assert count(metrics, "delete") == 1
        assert not any(isinstance(x, RoundTripCounter) for x in plain.options.event_listeners)
    finally:
        await counted.close()
        await plain.close()
