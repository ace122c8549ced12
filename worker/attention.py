"""Signed attempts whose fate stays undecided: hand their commands to needs_attention.

A journaled attempt is decided by the chain follower within its expiry and a few
blocks. If the follower is stuck (every node down, a lagging solidity node, a bug),
the command would wait in `broadcast` with nobody told. Each sweep round this duty
pages through `inflight` and wakes (marks active) the command of any attempt tracked
longer than `attention_after_s` and not yet in needs_attention; its handler then
reports `FATE_UNDECIDED` (handlers/chain_items.py). needs_attention is not terminal:
when the follower decides after all, it wakes the command again and it finishes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from worker.records import Commands
from worker.store import CommandStore

__all__ = ["UndecidedFates"]


class UndecidedFates:
    def __init__(
        self,
        store: CommandStore,
        commands: Commands,
        *,
        attention_after_s: float,
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._commands = commands
        self._after = timedelta(seconds=attention_after_s)
        self._clock = clock
        self._cursor: str | None = None

    async def wake_overdue(self, limit: int = 500) -> int:
        """One page of tracked attempts; the number of commands woken."""
        page = await self._store.scan("inflight", limit, after=self._cursor)
        self._cursor = page[-1]["_id"] if len(page) == limit else None
        cutoff, woken = self._clock() - self._after, 0
        for tracked in page:
            if tracked["at"] > cutoff:
                continue
            command = await self._commands.get(tracked["command"])
            if command is None or command["terminal"] or command["state"] == "needs_attention":
                continue
            await self._commands.mark_active(command)
            woken += 1
        return woken
