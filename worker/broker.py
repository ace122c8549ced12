"""RabbitMQ through aio-pika: a robust connection, the topology, confirmed publishing.

Two channels: one for consuming (bounded prefetch, manual acks) and one for
publishing with publisher confirms, so a slow confirm never stalls deliveries.

Every publish is `mandatory` and waits for its confirm; its callers ack a delivery (or
mark an event sent) once it returns. RabbitMQ confirms an unroutable mandatory message
too, right after returning it (`basic.return`), so a return must count as a failure:
otherwise a copy to a missing retry tier or `.dead` queue is "confirmed" and lost.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import structlog
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractQueue,
    AbstractRobustConnection,
)
from aio_pika.exceptions import AMQPError, DeliveryError, PublishError
from yarl import URL

from worker.errors import TransientError
from worker.logs import redact
from worker.ports import Delivery
from worker.settings import AmqpSettings
from worker.topology import Topology

__all__ = ["Broker"]

log = structlog.get_logger()


class Broker:
    """Owns the AMQP connection and channels; declares the topology on connect."""

    def __init__(self, settings: AmqpSettings, topology: Topology, *, connection_name: str) -> None:
        self._settings = settings
        self._topology = topology
        self._connection_name = connection_name
        self._connection: AbstractRobustConnection | None = None
        self._consume_channel: AbstractChannel | None = None
        self._publish_channel: AbstractChannel | None = None
        self._events: AbstractExchange | None = None
        # message_id -> resolved when that publish has its outcome; see _sole_publish_of.
        self._in_flight: dict[str, asyncio.Future[None]] = {}

    @property
    def topology(self) -> Topology:
        return self._topology

    def _url(self) -> URL:
        url = URL(self._settings.url)
        if self._settings.password is not None:
            url = url.with_password(self._settings.password.get_secret_value())
        return url

    async def connect(self) -> None:
        """Connect (once; aio-pika reconnects afterwards) and declare the topology."""
        try:
            self._connection = await aio_pika.connect_robust(
                self._url(),
                timeout=self._settings.connect_timeout_s,
                reconnect_interval=self._settings.reconnect_interval_s,
                client_properties={"connection_name": self._connection_name},
            )
            self._consume_channel = await self._connection.channel(publisher_confirms=False)
            await self._consume_channel.set_qos(prefetch_count=self._settings.prefetch)
            # on_return_raises: aio-pika's default (False) resolves a returned message's
            # publish as if confirmed; with True it raises PublishError instead.
            self._publish_channel = await self._connection.channel(
                publisher_confirms=True, on_return_raises=True
            )
            await declare_topology(self._publish_channel, self._topology)
            self._events = await self._publish_channel.get_exchange(
                self._topology.events.name, ensure=False
            )
        except (TimeoutError, AMQPError, OSError) as exc:
            await self.close()
            raise TransientError(f"cannot connect to the broker: {_describe(exc)}") from exc

    def is_open(self) -> bool:
        """True when the connection and both channels are open right now."""
        return all(
            part is not None and not part.is_closed
            for part in (self._connection, self._consume_channel, self._publish_channel)
        )

    async def work_queue(self, family: str) -> AbstractQueue:
        """The family's queue on the consuming channel.

        Declared (same arguments, so idempotent) rather than looked up: a robust channel
        restores after a reconnect only the queues it declared, and with them their
        consumers. A looked-up queue silently stops consuming after the first drop.
        """
        assert self._consume_channel is not None, "connect() first"
        spec = self._topology.work_queues[family]
        return await self._consume_channel.declare_queue(
            spec.name, durable=True, arguments=spec.arguments
        )

    async def messages_waiting(self) -> int:
        """Messages in the work queues and retry tiers (not the dead letters), counted on a
        fresh channel: a robust channel answers passive declares from its own cache."""
        if self._connection is None:
            raise TransientError("the broker is not connected")
        names = [spec.name for spec in self._topology.work_queues.values()]
        names += [queue for tiers in self._topology.retry_queues.values() for _, queue in tiers]
        try:
            channel = await self._connection.channel()
            try:
                total = 0
                for name in names:
                    queue = await channel.declare_queue(name, passive=True)
                    total += queue.declaration_result.message_count or 0
                return total
            finally:
                await channel.close()
        except (AMQPError, OSError, TimeoutError, RuntimeError) as exc:
            raise TransientError(f"cannot count queued messages: {_describe(exc)}") from exc

    async def publish_event(
        self,
        routing_key: str,
        body: bytes,
        *,
        message_id: str,
        correlation_id: str | None,
        headers: dict[str, Any] | None = None,
    ) -> None:
        """Publish persistently with `mandatory` and wait for the broker's confirm.

        Raises:
            TransientError: not confirmed (nack, timeout, connection lost) or unroutable
                (returned: the alternate exchange is missing); publish again.
        """
        if self._events is None:
            raise TransientError("the broker is not connected")
        message = aio_pika.Message(
            body,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message_id,
            correlation_id=correlation_id,
            headers=headers or {},
        )
        await self._publish_confirmed(self._events, message, routing_key, f"event {message_id}")

    async def send_copy(
        self,
        delivery: Delivery,
        *,
        exchange: str,
        routing_key: str,
        headers: dict[str, Any],
    ) -> None:
        """Publish a copy of a delivery (body and properties, extra headers) and await the confirm.

        Used for retry tiers (default exchange, queue name as routing key) and dead letters.

        Raises:
            TransientError: not confirmed, or unroutable (the target queue is missing);
                the original must not be acked.
        """
        if self._publish_channel is None:
            raise TransientError("the broker is not connected")
        message = aio_pika.Message(
            delivery.body,
            content_type=delivery.content_type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=delivery.message_id,
            correlation_id=delivery.correlation_id,
            headers={**(delivery.headers or {}), **headers},
        )
        try:
            target = (
                self._publish_channel.default_exchange
                if exchange == ""
                else await self._publish_channel.get_exchange(exchange, ensure=False)
            )
        except (AMQPError, OSError, TimeoutError, RuntimeError) as exc:
            raise TransientError(f"copy to {routing_key} not confirmed: {_describe(exc)}") from exc
        await self._publish_confirmed(target, message, routing_key, f"copy to {routing_key}")

    async def _publish_confirmed(
        self, exchange: AbstractExchange, message: aio_pika.Message, routing_key: str, what: str
    ) -> None:
        """Publish `mandatory` and await the confirm; any other outcome is a TransientError."""
        try:
            async with self._sole_publish_of(message.message_id):
                await exchange.publish(
                    message,
                    routing_key=routing_key,
                    mandatory=True,
                    timeout=self._settings.publish_timeout_s,
                )
        except PublishError as exc:  # before DeliveryError, its base: the broker returned it
            raise TransientError(
                f"{what} unroutable: nothing bound for routing key {routing_key!r} "
                f"on exchange {exchange.name or '(default)'!r}"
            ) from exc
        except (TimeoutError, AMQPError, DeliveryError, OSError, RuntimeError) as exc:
            raise TransientError(f"{what} not confirmed: {_describe(exc)}") from exc

    @contextlib.asynccontextmanager
    async def _sole_publish_of(self, message_id: str | None) -> AsyncIterator[None]:
        """Hold back a publish while another with the same message_id awaits its outcome.

        aiormq pairs a basic.return with its publish by message_id, and a later publish with
        the same id takes the pairing over: with two copies of one command in flight (a
        duplicate delivery), the return would fail the routable copy and the returned copy
        would collect the plain confirm. Publishes with distinct ids still overlap.
        """
        if not message_id:  # aiormq gives each publish without an id a random one
            yield
            return
        while (earlier := self._in_flight.get(message_id)) is not None:
            await asyncio.wait({earlier})  # its outcome is not ours: never raises it
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._in_flight[message_id] = done
        try:
            yield
        finally:
            del self._in_flight[message_id]
            done.set_result(None)

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        self._events = None
        self._consume_channel = self._publish_channel = None
        if connection is not None and not connection.is_closed:
            await connection.close()


async def declare_topology(channel: AbstractChannel, topology: Topology) -> None:
    """Declare every exchange, queue and binding; idempotent with identical arguments."""
    for exchange in topology.exchanges:
        await channel.declare_exchange(
            exchange.name, exchange.type, durable=True, arguments=exchange.arguments or None
        )
    for spec in topology.queues:
        queue = await channel.declare_queue(spec.name, durable=True, arguments=spec.arguments)
        for exchange_name, routing_key in spec.bindings:
            await queue.bind(exchange_name, routing_key=routing_key)


def _describe(exc: BaseException) -> str:
    # Library exception text may quote the connection URL: mask any password in it.
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return str(redact(text))
