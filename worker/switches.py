"""Kill switches: pause and resume money by asset, by wallet, or everything, as insert chains.

Each scope (`global`, `asset:<SYMBOL>`, `wallet:<address>`) is a chain of links in
`switches`, `_id` = `<scope>:<n>`. A link says paused or not, who, when and why; the
head is the scope's state. Every change is an insert of link n+1, so two operators (or
the chain follower pausing a wallet while an operator resumes it) cannot both win:
the loser's insert fails and it re-reads. A resume names the pause link it lifts and
is refused if the head has moved on (a newer pause must be looked at first).

Every change is stored with an event (`control.paused` / `control.resumed`) through
the outbox, so a subscriber sees it and the relay publishes it even if no worker was
running when it was written. Pauses stop new signatures (intake and every signature,
handlers/controls.py); what is already signed cannot be unsent and goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.events import ControlPayload, Event, make_event
from worker.chains import ChainHeads
from worker.errors import PermanentError
from worker.outbox import Outbox, event_doc
from worker.store import CommandStore, Doc

__all__ = ["GLOBAL", "ResumeRefused", "Switch", "Switches", "scope_of"]

GLOBAL = "global"
SIGNED_CONTINUE = "transactions already signed continue: they cannot be unsent"


class ResumeRefused(PermanentError):
    """The named pause is not the scope's current state."""


def scope_of(kind: str, name: str | None = None) -> str:
    """`global`, `asset:USDT`, `wallet:T…`."""
    if kind == GLOBAL:
        return GLOBAL
    if kind not in ("asset", "wallet") or not name:
        raise ValueError(f"a {kind!r} switch needs a name (asset symbol or wallet address)")
    return f"{kind}:{name.upper() if kind == 'asset' else name}"


@dataclass(frozen=True)
class Switch:
    """A scope's current state: its head link."""

    scope: str
    paused: bool
    link: str | None  # the head link's id (None: never switched)
    reason: str = ""
    by: str = ""
    at: datetime | None = None

    def describe(self) -> str:
        if not self.paused:
            return f"{self.scope} is not paused"
        return (
            f"{self.scope} was paused by {self.by} at {self.at:%Y-%m-%d %H:%M:%S}Z: {self.reason}"
        )


class Switches:
    def __init__(self, store: CommandStore, outbox: Outbox, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._outbox = outbox
        self._clock = clock
        self._heads = ChainHeads(store, "switches")
        self._announced: set[str] = set()  # head links whose event is known to be stored

    async def state(self, scope: str) -> Switch:
        head = await self._head(scope)
        if head is None:
            return Switch(scope, False, None)
        return Switch(
            scope, bool(head["paused"]), head["_id"], head["reason"], head["by"], head["at"]
        )

    async def blocking(
        self, *, asset: str | None = None, wallet: str | None = None
    ) -> Switch | None:
        """The first paused scope among global, the asset's and the wallet's (None: go)."""
        scopes = [GLOBAL]
        if asset is not None:
            scopes.append(scope_of("asset", asset))
        if wallet is not None:
            scopes.append(scope_of("wallet", wallet))
        for scope in scopes:
            switch = await self.state(scope)
            if switch.paused:
                return switch
        return None

    async def pause(
        self, scope: str, *, reason: str, by: str, details: dict[str, Any] | None = None
    ) -> Doc:
        """Append a pause link (even over a pause: the newest reason is the one a resume
        must name); store its event. Returns the link."""
        return await self._append(scope, paused=True, reason=reason, by=by, details=details)

    async def resume(self, scope: str, *, lifts: str, reason: str, by: str) -> Doc:
        """Lift the pause link `lifts`, only if it is still the scope's head.

        Raises:
            ResumeRefused: not paused, or paused again since (by another link).
        """
        return await self._append(scope, paused=False, reason=reason, by=by, lifts=lifts)

    async def list(self) -> list[Switch]:
        """Every scope ever switched, with its current state (a paged scan)."""
        heads: dict[str, Doc] = {}
        after: str | None = None
        while page := await self._store.scan("switches", 500, after=after):
            for doc in page:
                if doc["n"] > heads.get(doc["scope"], {"n": 0})["n"]:
                    heads[doc["scope"]] = doc
            after = page[-1]["_id"]
        return [
            Switch(s, bool(d["paused"]), d["_id"], d["reason"], d["by"], d["at"])
            for s, d in sorted(heads.items())
        ]

    async def _append(
        self,
        scope: str,
        *,
        paused: bool,
        reason: str,
        by: str,
        lifts: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> Doc:
        while True:
            head = await self._head(scope)
            if not paused:
                if head is None or not head["paused"]:
                    raise ResumeRefused(f"{scope} is not paused")
                if head["_id"] != lifts:
                    raise ResumeRefused(
                        f"{scope} is paused by {head['_id']} ({head['reason']}), "
                        f"not by {lifts}: look at that pause, then resume it by name"
                    )
            number = head["n"] + 1 if head is not None else 1
            link = {
                "_id": f"{scope}:{number}",
                "scope": scope,
                "n": number,
                "paused": paused,
                "reason": reason,
                "by": by,
                "at": self._clock(),
                "lifts": lifts,
                "details": details or {},
            }
            if await self._store.insert("switches", link):
                self._heads.saw(scope, number)
                await self._announce(link)
                return link

    async def _announce(self, link: Doc) -> None:
        event = _event_of(link)
        await self._outbox.add(event_doc(event, correlation_id=None, created_at=link["at"]))
        self._announced.add(link["_id"])

    async def _ensure_announced(self, link: Doc) -> None:
        """A writer that died between its link and its event leaves a switch nobody was
        told of: whoever reads that head first stores the event (once per process)."""
        if link["_id"] in self._announced:
            return
        if await self._store.get("events", str(_event_of(link).event_id)) is None:
            await self._announce(link)
        self._announced.add(link["_id"])

    async def _head(self, scope: str) -> Doc | None:
        latest = await self._heads.head(scope)
        if latest is not None:
            await self._ensure_announced(latest)
        return latest


def _event_of(link: Doc) -> Event:
    """The switch's event: its id derives from the link, so storing it twice stores one."""
    return make_event(
        family="control",
        state="paused" if link["paused"] else "resumed",
        payload=ControlPayload(
            scope=link["scope"],
            link=link["_id"],
            reason=link["reason"],
            by=link["by"],
            lifts=link["lifts"],
            note=SIGNED_CONTINUE if link["paused"] else None,
            details=link["details"] or None,
        ),
        command_id=None,
        idempotency_key=None,
        occurred_at=link["at"],
        command_ref=f"switch:{link['_id']}",
    )
