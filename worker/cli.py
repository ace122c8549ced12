"""`tron-worker`, the console entry point: run, check-settings, devnet, keys, schema, the
operator's controls: pause, resume, controls list, attention list/resolve, and the client:
submit, events, status, wallets list, dlq list/show/replay."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from worker.settings import SettingsError, load_settings

__all__ = ["main"]

# The operator's subcommands (worker/cli_controls.py, imported only when one runs).
CONTROL_COMMANDS = ("pause", "resume", "controls", "attention")
# The client's subcommands (worker/client/ parses their whole command line itself).
CLIENT_COMMANDS = {
    "submit": "build, validate, sign and publish a command (--wait: follow it to its end)",
    "events": "print every event as it is published",
    "status": "a command's state, attempts and events, from the database",
    "wallets": "the managed wallets with their balances (wallets list)",
    "dlq": "the dead letters: dlq list | show | replay",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tron-worker", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="consume commands until SIGTERM/SIGINT")
    run.add_argument("--config", type=Path, help="settings file applied over settings.toml and env")
    run.add_argument(
        "--burst",
        action="store_true",
        help="exit 0 once every queue, the outbox and unfinished work are drained",
    )
    check = commands.add_parser("check-settings", help="load the settings, print problems, exit")
    check.add_argument("--config", type=Path)
    commands.add_parser(
        "devnet",
        help="run the local TRON node emulator (options: tron-worker devnet --help)",
        add_help=False,
    )
    _add_keys_parser(commands)
    schema = commands.add_parser("schema", help="write the JSON Schema of every command and event")
    schema.add_argument("--out", type=Path, required=True, help="directory to write into")
    _add_control_parsers(commands)
    for name, text in CLIENT_COMMANDS.items():
        commands.add_parser(name, help=text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["devnet"]:
        # devnet has its own command line and needs no worker settings.
        from devnet.__main__ import main as devnet_main

        return devnet_main(argv[1:])
    if argv[:1] and argv[0] in CLIENT_COMMANDS:
        from worker import client

        return client.main(argv)
    args = _parser().parse_args(argv)
    if args.command == "keys":
        return _keys(args)
    if args.command == "schema":
        return _write_schemas(args.out)
    try:
        settings = load_settings(args.config)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.command == "check-settings":
        print("settings ok")
        return 0
    if args.command in CONTROL_COMMANDS:
        from worker import cli_controls

        return cli_controls.main(args, settings)
    # Imported here so `check-settings` stays fast and light.
    from worker.app import StartupError, serve_until_signalled
    from worker.logs import configure_logging

    configure_logging(settings.log.level, settings.log.format)
    try:
        return serve_until_signalled(settings, burst=getattr(args, "burst", False))
    except StartupError as exc:
        print(exc, file=sys.stderr)
        return 2


def _add_keys_parser(commands: argparse._SubParsersAction) -> None:
    keys = commands.add_parser("keys", help="manage the keystore's master keys")
    actions = keys.add_subparsers(dest="keys_command", required=True)
    rotate = actions.add_parser(
        "rotate", help="re-wrap every wallet's data key under the active master key"
    )
    rotate.add_argument("--config", type=Path)
    actions.add_parser(
        "generate-master-key",
        help="print a new master key (base64 of 32 random bytes) to stdout: it is a secret, "
        "put it straight into TRON_WORKER_KEYSTORE__MASTER_KEYS or its _FILE",
    )


def _add_control_parsers(commands: argparse._SubParsersAction) -> None:
    """`pause`, `resume`, `controls list`, `attention list|resolve`; each takes --json."""
    pause = _control(commands, "pause", "stop new signatures for an asset, a wallet, or all")
    _scope_arguments(pause)
    resume = _control(commands, "resume", "lift a pause, naming the pause link it lifts")
    _scope_arguments(resume)
    resume.add_argument("--lifts", metavar="LINK", help="the pause link's id (controls list)")
    controls = commands.add_parser("controls", help="the kill switches")
    actions = controls.add_subparsers(dest="controls_command", required=True)
    _control(actions, "list", "every scope ever switched: its state, who, when, why, link")
    attention = commands.add_parser("attention", help="commands an operator must decide")
    actions = attention.add_subparsers(dest="attention_command", required=True)
    listing = _control(actions, "list", "commands in needs_attention: reason and age")
    listing.add_argument("--all", action="store_true", help="also the ones already resolved")
    resolve = _control(actions, "resolve", "decide a needs_attention command's outcome, once")
    resolve.add_argument(
        "command_key",
        metavar="KEY",
        help="the command's _id as `attention list` shows it (one starting with '-' goes "
        "after `--`), or its idempotency key",
    )
    resolve.add_argument("--outcome", choices=("failed", "completed"), required=True)
    resolve.add_argument("--reason", required=True, help="why: stored, and sent with `failed`")
    resolve.add_argument("--by", help="who decides (default: the OS user)")


def _control(commands: argparse._SubParsersAction, name: str, text: str) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=text, description=text)
    parser.add_argument("--config", type=Path, help="settings file applied over the others")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    return parser


def _scope_arguments(parser: argparse.ArgumentParser) -> None:
    scope = parser.add_mutually_exclusive_group(required=True)
    scope.add_argument("--asset", help="TRX or an allow-listed token symbol")
    scope.add_argument("--wallet", help="a managed wallet's address (T… or 41…)")
    scope.add_argument("--global", dest="everything", action="store_true", help="everything")
    parser.add_argument("--reason", required=True, help="why: stored, and sent in the event")
    parser.add_argument("--by", help="who (default: the OS user)")


def _keys(args: argparse.Namespace) -> int:
    """`keys generate-master-key` and `keys rotate`; exit 2 on bad settings, 1 on failures."""
    from worker import keystore

    if args.keys_command == "generate-master-key":
        # Printing a secret is this command's purpose; stdout only, never a log.
        print(keystore.generate_master_key())
        return 0
    try:
        settings = load_settings(args.config)
        store = keystore.Keystore(settings.keystore)
    except (SettingsError, keystore.KeystoreError) as exc:
        print(exc, file=sys.stderr)
        return 2
    import asyncio

    from pymongo.errors import PyMongoError

    from worker.database import make_client
    from worker.logs import configure_logging, redact

    async def rotate() -> keystore.RotationReport:
        client = make_client(settings.mongo)
        try:
            wallets = client[settings.mongo.database]["wallets"]
            return await keystore.rotate_wallet_keys(wallets, store)
        finally:
            await client.close()

    configure_logging(settings.log.level, settings.log.format)
    try:
        report = asyncio.run(rotate())
    except PyMongoError as exc:
        print(redact(f"keys rotate: database error: {type(exc).__name__}: {exc}"), file=sys.stderr)
        return 1
    print(
        f"rotated {report.rewrapped} data keys to {store.active_key_id}; "
        f"{report.already_active} already current; {report.failed} failed"
    )
    return 1 if report.failed else 0


def _write_schemas(out: Path) -> int:
    """One pretty, key-sorted JSON file per schema: the same bytes on every run."""
    import json

    from schemas.export import json_schemas

    schemas = json_schemas()
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, schema in schemas.items():
            text = json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
            (out / name).write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"schema: cannot write to {out}: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {len(schemas)} JSON Schemas to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
