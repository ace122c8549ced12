"""`main`: parse, load settings, dispatch to a subcommand, print its error."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING

from worker.client.args import _parser
from worker.client.common import USAGE, CliError
from worker.client.dlq import _dlq
from worker.client.events import _events
from worker.client.status import _status
from worker.client.submit import _submit
from worker.client.text import _print_json
from worker.client.wallets import _wallets
from worker.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    pass


def main(argv: list[str]) -> int:
    """Parse, load the settings, run one subcommand; its exit code."""
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "submit":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    as_json = bool(getattr(args, "json", False))
    try:
        settings = load_settings(args.config)
    except SettingsError as exc:
        return _fail(CliError(USAGE, str(exc)), as_json)
    from worker.logs import configure_logging

    # The output is the reply, and a failure is one line of its own: the libraries' logs
    # (aio-pika logs a refused connection as an error too) would only repeat it.
    configure_logging("critical", settings.log.format)
    try:
        return asyncio.run(_dispatch(args, extra, settings))
    except CliError as exc:
        return _fail(exc, as_json)
    except KeyboardInterrupt:
        print(f"{args.command}: interrupted", file=sys.stderr)
        return 130


def _fail(error: CliError, as_json: bool) -> int:
    from worker.logs import redact

    message = redact(error.message)
    print(message, file=sys.stderr)
    if as_json:
        _print_json({"ok": False, "error": message, **error.details})
    return error.code


async def _dispatch(args: argparse.Namespace, extra: list[str], settings: Settings) -> int:
    if args.command == "submit":
        return await _submit(args, extra, settings)
    if args.command == "events":
        return await _events(args, settings)
    if args.command == "status":
        return await _status(args, settings)
    if args.command == "wallets":
        return await _wallets(args, settings)
    return await _dlq(args, settings)
