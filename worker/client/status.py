"""`status`: a command as the database holds it: state, attempts and fates, events."""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

from schemas.documents import NO_SCOPE, command_key
from worker.client.amqp import _error
from worker.client.common import FAILED, OK, USAGE, CliError
from worker.client.events import _style
from worker.client.text import _console, _print_json, _safe, _time, _trx, _when
from worker.settings import AmqpSettings, Settings

if TYPE_CHECKING:
    pass


@contextlib.asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[Any]:
    from pymongo.errors import PyMongoError

    from worker.database import make_client
    from worker.errors import WorkerError

    client = make_client(settings.mongo)
    try:
        yield client[settings.mongo.database]
    except (PyMongoError, WorkerError) as exc:
        raise CliError(FAILED, f"database error: {_error(exc)}") from None
    finally:
        await client.close()


async def _status(args: argparse.Namespace, settings: Settings) -> int:
    from worker.store import MongoStore

    async with _database(settings) as db:
        store = MongoStore(db)
        command = await _find(store, args.idempotency_key, args.scope, settings.amqp)
        attempts = [
            doc async for doc in db.tx_attempts.find({"ref": command["ref"]})
        ]  # one filtered read (FerretDB scans it): fine for a CLI, never on the hot path
        attempts.sort(key=lambda a: (a["item"], a["attempt"]))
        rows = [_attempt(doc, await store.get("fates", doc["_id"])) for doc in attempts]
        events = [_stored_event(await store.get("events", i), i) for i in command.get("events", [])]
    data = {"command": _command(command), "attempts": rows, "events": events}
    if args.json:
        _print_json({"ok": True, **data})
    else:
        _show_status(data)
    return OK


async def _find(store: Any, key: str, scope: str | None, amqp: AmqpSettings) -> dict[str, Any]:
    """By `_id` only: the scope given, else each scope it could be in (`-`, every
    configured key id, the worker's own); then the argument as a whole `_id`."""
    scopes = [scope] if scope else [NO_SCOPE, *sorted(amqp.hmac_keys), "worker"]
    found = []
    for candidate in scopes:
        try:
            doc_id = command_key(candidate, key)
        except ValueError as exc:
            raise CliError(USAGE, f"--scope: {exc}") from None
        if (doc := await store.get("commands", doc_id)) is not None:
            found.append(doc)
    if not found and not scope and (doc := await store.get("commands", key)) is not None:
        found.append(doc)
    if not found:
        where = ", ".join(scopes)
        raise CliError(FAILED, f"no command with idempotency key {_safe(key)!r} (scopes {where})")
    if len(found) > 1:
        scopes_found = ", ".join(doc["scope"] for doc in found)
        raise CliError(USAGE, f"{_safe(key)!r} is in several scopes ({scopes_found}): pass --scope")
    return found[0]


def _command(doc: dict[str, Any]) -> dict[str, Any]:
    names = (
        "scope", "idempotency_key", "command_id", "type", "state", "terminal",
        "created_at", "updated_at", "terminal_at", "issued_at", "expires_at", "payload",
    )  # fmt: skip
    return {"key": doc["_id"], **{name: doc.get(name) for name in names}}


def _attempt(doc: dict[str, Any], fate: dict[str, Any] | None) -> dict[str, Any]:
    row = {
        "id": doc["_id"],
        "item": doc["item"],
        "attempt": doc["attempt"],
        "txid": doc.get("txid"),
        "void": bool(doc.get("void")),
        "created_at": doc.get("created_at"),
        "fate": None,
    }
    if fate is not None:
        names = ("fate", "block_number", "fee_sun", "energy_used", "contract_ret", "result_message")
        row["fate"] = {name: fate.get(name) for name in names if fate.get(name) is not None}
        row["fate"]["decided_at"] = fate.get("decided_at")
    return row


def _stored_event(doc: dict[str, Any] | None, event_id: str) -> dict[str, Any]:
    if doc is None:  # deleted by the retention cleanup, or not yet readable
        return {"event_id": event_id, "routing_key": None, "seq": None, "occurred_at": None}
    body = json.loads(doc["body_json"])
    return {
        "event_id": event_id,
        "routing_key": doc["routing_key"],
        "seq": doc["seq"],
        "occurred_at": body.get("occurred_at"),
        "payload": body.get("payload"),
    }


def _show_status(data: dict[str, Any]) -> None:
    from rich.text import Text

    console, command = _console(), data["command"]
    ended = "terminal" if command["terminal"] else "not terminal"
    head = Text(f"{_safe(command['key'])}  {command['type']}  ")
    head.append(f"{command['state']} ({ended})", style=_style("." + command["state"]))
    console.print(head)
    created, updated = _when(command["created_at"]), _when(command["updated_at"])
    console.print(f"command_id {command['command_id']}  created {created}  updated {updated}")
    console.print(_safe(f"payload {json.dumps(command['payload'], ensure_ascii=True)}"))
    attempts = [_attempt_cells(row) for row in data["attempts"]]
    headers = ("ITEM", "ATTEMPT", "TXID", "FATE", "BLOCK", "FEE", "REASON")
    console.print(
        _table(headers, attempts, "attempts") if attempts else "attempts: none (nothing signed)"
    )
    events = [
        (
            str(e["seq"] or "?"),
            e["routing_key"] or "(deleted)",
            e["event_id"],
            _time(e["occurred_at"]),
        )
        for e in data["events"]
    ]
    columns = ("SEQ", "ROUTING KEY", "EVENT ID", "OCCURRED AT")
    console.print(_table(columns, events, "events") if events else "events: none yet")


def _attempt_cells(row: dict[str, Any]) -> tuple[str, ...]:
    fate = row["fate"] or {}
    what = "void (nothing signed)" if row["void"] else fate.get("fate", "undecided")
    reason = fate.get("result_message") or ""
    if not reason and fate.get("contract_ret") not in (None, "SUCCESS"):
        reason = fate["contract_ret"]
    fee = "" if fate.get("fee_sun") is None else _trx(fate["fee_sun"])
    block = str(fate.get("block_number", ""))
    return (str(row["item"]), str(row["attempt"]), row["txid"] or "-", what, block, fee, reason)


def _table(headers: tuple[str, ...], rows: Iterable[tuple[str, ...]], title: str = "") -> Any:
    """A borderless table whose cells fold rather than cut (ids stay whole); every cell
    is escaped text."""
    from rich.table import Table

    table = Table(box=None, title=title or None, title_justify="left")
    for header in headers:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*(_safe(cell) for cell in row))
    return table
