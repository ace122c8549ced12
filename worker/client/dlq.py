"""`dlq list|show|replay`: dead letters, read without consuming them, replayed with
confirms."""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import re
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from schemas.commands import Envelope, parse_envelope
from schemas.documents import NO_SCOPE, command_key
from schemas.errors import SchemaError
from worker.client.amqp import _broker, _exchange, _publish
from worker.client.common import DEAD_LETTER_HEADERS, FAILED, OK, USAGE, CliError
from worker.client.status import _database, _table
from worker.client.text import _age, _console, _json_value, _plain, _print_json, _safe
from worker.settings import Settings

if TYPE_CHECKING:
    from aio_pika.abc import (
        AbstractChannel,
        AbstractConnection,
        AbstractExchange,
        AbstractIncomingMessage,
    )


@dataclass
class _Dead:
    """A dead letter as read (held unacked until released), and what it is."""

    queue: str
    message: AbstractIncomingMessage
    envelope: Envelope | None
    problem: str | None  # why the body is not a command envelope
    command: dict[str, Any] | None = None  # its claim in the database, if any

    @property
    def id(self) -> str:
        """The message id, or for a message without one a name from its body's hash."""
        return (
            self.message.message_id
            or f"sha256:{hashlib.sha256(self.message.body).hexdigest()[:16]}"
        )

    @property
    def finished(self) -> bool:
        return bool(self.command and self.command.get("terminal"))


class _Holder:
    """Dead letters read with basic.get and no ack. Each stays unacked (invisible to other
    readers, never lost) until it is settled: acked once replayed or dropped, otherwise
    nacked with requeue when the subcommand ends (or returned by the broker when the
    channel closes, should the CLI die). Nothing ever consumes the `.dead` queues, so
    holding them for a moment delays no one; RabbitMQ 3.x counts each requeue in
    x-delivery-count but drops nothing, the dead queues having no delivery limit."""

    def __init__(self, channel: AbstractChannel, queue: str) -> None:
        self.channel = channel
        self.queue = queue
        self.held: list[AbstractIncomingMessage] = []

    async def take(self, limit: int | None = None) -> AsyncIterator[AbstractIncomingMessage]:
        """The messages that were in the queue when this began, up to `limit`: a replay the
        worker dead-letters again meanwhile is left for the next run, not looped on."""
        queue = await self.channel.declare_queue(self.queue, passive=True)
        there = queue.declaration_result.message_count or 0
        for _ in range(there if limit is None else min(limit, there)):
            message = await queue.get(no_ack=False, fail=False)
            if message is None:
                return
            self.held.append(message)
            yield message

    async def settle(self, message: AbstractIncomingMessage) -> None:
        await message.ack()
        self.held.remove(message)

    async def release(self) -> None:
        for message in self.held:
            with contextlib.suppress(Exception):  # a closed channel requeues them anyway
                await message.nack(requeue=True)
        self.held.clear()


async def _dlq(args: argparse.Namespace, settings: Settings) -> int:
    families = settings.amqp.families
    if args.family is not None and args.family not in families:
        raise CliError(USAGE, f"--family must be one of {', '.join(families)}")
    if args.dlq_command == "replay" and bool(args.message_id) == bool(args.all):
        raise CliError(USAGE, "dlq replay: name one MESSAGE_ID, or pass --all")
    queues = [
        f"{settings.amqp.namespace}.{f}.dead" for f in ([args.family] if args.family else families)
    ]
    async with _broker(settings.amqp) as connection, _database(settings) as db:
        _warn_if_requeues_count(connection)
        if args.dlq_command == "list":
            return await _dlq_list(connection, db, settings, queues, args)
        if args.dlq_command == "show":
            return await _dlq_show(connection, db, settings, queues, args)
        return await _dlq_replay(connection, db, settings, queues, args)


def _warn_if_requeues_count(connection: AbstractConnection) -> None:
    """RabbitMQ 4.0 to 4.2 count every requeue against a quorum queue's delivery limit,
    20 by default, and the `.dead` queues have no dead-letter exchange of their own: a
    dead letter read that many times would be dropped. Say so (3.x and 4.3+ do not)."""
    transport = connection.transport
    properties = transport.connection.server_properties if transport is not None else {}
    version = str(properties.get("version", ""))
    if re.match(r"^4\.[0-2]\.", version):
        print(
            f"warning: RabbitMQ {version} counts each requeue against the dead queues' "
            "delivery limit (default 20) and drops the message past it; give the .dead "
            "queues a delivery-limit policy of -1 before reading them often",
            file=sys.stderr,
        )


@contextlib.asynccontextmanager
async def _holding(connection: AbstractConnection, queue: str) -> AsyncIterator[_Holder | None]:
    """A holder on a channel of its own (with confirms, for replays); None if the queue
    does not exist (a passive declare of a missing queue closes its channel)."""
    from aio_pika.exceptions import AMQPError

    channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
    holder = _Holder(channel, queue)
    try:
        try:
            await channel.declare_queue(queue, passive=True)
        except AMQPError:
            yield None
            return
        yield holder
    finally:
        await holder.release()
        with contextlib.suppress(Exception):
            await channel.close()


async def _read(db: Any, settings: Settings, queue: str, message: AbstractIncomingMessage) -> _Dead:
    """What a dead letter is: its envelope (or why it has none) and its command's claim."""
    try:
        envelope: Envelope | None = parse_envelope(message.body)
        problem = None
    except SchemaError as exc:
        envelope, problem = None, exc.reason
    dead = _Dead(queue, message, envelope, problem)
    if envelope is not None:
        scope = NO_SCOPE
        if settings.amqp.require_signature:
            scope = str(_plain((message.headers or {}).get("x-key-id")) or "")
        if scope and ":" not in scope:
            dead.command = await db.commands.find_one(
                {"_id": command_key(scope, envelope.idempotency_key)}
            )
    return dead


async def _dlq_list(
    connection: AbstractConnection,
    db: Any,
    settings: Settings,
    queues: list[str],
    args: argparse.Namespace,
) -> int:
    report = []
    for queue in queues:
        async with _holding(connection, queue) as holder:
            if holder is None:
                report.append({"queue": queue, "missing": True, "dead_letters": []})
                continue
            letters = [
                _summary(await _read(db, settings, queue, m)) async for m in holder.take(args.limit)
            ]
            count = (
                await holder.channel.declare_queue(queue, passive=True)
            ).declaration_result.message_count
            report.append(
                {
                    "queue": queue,
                    "missing": False,
                    "count": (count or 0) + len(letters),
                    "dead_letters": letters,
                }
            )
    if args.json:
        _print_json({"ok": True, "queues": report})
    else:
        _show_dead_letters(report, args.limit)
    return OK


def _summary(dead: _Dead) -> dict[str, Any]:
    headers = dead.message.headers or {}
    since, source = _dead_since(dead)
    envelope = dead.envelope
    return {
        "id": dead.id,
        "message_id": dead.message.message_id,
        "routing_key": _original_routing_key(dead),
        "reason": _plain(
            headers.get("x-dead-letter-reason") or headers.get("x-first-death-reason")
        ),
        "detail": _plain(headers.get("x-dead-letter-detail")),
        "since": since,
        "since_from": source,
        "age_s": None if since is None else int((datetime.now(UTC) - since).total_seconds()),
        "type": envelope.type if envelope else None,
        "idempotency_key": envelope.idempotency_key if envelope else None,
        "not_a_command": dead.problem,
        "command": None
        if dead.command is None
        else {
            "key": dead.command["_id"],
            "state": dead.command["state"],
            "terminal": dead.command["terminal"],
        },
        "finished": dead.finished,
    }


def _dead_since(dead: _Dead) -> tuple[datetime | None, str | None]:
    """When it died, as well as can be told: the broker's x-death time, else the
    message's timestamp, else the command's issued_at."""
    deaths = (dead.message.headers or {}).get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
        at = deaths[0].get("time")
        if isinstance(at, datetime):
            return at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC), "x-death"
    stamp = dead.message.timestamp
    if isinstance(stamp, datetime):
        return (stamp.astimezone(UTC) if stamp.tzinfo else stamp.replace(tzinfo=UTC)), "timestamp"
    if dead.envelope is not None:
        return dead.envelope.issued_at, "issued_at"
    return None, None


def _original_routing_key(dead: _Dead) -> str | None:
    """Where it was first sent: the worker's x-original-routing-key when it is a command
    routing key (a retry copy's is a queue name), else `command.<type>`, else x-death's."""
    headers = dead.message.headers or {}
    original = _plain(headers.get("x-original-routing-key"))
    if isinstance(original, str) and original.startswith("command."):
        return original
    if dead.envelope is not None:
        return dead.envelope.routing_key
    deaths = _plain(headers.get("x-death"))
    for death in deaths if isinstance(deaths, list) else []:
        for key in (death.get("routing-keys") or []) if isinstance(death, dict) else []:
            if str(key).startswith("command."):
                return str(key)
    return original if isinstance(original, str) else None


def _state_of(letter: dict[str, Any]) -> str:
    if letter["not_a_command"] is not None:
        return "not a command"
    if letter["command"] is None:
        return "not claimed"
    state = letter["command"]["state"]
    return f"finished ({state})" if letter["finished"] else f"in progress ({state})"


def _show_dead_letters(report: list[dict[str, Any]], limit: int) -> None:
    console = _console()
    for entry in report:
        if entry["missing"]:
            console.print(f"{entry['queue']}: no such queue (no worker of this namespace ran yet)")
            continue
        letters = entry["dead_letters"]
        more = f" (first {limit} shown)" if entry["count"] > len(letters) else ""
        console.print(f"{entry['queue']}: {entry['count']} dead letter(s){more}")
        if not letters:
            continue
        rows = [
            (
                letter["id"],
                str(letter["routing_key"]),
                str(letter["reason"]),
                "?" if letter["age_s"] is None else _age(letter["age_s"]),
                _state_of(letter),
                str(letter["detail"] or ""),
            )
            for letter in letters
        ]
        console.print(_table(("ID", "ROUTING KEY", "REASON", "AGE", "COMMAND", "DETAIL"), rows))


async def _dlq_show(
    connection: AbstractConnection,
    db: Any,
    settings: Settings,
    queues: list[str],
    args: argparse.Namespace,
) -> int:
    for queue in queues:
        async with _holding(connection, queue) as holder:
            if holder is None:
                continue
            async for message in holder.take():
                dead = await _read(db, settings, queue, message)
                if dead.id == args.message_id:
                    _show_one(dead, as_json=args.json)
                    return OK
    raise CliError(FAILED, f"no dead letter {_safe(args.message_id)!r} in {', '.join(queues)}")


def _show_one(dead: _Dead, *, as_json: bool) -> None:
    message = dead.message
    properties = {
        "queue": dead.queue,
        "message_id": message.message_id,
        "correlation_id": message.correlation_id,
        "content_type": message.content_type,
        "delivery_mode": int(message.delivery_mode) if message.delivery_mode else None,
        "timestamp": message.timestamp,
        "redelivered": message.redelivered,
    }
    body_text = message.body.decode("utf-8", errors="backslashreplace")
    data = {
        **_summary(dead),
        "properties": properties,
        "headers": _plain(dict(message.headers or {})),
    }
    if as_json:
        body_b64 = base64.b64encode(message.body).decode("ascii")
        _print_json(
            {"ok": True, "dead_letter": {**data, "body": body_text, "body_base64": body_b64}}
        )
        return
    console = _console()
    console.print(f"dead letter {_safe(dead.id)} in {dead.queue}: {_state_of(data)}")
    for name, value in {**properties, "original routing key": data["routing_key"]}.items():
        console.print(f"  {name}: {_safe(str(value))}")
    console.print("headers:")
    for name, value in sorted(data["headers"].items()):
        shown = (
            "<hidden>"
            if name == "x-signature"
            else json.dumps(value, default=_json_value, ensure_ascii=True)
        )
        console.print(f"  {_safe(name)}: {_safe(shown)}")
    utf8 = "" if "\\x" not in body_text or _is_utf8(message.body) else ", not UTF-8"
    console.print(f"body ({len(message.body)} bytes{utf8}; control characters escaped):")
    console.print(_safe(body_text, keep_newlines=True))


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


async def _dlq_replay(
    connection: AbstractConnection,
    db: Any,
    settings: Settings,
    queues: list[str],
    args: argparse.Namespace,
) -> int:
    results: list[dict[str, Any]] = []
    ns = settings.amqp.namespace
    for queue in queues:
        async with _holding(connection, queue) as holder:
            if holder is None:
                continue
            commands = await _exchange(holder.channel, f"{ns}.commands")
            async for message in holder.take():
                dead = await _read(db, settings, queue, message)
                if args.all or dead.id == args.message_id:
                    results.append(
                        await _replay_one(holder, commands, dead, settings, args.drop_finished)
                    )
    if not results and not args.all:
        raise CliError(FAILED, f"no dead letter {_safe(args.message_id)!r} in {', '.join(queues)}")
    failed = any(result["outcome"] == "error" for result in results)
    if args.json:
        _print_json({"ok": not failed, "dead_letters": results})
    else:
        _show_replays(results)
    return FAILED if failed else OK


async def _replay_one(
    holder: _Holder,
    commands: AbstractExchange,
    dead: _Dead,
    settings: Settings,
    drop_finished: bool,
) -> dict[str, Any]:
    """Replay one dead letter, or say why not; settle it only once its fate is sure."""
    import aio_pika

    result = {
        "id": dead.id,
        "queue": dead.queue,
        "routing_key": _original_routing_key(dead),
        "idempotency_key": dead.envelope.idempotency_key if dead.envelope else None,
    }
    if dead.envelope is None:
        return {
            **result,
            "outcome": "skipped",
            "why": f"not a command ({dead.problem}): replaying cannot help",
        }
    if dead.finished:
        assert dead.command is not None
        state = dead.command["state"]
        if drop_finished:
            await holder.settle(dead.message)
            return {
                **result,
                "outcome": "dropped",
                "why": f"its command already finished ({state})",
            }
        return {
            **result,
            "outcome": "finished",
            "why": f"its command already finished ({state}): not re-run, left in the queue",
        }
    original = dead.message
    headers = {k: v for k, v in (original.headers or {}).items() if k not in DEAD_LETTER_HEADERS}
    copy = aio_pika.Message(
        original.body,
        headers=headers,
        content_type=original.content_type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=original.message_id,
        correlation_id=original.correlation_id,
        timestamp=original.timestamp,
    )
    routing_key = str(result["routing_key"])
    try:
        await _publish(commands, copy, routing_key, settings.amqp.publish_timeout_s)
    except CliError as exc:
        return {**result, "outcome": "error", "why": exc.message}
    await holder.settle(dead.message)  # only now: a crash before this leaves it to replay again
    why = (
        "the worker will reject it EXPIRED" if dead.envelope.expires_at <= datetime.now(UTC) else ""
    )
    if dead.command is not None:
        why = f"its command is {dead.command['state']}: the worker resumes it"
    return {**result, "outcome": "replayed", "why": why}


def _show_replays(results: list[dict[str, Any]]) -> None:
    from rich.text import Text

    console = _console()
    if not results:
        console.print("no dead letters")
    styles = {
        "replayed": "green",
        "dropped": "yellow",
        "finished": "yellow",
        "skipped": "yellow",
        "error": "red",
    }
    for result in results:
        line = Text(f"{result['outcome']:<9}", style=styles[result["outcome"]])
        line.append(_safe(f" {result['id']} ({result['queue']}) -> {result['routing_key']}"))
        if result["why"]:
            line.append(_safe(f": {result['why']}"))
        console.print(line)
