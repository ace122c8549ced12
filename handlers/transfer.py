"""transfer.trx and transfer.trc20: one transaction from a managed wallet, exactly once,
to a solidified receipt.

A resumable state machine over the journal: every run (the first delivery, a
redelivery, a takeover after a crash, a wake-up by the chain follower) reads
where the command stands and does the next step only.

    no attempt yet     -> `accepted`; pre-checks; a plan (what to sign) kept with every
                          attempt; build and sign attempt 1 locally; journal; broadcast
    attempt, no fate   -> (re)broadcast the same bytes; wait for the follower
    fate confirmed     -> `confirmed` with the receipt's figures (TRC20: only with the
                          token's matching Transfer log; USDT's return value is no proof)
    fate failed        -> `failed` with the node's reason and the TRX it burned
    fate absent        -> attempt n+1 of the same plan (new reference block, new txid),
                          capped, never after the command's expiry: `failed` retry_safe
    fate unknown       -> needs_attention: absence could not be proven

After journaling, nothing a node says is terminal (DESIGN rule 3): only the
follower's fate is. The two kinds differ only in their pre-checks, how a plan is
signed, and what counts as confirmed (handlers/trc20.py for the token's).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

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
from schemas.documents import attempt_id
from schemas.payloads import TransferTrxPayload
from worker.errors import LeaseLost, TransientError

__all__ = ["ITEM", "TRANSFER_TRX", "Kind", "run_single"]

ITEM = 0  # a single transfer is item 0 of its command


@dataclass(frozen=True)
class Kind:
    """What differs between a TRX and a token transfer."""

    # Refuse before signing, or give the plan every attempt signs.
    plan: Callable[[CommandContext[Any], Deps, dict[str, Any]], Awaitable[Rejected | dict]]
    # Sign a plan for a reference block: (deps, wallet, plan, reference, expiration, timestamp).
    sign: Callable[[Deps, dict[str, Any], dict[str, Any], BlockRef, int, int], SignedTx]
    # Whether a SUCCESS receipt really did what was asked (None: yes): (command, plan, fate).
    doubt: Callable[[CommandContext[Any], dict[str, Any], dict[str, Any]], str | None]


async def run_single(command: CommandContext[Any], deps: Deps, kind: Kind) -> Outcome:
    assert deps.journal is not None and deps.chain is not None, "wired by worker.wiring"
    latest = await deps.journal.latest_attempt(command.ref, ITEM)
    if latest is None and command.expires_at <= deps.now():
        # Never sign after expiry. Sealing attempt 1 first means a stale holder that is
        # about to journal it loses, so `failed` can never stand beside a payment.
        if await deps.journal.void_first(command.ref, ITEM):
            message = "the command expired before anything was signed"
            return Failed("EXPIRED", message, retry_safe=True)
        latest = await deps.journal.latest_attempt(command.ref, ITEM)
    if latest is None:
        await deps.emit("accepted", {})
        wallet = await deps.wallets.by_address(command.payload.wallet)
        if wallet is None:
            message = f"{command.payload.wallet} is not a wallet this worker manages"
            return Rejected("UNKNOWN_WALLET", message)
        plan = await kind.plan(command, deps, wallet)
        if isinstance(plan, Rejected):
            return plan
        latest = await _new_attempt(command, deps, kind, wallet, plan, 1)
    fate = await deps.journal.fate(latest["_id"])
    while fate is not None and fate["fate"] == "absent":
        if latest["attempt"] >= deps.chain.max_attempts:
            message = f"{latest['attempt']} attempts proven absent from the chain"
            return Failed("REBUILDS_EXHAUSTED", message, retry_safe=True)
        if command.expires_at <= deps.now():
            message = "every attempt was proven absent and the command has expired"
            return Failed("EXPIRED", message, retry_safe=True)
        wallet = await deps.wallets.by_address(command.payload.wallet)
        assert wallet is not None, "it signed attempt 1"
        plan = latest["plan"]
        latest = await _new_attempt(command, deps, kind, wallet, plan, latest["attempt"] + 1)
        deps.count_rebuild()
        fate = await deps.journal.fate(latest["_id"])
    if fate is None:
        # A crash may have come between journaling and tracking: track again (idempotent),
        # or the follower would never decide this attempt.
        await deps.journal.track(latest, deps.command_key)
        await _broadcast(deps, latest)
        journal, attempt = deps.journal, latest["_id"]

        async def news() -> bool:
            return await journal.fate(attempt) is not None

        return Pending("broadcast", news)
    return await _settle(command, deps, kind, latest, fate)


async def _new_attempt(
    command: CommandContext[Any],
    deps: Deps,
    kind: Kind,
    wallet: dict[str, Any],
    plan: dict[str, Any],
    number: int,
) -> dict[str, Any]:
    """Build, sign and journal attempt `number` of the plan; broadcasting comes after."""
    assert deps.node is not None and deps.journal is not None and deps.chain is not None
    reference = await deps.node.solid_head()
    head = await deps.node.head()
    expiration_ms = head.timestamp_ms + int(deps.chain.expiration_s * 1000)
    timestamp_ms = int(deps.now().timestamp() * 1000)
    attempt = attempt_id(command.ref, ITEM, number)
    while True:
        signed = kind.sign(deps, wallet, plan, reference, expiration_ms, timestamp_ms)
        await deps.fence()
        if await deps.journal.claim_txid(signed.txid, attempt):
            break
        timestamp_ms += 1  # identical bytes were built for another attempt: differ by 1 ms
    doc = {
        "_id": attempt,
        "ref": command.ref,
        "item": ITEM,
        "attempt": number,
        "txid": signed.txid,
        "raw_hex": signed.raw_hex,
        "signed_hex": signed.signed_hex,
        "signature_hex": signed.signature_hex,
        "expiration_ms": expiration_ms,
        "timestamp_ms": timestamp_ms,
        "ref_block_number": reference.number,
        "head_number": head.number,
        "owner": command.payload.wallet,
        "plan": plan,
        "created_at": deps.now(),
    }
    stored = await deps.journal.record(doc)  # tracked by the caller, before any broadcast
    if stored.get("void"):
        raise LeaseLost(f"attempt {attempt} was sealed: the command expired and was failed")
    return stored


async def _broadcast(deps: Deps, attempt: dict[str, Any]) -> None:
    """Send the journaled bytes; a refusal or an outage leaves the fate to the follower."""
    assert deps.node is not None and deps.chain is not None and deps.sleep is not None
    for tries in range(1, deps.chain.broadcast_tries + 1):
        try:
            reply = await deps.node.broadcast_hex(attempt["signed_hex"])
        except TransientError:
            if tries < deps.chain.broadcast_tries:
                await deps.sleep(deps.chain.broadcast_backoff_s * tries)
            continue
        if reply.txid is not None and reply.txid != attempt["txid"]:
            raise TransientError(
                f"{reply.endpoint} answered for txid {reply.txid}, not {attempt['txid']}"
            )
        if reply.accepted:
            payload = {"txid": attempt["txid"], "attempt": attempt["attempt"]}
            await deps.emit("broadcast", payload, attempt=attempt["attempt"])
        return  # refused: not terminal (rule 3); the follower proves absence after expiry


async def _settle(
    command: CommandContext[Any],
    deps: Deps,
    kind: Kind,
    attempt: dict[str, Any],
    fate: dict[str, Any],
) -> Outcome:
    txid, number = attempt["txid"], attempt["attempt"]
    if fate["fate"] == "confirmed":
        doubt = kind.doubt(command, attempt["plan"], fate)
        if doubt is not None:
            return NeedsAttention("UNPROVEN_EFFECT", f"attempt {number} ({txid}): {doubt}")
        bandwidth = fate["net_usage"] or len(attempt["signed_hex"]) // 2 + 64
        await deps.emit(
            "confirmed",
            {
                "txid": txid,
                "block_number": fate["block_number"],
                "block_time": _iso(fate["block_time_ms"]),
                "fee_sun": fate["fee_sun"],
                "energy_used": fate["energy_used"],
                "bandwidth_used": bandwidth,
            },
            attempt=number,
        )
        return Completed()
    if fate["fate"] == "failed":
        reason = fate.get("result_message") or fate["contract_ret"]
        message = f"the chain refused attempt {number}: {reason}; it burned {fate['fee_sun']} sun"
        details = {"txid": txid, "fee_sun": fate["fee_sun"]}
        return Failed(fate["contract_ret"], message, retry_safe=False, details=details)
    message = (
        f"attempt {number} ({txid}) expired but its absence cannot be proven "
        "(the follower's coverage began after its reference block)"
    )
    return NeedsAttention("FATE_UNKNOWN", message)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")


# --- transfer.trx ---------------------------------------------------------------------


async def _trx_plan(
    command: CommandContext[TransferTrxPayload], deps: Deps, wallet: dict[str, Any]
) -> Rejected | dict[str, Any]:
    """Refuse what plainly cannot succeed: less TRX than the amount (plus activation)."""
    assert deps.node is not None
    payload = command.payload
    account = await deps.node.account(payload.wallet)
    balance_sun = int((account or {}).get("balance", 0))
    needed_sun = payload.amount_sun
    parameters = await deps.node.chain_parameters()
    if await deps.node.account(payload.to) is None:
        needed_sun += parameters.get("getCreateNewAccountFeeInSystemContract", 0)
    if payload.memo:
        needed_sun += parameters.get("getMemoFee", 0)
    if balance_sun < needed_sun:
        return Rejected(
            "INSUFFICIENT_BALANCE",
            f"{payload.wallet} holds {balance_sun} sun; this transfer needs at least "
            f"{needed_sun} sun (amount, plus the fees to activate a new account and for a "
            "memo where they apply)",
        )
    return {"to": payload.to, "amount_sun": payload.amount_sun, "memo": payload.memo or ""}


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


TRX = Kind(_trx_plan, _trx_sign, lambda command, plan, fate: None)


async def handle(command: CommandContext[TransferTrxPayload], deps: Deps) -> Outcome:
    return await run_single(command, deps, TRX)


async def has_effects(command: CommandContext[Any], deps: Deps) -> bool:
    """A transfer has effects from its first journaled attempt."""
    assert deps.journal is not None
    return await deps.journal.latest_attempt(command.ref, ITEM) is not None


TRANSFER_TRX = CommandType(TransferTrxPayload, handle, has_effects)
