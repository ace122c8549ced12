"""`events`: tail the events exchange through a temporary exclusive queue."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from typing import TYPE_CHECKING, Any

from worker.client.amqp import _broker, _exchange
from worker.client.common import FAILED, FAILURE_STATES, OK, SUCCESS_STATES, CliError
from worker.client.text import _console, _plain, _print_json, _safe, _time, _trx
from worker.settings import Settings

if TYPE_CHECKING:
    from aio_pika.abc import (
        AbstractIncomingMessage,
    )
    from rich.console import Console


async def _events(args: argparse.Namespace, settings: Settings) -> int:
    ns = settings.amqp.namespace
    patterns = args.filter or ["#"]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with _broker(settings.amqp) as connection:
        channel = await connection.channel()
        await _exchange(channel, f"{ns}.events")
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        for pattern in patterns:
            await queue.bind(f"{ns}.events", routing_key=pattern)
        console = _console()
        bound = ", ".join(patterns)
        print(f"following {ns}.events ({bound}); Ctrl-C stops", file=sys.stderr, flush=True)
        closed = asyncio.Event()
        connection.close_callbacks.add(lambda *_: closed.set())

        async def show(message: AbstractIncomingMessage) -> None:
            _event_line(console, message, as_json=args.json)

        await queue.consume(show, no_ack=True)
        waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(closed.wait())]
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for wait in waits:
            wait.cancel()
    if not stop.is_set():
        raise CliError(FAILED, "events: the broker closed the connection")
    return OK


def _event_line(console: Console, message: AbstractIncomingMessage, *, as_json: bool) -> None:
    try:
        event = json.loads(message.body)
    except ValueError:
        event = None
    if not isinstance(event, dict):
        note = f"(not a JSON event: {len(message.body)} bytes on {message.routing_key})"
        _console(stderr=True).print(_safe(note))
        return
    if as_json:
        _print_json(event)
        return
    from rich.text import Text

    kind = str(event.get("type") or message.routing_key)
    key = event.get("idempotency_key")
    if key is None:
        header = _plain((message.headers or {}).get("x-command-message-id"))
        key = f"(message {header})" if header else "-"
    line = Text(f"{_time(event.get('occurred_at'))}  ")
    line.append(_safe(str(message.routing_key)), style=_style(kind))
    line.append(f"  {_safe(str(key))}  {_facts(kind, event.get('payload') or {})}")
    console.print(line)
    sys.stdout.flush()


def _facts(kind: str, payload: dict[str, Any]) -> str:
    """The payload's key facts on one line (the whole payload is in --json)."""
    parts = []
    if "code" in payload:
        parts.append(f"{payload['code']}: {payload.get('message', '')}")
    for name, label in (("reference", "ref"), ("txid", "txid"), ("block_number", "block")):
        if payload.get(name) is not None:
            parts.append(f"{label} {payload[name]}")
    for name in ("scope", "link"):  # control.paused / control.resumed
        if payload.get(name) is not None:
            parts.append(f"{name} {payload[name]}")
    if payload.get("fee_sun") is not None:
        parts.append(f"fee {_trx(payload['fee_sun'])}")
    for name in ("amount", "total_amount", "total_amount_confirmed"):
        if payload.get(name) is not None:
            parts.append(f"{name.replace('_', ' ')} {payload[name]}")
    if kind.endswith(".created"):
        parts.append(" ".join(str(a) for a in payload.get("addresses") or []))
    if kind.endswith(".completed"):
        parts.append(f"{payload.get('confirmed')} confirmed, {payload.get('failed')} failed")
    return _safe("  ".join(parts))


def _style(kind: str) -> str:
    state = kind.partition(".")[2]
    if state in SUCCESS_STATES or state == "item.confirmed":
        return "green"
    if state in FAILURE_STATES or state == "item.failed":
        return "red"
    return "yellow" if state == "needs_attention" else "cyan"
