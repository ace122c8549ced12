"""The in-memory twin of worker.broker.Broker, as MemoryStore is of MongoStore.

It records what was published and copied, can be told to refuse (as a broker
that does not confirm), and is what tests wire the pipeline to.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from worker.errors import TransientError
from worker.ports import Delivery
from worker.topology import Topology

__all__ = ["MemoryBroker"]


@dataclass
class MemoryBroker:
    topology: Topology
    published: list[dict[str, Any]] = field(default_factory=list)  # confirmed events
    copies: list[dict[str, Any]] = field(default_factory=list)  # retry-tier and dead-letter
    refuse_events: bool = False  # publish_event raises, as a broker that does not confirm
    refuse_copies: bool = False

    async def publish_event(
        self,
        routing_key: str,
        body: bytes,
        *,
        message_id: str,
        correlation_id: str | None,
        headers: dict[str, Any] | None = None,
    ) -> None:
        if self.refuse_events:
            raise TransientError(f"event {message_id} not confirmed")
        self.published.append(
            {
                "routing_key": routing_key,
                "body": body,
                "event": json.loads(body),
                "message_id": message_id,
                "correlation_id": correlation_id,
                "headers": headers or {},
            }
        )

    async def send_copy(
        self, delivery: Delivery, *, exchange: str, routing_key: str, headers: dict[str, Any]
    ) -> None:
        if self.refuse_copies:
            raise TransientError(f"copy to {routing_key} not confirmed")
        self.copies.append(
            {
                "exchange": exchange,
                "routing_key": routing_key,
                "headers": {**(delivery.headers or {}), **headers},
                "body": delivery.body,
            }
        )

    def events_of(self, routing_key: str) -> list[dict[str, Any]]:
        return [p for p in self.published if p["routing_key"] == routing_key]
