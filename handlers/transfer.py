"""transfer.trx (and, with handlers/trc20.py's kind, transfer.trc20): one transaction from
a managed wallet, exactly once, to a solidified receipt.

The command is item 0 on the transaction path (handlers/chain_items.py): `accepted`,
pre-checks, attempt 1 journaled and broadcast (the delivery is acked there), then
whatever the chain follower decides: `confirmed`, `failed`, a rebuild after proven
absence, or needs_attention.
"""

from __future__ import annotations

from typing import Any

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
from handlers.controls import Line, admit, release_items
from handlers.ports import (
    BlockRef,
    CommandContext,
    CommandType,
    Completed,
    Deps,
    Failed,
    NeedsAttention,
    Outcome,
    Pending,
    Rejected,
    SignedTx,
)
from schemas.payloads import TransferTrxPayload

__all__ = ["TRANSFER_TRX", "TRX", "has_effects", "outcome_of", "release", "run_transfer"]

ITEM = Item(0)


async def run_transfer(
    command: CommandContext[Any], deps: Deps, kind: Kind, token: str | None = None
) -> Outcome:
    """A single transfer: `token` is None for TRX, else what the command named."""
    assert deps.journal is not None, "wired by worker.wiring"
    payload = command.payload
    latest = await deps.journal.latest_attempt(command.ref, 0)
    if latest is None and command.expires_at <= deps.now():
        if await seal_all(command, deps, 1):
            return Failed("EXPIRED", "the command expired before anything was signed", True)
        latest = await deps.journal.latest_attempt(command.ref, 0)
    if latest is None:
        await deps.emit("accepted", {})
        wallet = await deps.wallets.by_address(payload.wallet)
        if wallet is None:
            message = f"{payload.wallet} is not a wallet this worker manages"
            return Rejected("UNKNOWN_WALLET", message)
        try:
            amount = payload.amount_sun if token is None else payload.amount
            plan = await kind.plan(deps, payload.wallet, payload.to, amount, payload.memo, token)
            await check_funds(deps, payload.wallet, [plan])
        except Refusal as refusal:
            return Rejected(refusal.code, refusal.message)
        refused = await admit(
            command,
            deps,
            asset=plan.get("symbol") or "TRX",
            token=plan.get("token"),
            source=payload.wallet,
            lines=[Line(0, payload.to, amount)],
        )
        if refused is not None:
            await release_items(command, deps, [0])  # what an earlier run of it reserved
            return refused
        try:
            latest = await journal_first(command, deps, kind, wallet, ITEM, plan)
        except Refusal as refusal:  # paused between the checks and the signature
            await release_items(command, deps, [0])
            return Rejected(refusal.code, refusal.message)
    result = await advance(command, deps, kind, ITEM, payload.wallet, latest)
    if result.state == "failed":  # ended without paying: its caps are free again
        await release_items(command, deps, [0])
    return outcome_of(deps, result)


def outcome_of(deps: Deps, result: ItemResult) -> Outcome:
    """A single item's result as its command's outcome."""
    if result.state == "pending":
        journal, attempt = deps.journal, result.attempt
        assert journal is not None and attempt is not None

        async def news() -> bool:
            return await journal.fate(attempt) is not None

        return Pending("broadcast", news)
    if result.state == "confirmed":
        return Completed()
    assert result.code is not None and result.message is not None
    if result.state == "failed":
        details = {"txid": result.txid, "fee_sun": result.fee_sun} if result.txid else None
        return Failed(result.code, result.message, result.retry_safe, details=details)
    return NeedsAttention(result.code, result.message)


# --- the TRX kind -------------------------------------------------------------------------


async def _trx_plan(
    deps: Deps, owner: str, to: str, amount_sun: int, memo: str | None, token: str | None
) -> dict[str, Any]:
    """What a TRX payment signs, and the TRX it needs: amount, activation, memo fee."""
    assert deps.node is not None
    parameters = await deps.node.chain_parameters()
    needed_sun = amount_sun
    if await deps.node.account(to) is None:
        needed_sun += parameters.get("getCreateNewAccountFeeInSystemContract", 0)
    if memo:
        needed_sun += parameters.get("getMemoFee", 0)
    return {"owner": owner, "to": to, "amount_sun": amount_sun, "memo": memo or "",
            "trx_sun": needed_sun}  # fmt: skip


def _trx_sign(
    deps: Deps,
    wallet: dict[str, Any],
    plan: dict[str, Any],
    reference: BlockRef,
    expiration_ms: int,
    timestamp_ms: int,
) -> SignedTx:
    assert deps.signer is not None
    return deps.signer.transfer(
        wallet,
        to=plan["to"],
        amount_sun=plan["amount_sun"],
        memo=plan["memo"].encode(),
        reference=reference,
        expiration_ms=expiration_ms,
        timestamp_ms=timestamp_ms,
    )


TRX = Kind(_trx_plan, _trx_sign, lambda plan, fate: None)


async def handle(command: CommandContext[TransferTrxPayload], deps: Deps) -> Outcome:
    return await run_transfer(command, deps, TRX)


async def has_effects(command: CommandContext[Any], deps: Deps) -> bool:
    """A transfer has effects from its first journaled attempt."""
    assert deps.journal is not None
    return await deps.journal.latest_attempt(command.ref, 0) is not None


async def release(command: CommandContext[Any], deps: Deps) -> None:
    """Failed without a signature: its daily caps go back."""
    await release_items(command, deps, [0])


TRANSFER_TRX = CommandType(TransferTrxPayload, handle, has_effects, release)
