"""The standing energy delegation to each hot wallet (issue 11's precise rules).

Under `staking.energy_policy = "delegate"` the staking wallet keeps one standing,
unlocked delegation of energy to each hot wallet that pays tokens. Every change to
it is a decision in the insert chain `energy/<wallet>:<n>`:

    topup   a payout found the wallet's energy below its batch's estimate: the payout
            (`key`) delegates the shortfall as its item 100 (handlers/energy.py)
    return  the wallet was idle for `return_after_idle_s`: the worker submits itself
            the command `energy-return:<wallet>:<n>` (scope "worker", type
            stake.undelegate) for what its top-ups delegated since the last return

Whoever inserts decision n+1 acts; whoever loses waits for it. So two payouts that both
find a wallet short top it up once, and a return can never race a top-up. A decision
is *settled* once its transaction's fate is in (or its owner ended without one).

Who resumes whom: the chain follower wakes the payout whose top-up it decided (as for
any journaled item); a payout that found another's decision unsettled registers in
`energy_waiters` and returns Pending; this module's `round` (a sweeper duty) wakes it
once that decision settles, and the woken payout reads the wallet's energy again.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import datetime

import structlog

from handlers.ports import Journal, TronNode
from schemas.commands import parse_command
from schemas.documents import command_key, command_ref
from worker.chains import ChainHeads
from worker.claims import Claims
from worker.leases import Leases
from worker.records import Commands
from worker.store import CommandStore, Doc

__all__ = ["RETURN_SCOPE", "StoreStandingEnergy"]

log = structlog.get_logger()

RETURN_SCOPE = "worker"  # the key scope of the commands the worker submits itself
_RETURN_ITEM = 0  # a stake command's one transaction
_SETTLED_FATES = {"confirmed", "failed", "unknown"}  # absent: a rebuild follows


class StoreStandingEnergy:
    def __init__(
        self,
        store: CommandStore,
        journal: Journal,
        commands: Commands,
        claims: Claims,
        leases: Leases,
        node: TronNode,
        *,
        staking_wallet: str,
        idle_s: float,
        clock: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._journal = journal
        self._commands = commands
        self._claims = claims
        self._leases = leases
        self._node = node
        self._staking = staking_wallet
        self._idle_s = idle_s
        self._clock = clock
        self._monotonic = monotonic
        self._heads = ChainHeads(store, "energy")
        self._next_return_check = 0.0

    # --- the port handlers/energy.py uses -------------------------------------------

    async def head(self, receiver: str) -> Doc | None:
        return await self._heads.head(receiver)

    async def decide(self, decision: Doc) -> Doc:
        doc = {**decision, "_id": f"{decision['receiver']}:{decision['n']}", "at": self._clock()}
        if await self._store.insert("energy", doc):
            self._heads.saw(decision["receiver"], decision["n"])
            log.info("energy decision", receiver=doc["receiver"], n=doc["n"], kind=doc["kind"])
            return doc
        stored = await self._store.get("energy", doc["_id"])
        assert stored is not None, "decisions are never deleted"
        return stored

    async def settled(self, decision: Doc) -> bool:
        owner = await self._commands.get(decision["key"])
        if owner is None:
            # A return is decided before its command is submitted (round() submits it
            # again); a top-up's payout claimed before deciding, so it was cleaned up.
            return decision["kind"] != "return"
        if owner["terminal"] or owner["state"] == "needs_attention":
            return True
        attempt = await self._journal.latest_attempt(decision["ref"], decision["item"])
        if attempt is None:
            return False
        fate = await self._journal.fate(attempt["_id"])
        return fate is not None and fate["fate"] in _SETTLED_FATES

    async def used(self, receiver: str) -> None:
        # Any payout of the wallet may write it: the latest time wins, and a concurrent
        # first write loses its insert instead of failing an upsert on a duplicate key.
        doc = {"_id": receiver, "at": self._clock()}
        if not await self._store.insert("energy_use", doc):
            await self._store.put("energy_use", doc)

    async def wait(self, key: str, decision: Doc) -> None:
        await self._store.put(
            "energy_waiters", {"_id": key, "decision": decision["_id"], "at": self._clock()}
        )

    # --- the sweeper's duty ---------------------------------------------------------

    async def round(self) -> None:
        """Wake the payouts whose awaited decision settled; take back idle delegations
        (checked every quarter of the idle time, at most once a minute)."""
        await self._wake_waiters()
        if self._monotonic() >= self._next_return_check:
            self._next_return_check = self._monotonic() + min(60.0, self._idle_s / 4)
            await self._return_idle()

    async def _wake_waiters(self) -> None:
        after: str | None = None
        while page := await self._store.scan("energy_waiters", 200, after=after):
            for waiter in page:
                decision = await self._store.get("energy", waiter["decision"])
                if decision is not None and not await self.settled(decision):
                    continue
                command = await self._commands.get(waiter["_id"])
                if command is not None and not command["terminal"]:
                    await self._commands.mark_active(command)
                await self._store.delete("energy_waiters", waiter["_id"])
            after = page[-1]["_id"]

    async def _return_idle(self) -> None:
        after: str | None = None
        while page := await self._store.scan("energy_use", 200, after=after):
            for use in page:
                try:
                    await self._return_if_idle(use)
                except Exception as exc:  # one wallet's trouble must not stop the others
                    log.warning(
                        "energy return check failed",
                        receiver=use["_id"],
                        error=f"{type(exc).__name__}: {exc}"[:300],
                    )
            after = page[-1]["_id"]

    async def _return_if_idle(self, use: Doc) -> None:
        receiver = use["_id"]
        head = await self.head(receiver)
        if head is None:
            return
        if head["kind"] == "return":
            if await self._commands.get(head["key"]) is None:
                await self._submit(head)  # decided, then the process died before submitting
            # Returned, or the return ended without confirming (an operator sees its
            # event): nothing more until the next top-up, never a return every round.
            return
        if not await self.settled(head):
            return
        idle_s = (self._clock() - use["at"]).total_seconds()
        if idle_s < self._idle_s:
            return
        lent_sun = await self._lent_since_return(receiver, head["n"])
        if lent_sun == 0:
            return
        on_chain = await self._node.delegated_resource(self._staking, receiver)
        delegated_sun = sum(int(d.get("frozen_balance_for_energy", 0)) for d in on_chain)
        amount_sun = min(lent_sun, delegated_sun)
        if amount_sun <= 0:
            return
        number = head["n"] + 1
        idempotency_key = f"energy-return:{receiver}:{number}"
        key = command_key(RETURN_SCOPE, idempotency_key)
        decision = await self.decide(
            {
                "receiver": receiver,
                "n": number,
                "kind": "return",
                "key": key,
                "ref": command_ref(key),
                "item": _RETURN_ITEM,
                "idempotency_key": idempotency_key,
                "amount_sun": amount_sun,
            }
        )
        if decision["key"] == key:
            log.info("idle energy delegation returned", receiver=receiver, amount_sun=amount_sun)
            await self._submit(decision)

    async def _lent_since_return(self, receiver: str, head: int) -> int:
        """Staked sun our confirmed top-ups delegated since the last confirmed return."""
        lent = 0
        for number in range(head, 0, -1):
            decision = await self._store.get("energy", f"{receiver}:{number}")
            if decision is None:
                continue
            attempt = await self._journal.latest_attempt(decision["ref"], decision["item"])
            fate = await self._journal.fate(attempt["_id"]) if attempt is not None else None
            confirmed = fate is not None and fate["fate"] == "confirmed"
            if decision["kind"] == "return" and confirmed:
                break
            if decision["kind"] == "topup" and confirmed:
                lent += int(attempt["plan"]["amount_sun"])  # type: ignore[index]
        return lent

    async def _submit(self, decision: Doc) -> None:
        """Claim the return as a command of scope "worker" and hand it to the sweeper (its
        claim lease released at once), which runs it like any stake.undelegate."""
        body = {
            "command_id": str(uuid.uuid5(uuid.NAMESPACE_URL, decision["key"])),
            "idempotency_key": decision["idempotency_key"],
            "type": "stake.undelegate",
            "schema_version": 1,
            "issued_at": self._clock().isoformat(),
            "payload": {
                "wallet": self._staking,
                "receiver": decision["receiver"],
                "amount_sun": decision["amount_sun"],
                "resource": "ENERGY",
            },
        }
        doc = await self._claims.claim_own(parse_command(json.dumps(body)), RETURN_SCOPE)
        await self._leases.release(self._leases.of_claim(doc["ref"]))
        await self._commands.mark_active(doc)
