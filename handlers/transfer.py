"""transfer.trx: send TRX from a managed wallet, exactly once, to a solidified receipt.

A resumable state machine over the journal: every run (the first delivery, a
redelivery, a takeover after a crash, a wake-up by the chain follower) reads
where the command stands and does the next step only.

    no attempt yet     -> `accepted`; pre-checks (managed wallet, balance); build and
                          sign attempt 1 locally; journal it; broadcast; `broadcast`
    attempt, no fate   -> (re)broadcast the same bytes; wait for the follower
    fate confirmed     -> `confirmed` with the receipt's figures
    fate failed        -> `failed` with the node's reason (the TRX for fees is spent)
    fate absent        -> attempt n+1 (new reference block, new txid), capped, never
                          after the command's expiry: then `failed` retry_safe
    fate unknown       -> needs_attention: absence could not be proven

After journaling, nothing a node says is terminal (DESIGN rule 3): only the
follower's fate is.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

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
    SignedTx,
)
from schemas.documents import attempt_id
from schemas.payloads import TransferTrxPayload
from worker.errors import LeaseLost, TransientError

__all__ = ["TRANSFER_TRX", "handle", "has_effects"]

ITEM = 0  # a single transfer is item 0 of its command


async def handle(command: CommandContext[TransferTrxPayload], deps: Deps) -> Outcome:
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
        refusal = await _precheck(command, deps, wallet)
        if refusal is not None:
            return refusal
        assert wallet is not None
        latest = await _new_attempt(command, deps, wallet, 1)
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
        latest = await _new_attempt(command, deps, wallet, latest["attempt"] + 1)
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
    return await _settle(deps, latest, fate)


async def _precheck(
    command: CommandContext[TransferTrxPayload], deps: Deps, wallet: dict[str, Any] | None
) -> Rejected | None:
    """Refuse before signing what plainly cannot succeed."""
    assert deps.node is not None
    payload = command.payload
    if wallet is None:
        return Rejected("UNKNOWN_WALLET", f"{payload.wallet} is not a wallet this worker manages")
    account = await deps.node.account(payload.wallet)
    balance_sun = int((account or {}).get("balance", 0))
    needed_sun = payload.amount_sun
    if await deps.node.account(payload.to) is None:
        parameters = await deps.node.chain_parameters()
        needed_sun += parameters.get("getCreateNewAccountFeeInSystemContract", 0)
    if balance_sun < needed_sun:
        return Rejected(
            "INSUFFICIENT_BALANCE",
            f"{payload.wallet} holds {balance_sun} sun; this transfer needs at least "
            f"{needed_sun} sun (amount plus the fee to activate a new account)",
        )
    return None


async def _new_attempt(
    command: CommandContext[TransferTrxPayload],
    deps: Deps,
    wallet: dict[str, Any],
    number: int,
) -> dict[str, Any]:
    """Build, sign and journal attempt `number`; broadcasting comes after, elsewhere."""
    assert deps.node is not None and deps.signer is not None and deps.journal is not None
    assert deps.chain is not None
    reference = await deps.node.solid_head()
    head = await deps.node.head()
    expiration_ms = head.timestamp_ms + int(deps.chain.expiration_s * 1000)
    timestamp_ms = int(deps.now().timestamp() * 1000)
    attempt = attempt_id(command.ref, ITEM, number)
    payload = command.payload
    while True:
        signed = deps.signer.transfer(
            wallet,
            to=payload.to,
            amount_sun=payload.amount_sun,
            memo=(payload.memo or "").encode(),
            reference=reference,
            expiration_ms=expiration_ms,
            timestamp_ms=timestamp_ms,
        )
        await deps.fence()
        if await deps.journal.claim_txid(signed.txid, attempt):
            break
        timestamp_ms += 1  # identical bytes were built for another attempt: differ by 1 ms
    doc = _attempt_doc(command, attempt, number, signed, reference.number, head.number)
    doc.update(expiration_ms=expiration_ms, timestamp_ms=timestamp_ms, created_at=deps.now())
    stored = await deps.journal.record(doc)  # tracked by the caller, before any broadcast
    if stored.get("void"):
        raise LeaseLost(f"attempt {attempt} was sealed: the command expired and was failed")
    return stored


def _attempt_doc(
    command: CommandContext[TransferTrxPayload],
    attempt: str,
    number: int,
    signed: SignedTx,
    ref_block_number: int,
    head_number: int,
) -> dict[str, Any]:
    return {
        "_id": attempt,
        "ref": command.ref,
        "item": ITEM,
        "attempt": number,
        "txid": signed.txid,
        "raw_hex": signed.raw_hex,
        "signed_hex": signed.signed_hex,
        "signature_hex": signed.signature_hex,
        "ref_block_number": ref_block_number,
        "head_number": head_number,
        "owner": command.payload.wallet,
    }


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


async def _settle(deps: Deps, attempt: dict[str, Any], fate: dict[str, Any]) -> Outcome:
    txid = attempt["txid"]
    if fate["fate"] == "confirmed":
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
            attempt=attempt["attempt"],
        )
        return Completed()
    if fate["fate"] == "failed":
        reason = fate.get("result_message") or fate["contract_ret"]
        message = f"the chain refused attempt {attempt['attempt']}: {reason}"
        return Failed(fate["contract_ret"], message, retry_safe=False, details={"txid": txid})
    message = (
        f"attempt {attempt['attempt']} ({txid}) expired but its absence cannot be proven "
        "(the follower's coverage began after its reference block)"
    )
    return NeedsAttention("FATE_UNKNOWN", message)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")


async def has_effects(command: CommandContext[TransferTrxPayload], deps: Deps) -> bool:
    """A transfer has effects from its first journaled attempt."""
    assert deps.journal is not None
    return await deps.journal.latest_attempt(command.ref, ITEM) is not None


TRANSFER_TRX = CommandType(TransferTrxPayload, handle, has_effects)
