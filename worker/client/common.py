"""Exit codes, shared constants and the one error type of the client subcommands."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass


OK, FAILED, USAGE, ATTENTION, TIMEOUT = 0, 1, 2, 3, 4
DEFAULT_WAIT_S = 300.0  # a solidified block on mainnet is ~1 min away; devnet: seconds
BALANCE_CONCURRENCY = 8  # getaccount calls in flight at once (wallets list)
# Headers the worker or the broker added on the way to a `.dead` queue; a replay drops
# them, so it starts afresh (x-attempt would otherwise count the old tries).
DEAD_LETTER_HEADERS = frozenset(
    {
        "x-dead-letter-reason",
        "x-dead-letter-detail",
        "x-original-routing-key",
        "x-attempt",
        "x-last-error",
        "x-death",
        "x-delivery-count",
        "x-first-death-exchange",
        "x-first-death-queue",
        "x-first-death-reason",
        "x-last-death-exchange",
        "x-last-death-queue",
        "x-last-death-reason",
    }
)
SUCCESS_STATES = frozenset({"confirmed", "created", "completed", "decided"})
FAILURE_STATES = frozenset({"failed", "rejected"})


class CliError(Exception):
    """What stops a subcommand: its exit code and one line for stderr."""

    def __init__(self, code: int, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}
