"""`submit`: validate, sign, publish; `--wait` follows the command's events to its end."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from schemas.commands import COMMAND_TYPES, parse_command
from schemas.documents import NO_SCOPE
from schemas.errors import InvalidCommand, SchemaError
from worker.client.amqp import _broker, _exchange, _publish
from worker.client.args import build_envelope, choose_key, encode, parse_fields, sign
from worker.client.common import (
    ATTENTION,
    FAILED,
    FAILURE_STATES,
    OK,
    SUCCESS_STATES,
    TIMEOUT,
    USAGE,
    CliError,
)
from worker.client.events import _facts
from worker.client.status import _table
from worker.client.text import _console, _plain, _print_json, _safe, _short, _trx
from worker.settings import Settings

if TYPE_CHECKING:
    from aio_pika.abc import (
        AbstractChannel,
        AbstractIncomingMessage,
    )


async def _submit(args: argparse.Namespace, extra: list[str], settings: Settings) -> int:
    if args.type not in COMMAND_TYPES:
        known = ", ".join(COMMAND_TYPES)
        raise CliError(
            USAGE,
            f"submit: unknown command type {_safe(args.type)!r} (one of {known}); it comes first",
        )
    envelope = build_envelope(
        args.type,
        parse_fields(extra),
        file_data=_read_file(args.file) if args.file else None,
        idempotency_key=args.idempotency_key,
    )
    body = encode(envelope)
    command = _validated(body)
    key = choose_key(settings.amqp, args.key)
    headers = {} if key is None else {"x-key-id": key[0], "x-signature": sign(body, key[1])}
    ns = settings.amqp.namespace
    async with _broker(settings.amqp) as connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        commands = await _exchange(channel, f"{ns}.commands")
        inbox = await _follow(channel, ns, command.family) if args.wait else None
        message_id = str(command.command_id)
        await _publish(
            commands, _message(body, message_id, headers), command.routing_key,
            settings.amqp.publish_timeout_s,
        )  # fmt: skip
        if not args.wait:
            return _submitted(envelope, command.routing_key, key, as_json=args.json)
        if not args.json:
            _console().print(f"idempotency key: {command.idempotency_key}")
        assert inbox is not None
        watch = _Watch(envelope, message_id)
        return await _wait(watch, inbox, args.timeout, as_json=args.json)


def _read_file(name: str) -> Any:
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
        return json.loads(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(USAGE, f"--file {name}: cannot read it: {exc}") from None
    except json.JSONDecodeError as exc:
        raise CliError(USAGE, f"--file {name}: not JSON: {exc.msg} at line {exc.lineno}") from None


def _validated(body: bytes) -> Any:
    """The worker's own parser; a refusal lists every field error (exit 2, nothing sent)."""
    try:
        return parse_command(body)
    except SchemaError as exc:
        if not exc.errors:
            raise CliError(USAGE, f"not sent: {exc.reason}") from None
        what = "invalid payload" if isinstance(exc, InvalidCommand) else "invalid envelope"
        lines = [f"not sent: {what}"] + [f"  {e['field']}: {e['message']}" for e in exc.errors]
        raise CliError(USAGE, "\n".join(lines), {"errors": list(exc.errors)}) from None


def _message(body: bytes, message_id: str, headers: dict[str, Any]) -> Any:
    import aio_pika

    return aio_pika.Message(
        body,
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=message_id,
        timestamp=datetime.now(UTC),
        headers=headers,
    )


def _submitted(
    envelope: dict[str, Any], routing_key: str, key: tuple[str, bytes] | None, *, as_json: bool
) -> int:
    scope = NO_SCOPE if key is None else key[0]
    if as_json:
        _print_json(
            {
                "ok": True,
                "idempotency_key": envelope["idempotency_key"],
                "command_id": envelope["command_id"],
                "type": envelope["type"],
                "routing_key": routing_key,
                "key_id": scope,
            }
        )
    else:
        console = _console()
        console.print(f"published {envelope['type']} to {routing_key}")
        console.print(f"idempotency key: {_safe(envelope['idempotency_key'])}")
    return OK


async def _follow(channel: AbstractChannel, ns: str, family: str) -> asyncio.Queue[Any]:
    """Before publishing: an exclusive queue bound to `<family>.#`, feeding an inbox."""
    await _exchange(channel, f"{ns}.events")
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(f"{ns}.events", routing_key=f"{family}.#")
    inbox: asyncio.Queue[Any] = asyncio.Queue()
    await queue.consume(inbox.put, no_ack=True)
    channel.close_callbacks.add(lambda *_: inbox.put_nowait(None))  # wakes the wait
    return inbox


@dataclass
class _Watch:
    """What --wait has seen of one command's events, as a progress line."""

    envelope: dict[str, Any]
    message_id: str
    steps: list[str] = field(default_factory=list)
    lines: dict[str, int] = field(
        default_factory=lambda: {"broadcast": 0, "confirmed": 0, "failed": 0}
    )
    last: dict[str, Any] | None = None
    seen: set[str] = field(default_factory=set)  # event ids: re-publications count once

    @property
    def key(self) -> str:
        return str(self.envelope["idempotency_key"])

    def ours(self, message: AbstractIncomingMessage) -> dict[str, Any] | None:
        """The event body if it is about this command (by idempotency key; a rejection
        that names no command, by the x-command-message-id header)."""
        try:
            event = json.loads(message.body)
        except ValueError:
            return None
        if not isinstance(event, dict):
            return None
        if event.get("idempotency_key") == self.key:
            return event
        header = _plain((message.headers or {}).get("x-command-message-id"))
        if event.get("idempotency_key") is None and header == self.message_id:
            return event
        return None

    def see(self, event: dict[str, Any]) -> int | None:
        """Record one event; the exit code when it ends the wait."""
        if str(event.get("event_id")) in self.seen:
            return None
        self.seen.add(str(event.get("event_id")))
        self.last = event
        state = str(event.get("type", "")).partition(".")[2]
        payload = event.get("payload") or {}
        if state in ("item.broadcast", "item.confirmed", "item.failed"):
            self.lines[state[5:]] += 1
        elif state in ("broadcast", "confirmed", "accepted", "approval_required"):
            self.steps.append(_step(state, payload))
        if state in SUCCESS_STATES:
            return OK
        if state in FAILURE_STATES:
            return FAILED
        return ATTENTION if state == "needs_attention" else None

    def progress(self) -> str:
        text = f"{self.envelope['type']}: " + " -> ".join(["sent", *self.steps])
        recipients = (self.envelope.get("payload") or {}).get("recipients")
        if self.envelope["type"] == "payout.create" and isinstance(recipients, list):
            sent, done, failed = (self.lines[s] for s in ("broadcast", "confirmed", "failed"))
            text += (
                f" | {len(recipients)} line(s): {sent} broadcast, {done} confirmed, {failed} failed"
            )
        return text


def _step(state: str, payload: dict[str, Any]) -> str:
    if state == "broadcast":
        attempt = payload.get("attempt", 1)
        again = f" (attempt {attempt})" if attempt != 1 else ""
        return f"broadcast {_short(payload.get('txid'))}{again}"
    if state == "confirmed":
        return (
            f"confirmed in block {payload.get('block_number')}, fee {_trx(payload.get('fee_sun'))}"
        )
    if state == "approval_required":
        return "awaiting approval (payout.approve from an approver)"
    return state


async def _wait(
    watch: _Watch, inbox: asyncio.Queue[Any], timeout_s: float, *, as_json: bool
) -> int:
    from rich.live import Live
    from rich.spinner import Spinner

    console = _console(stderr=True)
    spinner = Spinner("dots", text=watch.progress())
    live = Live(
        spinner, console=console, transient=True, redirect_stdout=False, redirect_stderr=False
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    with live if console.is_terminal and not as_json else contextlib.nullcontext():
        while (remaining := deadline - loop.time()) > 0:
            try:
                message = await asyncio.wait_for(inbox.get(), remaining)
            except TimeoutError:
                break
            if message is None:
                raise CliError(
                    FAILED,
                    "the broker closed the connection while waiting; the command goes on: "
                    f"tron-worker status {_safe(watch.key)}",
                )
            event = watch.ours(message)
            if event is None:
                continue
            code = watch.see(event)
            spinner.update(text=watch.progress())
            if code is None and not console.is_terminal and not as_json:
                console.print(watch.progress())  # a log gets one line per step
            if code is not None:
                if live.is_started:
                    live.stop()  # before the outcome goes to stdout, on the same terminal
                _outcome(event, code, as_json=as_json)
                return code
    return _timed_out(watch, timeout_s, as_json=as_json)


def _timed_out(watch: _Watch, timeout_s: float, *, as_json: bool) -> int:
    last = watch.last.get("type") if watch.last else "nothing"
    message = (
        f"timed out after {timeout_s:g} s (last event: {last}); the command may still "
        f"finish: tron-worker status {_safe(watch.key)}"
    )
    print(message, file=sys.stderr)
    if as_json:
        _print_json(
            {"ok": False, "timeout": True, "idempotency_key": watch.key, "last_event": watch.last}
        )
    return TIMEOUT


def _outcome(event: dict[str, Any], code: int, *, as_json: bool) -> None:
    """The terminal event: as it came (--json), or as lines for a human."""
    if as_json:
        _print_json(event)
        return
    from rich.text import Text

    console = _console()
    kind = str(event.get("type", ""))
    payload = event.get("payload") or {}
    state = kind.partition(".")[2]
    style = "green" if code == OK else "yellow" if code == ATTENTION else "red"
    if state == "created":
        addresses = payload.get("addresses") or []
        console.print(Text(f"created {len(addresses)} wallet(s):", style=style))
        for address in addresses:
            console.print(f"  {_safe(str(address))}")
    elif state == "confirmed":
        console.print(Text(f"{kind}: {_confirmed(payload)}", style=style))
    elif state == "completed":
        console.print(Text(f"{kind}: {_completed(payload)}", style=style))
        console.print(_items_table(payload.get("items") or []))
    elif state == "decided":
        line = f"{payload.get('decision')} payout {payload.get('payout_command_id')}"
        console.print(Text(f"{kind}: {line} by {_safe(str(payload.get('by')))}", style=style))
    else:
        console.print(Text(f"{kind} {_facts(kind, payload)}", style=style))
        for error in payload.get("errors") or []:
            console.print(f"  {_safe(str(error.get('field')))}: {_safe(str(error.get('message')))}")
        if state == "needs_attention":
            console.print("an operator must decide it: tron-worker attention list")


def _confirmed(payload: dict[str, Any]) -> str:
    fee = payload.get("fee_sun")
    return (
        f"txid {payload.get('txid')}, block {payload.get('block_number')}, "
        f"fee {_trx(fee)} ({fee} sun)"
    )


def _completed(payload: dict[str, Any]) -> str:
    asset, total = payload.get("asset"), payload.get("total_amount_confirmed")
    paid = f"{_trx(total)} ({total} sun)" if asset == "TRX" else f"{total} {asset} base units"
    counts = f"{payload.get('confirmed')} confirmed, {payload.get('failed')} failed"
    return f"{counts}; paid {_safe(paid)}, fees {_trx(payload.get('total_fee_sun'))}"


def _items_table(items: list[dict[str, Any]]) -> Any:
    headers = ("#", "REFERENCE", "TO", "AMOUNT", "STATE", "TXID / CODE")
    names = ("index", "reference", "to", "amount", "state")
    rows = [
        (*(str(item.get(n)) for n in names), str(item.get("txid") or item.get("code") or "-"))
        for item in items
    ]
    return _table(headers, rows)
