"""The broker as the client uses it: connect, exchanges, publish with confirms."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from worker.client.common import FAILED, CliError
from worker.settings import AmqpSettings

if TYPE_CHECKING:
    from aio_pika.abc import (
        AbstractChannel,
        AbstractConnection,
        AbstractExchange,
    )


async def _connect(amqp: AmqpSettings) -> AbstractConnection:
    import aio_pika
    from aio_pika.exceptions import AMQPError
    from yarl import URL

    url = URL(amqp.url)
    if amqp.password is not None:
        url = url.with_password(amqp.password.get_secret_value())
    try:
        return await aio_pika.connect(
            url,
            timeout=amqp.connect_timeout_s,
            client_properties={"connection_name": f"tron-worker-cli:{os.getpid()}"},
        )
    except (AMQPError, OSError, TimeoutError) as exc:
        raise CliError(
            FAILED, f"cannot connect to the broker at {amqp.url}: {_error(exc)}"
        ) from None


@contextlib.asynccontextmanager
async def _broker(amqp: AmqpSettings) -> AsyncIterator[AbstractConnection]:
    connection = await _connect(amqp)
    try:
        yield connection
    finally:
        with contextlib.suppress(Exception):
            await connection.close()


async def _exchange(channel: AbstractChannel, name: str) -> AbstractExchange:
    """An exchange the worker declared (passive: the CLI never declares the topology)."""
    from aio_pika.exceptions import AMQPError

    try:
        return await channel.get_exchange(name, ensure=True)
    except AMQPError as exc:
        raise CliError(
            FAILED,
            f"exchange {name} is not there ({_error(exc)}): a worker with this namespace "
            "declares it when it starts",
        ) from None


async def _publish(
    exchange: AbstractExchange, message: Any, routing_key: str, timeout_s: float
) -> None:
    """Publish `mandatory` and wait for the broker's confirm; CliError when it is refused."""
    from aio_pika.exceptions import AMQPError, DeliveryError, PublishError

    try:
        await exchange.publish(message, routing_key=routing_key, mandatory=True, timeout=timeout_s)
    except PublishError:  # before DeliveryError, its base: returned as unroutable
        raise CliError(
            FAILED, f"nothing is bound for {routing_key} on {exchange.name}: is the family served?"
        ) from None
    except (AMQPError, DeliveryError, OSError, TimeoutError) as exc:
        raise CliError(FAILED, f"publish to {routing_key} not confirmed: {_error(exc)}") from None


def _error(exc: BaseException) -> str:
    from worker.logs import redact

    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return str(redact(text))[:300]
