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
        self.db_round_trips_total = Counter(
            "tron_worker_db_round_trips",
            "Commands sent to the database, each one round trip (worker/database.py "
            "RoundTripCounter), by database command name: insert, find, update, delete...",
            ["command"],
            registry=r,
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
        self.follower_block = Gauge(
            "tron_worker_follower_block",
            "The last solidified block the chain follower processed",
            registry=r,
        )
        # Set with follower_block: time() minus it is how far the follower trails the chain,
        # which the node's head would otherwise be needed for (deploy/prometheus/alerts.yml).
        self.follower_block_timestamp_seconds = Gauge(
            "tron_worker_follower_block_timestamp_seconds",
            "Block time (Unix seconds) of the last solidified block the chain follower "
            "processed, 0 before the first one",
            registry=r,
        )
        self.follower_attempts_in_flight = Gauge(
            "tron_worker_follower_attempts_in_flight",
            "Journaled transaction attempts waiting for their fate, as the chain follower "
            "counted them at the start of the last block it processed",
            registry=r,
        )
        self.fates_total = Counter(
            "tron_worker_attempt_fates",
            "Transaction attempts decided by the chain follower, by fate",
            ["fate"],
            registry=r,
        )
        self.rebuilds_total = Counter(
            "tron_worker_rebuilds",
            "Transactions rebuilt after their previous attempt was proven absent",
            registry=r,
        )
        self.lease_takeovers_total = Counter(
            "tron_worker_lease_takeovers",
            "Commands taken over after their lease expired",
            registry=r,
        )
        self.node_requests_total = Counter(
            "tron_worker_node_requests",
            "HTTP requests to TRON endpoints (worker/gateway.py), by endpoint, method, outcome",
            ["endpoint", "method", "outcome"],
            registry=r,
        )
        self.node_latency_seconds = Histogram(
            "tron_worker_node_latency_seconds",
            "Time of one HTTP request to a TRON endpoint, answered or not",
            ["endpoint", "method"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=r,
        )
        self.node_circuit_open = Gauge(
            "tron_worker_node_circuit_open",
            "1 while the endpoint's circuit breaker is open or half-open, else 0",
            ["endpoint"],
            registry=r,
        )
        self.oldest_queued_command_age_seconds = Gauge(
            "tron_worker_oldest_queued_command_age_seconds",
            "Largest now - issued_at among commands delivered to this worker in the last "
            "window (worker/health.py DeliveryAges), 0 when none; grows with a queue backlog",
            registry=r,
        )

        # Reconciliation (worker/reconcile.py)
        self.unexplained_outflow_total = Counter(
            "tron_worker_unexplained_outflow",
            "Outflows from a managed wallet that no journaled attempt explains (each pauses "
            "the wallet), by asset",
            ["asset"],
            registry=r,
        )
        self.wallet_balance_drift_sun = Gauge(
            "tron_worker_wallet_balance_drift_sun",
            "A hot wallet's node balance minus the balance the journal predicts since this "
            "process's baseline (worker/reconcile.py); set only where the follower runs",
            ["wallet"],
            registry=r,
        )

        # Wallet resources: node readings of each hot and staking wallet, set by every
        # process's balance check round (worker/reconcile.py BalanceCheck); a wallet's series
        # goes when the wallet does.
        self.wallet_balance_sun = Gauge(
            "tron_worker_wallet_balance_sun",
            "A hot or staking wallet's TRX balance (sun) as the node reported it at the last "
            "balance check round (head view, getaccount)",
            ["wallet"],
            registry=r,
        )
        self.wallet_energy_available = Gauge(
            "tron_worker_wallet_energy_available",
            "Energy a hot or staking wallet could spend at the last balance check round "
            "(EnergyLimit - EnergyUsed, never negative)",
            ["wallet"],
            registry=r,
        )
        self.wallet_bandwidth_available = Gauge(
            "tron_worker_wallet_bandwidth_available",
            "Bandwidth points a hot or staking wallet could spend at the last balance check "
            "round: free allowance left plus staked allowance left, each never negative",
            ["wallet"],
            registry=r,
        )
        # What the chain took and did, counted by the chain follower (worker/follower.py)
        # once per fate it decided (the fate's insert won: a redo of the block counts nothing).
        self.fees_burned_sun_total = Counter(
            "tron_worker_fees_burned_sun",
            "TRX (sun) the receipts of this worker's confirmed or failed transactions charged "
            "(the receipt's fee: energy, bandwidth, memo, activation), by the asset the "
            "transaction moved (TRX for TRX transfers and system contracts, else the token)",
            ["asset"],
            registry=r,
        )
        self.energy_delegated_total = Counter(
            "tron_worker_energy_delegated",
            "Staked TRX (sun, not energy units) whose energy this worker's confirmed "
            "DelegateResource transactions delegated",
            registry=r,
        )

    def exposition(self) -> bytes:
        """The text format scraped at /metrics."""
        return generate_latest(self.registry)
