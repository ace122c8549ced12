"""Payouts awaiting approval, and the one decision on each (issue 10's precise rules).

A payout above its asset's threshold is registered in `approvals/<command_id>` (the
id `payout.approve` / `payout.cancel` name) and left `awaiting_approval`, its
delivery acked. A decision — approved, cancelled, or expired — is the first insert
of `decisions/<c>`; every later one finds it taken. Whoever decides then marks the
payout active, so the sweeper takes it over under a new lease and its handler acts
on the decision: sign, or end `rejected CANCELLED` / `APPROVAL_EXPIRED` with its
reservations released. Expiry is a sweeper duty (`expire_due`), not a timer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog

from worker.records import Commands
from worker.store import CommandStore, Doc

__all__ = ["StoreApprovals"]

log = structlog.get_logger()


class StoreApprovals:
    def __init__(
        self, store: CommandStore, commands: Commands, clock: Callable[[], datetime]
    ) -> None:
        self._store = store
        self._commands = commands
        self._clock = clock
        self._cursor: str | None = None

    async def register(self, record: dict[str, Any]) -> dict[str, Any]:
        if await self._store.insert("approvals", record):
            return record
        stored = await self._store.get("approvals", record["_id"])
        return stored if stored is not None else record

    async def waiting(self, command_id: str) -> Doc | None:
        return await self._store.get("approvals", command_id)

    async def decision(self, ref: str) -> Doc | None:
        return await self._store.get("decisions", ref)

    async def decide(
        self, ref: str, decision: str, *, by: str, reason: str, deciding_ref: str | None
    ) -> Doc:
        record = {
            "_id": ref,
            "decision": decision,
            "by": by,
            "reason": reason,
            "deciding_ref": deciding_ref,
            "at": self._clock(),
        }
        if await self._store.insert("decisions", record):
            log.info("payout decided", ref=ref, decision=decision, by=by)
            return record
        stored = await self._store.get("decisions", ref)
        return stored if stored is not None else record

    async def wake(self, key: str) -> None:
        command = await self._commands.get(key)
        if command is not None and not command["terminal"]:
            await self._commands.mark_active(command)

    async def expire_due(self, limit: int = 200) -> int:
        """One page of waiting payouts: decide `expired` for those past their expiry."""
        page = await self._store.scan("approvals", limit, after=self._cursor)
        self._cursor = page[-1]["_id"] if len(page) == limit else None
        now, expired = self._clock(), 0
        for record in page:
            if record["expires_at"] > now or await self.decision(record["ref"]) is not None:
                continue
            taken = await self.decide(
                record["ref"],
                "expired",
                by="expiry",
                reason=f"not approved by {record['expires_at'].isoformat()}",
                deciding_ref=None,
            )
            if taken["decision"] == "expired":
                expired += 1
            await self.wake(record["key"])
        return expired
