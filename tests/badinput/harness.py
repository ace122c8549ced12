"""One worker process, many bad deliveries: publish a whole corpus at once, collect what
became of each delivery (events and dead letters), then prove the worker still serves.

A corpus module runs its cases through a single worker (`run_corpus`, from a
module-scoped fixture) and its parametrized tests only read the collected outcome, so
a hundred cases cost one worker start-up, not a hundred. Each delivery carries its own
`correlation_id` (or, where a case tampers with that, its own `message_id`); the
worker copies it to every event and dead letter about the delivery, which is how an
outcome finds its case.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aio_pika
from pymongo import AsyncMongoClient

from schemas.commands import COMMAND_TYPES
from tests.support import WorkerProcess, delete_namespace, free_port, worker_env
from worker.broker import declare_topology
from worker.settings import load_settings
from worker.topology import build_topology

FAMILIES = ("wallet", "transfer", "payout", "stake")
# Every event state but `accepted` ends what a delivery does before its ack.
NOT_FINAL = {"accepted"}


# --- building commands ------------------------------------------------------------------


def now_text(offset: timedelta = timedelta(0)) -> str:
    return (datetime.now(UTC) + offset).isoformat().replace("+00:00", "Z")


NOW = "<issued now>"  # envelope()'s issued_at until the body is serialized (to_json)
DROP = object()  # envelope(..., field=DROP) leaves the field out


def envelope(command_type: str, payload: Any, /, **fields: Any) -> dict[str, Any]:
    """A valid envelope around `payload`; `fields` replace (or, with DROP, drop) fields.

    Its issued_at is stamped when the body is serialized, not when the corpus module is
    imported: with signatures required, a body older than the skew window is refused.
    """
    data: dict[str, Any] = {
        "command_id": str(uuid.uuid4()),
        "idempotency_key": f"bad-{uuid.uuid4().hex}",
        "type": command_type,
        "schema_version": 1,
        "issued_at": NOW,
        "payload": payload,
    }
    for name, value in fields.items():
        if value is DROP:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def to_json(data: Any, **options: Any) -> str:
    """json.dumps, with every NOW stamped with the current time."""
    now = now_text()

    def stamp(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: stamp(item) for key, item in value.items()}
        if isinstance(value, list):
            return [stamp(item) for item in value]
        return now if value == NOW else value

    return json.dumps(stamp(data), **options)


def dumps(data: Any) -> bytes:
    return to_json(data).encode()


def sign(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# --- what a case is and what it expects -----------------------------------------------------


@dataclass(frozen=True)
class Expect:
    """The exact outcome of one delivery.

    events: routing keys of every event about it, in order (`accepted` first for
        refusals a handler makes after the claim);
    code: the last event's payload `code`;
    dead: the dead letter's `x-dead-letter-reason`, or None for "no dead letter";
    says: text the rejection message (and the dead letter's detail) must contain;
    field: a field the rejection's `errors` must name;
    named: whether the event names the command (command_id / idempotency_key): only
        authentic, parseable deliveries are named;
    claimed: whether the command is stored (claimed) in the database: only authentic,
        valid, unexpired commands with a new key are.
    """

    events: tuple[str, ...]
    code: str | None = None
    dead: str | None = None
    says: str | None = None
    field: str | None = None
    named: bool = True
    claimed: bool = False


def poison(family: str, says: str) -> Expect:
    return Expect((f"{family}.rejected",), "POISON", dead="poison", says=says, named=False)


def invalid(family: str, field_name: str, says: str | None = None) -> Expect:
    return Expect((f"{family}.rejected",), "INVALID_COMMAND", field=field_name, says=says)


def refused(family: str, code: str, says: str | None = None) -> Expect:
    """Refused by the handler after the claim: `accepted`, then `rejected`."""
    return Expect((f"{family}.accepted", f"{family}.rejected"), code, says=says, claimed=True)


CREATED = Expect(("wallet.created",), claimed=True)
"""A valid wallet.create, whatever its headers: it is carried out."""


def unauthenticated(family: str, says: str) -> Expect:
    return Expect(
        (f"{family}.rejected",), "UNAUTHENTICATED", dead="unauthenticated", says=says, named=False
    )


@dataclass(frozen=True)
class Delivery:
    """What the publisher sends for one case."""

    body: bytes
    routing_key: str
    headers: dict[str, Any] = field(default_factory=dict)
    message_id: str | None = None
    correlation_id: str | None = None

    @property
    def match(self) -> str:
        """What the worker copies to every outcome: correlation_id, else message_id."""
        found = self.correlation_id or self.message_id
        assert found, "a case needs a correlation_id or a message_id"
        return found


@dataclass(frozen=True)
class Case:
    id: str
    build: Callable[[Context], Delivery]
    expect: Expect
    xfail: str | None = None  # the reason, when the worker is known to get this wrong


@dataclass
class Context:
    """What cases may refer to: wallets the worker manages, keys already claimed."""

    managed: str = ""
    claimed_key: str = ""
    secrets: dict[str, str] = field(default_factory=dict)


DEFAULT_ROUTES = {
    "wallet": "command.wallet.create",
    "transfer": "command.transfer.trx",
    "payout": "command.payout.create",
    "stake": "command.stake.freeze",
}


def case(
    case_id: str,
    family: str,
    data: Any = None,
    expect: Expect | None = None,
    *,
    routing_key: str | None = None,
    raw: bytes | None = None,
    headers: dict[str, Any] | Callable[[bytes], dict[str, Any]] | None = None,
    message_id: str | None = "",
    correlation_id: str | None = "",
    xfail: str | None = None,
) -> Case:
    """One case for the `family` queue: `raw` bytes, or `data` as JSON (`data` may be a
    function of the context). The routing key is the body's `type` when it has a known
    one, else the family's usual one. message_id / correlation_id default to ids made
    from the case id; None sends none. `headers` may be a function of the body (to sign it).
    """
    assert expect is not None

    def build(ctx: Context) -> Delivery:
        value = data(ctx) if callable(data) else data
        body = raw if raw is not None else dumps(value)
        typed = isinstance(value, dict) and value.get("type") in COMMAND_TYPES
        default = f"command.{value['type']}" if typed else DEFAULT_ROUTES[family]
        return Delivery(
            body,
            routing_key or default,
            headers=headers(body) if callable(headers) else dict(headers or {}),
            message_id=f"msg-{case_id}" if message_id == "" else message_id,
            correlation_id=f"corr-{case_id}" if correlation_id == "" else correlation_id,
        )

    return Case(case_id, build, expect, xfail)


# --- what came back -------------------------------------------------------------------------


@dataclass
class Seen:
    events: list[aio_pika.abc.AbstractIncomingMessage] = field(default_factory=list)
    dead: list[tuple[str, aio_pika.abc.AbstractIncomingMessage]] = field(default_factory=list)

    def final(self) -> bool:
        return any(message.routing_key.split(".", 1)[1] not in NOT_FINAL for message in self.events)


@dataclass
class Run:
    """Everything one corpus run saw."""

    namespace: str
    sent: dict[str, Delivery]
    seen: dict[str, Seen]
    after: dict[str, Seen]  # the valid commands sent once the corpus was done
    exit_code: int | None
    output: str
    claimed: int  # commands the database holds once everything is over
    stray: set[str]  # outcomes about nothing this run published
    seconds: float


def check(run: Run, case: Case) -> None:
    """Assert the case's exact outcome."""
    expect, sent = case.expect, run.sent[case.id]
    seen = run.seen.get(sent.match, Seen())
    kinds = [message.routing_key for message in seen.events]
    assert tuple(kinds) == expect.events, f"events {kinds}, wanted {list(expect.events)}"
    last = json.loads(seen.events[-1].body)
    payload = last["payload"]
    assert payload.get("code") == expect.code, payload
    if expect.says is not None:
        assert expect.says in payload["message"], payload
    if expect.field is not None:
        fields = [error["field"] for error in payload.get("errors") or []]
        assert expect.field in fields, payload
    if expect.named:
        body = json.loads(sent.body, parse_int=str)  # a 5000-digit amount is valid JSON
        assert last["command_id"] == body["command_id"]
        assert last["idempotency_key"] == body["idempotency_key"]
    else:
        assert last["command_id"] is None and last["idempotency_key"] is None, last
    family = kinds[-1].split(".", 1)[0]
    if expect.dead is None:
        assert seen.dead == [], [queue for queue, _ in seen.dead]
        return
    assert len(seen.dead) == 1, f"{len(seen.dead)} dead letters"
    queue, parked = seen.dead[0]
    assert queue == f"{run.namespace}.{family}.dead"
    assert parked.body == sent.body, "the dead letter holds the whole delivery"
    headers = parked.headers or {}
    assert headers["x-dead-letter-reason"] == expect.dead
    assert headers["x-original-routing-key"] == sent.routing_key
    if expect.says is not None:
        assert expect.says in str(headers["x-dead-letter-detail"])


# --- running a corpus -------------------------------------------------------------------------


def database_name(namespace: str) -> str:
    return f"t_{namespace.replace('-', '_')}"


Setup = Callable[["Corpus"], Any]


class Corpus:
    """A namespace, a worker in it, and the test's own view of its exchanges and queues."""

    def __init__(
        self,
        *,
        amqp_url: str,
        mongo_url: str,
        log_dir: Path,
        env: Mapping[str, str],
        watch_dead: bool = True,  # consume the dead-letter queues too
    ) -> None:
        self.amqp_url, self.mongo_url = amqp_url, mongo_url
        self.namespace = f"test-{uuid.uuid4().hex[:10]}"
        port = free_port()
        self.worker = WorkerProcess(
            worker_env(self.namespace, port, **env),
            f"http://127.0.0.1:{port}",
            log_dir / f"worker-{self.namespace}.log",
        )
        self.seen: dict[str, Seen] = {}
        self.published: set[str] = set()
        self.ctx = Context()
        self.watch_dead = watch_dead

    async def __aenter__(self) -> Corpus:
        self.connection = await aio_pika.connect_robust(self.amqp_url)
        self.channel = channel = await self.connection.channel()
        settings = load_settings(environ={"TRON_WORKER_AMQP__NAMESPACE": self.namespace})
        await declare_topology(channel, build_topology(settings.amqp))
        self.commands = await channel.get_exchange(f"{self.namespace}.commands")
        events = await channel.declare_queue(exclusive=True)
        await events.bind(f"{self.namespace}.events", routing_key="#")
        await events.consume(self._on_event, no_ack=True)
        for family in FAMILIES if self.watch_dead else ():
            queue = await channel.get_queue(f"{self.namespace}.{family}.dead")
            await queue.consume(self._on_dead(queue.name), no_ack=True)
        self.worker.start()
        await self.worker.wait_status("/health/ready", 200)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.worker.kill()
        # Consumers go first: a robust channel would declare a deleted queue again.
        await self.channel.close()
        await delete_namespace(self.connection, self.namespace)
        await self.connection.close()
        client: AsyncMongoClient[Any] = AsyncMongoClient(self.mongo_url)
        await client.drop_database(database_name(self.namespace))
        await client.close()

    def _key(self, message: aio_pika.abc.AbstractIncomingMessage) -> str:
        return str(message.correlation_id or message.message_id or "")

    async def _on_event(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        self.seen.setdefault(self._key(message), Seen()).events.append(message)

    def _on_dead(self, queue: str) -> Callable[[aio_pika.abc.AbstractIncomingMessage], Any]:
        async def on_dead(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            self.seen.setdefault(self._key(message), Seen()).dead.append((queue, message))

        return on_dead

    async def publish(self, delivery: Delivery) -> None:
        self.published.add(delivery.match)
        await self.commands.publish(
            aio_pika.Message(
                delivery.body,
                content_type="application/json",
                message_id=delivery.message_id,
                correlation_id=delivery.correlation_id,
                headers=delivery.headers,
            ),
            delivery.routing_key,
        )

    async def until_final(self, keys: list[str], timeout_s: float) -> bool:
        """Wait until each key has a final event; False at the deadline."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(key in self.seen and self.seen[key].final() for key in keys):
                return True
            await asyncio.sleep(0.05)
        return False

    async def send_and_wait(self, delivery: Delivery, timeout_s: float = 30) -> Seen:
        """Publish one delivery and wait for its final event."""
        await self.publish(delivery)
        await self.until_final([delivery.match], timeout_s)
        return self.seen.get(delivery.match, Seen())

    async def claimed(self) -> int:
        client: AsyncMongoClient[Any] = AsyncMongoClient(self.mongo_url)
        try:
            return await client[database_name(self.namespace)].commands.count_documents({})
        finally:
            await client.close()


async def run_corpus(
    cases: list[Case],
    *,
    amqp_url: str,
    mongo_url: str,
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    setup: Callable[[Corpus], Any] | None = None,
    after: Callable[[Context], list[Delivery]],
    timeout_s: float = 45,
    xfail_grace_s: float = 3,
) -> Run:
    """Start one worker, run `setup`, publish every case at once, collect the outcomes,
    then send `after` (valid commands) and wait for them; stop the worker."""
    started = time.monotonic()
    async with Corpus(amqp_url=amqp_url, mongo_url=mongo_url, log_dir=log_dir, env=env or {}) as c:
        if setup is not None:
            await setup(c)
        sent = {case.id: case.build(c.ctx) for case in cases}
        matches = [delivery.match for delivery in sent.values()]
        assert len(set(matches)) == len(matches), "two cases share a correlation key"
        for delivery in sent.values():
            await c.publish(delivery)
        expected = [sent[case.id].match for case in cases if case.xfail is None]
        await c.until_final(expected, timeout_s)
        # The cases the worker is known to mishandle get a short grace, not the full wait.
        await c.until_final(matches, xfail_grace_s)
        await asyncio.sleep(0.5)  # anything more about a case that already ended
        seen = {key: c.seen.get(key, Seen()) for key in matches}
        after_seen = {}
        for delivery in after(c.ctx):
            after_seen[delivery.match] = await c.send_and_wait(delivery)
        claimed = await c.claimed()
        alive = c.worker.process is not None and c.worker.process.poll() is None
        exit_code = await c.worker.stop() if alive else c.worker.process.poll()  # type: ignore[union-attr]
        return Run(
            namespace=c.namespace,
            sent=sent,
            seen=seen,
            after=after_seen,
            exit_code=exit_code,
            output=c.worker.output(),
            claimed=claimed,
            stray=set(c.seen) - c.published,
            seconds=time.monotonic() - started,
        )
