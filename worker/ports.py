"""Small interfaces between the runtime's parts; each has a real adapter and a twin in tests."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from worker.topology import Topology

__all__ = ["BrokerPort", "Delivery", "EventSink"]


class Delivery(Protocol):
    """The part of an AMQP delivery the pipeline uses (aio-pika's IncomingMessage fits)."""

    @property
    def body(self) -> bytes: ...
    @property
    def message_id(self) -> str | None: ...
    @property
    def correlation_id(self) -> str | None: ...
    @property
    def headers(self) -> dict[str, Any]: ...
    @property
    def routing_key(self) -> str | None: ...
    @property
    def content_type(self) -> str | None: ...

    async def ack(self) -> None: ...
    async def nack(self, *, requeue: bool = True) -> None: ...


class EventSink(Protocol):
    """Publishes one event and returns once the broker confirmed it (Broker.publish_event)."""

    def __call__(
        self,
        routing_key: str,
        body: bytes,
        *,
        message_id: str,
        correlation_id: str | None,
        headers: dict[str, Any] | None = None,
    ) -> Awaitable[None]: ...


class BrokerPort(Protocol):
    """What the command path needs of a broker: worker.broker.Broker, and its in-memory
    twin worker.memory_broker.MemoryBroker."""

    @property
    def topology(self) -> Topology: ...

    @property
    def publish_event(self) -> EventSink: ...

    async def send_copy(
        self, delivery: Delivery, *, exchange: str, routing_key: str, headers: dict[str, Any]
    ) -> None:
        """Publish a confirmed copy of a delivery; TransientError when not confirmed."""
        ...
