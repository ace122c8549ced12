"""Prometheus metrics, in a registry owned by the composition root (no global state)."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

__all__ = ["Metrics"]


class Metrics:
    """Every metric the worker exports; one instance per process, built in worker/app.py."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        r = self.registry
        self.dependency_up = Gauge(
            "tron_worker_dependency_up",
            "1 when the dependency answered its last health check in time, else 0",
            ["dependency"],
            registry=r,
        )
        self.dependency_check_seconds = Gauge(
            "tron_worker_dependency_check_seconds",
            "Latency of the dependency's last successful health check",
            ["dependency"],
            registry=r,
        )
        self.commands_total = Counter(
            "tron_worker_commands",
            "Commands handled, by type and outcome",
            ["type", "outcome"],
            registry=r,
        )
        self.command_duration_seconds = Histogram(
            "tron_worker_command_duration_seconds",
            "Time from delivery to ack",
            ["type"],
            registry=r,
        )
        self.inflight_commands = Gauge(
            "tron_worker_inflight_commands", "Deliveries being handled right now", registry=r
        )
        self.events_published_total = Counter(
            "tron_worker_events_published", "Events confirmed by the broker", ["type"], registry=r
        )
        self.rejections_total = Counter(
            "tron_worker_rejections", "Commands rejected, by code", ["code"], registry=r
        )
        self.outbox_unpublished = Gauge(
            "tron_worker_outbox_unpublished",
            "Stored events not yet confirmed by the broker",
            registry=r,
        )
        self.dead_letters_total = Counter(
            "tron_worker_dead_letters",
            "Deliveries dead-lettered, by queue and reason",
            ["queue", "reason"],
            registry=r,
        )
        self.background_errors_total = Counter(
            "tron_worker_background_errors",
            "Failed rounds or items of a background loop (it logs, backs off and goes on)",
            ["loop"],
            registry=r,
        )
        self.needs_attention_total = Counter(
            "tron_worker_needs_attention",
            "Commands whose fate the worker could not decide; an operator must look",
            ["type"],
            registry=r,
        )
        self.lease_takeovers_total = Counter(
            "tron_worker_lease_takeovers",
            "Commands taken over after their lease expired",
            registry=r,
        )

    def exposition(self) -> bytes:
        """The text format scraped at /metrics."""
        return generate_latest(self.registry)
