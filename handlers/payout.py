"""payout.create: pay up to 100 recipients in TRX or an allow-listed token, one
transaction per line, each line exactly once.

Line i is item i on the transaction path (handlers/chain_items.py): its own journal
entries `c:<i>:<attempt>`, its own `payout.item.broadcast` / `item.confirmed` /
`item.failed` events carrying the line's `reference`. The whole batch is checked
before the first signature (a line that cannot be paid rejects the payout); lines
are signed and broadcast concurrently, bounded; the payout ends with one
`payout.completed` listing each line's fate once every line is terminal. Once any
line is journaled the payout has effects and is never failed by exhaustion.

The paying wallet is the named `source_wallet` or the first hot wallet that can pay
every line; either way its funds are reserved first (worker/pool.py, insert chains),
so two payouts never both count the same balance, and given back when every line is
terminal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from handlers import energy
from handlers.chain_items import (
    Item,
    ItemResult,
    Kind,
    Refusal,
    advance,
    check_funds,
    journal_first,
    seal_all,
)
from handlers.controls import Line, admit, release_items, source_refusal
from handlers.ports import (
    CommandContext,
    CommandType,
    Completed,
    Deps,
    Failed,
    NeedsAttention,
    Outcome,
    Pending,
    Rejected,
)
from handlers.transfer import TRX
from handlers.trc20 import TOKEN
from schemas.payloads import PayoutCreatePayload

__all__ = ["PAYOUT_CREATE", "handle", "has_effects"]

CONCURRENCY = 8  # lines signed or broadcast at once

T = TypeVar("T")


async def _bounded(calls: list[Callable[[], Awaitable[T]]]) -> list[T]:
    slots = asyncio.Semaphore(CONCURRENCY)

    async def one(call: Callable[[], Awaitable[T]]) -> T:
        async with slots:
            return await call()

    tasks = [asyncio.ensure_future(one(call)) for call in calls]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        # Stop the other lines before the error goes up: once this run gives its lease
        # back, nothing of it may still be signing or sending.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _items(payload: PayoutCreatePayload) -> list[Item]:
    return [
        Item(index, "item.", {"reference": line.reference})
        for index, line in enumerate(payload.recipients)
    ]


async def handle(command: CommandContext[PayoutCreatePayload], deps: Deps) -> Outcome:
    assert deps.journal is not None and deps.chain is not None, "wired by worker.wiring"
    payload = command.payload
    items = _items(payload)
    journaled = [await deps.journal.latest_attempt(command.ref, item.index) for item in items]
    if not any(journaled) and command.expires_at <= deps.now():
        if await seal_all(command, deps, len(items)):
            await _release_all(command, deps)  # reserved while it awaited approval
            if await _approval_lapsed(command, deps):
                return Rejected("APPROVAL_EXPIRED", "the payout expired awaiting approval")
            return Failed("EXPIRED", "the payout expired before anything was signed", True)
        journaled = [await deps.journal.latest_attempt(command.ref, i.index) for i in items]
    kind, token = (TRX, None) if payload.asset == "TRX" else (TOKEN, payload.asset)
    missing = [item for item, attempt in zip(items, journaled, strict=True) if attempt is None]
    if not any(journaled):
        await deps.emit("accepted", {})
        found = deps.chain.token(payload.asset) if token is not None else None
        if token is not None and found is None:
            known = ", ".join(t.symbol for t in deps.chain.tokens) or "none"
            return Rejected("UNKNOWN_TOKEN", f"token {token} is not allowed (allowed: {known})")
        lines = [Line(i, line.to, line.amount) for i, line in enumerate(payload.recipients)]
        refused = await admit(
            command,
            deps,
            asset=found.symbol if found is not None else "TRX",
            token=found.address if found is not None else None,
            source=payload.source_wallet,
            lines=lines,
        )
        if refused is not None:
            await _release_all(command, deps)  # what an earlier run of it reserved
            return refused
        waiting = await _approval(command, deps, found.symbol if found is not None else "TRX")
        if waiting is not None:
            return waiting
        chosen = await _choose_source(command, deps, kind, token, items)
        if isinstance(chosen, Rejected):
            await _release_all(command, deps)
            return chosen
        source, plans = chosen
    else:  # a redo after a crash mid-batch: the source was decided before the first line
        assert deps.pool is not None
        decided = await deps.pool.choose(command.ref, [], _cannot)
        assert decided is not None, "decided before the first line was journaled"
        source = decided
        plans = await _plans(deps, kind, source, payload, missing, token)
    if missing:
        lent = await energy.lend(command, deps, source, plans)
        if isinstance(lent, (Rejected, Failed)):
            await _release_all(command, deps)
            assert deps.pool is not None
            await deps.pool.release(command.ref)
            return lent
        if lent is not None:  # Pending (the delegation lands first) or NeedsAttention
            return lent
    wallet = await deps.wallets.by_address(source)
    assert wallet is not None, "a managed wallet was chosen"
    paused: dict[int, str] = {}  # lines a pause stopped right before their signature
    newest = {item.index: doc for item, doc in zip(items, journaled, strict=True) if doc}

    async def first(item: Item, plan: dict[str, Any]) -> None:
        try:
            newest[item.index] = await journal_first(command, deps, kind, wallet, item, plan)
        except Refusal as refusal:
            paused[item.index] = refusal.message

    await _bounded([_call(first, item, plan) for item, plan in zip(missing, plans, strict=True)])
    if paused and len(paused) == len(items):  # nothing of the payout was signed
        await _release_all(command, deps)
        assert deps.pool is not None
        await deps.pool.release(command.ref)
        return Rejected("PAUSED", next(iter(paused.values())))
    results = await _bounded(
        [
            _call(_advance_unless_paused, command, deps, kind, item, source, paused, newest)
            for item in items
        ]
    )
    return await _outcome(command, deps, items, results, token)


async def _advance_unless_paused(
    command: CommandContext[PayoutCreatePayload],
    deps: Deps,
    kind: Kind,
    item: Item,
    source: str,
    paused: dict[int, str],
    newest: dict[int, dict[str, Any]],
) -> ItemResult:
    if item.index in paused:
        message = f"not signed: {paused[item.index]}"
        return ItemResult("attention", code="PAUSED", message=message)
    return await advance(command, deps, kind, item, source, newest.get(item.index))


async def _approval(
    command: CommandContext[PayoutCreatePayload], deps: Deps, asset: str
) -> Outcome | None:
    """Above the asset's threshold (the batch, or its key id's day with it) a payout waits
    for one decision; None: go on (under the threshold, or approved)."""
    controls, approvals = deps.controls, deps.approvals
    if controls is None or approvals is None:
        return None
    threshold = controls.limits(asset).approval_above
    if threshold is None:
        return None
    total = sum(line.amount for line in command.payload.recipients)
    day = await controls.approval_total(command.ref, asset, command.scope, total)
    if total <= threshold and day <= threshold:
        return None
    decision = await approvals.decision(command.ref)
    if decision is None:
        expiry = deps.now() + timedelta(seconds=controls.approval_expiry_s)
        record = await approvals.register(
            {
                "_id": command.command_id,
                "key": deps.command_key,
                "ref": command.ref,
                "scope": command.scope,
                "asset": asset,
                "total": total,
                "expires_at": min(expiry, command.expires_at),
                "at": deps.now(),
            }
        )
        if record["expires_at"] > deps.now():
            why = f"the batch is {total}" if total > threshold else f"the key's day would be {day}"
            await deps.emit(
                "approval_required",
                {
                    "asset": asset,
                    "total_amount": total,
                    "items": len(command.payload.recipients),
                    "recipients": [
                        {"to": line.to, "amount": line.amount, "reference": line.reference}
                        for line in command.payload.recipients
                    ],
                    "reason": f"{why}, above the approval threshold {threshold}",
                    "expires_at": record["expires_at"],
                },
            )

            async def news() -> bool:
                return await approvals.decision(command.ref) is not None or (
                    deps.now() >= record["expires_at"]
                )

            return Pending("awaiting_approval", news)
        decision = await approvals.decide(
            command.ref, "expired", by="expiry", reason="not approved in time", deciding_ref=None
        )
    if decision["decision"] == "approved":
        return None
    await _release_all(command, deps)
    code = "CANCELLED" if decision["decision"] == "cancelled" else "APPROVAL_EXPIRED"
    return Rejected(code, f"{decision['decision']} by {decision['by']}: {decision['reason']}")


async def _approval_lapsed(command: CommandContext[PayoutCreatePayload], deps: Deps) -> bool:
    """Whether the payout was still awaiting approval when it expired (the expiry is the
    decision, unless an approval or a cancel was inserted first)."""
    if deps.approvals is None or await deps.approvals.waiting(command.command_id) is None:
        return False
    decision = await deps.approvals.decide(
        command.ref, "expired", by="expiry", reason="not approved in time", deciding_ref=None
    )
    return bool(decision["decision"] == "expired")


async def _release_all(command: CommandContext[PayoutCreatePayload], deps: Deps) -> None:
    """The payout ends before anything was signed: give back every reservation."""
    await release_items(command, deps, range(len(command.payload.recipients)))
    if deps.controls is not None:
        await deps.controls.release_approval_total(command.ref)


async def _cannot(wallet: str) -> dict[str, int] | None:
    return None


def _call(function: Callable[..., Awaitable[T]], *args: Any) -> Callable[[], Awaitable[T]]:
    return lambda: function(*args)


async def _choose_source(
    command: CommandContext[PayoutCreatePayload],
    deps: Deps,
    kind: Kind,
    token: str | None,
    items: list[Item],
) -> Rejected | tuple[str, list[dict[str, Any]]]:
    """Every check before the first signature, and the wallet that pays, its funds
    reserved: the named source_wallet, or the first hot wallet that can pay every line.
    Two lines with the same reference (so the same `to` and reference too) never get
    here: the payload is refused INVALID_COMMAND naming both lines."""
    assert deps.pool is not None
    payload = command.payload
    candidates = None
    if payload.source_wallet is not None:
        if await deps.wallets.by_address(payload.source_wallet) is None:
            message = f"{payload.source_wallet} is not a wallet this worker manages"
            return Rejected("UNKNOWN_WALLET", message)
        candidates = [payload.source_wallet]
    plans_of: dict[str, list[dict[str, Any]]] = {}
    refusals: list[Refusal] = []

    async def needs_for(wallet: str) -> dict[str, int] | None:
        try:
            await _source_allowed(deps, kind, token, wallet)
            plans = await _plans(deps, kind, wallet, payload, items, token)
            needs = await check_funds(deps, wallet, plans)
        except Refusal as refusal:
            refusals.append(refusal)
            return None
        plans_of[wallet] = plans
        return needs

    source = await deps.pool.choose(command.ref, candidates, needs_for)
    if source is not None:
        if source not in plans_of:  # decided by an earlier run (it crashed, or waited)
            plans_of[source] = await _plans(deps, kind, source, payload, items, token)
        return source, plans_of[source]
    if refusals and all(r.code == "PAUSED" for r in refusals):
        return Rejected("PAUSED", "; ".join(r.message for r in refusals))
    other = next((r for r in refusals if r.code not in ("INSUFFICIENT_BALANCE", "PAUSED")), None)
    if other is not None:
        return Rejected(other.code, other.message)
    if candidates is not None:
        message = (
            refusals[0].message
            if refusals
            else (f"{payload.source_wallet}'s funds are reserved by payouts still in flight")
        )
        return Rejected("INSUFFICIENT_BALANCE", message)
    return Rejected(
        "INSUFFICIENT_FUNDS",
        "no hot wallet holds enough for every line of this payout (funds reserved by "
        "payouts in flight count as spent)",
    )


async def _source_allowed(deps: Deps, kind: Kind, token: str | None, wallet: str) -> None:
    """A candidate source must not be paused nor blacklisted by the token.

    Raises:
        Refusal: PAUSED or DESTINATION_BLACKLISTED.
    """
    assert deps.chain is not None
    found = deps.chain.token(token) if token is not None else None
    asset = found.symbol if found is not None else "TRX"
    if deps.controls is not None:
        reason = await deps.controls.paused(asset=asset, wallet=wallet)
        if reason is not None:
            raise Refusal("PAUSED", reason)
    if found is not None:
        why = await source_refusal(deps, found.address, asset, wallet)
        if why is not None:
            raise Refusal("DESTINATION_BLACKLISTED", why)


async def _plans(
    deps: Deps,
    kind: Kind,
    source: str,
    payload: PayoutCreatePayload,
    items: list[Item],
    token: str | None,
) -> list[dict[str, Any]]:
    lines = payload.recipients
    return await _bounded(
        [
            _call(
                kind.plan,
                deps,
                source,
                lines[i.index].to,
                lines[i.index].amount,
                payload.memo,
                token,
            )
            for i in items
        ]
    )


async def _outcome(
    command: CommandContext[PayoutCreatePayload],
    deps: Deps,
    items: list[Item],
    results: list[ItemResult],
    token: str | None,
) -> Outcome:
    # A line's failure is announced as soon as it is known (an event id per line and
    # attempt, so announcing it again on the next run stores nothing twice).
    for item, result in zip(items, results, strict=True):
        if result.state == "failed":
            await deps.emit(
                "item.failed",
                {
                    "code": result.code,
                    "message": result.message,
                    "retry_safe": result.retry_safe,
                    **({"txid": result.txid, "fee_sun": result.fee_sun} if result.txid else {}),
                    **item.extra,
                },
                item=item.index,
            )
    pending = [result.attempt for result in results if result.state == "pending"]
    if pending:
        journal = deps.journal
        assert journal is not None

        async def news() -> bool:
            return any([await journal.fate(attempt) is not None for attempt in pending if attempt])

        return Pending("broadcast", news)
    attention = [
        (item, r) for item, r in zip(items, results, strict=True) if r.state == "attention"
    ]
    if attention:
        lines = "; ".join(f"line {item.index}: {r.message}" for item, r in attention)
        return NeedsAttention(attention[0][1].code or "UNPROVEN_EFFECT", lines)
    assert deps.pool is not None
    failed = [item.index for item, r in zip(items, results, strict=True) if r.state == "failed"]
    await release_items(command, deps, failed)  # lines that ended without paying
    await deps.pool.release(command.ref)
    await deps.emit("completed", await _summary(command, deps, results, token))
    return Completed()


async def _summary(
    command: CommandContext[PayoutCreatePayload],
    deps: Deps,
    results: list[ItemResult],
    token: str | None,
) -> dict[str, Any]:
    payload = command.payload
    assert deps.pool is not None
    source = await deps.pool.choose(command.ref, [], _cannot)
    lines = []
    for index, (line, result) in enumerate(zip(payload.recipients, results, strict=True)):
        entry: dict[str, Any] = {
            "index": index,
            "reference": line.reference,
            "to": line.to,
            "amount": line.amount,
            "state": result.state,
            "fee_sun": result.fee_sun,
            "retry_safe": result.retry_safe,
        }
        if result.txid:
            entry["txid"] = result.txid
        if result.code:
            entry["code"] = result.code
        lines.append(entry)
    confirmed = [entry for entry in lines if entry["state"] == "confirmed"]
    lent = await energy.summary(command, deps)
    return {
        **({"energy": lent} if lent is not None else {}),
        "asset": token or "TRX",
        "source_wallet": source,
        "confirmed": len(confirmed),
        "failed": len(lines) - len(confirmed),
        "total_amount_confirmed": sum(entry["amount"] for entry in confirmed),
        "total_fee_sun": sum(entry["fee_sun"] for entry in lines),
        "items": lines,
    }


async def has_effects(command: CommandContext[PayoutCreatePayload], deps: Deps) -> bool:
    """A payout has effects once any line has a journaled attempt."""
    assert deps.journal is not None
    indices = [*range(len(command.payload.recipients)), energy.DELEGATE_ITEM]
    for index in indices:
        if await deps.journal.latest_attempt(command.ref, index) is not None:
            return True
    return False


async def release(command: CommandContext[PayoutCreatePayload], deps: Deps) -> None:
    """Failed without a signature: its caps, approval count and pool funds go back."""
    await _release_all(command, deps)
    if deps.pool is not None:
        await deps.pool.release(command.ref)


PAYOUT_CREATE = CommandType(PayoutCreatePayload, handle, has_effects, release)
