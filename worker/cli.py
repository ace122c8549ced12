"""`tron-worker`: the console entry point. Subcommands: run, check-settings, devnet."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from worker.settings import SettingsError, load_settings

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tron-worker", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="consume commands until SIGTERM/SIGINT")
    run.add_argument("--config", type=Path, help="settings file applied over settings.toml and env")
    check = commands.add_parser("check-settings", help="load the settings, print problems, exit")
    check.add_argument("--config", type=Path)
    commands.add_parser(
        "devnet",
        help="run the local TRON node emulator (options: tron-worker devnet --help)",
        add_help=False,
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["devnet"]:
        # devnet has its own command line and needs no worker settings.
        from devnet.__main__ import main as devnet_main

        return devnet_main(argv[1:])
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.command == "check-settings":
        print("settings ok")
        return 0
    # Imported here so `check-settings` stays fast and light.
    from worker.app import serve_until_signalled
    from worker.logs import configure_logging

    configure_logging(settings.log.level, settings.log.format)
    return serve_until_signalled(settings)


if __name__ == "__main__":
    sys.exit(main())
