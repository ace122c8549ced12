"""`python -m devnet`: run a devnet until SIGTERM or SIGINT.

Exactly one line goes to stdout, once the HTTP API accepts connections:

    devnet ready on http://127.0.0.1:18090 (block interval 3.0 s, solidify lag 19)

so scripts can wait for it; logs go to stderr, starting with one "test
account" line per funded genesis account (address, balance and, for test
accounts, the private key). `main(argv)` is also the entry
point for `tron-worker devnet ...`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import structlog

from devnet.faults import FaultConfigError, add_fault_arguments, fault_config_from_args
from devnet.keys import address_to_base58
from devnet.producer import MIN_BLOCK_INTERVAL_MS
from devnet.server import Devnet, DevnetConfig
from devnet.trc20 import USDT_ADDRESS

__all__ = ["build_parser", "main", "serve"]

log = structlog.get_logger(__name__)


def _block_interval(text: str) -> float:
    value = float(text)
    if not value * 1000 >= MIN_BLOCK_INTERVAL_MS:
        raise argparse.ArgumentTypeError(f"must be at least {MIN_BLOCK_INTERVAL_MS / 1000} s")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def build_parser(prog: str = "python -m devnet") -> argparse.ArgumentParser:
    """The devnet command line; shared with `tron-worker devnet`."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Local java-tron HTTP API emulator (devnet)."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("--port", type=int, default=18090, help="TCP port; 0 picks a free one")
    parser.add_argument("--genesis", type=Path, help="genesis file (.json or .toml)")
    parser.add_argument(
        "--block-interval-s", type=_block_interval, default=3.0, help="seconds per block slot"
    )
    parser.add_argument(
        "--solidify-lag",
        type=_non_negative_int,
        default=19,
        help="blocks between the head and the solidified head",
    )
    parser.add_argument(
        "--state", type=Path, metavar="FILE", help="load chain state from FILE, save it on exit"
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    add_fault_arguments(parser)
    return parser


def configure_logging(level: str) -> None:
    """Send structlog output to stderr (stdout carries only the ready line)."""
    renderer: structlog.typing.Processor = structlog.processors.JSONRenderer()
    if sys.stderr.isatty():
        renderer = structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


def _print_ready(line: str) -> None:
    print(line, flush=True)


def _log_test_accounts(devnet: Devnet) -> None:
    """List the funded genesis accounts on stderr, with keys for those given by key.

    These are public test keys (see devnet.genesis); printing them is the point.
    """
    for account in devnet.genesis.accounts:
        log.info(
            "test account",
            name=account.name,
            address=address_to_base58(account.address),
            balance_sun=account.balance_sun,
            private_key=account.private_key.hex() if account.private_key else None,
        )
    usdt = devnet.genesis.usdt
    if usdt is not None:
        log.info(
            "usdt contract",
            address=address_to_base58(USDT_ADDRESS),
            owner=address_to_base58(usdt.owner_address),
            owner_private_key=usdt.owner_private_key.hex(),
        )


async def serve(config: DevnetConfig, announce: Callable[[str], None] = _print_ready) -> int:
    """Run a devnet until SIGTERM/SIGINT; return the process exit code."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        devnet = Devnet(config)
    except (OSError, ValueError) as exc:  # genesis or --state file
        log.error(
            "cannot load genesis or state",
            genesis=str(config.genesis_path),
            state=str(config.state_path),
            error=str(exc),
        )
        return 1
    try:
        await devnet.start()
    except OSError as exc:
        log.error("cannot listen", host=config.host, port=config.port, error=str(exc))
        return 1
    announce(
        f"devnet ready on {devnet.url} (block interval {config.block_interval_s} s, "
        f"solidify lag {config.solidify_lag_blocks})"
    )
    _log_test_accounts(devnet)
    await stop.wait()
    try:
        await devnet.stop()
    except (OSError, ValueError) as exc:
        log.error("cannot save state", state=str(config.state_path), error=str(exc))
        return 1
    return 0


def main(argv: Sequence[str] | None = None, *, configure_logs: bool = True) -> int:
    """Parse argv, run the devnet and return its exit code (0 after SIGTERM/SIGINT)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        faults = fault_config_from_args(args)
    except FaultConfigError as exc:
        parser.error(str(exc))
    if configure_logs:
        configure_logging(args.log_level)
    config = DevnetConfig(
        host=args.host,
        port=args.port,
        block_interval_s=args.block_interval_s,
        solidify_lag_blocks=args.solidify_lag,
        genesis_path=args.genesis,
        state_path=args.state,
        faults=faults,
    )
    return asyncio.run(serve(config))


if __name__ == "__main__":
    sys.exit(main())
