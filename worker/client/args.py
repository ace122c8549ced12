"""The client's command line: parsers, `--<field> value` pairs into a payload, envelopes,
signatures."""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from schemas.commands import COMMAND_TYPES, SCHEMA_VERSION
from worker.client.common import DEFAULT_WAIT_S, USAGE, CliError
from worker.client.text import _safe
from worker.settings import AmqpSettings

if TYPE_CHECKING:
    pass


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tron-worker", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    _submit_parser(commands)
    events = _sub(commands, "events", "print every event as it is published, until Ctrl-C")
    events.add_argument(
        "--filter",
        action="append",
        metavar="PATTERN",
        help="a routing key pattern to bind, e.g. 'payout.#' (repeatable; default '#')",
    )
    status = _sub(commands, "status", "a command's state, attempts, fates and events")
    status.add_argument("idempotency_key", metavar="IDEMPOTENCY_KEY")
    status.add_argument(
        "--scope", help="the publisher key id (default: every configured one, and '-')"
    )
    wallets = commands.add_parser("wallets", help="the managed wallets")
    actions = wallets.add_subparsers(dest="wallets_command", required=True)
    listing = _sub(actions, "list", "address, purpose, label, created and TRX balance")
    listing.add_argument("--purpose", choices=("hot", "deposit", "staking"))
    _dlq_parsers(commands)
    return parser


def _sub(commands: argparse._SubParsersAction, name: str, text: str) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=text, description=text)
    parser.add_argument("--config", type=Path, help="settings file applied over the others")
    parser.add_argument("--json", action="store_true", help="JSON for scripts")
    return parser


def _submit_parser(commands: argparse._SubParsersAction) -> None:
    text = "build, validate, sign and publish a command; --wait follows it to its end"
    submit = commands.add_parser(
        "submit",
        help=text,
        description=text,
        allow_abbrev=False,  # `--to` must stay a payload field, never an abbreviation
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "payload fields: --<field> value (dashes become underscores); a value that\n"
            "parses as JSON is taken as JSON (numbers, lists, objects, true/false), any\n"
            "other as a string (quote a JSON string to force one: --memo '\"123\"');\n"
            "a field given with no value is true. Examples:\n"
            "  tron-worker submit wallet.create --count 1 --purpose hot --wait\n"
            "  tron-worker submit transfer.trx --wallet T... --to T... --amount-sun 1000000\n"
            "  tron-worker submit payout.create --asset TRX \\\n"
            '      --recipients \'[{"to": "T...", "amount": 5, "reference": "r1"}]\' --wait\n'
            "exit: 0 published (with --wait: confirmed, created, completed or decided;\n"
            "a payout's `completed` lists each line's fate), 1 failed or rejected,\n"
            "2 invalid, 3 needs attention, 4 timed out (the command may still finish)"
        ),
    )
    submit.add_argument("type", metavar="TYPE", help=", ".join(COMMAND_TYPES))
    submit.add_argument("--file", help="JSON: the payload object, or a whole envelope ('-': stdin)")
    submit.add_argument("--key", metavar="KEY_ID", help="sign with this key id (hmac_keys)")
    submit.add_argument("--idempotency-key", help="default: a new one, printed")
    submit.add_argument("--wait", action="store_true", help="follow its events to the end")
    submit.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_WAIT_S,
        metavar="S",
        help=f"how long --wait waits (default {DEFAULT_WAIT_S:g} s)",
    )
    submit.add_argument("--config", type=Path, help="settings file applied over the others")
    submit.add_argument("--json", action="store_true", help="JSON for scripts")


def _dlq_parsers(commands: argparse._SubParsersAction) -> None:
    dlq = commands.add_parser("dlq", help="the dead-letter queues <namespace>.<family>.dead")
    actions = dlq.add_subparsers(dest="dlq_command", required=True)
    listing = _sub(actions, "list", "every dead letter, left in its queue")
    listing.add_argument("--limit", type=int, default=200, help="per queue (default 200)")
    show = _sub(actions, "show", "one dead letter in full: properties, headers, body")
    show.add_argument("message_id", metavar="MESSAGE_ID", help="as `dlq list` shows it")
    replay = _sub(
        actions,
        "replay",
        "republish dead letters to the commands exchange (the exact body, its headers "
        "and signature without the dead-letter ones, the original routing key, with "
        "confirms), then remove them. Safe to run twice: the "
        "worker's idempotency makes a replayed command that already ran a duplicate (its "
        "stored events are re-published, nothing runs again). A dead letter whose command "
        "already finished is reported and not replayed; one that is not a command at all "
        "is left too; a command past its expires_at is rejected EXPIRED by the worker.",
    )
    replay.add_argument(
        "message_id", metavar="MESSAGE_ID", nargs="?", help="as `dlq list` shows it"
    )
    replay.add_argument("--all", action="store_true", help="every dead letter")
    replay.add_argument(
        "--drop-finished",
        action="store_true",
        help="remove the dead letters whose command already finished instead of leaving them",
    )
    for parser in (listing, show, replay):
        parser.add_argument("--family", help="only <namespace>.<family>.dead")


def parse_value(text: str) -> Any:
    """A field's value: JSON when it parses as JSON (not NaN or Infinity), else the text."""

    def no_constant(name: str) -> Any:
        raise ValueError(name)

    try:
        return json.loads(text, parse_constant=no_constant)
    except ValueError:
        return text


def parse_fields(tokens: list[str]) -> dict[str, Any]:
    """`--<field> value` / `--<field>=value` / a bare `--<field>` (true) as a payload dict.

    Raises:
        CliError: a stray word, an empty name, or a field given twice (exit 2).
    """
    fields: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("--") or token == "--":
            raise CliError(USAGE, f"submit: unexpected argument {_safe(token)!r} (fields: --name)")
        name, has_value, value = token[2:].partition("=")
        if not has_value:
            following = tokens[i + 1] if i + 1 < len(tokens) else None
            if following is None or following.startswith("--"):
                value = "true"
            else:
                value, i = following, i + 1
        key = name.replace("-", "_")
        if not key:
            raise CliError(USAGE, f"submit: {_safe(token)!r} names no field")
        if key in fields:
            raise CliError(USAGE, f"submit: field {_safe(key)} given twice")
        fields[key] = parse_value(value)
        i += 1
    return fields


def build_envelope(
    command_type: str,
    fields: dict[str, Any],
    *,
    file_data: Any = None,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The envelope to publish: from --file (a payload, or a whole envelope whose own ids
    and times are kept) with the fields over its payload; what is missing is made here.

    Raises:
        CliError: --file is not an object, or its envelope is of another type (exit 2).
    """
    base: dict[str, Any] = {}
    payload: dict[str, Any] = {}
    if isinstance(file_data, dict) and "payload" in file_data and "type" in file_data:
        base = dict(file_data)
        if base["type"] != command_type:
            raise CliError(
                USAGE, f"--file holds a {_safe(str(base['type']))} command, not {command_type}"
            )
        if not isinstance(base["payload"], dict):
            raise CliError(USAGE, "--file: the envelope's payload must be a JSON object")
        payload = dict(base["payload"])
    elif isinstance(file_data, dict):
        payload = dict(file_data)
    elif file_data is not None:
        raise CliError(USAGE, "--file must hold a JSON object (a payload or an envelope)")
    payload.update(fields)
    issued_at = (now or datetime.now(UTC)).isoformat(timespec="milliseconds")
    envelope = {
        "command_id": str(uuid.uuid4()),
        "idempotency_key": f"cli-{uuid.uuid4().hex}",
        "schema_version": SCHEMA_VERSION,
        "issued_at": issued_at,
        **base,
        "type": command_type,
        "payload": payload,
    }
    if idempotency_key is not None:
        envelope["idempotency_key"] = idempotency_key
    return envelope


def encode(envelope: dict[str, Any]) -> bytes:
    """The exact body that is signed and published."""
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign(body: bytes, secret: bytes) -> str:
    """x-signature: lowercase hex HMAC-SHA256 of the exact body (worker/auth.py)."""
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def choose_key(amqp: AmqpSettings, key_id: str | None) -> tuple[str, bytes] | None:
    """The key to sign with: --key, else the only configured one when signatures are
    required; None when nothing asks for a signature.

    Raises:
        CliError: an unknown --key, or several keys and no --key (exit 2).
    """
    keys = {k: v.get_secret_value().encode() for k, v in amqp.hmac_keys.items()}
    if key_id is not None:
        if key_id not in keys:
            known = ", ".join(sorted(keys)) or "none"
            raise CliError(USAGE, f"--key {_safe(key_id)} is not in amqp.hmac_keys ({known})")
        return key_id, keys[key_id]
    if not amqp.require_signature:
        return None
    if len(keys) != 1:
        known = ", ".join(sorted(keys)) or "none configured (TRON_WORKER_AMQP__HMAC_KEYS)"
        raise CliError(USAGE, f"signatures are required: pass --key KEY_ID ({known})")
    [(only, secret)] = keys.items()
    return only, secret
