"""What a chaos run sends and what it hears: a seeded mix of commands, a publisher that
keeps trying through a broker outage, and an independent subscriber of every event.

Every money item pays a fresh address of its own, so the audit can count the chain's
transactions per item from the ledger alone (a second payment to the same address is a
double spend, whatever the worker's records say).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aio_pika
from tronpy.keys import PrivateKey

from worker.broker import declare_topology
from worker.settings import load_settings
from worker.topology import build_topology

__all__ = ["TERMINAL", "Command", "Heard", "Publisher", "Subscriber", "Workload", "terminal"]

USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
TERMINAL = {
    "wallet": {"created", "failed", "rejected"},
    "transfer": {"confirmed", "failed", "rejected"},
    "stake": {"confirmed", "failed", "rejected"},
    "payout": {"completed", "failed", "rejected"},
}


@dataclass
class Command:
    kind: str
    payload: dict[str, Any]
    key: str
    body: bytes
    sent_at: float = 0.0  # monotonic, when the broker confirmed it

    @property
    def family(self) -> str:
        return self.kind.split(".", 1)[0]


def envelope(kind: str, payload: dict[str, Any], key: str | None = None) -> Command:
    key = key or f"chaos-{kind}-{uuid.uuid4().hex}"
    body = json.dumps(
        {
            "command_id": str(uuid.uuid4()),
            "idempotency_key": key,
            "type": kind,
            "schema_version": 1,
            "issued_at": datetime.now(UTC).isoformat(),
            "payload": payload,
        }
    ).encode()
    return Command(kind, payload, key, body)


def fresh_address(rng: random.Random) -> str:
    return PrivateKey(rng.randbytes(32)).public_key.to_base58check_address()


@dataclass
class Workload:
    """A seeded mix: TRX and USDT transfers and payouts (several lines), wallet
    creations, stake commands, and duplicates of earlier commands (the same bytes)."""

    rng: random.Random
    hot: list[str]
    staking: str
    witness: str
    commands: list[Command] = field(default_factory=list)

    def next(self) -> tuple[Command, bool]:
        """The next command to publish, and whether it repeats an earlier one."""
        roll = self.rng.random()
        if self.commands and roll < 0.08:
            return self.rng.choice(self.commands), True
        command = self._new(roll)
        self.commands.append(command)
        return command, False

    def _new(self, roll: float) -> Command:
        rng, wallet = self.rng, self.rng.choice(self.hot)
        if roll < 0.40:
            payload = {"wallet": wallet, "to": fresh_address(rng),
                       "amount_sun": rng.randint(1, 2_000_000)}  # fmt: skip
            return envelope("transfer.trx", payload)
        if roll < 0.50:
            payload = {"wallet": wallet, "to": fresh_address(rng), "token": "USDT",
                       "amount": rng.randint(1, 5_000)}  # fmt: skip
            return envelope("transfer.trc20", payload)
        if roll < 0.75:
            usdt = rng.random() < 0.35
            lines = [
                {"to": fresh_address(rng), "amount": rng.randint(1, 900_000 if not usdt else 900),
                 "reference": f"line-{index}"}
                for index in range(rng.randint(2, 5))
            ]  # fmt: skip
            payload: dict[str, Any] = {"asset": "USDT" if usdt else "TRX", "recipients": lines}
            if rng.random() < 0.7:  # else the hot-wallet pool picks a source
                payload["source_wallet"] = wallet
            return envelope("payout.create", payload)
        if roll < 0.90:
            return envelope("wallet.create", {"count": rng.randint(1, 3), "purpose": "deposit"})
        return self._stake()

    def _stake(self) -> Command:
        rng, staking = self.rng, self.staking
        pick = rng.random()
        if pick < 0.5:
            resource = rng.choice(["ENERGY", "BANDWIDTH"])
            payload = {"wallet": staking, "amount_sun": rng.randint(1, 3) * 1_000_000,
                       "resource": resource}  # fmt: skip
            return envelope("stake.freeze", payload)
        if pick < 0.7:
            votes = [{"witness": self.witness, "count": 1}]
            return envelope("stake.vote", {"wallet": staking, "votes": votes})
        kind = "stake.delegate" if pick < 0.85 else "stake.undelegate"
        payload = {"wallet": staking, "receiver": rng.choice(self.hot),
                   "amount_sun": 1_000_000, "resource": "BANDWIDTH"}  # fmt: skip
        if kind == "stake.delegate":
            payload.update(lock=False, lock_period_blocks=0)
        return envelope(kind, payload)


class Publisher:
    """Publishes with confirms; through a broker outage it reconnects and publishes the
    same bytes again until the broker confirms them."""

    def __init__(self, url: str, namespace: str) -> None:
        self.url, self.namespace = url, namespace
        self._connection: aio_pika.abc.AbstractConnection | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None
        self.retries = 0

    async def publish(self, command: Command) -> None:
        while True:
            try:
                if self._exchange is None:
                    self._connection = await aio_pika.connect(self.url, timeout=5)
                    channel = await self._connection.channel(publisher_confirms=True)
                    self._exchange = await channel.get_exchange(f"{self.namespace}.commands")
                await self._exchange.publish(
                    aio_pika.Message(command.body, content_type="application/json",
                                     delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                    f"command.{command.kind}", timeout=10,
                )  # fmt: skip
                command.sent_at = time.monotonic()
                return
            except Exception:
                self.retries += 1
                await self.close()
                await asyncio.sleep(0.5)

    async def close(self) -> None:
        connection, self._connection, self._exchange = self._connection, None, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()


@dataclass
class Heard:
    routing_key: str
    event: dict[str, Any]
    at: float


class Subscriber:
    """Every event, from a durable quorum queue of its own bound to `#`: it survives the
    broker's restart, and a message is acked only once recorded."""

    def __init__(self, url: str, namespace: str) -> None:
        self.url, self.namespace = url, namespace
        self.queue = f"{namespace}.chaos-audit"
        self.heard: list[Heard] = []
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._ready.wait(), 60)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        settings = load_settings(environ={"TRON_WORKER_AMQP__NAMESPACE": self.namespace})
        while True:
            try:
                connection = await aio_pika.connect(self.url, timeout=5)
                async with connection:
                    channel = await connection.channel()
                    await declare_topology(channel, build_topology(settings.amqp))
                    queue = await channel.declare_queue(
                        self.queue, durable=True, arguments={"x-queue-type": "quorum"}
                    )
                    await queue.bind(f"{self.namespace}.events", routing_key="#")
                    self._ready.set()
                    while True:  # basic.get: a lost connection raises here, never hangs
                        message = await queue.get(fail=False, timeout=5)
                        if message is None:
                            await asyncio.sleep(0.05)
                            continue
                        event = json.loads(message.body)
                        self.heard.append(Heard(message.routing_key, event, time.monotonic()))
                        await message.ack()
            except asyncio.CancelledError:
                raise
            except Exception:
                await asyncio.sleep(0.5)


def terminal(command: Command, heard: list[Heard]) -> list[Heard]:
    """The terminal events among those heard for one command."""
    states = TERMINAL[command.family]
    return [h for h in heard if h.routing_key.split(".", 1)[1] in states]
