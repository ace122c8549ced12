"""Run `tron-worker run` with a SIGKILL planted at a chosen point, for crash-recovery tests.

    python -m tests.crashpoints claim       # die right after the first claim is stored
    python -m tests.crashpoints wallet:3    # die right after the 3rd wallet is stored
    python -m tests.crashpoints transfer:claimed     # a transfer's claim is stored
    python -m tests.crashpoints transfer:journaled   # its attempt is journaled, not sent
    python -m tests.crashpoints transfer:broadcast   # a node accepted it; no state written
    python -m tests.crashpoints transfer:seen        # the follower stored its fate, no event
    python -m tests.crashpoints transfer:event       # `confirmed` is stored, not published
    python -m tests.crashpoints journal:50            # the 50th attempt is journaled
    python -m tests.crashpoints cap                  # a cap's link is appended, undecided

Test code only: the product has no crash hooks. The patches wrap the real
methods and kill the process the hard way, as the kernel's OOM killer would.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from worker import claims, gateway, journal, outbox, records, reservations
from worker.cli import main


def _die() -> None:
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def plant(point: str) -> None:
    if point == "claim":
        original_claim = claims.Claims.claim

        async def claim_then_die(self: Any, *args: Any, **kwargs: Any) -> Any:
            result = await original_claim(self, *args, **kwargs)
            if isinstance(result, claims.Claimed):
                _die()
            return result

        claims.Claims.claim = claim_then_die  # type: ignore[method-assign]
    elif point.startswith("wallet:"):
        remaining = [int(point.partition(":")[2])]
        original_add = records.StoreWallets.add_once

        async def add_then_maybe_die(self: Any, *args: Any) -> dict[str, Any]:
            stored = await original_add(self, *args)
            remaining[0] -= 1
            if remaining[0] == 0:
                _die()
            return stored

        records.StoreWallets.add_once = add_then_maybe_die  # type: ignore[method-assign]
    elif point.startswith("transfer:"):
        _plant_transfer(point.partition(":")[2])
    elif point == "cap":
        _after(
            reservations.Reservations,
            "append_once",
            lambda link, *args: link["chain"].startswith(("asset:", "destination:", "key:")),
        )
    elif point.startswith("journal:"):
        left = [int(point.partition(":")[2])]

        def nth_record(result: Any, *args: Any) -> bool:
            left[0] -= 1
            return left[0] == 0

        _after(journal.Journal, "record", nth_record)
    else:
        raise SystemExit(f"unknown crash point {point!r}")


def _after(owner: Any, name: str, should_die: Any) -> None:
    """Wrap an async method: call it, then die if should_die(result, *args)."""
    original = getattr(owner, name)

    async def wrapped(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = await original(self, *args, **kwargs)
        if should_die(result, *args):
            _die()
        return result

    setattr(owner, name, wrapped)


def _plant_transfer(stage: str) -> None:
    if stage == "claimed":
        _after(
            claims.Claims,
            "claim",
            lambda result, command, *rest: (
                isinstance(result, claims.Claimed) and command.type == "transfer.trx"
            ),
        )
    elif stage == "journaled":
        _after(journal.Journal, "record", lambda result, *args: True)
    elif stage == "broadcast":
        _after(gateway.Gateway, "broadcast_hex", lambda reply, *args: reply.accepted)
    elif stage == "seen":
        _after(journal.Journal, "decide", lambda fate, *args: fate["fate"] == "confirmed")
    elif stage == "event":
        _after(
            outbox.Outbox,
            "add",
            lambda stored, doc: doc["routing_key"] == "transfer.confirmed",
        )
    else:
        raise SystemExit(f"unknown transfer crash point {stage!r}")


if __name__ == "__main__":
    plant(sys.argv[1])
    sys.exit(main(["run"]))
