"""payout.create: pay up to 100 recipients in TRX or an allow-listed token, one
transaction per line, each line exactly once.

Line i is item i on the transaction path (handlers/chain_items.py): its own journal
entries `c:<i>:<attempt>`, its own `payout.item.broadcast` / `item.confirmed` /
`item.failed` events carrying the line's `reference`. The whole batch is checked
before the first signature (a line that cannot be paid rejects the payout); lines
are signed and broadcast concurrently, bounded; the payout ends with one
`payout.completed` listing each line's fate once every line is terminal. Once any
line is journaled the payout has effects and is never failed by exhaustion.

This step pays from the named `source_wallet`; the hot-wallet pool (with
reservations as insert chains) comes next, so a payout without one is rejected
SOURCE_WALLET_REQUIRED for now.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

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
            return Failed("EXPIRED", "the payout expired before anything was signed", True)
        journaled = [await deps.journal.latest_attempt(command.ref, i.index) for i in items]
    kind, token = (TRX, None) if payload.asset == "TRX" else (TOKEN, payload.asset)
    source = payload.source_wallet
    missing = [item for item, attempt in zip(items, journaled, strict=True) if attempt is None]
    if not any(journaled):
        await deps.emit("accepted", {})
        checked = await _precheck(command, deps, kind, token, items)
        if isinstance(checked, Rejected):
            return checked
        plans = checked
    else:  # a redo after a crash mid-batch: the batch was checked before its first line
        assert source is not None
        plans = await _plans(deps, kind, source, payload, missing, token)
    assert source is not None
    wallet = await deps.wallets.by_address(source)
    assert wallet is not None, "checked before the first line was journaled"
    await _bounded(
        [
            _call(journal_first, command, deps, kind, wallet, item, plan)
            for item, plan in zip(missing, plans, strict=True)
        ]
    )
    results = await _bounded([_call(advance, command, deps, kind, item, source) for item in items])
    return await _outcome(command, deps, items, results, token)


def _call(function: Callable[..., Awaitable[T]], *args: Any) -> Callable[[], Awaitable[T]]:
    return lambda: function(*args)


async def _precheck(
    command: CommandContext[PayoutCreatePayload],
    deps: Deps,
    kind: Kind,
    token: str | None,
    items: list[Item],
) -> Rejected | list[dict[str, Any]]:
    """Every check before the first signature: the plans of all lines, or the refusal."""
    payload = command.payload
    if payload.source_wallet is None:
        return Rejected(
            "SOURCE_WALLET_REQUIRED",
            "name source_wallet: paying from the hot-wallet pool is not available yet",
        )
    # Two lines with the same reference (so the same `to` and reference too) never get
    # here: the payload is refused INVALID_COMMAND naming both lines.
    if await deps.wallets.by_address(payload.source_wallet) is None:
        message = f"{payload.source_wallet} is not a wallet this worker manages"
        return Rejected("UNKNOWN_WALLET", message)
    try:
        plans = await _plans(deps, kind, payload.source_wallet, payload, items, token)
        await check_funds(deps, payload.source_wallet, plans)
    except Refusal as refusal:
        return Rejected(refusal.code, refusal.message)
    return plans


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
    await deps.emit("completed", _summary(command, results, token))
    return Completed()


def _summary(
    command: CommandContext[PayoutCreatePayload], results: list[ItemResult], token: str | None
) -> dict[str, Any]:
    payload = command.payload
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
    return {
        "asset": token or "TRX",
        "source_wallet": payload.source_wallet,
        "confirmed": len(confirmed),
        "failed": len(lines) - len(confirmed),
        "total_amount_confirmed": sum(entry["amount"] for entry in confirmed),
        "total_fee_sun": sum(entry["fee_sun"] for entry in lines),
        "items": lines,
    }


async def has_effects(command: CommandContext[PayoutCreatePayload], deps: Deps) -> bool:
    """A payout has effects once any line has a journaled attempt."""
    assert deps.journal is not None
    for index in range(len(command.payload.recipients)):
        if await deps.journal.latest_attempt(command.ref, index) is not None:
            return True
    return False


PAYOUT_CREATE = CommandType(PayoutCreatePayload, handle, has_effects)
