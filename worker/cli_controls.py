"""The operator's side of the money controls: `pause`, `resume`, `controls list`, and
`attention list` / `attention resolve` for commands the worker could not decide.

worker/cli.py parses the arguments (and imports this module only for these
subcommands); `dispatch` runs one over a CommandStore and returns a `Reply` (exit
code, text for a human, data for `--json`), so tests run them over the MemoryStore;
`main` opens the real store the way worker/app.py does.

The CLI only stores events (through the outbox, insert-only): the running worker's
relay publishes them, so a change made while no worker runs is announced when one
starts. The outbox is therefore built with a publish callable that refuses to be used.

Resolving a command is a decision that can race (two operators, or a worker that takes
the command over), so it is an insert of `resolutions/<command _id>` made under the
command's next lease epoch: a stale worker's fencing check then stops it, and only the
lease holder writes the command document (DESIGN.md, "One writer per document").
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from schemas.documents import NO_SCOPE
from schemas.types import normalise_address
from worker.client.text import _age
from worker.errors import LeaseLost, WorkerError
from worker.leases import Lease, Leases
from worker.metrics import Metrics
from worker.outbox import Outbox, command_event, event_doc
from worker.records import Commands
from worker.settings import Settings
from worker.store import CommandStore, Doc
from worker.switches import GLOBAL, SIGNED_CONTINUE, ResumeRefused, Switch, Switches, scope_of

__all__ = ["RESOLVED_BY_OPERATOR", "Context", "Reply", "dispatch", "main", "show"]

RESOLVED_BY_OPERATOR = "RESOLVED_BY_OPERATOR"  # the code of a `failed` an operator decided
OK, REFUSED, USAGE = 0, 1, 2
PAGE = 1000  # commands per page of the attention scan


@dataclass(frozen=True)
class Reply:
    """What a subcommand says: its exit code, text for a human, data for `--json`."""

    code: int
    text: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Context:
    """What the subcommands need besides the store and the parsed arguments."""

    clock: Callable[[], datetime]
    assets: frozenset[str]  # "TRX" and the allow-listed token symbols
    lease_s: float  # a command's lease (settings.worker.lease_s)
    token_symbols: dict[str, str] = field(default_factory=dict)  # contract address -> symbol

    @classmethod
    def from_settings(cls, settings: Settings) -> Context:
        tokens = settings.tokens.allowed
        return cls(
            clock=lambda: datetime.now(UTC),
            assets=frozenset({"TRX", *(t.symbol for t in tokens)}),
            lease_s=settings.worker.lease_s,
            token_symbols={t.address: t.symbol for t in tokens},
        )


# ----------------------------------------------------------------------------- running


def main(args: argparse.Namespace, settings: Settings) -> int:
    """Run one subcommand against the configured database; print its reply; its exit code."""
    from pymongo.errors import PyMongoError

    from worker.database import make_client
    from worker.logs import configure_logging, redact
    from worker.store import MongoStore

    # The reply is the output; logs (stderr) only for what goes wrong.
    configure_logging("warning", settings.log.format)

    async def run() -> Reply:
        client = make_client(settings.mongo)
        try:
            store = MongoStore(client[settings.mongo.database])
            return await dispatch(args, store, Context.from_settings(settings))
        finally:
            await client.close()

    try:
        reply = asyncio.run(run())
    except (WorkerError, PyMongoError) as exc:
        message = redact(f"{args.command}: database error: {type(exc).__name__}: {exc}")
        reply = Reply(REFUSED, message, {"error": message})
    show(reply, as_json=args.json)
    return reply.code


def show(reply: Reply, *, as_json: bool) -> None:
    """`--json`: one object on stdout; else the text, on stderr when refused."""
    if as_json:
        print(json.dumps({"ok": reply.code == OK, **reply.data}, default=_json_value))
    elif reply.text:
        print(reply.text, file=sys.stdout if reply.code == OK else sys.stderr)


async def dispatch(args: argparse.Namespace, store: CommandStore, ctx: Context) -> Reply:
    """Run the parsed subcommand over `store`."""
    outbox = Outbox(store, _never_publish, Metrics(), sweep_after_s=60.0, clock=ctx.clock)
    if args.command == "controls":
        return await _list_controls(Switches(store, outbox, ctx.clock))
    if args.command == "attention" and args.attention_command == "list":
        return await _list_attention(store, ctx, include_resolved=args.all)
    by = (args.by or "").strip() or _os_user()
    if not by:
        return Reply(USAGE, "cannot tell who you are: pass --by NAME", {"error": "no --by"})
    if not args.reason.strip():
        return Reply(USAGE, "--reason must say why", {"error": "empty --reason"})
    if args.command == "attention":
        return await _resolve(store, outbox, ctx, args.command_key, args.outcome, args.reason, by)
    scope = _scope(args, ctx)
    if isinstance(scope, Reply):
        return scope
    switches = Switches(store, outbox, ctx.clock)
    if args.command == "pause":
        reply = await _pause(switches, scope, args.reason, by)
        wallet = scope.removeprefix("wallet:")
        if wallet != scope and await store.get("addresses", wallet) is None:
            # Paused all the same: an operator may pause a wallet before it is imported.
            note = f"note: {wallet} is not a wallet this worker manages"
            return Reply(reply.code, f"{reply.text}\n{note}", {**reply.data, "managed": False})
        return reply
    return await _resume(switches, scope, args.lifts, args.reason, by)


async def _never_publish(routing_key: str, body: bytes, **_: Any) -> None:
    """The CLI stores events; the running worker's relay publishes them (worker/outbox.py)."""
    raise RuntimeError(f"the CLI does not publish events ({routing_key}): the worker's relay does")


def _os_user() -> str | None:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        return None


# ----------------------------------------------------------------------------- kill switches


def _scope(args: argparse.Namespace, ctx: Context) -> str | Reply:
    """The switch scope the flags name; a usage Reply for an unknown asset or bad address."""
    if args.everything:
        return GLOBAL
    if args.asset is not None:
        asset = ctx.token_symbols.get(args.asset.strip(), args.asset.strip().upper())
        if asset not in ctx.assets:
            known = ", ".join(sorted(ctx.assets))
            message = f"unknown asset {args.asset!r}: one of {known}"
            return Reply(USAGE, message, {"error": message})
        return scope_of("asset", asset)
    try:
        return scope_of("wallet", normalise_address(args.wallet.strip()))
    except ValueError as exc:
        return Reply(USAGE, f"--wallet: {exc}", {"error": f"--wallet: {exc}"})


def _flag(scope: str) -> str:
    """The command-line flag that names scope (for the hints printed to the operator)."""
    if scope == GLOBAL:
        return "--global"
    kind, _, name = scope.partition(":")
    return f"--{kind} {name}"


async def _pause(switches: Switches, scope: str, reason: str, by: str) -> Reply:
    before = await switches.state(scope)
    link = await switches.pause(scope, reason=reason, by=by)
    lines = [
        f"paused {scope} by {by} at {_when(link['at'])}: {reason}",
        f"pause link: {link['_id']}",
        f"note: {SIGNED_CONTINUE}",
    ]
    if before.paused:
        lines.append(f"(it was already paused by {before.link}; a resume must now name this link)")
    lines.append(f'to resume: tron-worker resume {_flag(scope)} --lifts {link["_id"]} --reason "…"')
    data = {"scope": scope, "link": _link_data(link), "note": SIGNED_CONTINUE}
    return Reply(OK, "\n".join(lines), data)


async def _resume(switches: Switches, scope: str, lifts: str | None, reason: str, by: str) -> Reply:
    if lifts is None:
        state = await switches.state(scope)
        if not state.paused:
            return Reply(REFUSED, f"{scope} is not paused", {"error": f"{scope} is not paused"})
        message = (
            f"{state.describe()}\npause link: {state.link}\n"
            f"name the pause you lift: tron-worker resume {_flag(scope)} "
            f'--lifts {state.link} --reason "…"'
        )
        return Reply(
            REFUSED, message, {"error": "name the pause link you lift", "current": _switch(state)}
        )
    try:
        link = await switches.resume(scope, lifts=lifts, reason=reason, by=by)
    except ResumeRefused as exc:
        return Reply(REFUSED, f"resume refused: {exc}", {"error": str(exc)})
    text = f"resumed {scope} (lifted {lifts}) by {by} at {_when(link['at'])}: {reason}"
    return Reply(OK, text, {"scope": scope, "link": _link_data(link)})


async def _list_controls(switches: Switches) -> Reply:
    rows = [_switch(s) for s in await switches.list()]
    table = _table(
        ("SCOPE", "STATE", "LINK", "BY", "AT", "REASON"),
        [(r["scope"], r["state"], r["link"], r["by"], _when(r["at"]), r["reason"]) for r in rows],
    )
    return Reply(OK, table if rows else "no switch was ever changed", {"controls": rows})


def _switch(switch: Switch) -> dict[str, Any]:
    return {
        "scope": switch.scope,
        "state": "paused" if switch.paused else "resumed",
        "link": switch.link,
        "by": switch.by,
        "at": switch.at,
        "reason": switch.reason,
    }


def _link_data(link: Doc) -> dict[str, Any]:
    keys = ("_id", "scope", "n", "paused", "reason", "by", "at", "lifts")
    return {("id" if k == "_id" else k): link.get(k) for k in keys}


# ----------------------------------------------------------------------------- needs_attention


async def _list_attention(store: CommandStore, ctx: Context, *, include_resolved: bool) -> Reply:
    """Commands in needs_attention (a paged scan of `commands`); --all: and resolved ones."""
    now = ctx.clock()
    resolutions = {doc["_id"]: doc async for doc in _scan(store, "resolutions")}
    rows = []
    async for command in _scan(store, "commands"):
        resolution = resolutions.pop(command["_id"], None)
        if command["state"] == "needs_attention" or (include_resolved and resolution):
            rows.append(await _attention_row(store, command, resolution, now))
    if include_resolved:  # resolved, and the command since deleted by the cleanup
        rows += [_resolved_row(r, r["outcome"] + " (deleted)", now) for r in resolutions.values()]
    table = _table(
        ("KEY", "TYPE", "STATE", "CODE", "AGE", "RESOLVED", "REASON"),
        [_attention_cells(r) for r in rows],
    )
    if not rows:
        empty = "no command needs attention" + (" or was resolved" if include_resolved else "")
        return Reply(OK, empty, {"commands": rows})
    if all(row["resolved"] for row in rows):
        return Reply(OK, table, {"commands": rows})
    # An unscoped _id starts with "-", which argparse takes for an option unless after `--`.
    hint = "to resolve: tron-worker attention resolve --outcome failed|completed --reason … -- KEY"
    return Reply(OK, f"{table}\n{hint}", {"commands": rows})


async def _attention_row(
    store: CommandStore, command: Doc, resolution: Doc | None, now: datetime
) -> dict[str, Any]:
    if resolution is not None:
        return _resolved_row(resolution, command["state"], now)
    code, reason, since = await _cause(store, command)
    return {
        "key": command["_id"],
        "idempotency_key": command["idempotency_key"],
        "command_id": command["command_id"],
        "type": command["type"],
        "state": command["state"],
        "code": code,
        "reason": reason,
        "since": since,
        "age_s": int((now - since).total_seconds()),
        "resolved": None,
    }


def _resolved_row(resolution: Doc, state: str, now: datetime) -> dict[str, Any]:
    decided = {k: resolution[k] for k in ("outcome", "by", "at", "reason")}
    return {
        "key": resolution["_id"],
        "idempotency_key": resolution["idempotency_key"],
        "command_id": resolution["command_id"],
        "type": resolution["type"],
        "state": state,
        "code": resolution["code"],
        "reason": resolution["message"],
        "since": resolution["since"],
        "age_s": int((now - resolution["since"]).total_seconds()),
        "resolved": decided,
    }


def _attention_cells(row: dict[str, Any]) -> tuple[Any, ...]:
    age = _age(row["age_s"])
    return (row["key"], row["type"], row["state"], row["code"], age, _resolved(row), row["reason"])


def _resolved(row: dict[str, Any]) -> str:
    decided = row["resolved"]
    if decided is None:
        return "-"
    return f"{decided['outcome']} by {decided['by']} {_when(decided['at'])}"


async def _cause(store: CommandStore, command: Doc) -> tuple[str, str, datetime]:
    """The code, message and time of the command's needs_attention event (its last one)."""
    for event_id in reversed(command.get("events", [])):
        doc = await store.get("events", event_id)
        if doc is not None and doc["routing_key"].endswith(".needs_attention"):
            body = json.loads(doc["body_json"])
            payload = body["payload"]
            return payload["code"], payload["message"], datetime.fromisoformat(body["occurred_at"])
    return "?", "(no needs_attention event found)", command["updated_at"]


async def _resolve(
    store: CommandStore,
    outbox: Outbox,
    ctx: Context,
    wanted: str,
    outcome: str,
    reason: str,
    by: str,
) -> Reply:
    """Record the operator's decision once, then end the command with it, under a lease."""
    found = await _find_command(store, wanted)
    if isinstance(found, Reply):
        return found
    key = found["_id"]
    if (refusal := _refusal(found, await store.get("resolutions", key))) is not None:
        return refusal
    leases = Leases(store, owner=f"tron-worker-cli:{by}", lease_s=ctx.lease_s, clock=ctx.clock)
    lease = await leases.take_over(found)
    if lease is None:
        message = (
            f"{key}: a worker holds it right now; its lease runs out within "
            f"{ctx.lease_s:g} s: try again then"
        )
        return Reply(REFUSED, message, {"error": message})
    try:
        # Re-read under the lease: the command may have moved before it was taken.
        command = await store.get("commands", key) or found
        resolution = await store.get("resolutions", key)
        if (refusal := _refusal(command, resolution)) is not None:
            return refusal
        ours = resolution is None
        if resolution is None:
            code, message, since = await _cause(store, command)
            resolution = {
                "_id": key,
                "ref": command["ref"],
                "command_id": command["command_id"],
                "idempotency_key": command["idempotency_key"],
                "type": command["type"],
                "code": code,
                "message": message,
                "since": since,
                "outcome": outcome,
                "reason": reason,
                "by": by,
                "at": ctx.clock(),
            }
            if not await store.insert("resolutions", resolution):
                ours, resolution = False, await store.get("resolutions", key) or resolution
        try:
            event_id = await _apply(store, outbox, leases, lease, command, resolution, ctx.clock)
        except LeaseLost:
            message = f"{key}: a worker took it over meanwhile; run the same resolve again"
            return Reply(REFUSED, message, {"error": message})
    finally:
        await leases.release(lease)
    return _resolved_reply(command, resolution, event_id, ours=ours)


def _refusal(command: Doc, resolution: Doc | None) -> Reply | None:
    """Why this command cannot be resolved now (None: it can, or its resolution applied)."""
    key = command["_id"]
    if resolution is not None and command["terminal"]:
        message = (
            f"{key} was already resolved as {resolution['outcome']} by {resolution['by']} "
            f"at {_when(resolution['at'])}: {resolution['reason']}"
        )
        return Reply(REFUSED, message, {"error": message, "resolution": _decision(resolution)})
    if resolution is None and command["state"] != "needs_attention":
        message = f"{key} is {command['state']}, not needs_attention: only those can be resolved"
        return Reply(REFUSED, message, {"error": message, "state": command["state"]})
    return None  # needs_attention, or resolved and not yet applied (a crash): apply it


async def _apply(
    store: CommandStore,
    outbox: Outbox,
    leases: Leases,
    lease: Lease,
    command: Doc,
    resolution: Doc,
    clock: Callable[[], datetime],
) -> str | None:
    """End the command as the resolution says, the way the executor ends one: its event
    first (after the fencing check), then the command document once. The failed event's id."""
    command = dict(command, events=list(command.get("events", [])))
    event_id = None
    if resolution["outcome"] == "failed":
        payload = {"code": RESOLVED_BY_OPERATOR, "message": resolution["reason"]}
        event = command_event(
            command, "failed", {**payload, "retry_safe": False}, occurred_at=resolution["at"]
        )
        event_id = str(event.event_id)
        if event_id not in command["events"]:
            await leases.check(lease)
            doc = await outbox.add(
                event_doc(event, correlation_id=command.get("correlation_id"), created_at=clock())
            )
            command["events"].append(doc["_id"])
    await leases.check(lease)
    commands = Commands(store, clock)
    await commands.write(
        command,
        {
            "state": resolution["outcome"],
            "terminal": True,
            "terminal_at": clock(),
            "events": command["events"],
        },
    )
    await commands.unmark(command["_id"])
    return event_id


def _resolved_reply(command: Doc, resolution: Doc, event_id: str | None, *, ours: bool) -> Reply:
    key, outcome = command["_id"], resolution["outcome"]
    family = command["type"].split(".", 1)[0]
    data = {"key": key, "resolution": _decision(resolution), "event_id": event_id}
    if not ours:
        message = (
            f"{key} was already resolved as {outcome} by {resolution['by']} at "
            f"{_when(resolution['at'])}: {resolution['reason']} (that decision is now applied)"
        )
        return Reply(REFUSED, message, {**data, "error": message})
    lines = [f"resolved {key} ({command['type']}) as {outcome} by {resolution['by']}"]
    if event_id is not None:
        lines.append(
            f"stored event {family}.failed {event_id} (code {RESOLVED_BY_OPERATOR}, "
            "retry_safe false); the running worker's relay publishes it"
        )
    else:
        lines.append("no event is sent for an operator's `completed`: the record is stored")
    return Reply(OK, "\n".join(lines), data)


def _decision(resolution: Doc) -> dict[str, Any]:
    return {k: resolution[k] for k in ("outcome", "by", "at", "reason", "code", "message")}


async def _find_command(store: CommandStore, wanted: str) -> Doc | Reply:
    """By `_id`, then as an unscoped key (`-:<key>`), then by idempotency key or command id
    over every command (a full scan: only when the fast lookups found nothing)."""
    for key in (wanted, f"{NO_SCOPE}:{wanted}"):
        if (command := await store.get("commands", key)) is not None:
            return command
    matches = [
        command
        async for command in _scan(store, "commands")
        if wanted in (command["idempotency_key"], command["command_id"])
    ]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        message = f"no command has the _id or idempotency key {wanted!r}"
    else:
        keys = ", ".join(command["_id"] for command in matches)
        message = f"{wanted!r} names {len(matches)} commands ({keys}): name one by its _id"
    return Reply(REFUSED, message, {"error": message})


async def _scan(store: CommandStore, collection: str) -> AsyncIterator[Doc]:
    after: str | None = None
    while page := await store.scan(collection, PAGE, after=after):
        for doc in page:
            yield doc
        after = page[-1]["_id"]


# ----------------------------------------------------------------------------- text


def _table(headers: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    """Plain aligned columns; the last one is not padded (it holds free text)."""
    cells = [headers, *[tuple("" if v is None else str(v) for v in row) for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers) - 1)]
    return "\n".join(
        "  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]]).rstrip()
        for row in cells
    )


def _when(at: datetime | None) -> str:
    return "-" if at is None else at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _json_value(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")
