"""One money item on the transaction path: plan, sign, journal, broadcast, and act on
the chain follower's fate. Shared by transfer.trx, transfer.trc20 and payout.create.

An item is one transaction's worth of intent (item 0 of a transfer, recipient i of
a payout). `advance` reads where the item stands in the journal and does the next
step only, so any run (first delivery, redelivery, takeover, wake-up) is safe:

    no attempt          -> sign and journal attempt 1 of its plan (after the caller's
                           pre-checks), then as below
    attempt, no fate    -> track it, (re)broadcast the same bytes: pending
    fate confirmed      -> its `confirmed` event (TRC20: only with the token's log)
    fate failed         -> failed, with the node's reason and the TRX it burned
    fate absent         -> attempt n+1 of the same plan, capped, never after expiry
    fate unknown        -> needs attention: absence could not be proven

After journaling nothing a node says is terminal (DESIGN rule 3): only the fate is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from handlers.controls import paused_now
from handlers.ports import BlockRef, CommandContext, Deps, SignedTx
from schemas.documents import attempt_id
from worker import abi
from worker.errors import LeaseLost, TransientError

log = structlog.get_logger()

__all__ = [
    "Item",
    "ItemResult",
    "Kind",
    "Refusal",
    "advance",
    "balance_of",
    "check_funds",
    "journal_first",
    "needs_of",
    "seal_all",
]


class Refusal(Exception):
    """A pre-check says no before anything is signed: `rejected` with code and figures."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Kind:
    """What differs between a TRX and a token transaction."""

    # The plan every attempt of an item signs, with what it needs: (deps, owner, to,
    # amount, memo, token). Raises Refusal.
    plan: Callable[..., Awaitable[dict[str, Any]]]
    # Sign a plan: (deps, wallet, plan, reference, expiration_ms, timestamp_ms).
    sign: Callable[[Deps, dict[str, Any], dict[str, Any], BlockRef, int, int], SignedTx]
    # Whether a SUCCESS receipt did what the plan asked (None: yes), as a reason.
    doubt: Callable[[dict[str, Any], dict[str, Any]], str | None]
    # What the confirmed event reports besides the receipt, read from the chain after
    # confirmation: (deps, plan, fate) -> figures (stake.*), or None.
    figures: Callable[..., Awaitable[dict[str, Any] | None]] | None = None


@dataclass(frozen=True)
class Item:
    """One transaction of a command, and how its events are named."""

    index: int
    state_prefix: str = ""  # "" for a transfer; "item." for a payout line
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. the payout line's reference
    quiet: bool = False  # no events of its own (a payout's energy delegation)


@dataclass(frozen=True)
class ItemResult:
    """pending, confirmed, failed or attention; with what the summary reports."""

    state: str
    txid: str | None = None
    fee_sun: int = 0
    code: str | None = None
    message: str | None = None
    retry_safe: bool = False
    attempt: str | None = None  # the attempt whose fate is awaited (pending)


async def seal_all(command: CommandContext[Any], deps: Deps, items: int) -> bool:
    """Never sign after expiry: seal attempt 1 of every item (a stale holder's journal
    insert then loses). True when none had been journaled."""
    assert deps.journal is not None
    sealed = [await deps.journal.void_first(command.ref, item) for item in range(items)]
    return all(sealed)


async def journal_first(
    command: CommandContext[Any],
    deps: Deps,
    kind: Kind,
    wallet: dict[str, Any],
    item: Item,
    plan: dict[str, Any],
) -> dict[str, Any]:
    """Attempt 1 of an item whose batch passed its pre-checks."""
    return await _new_attempt(command, deps, kind, wallet, item, plan, 1)


async def advance(
    command: CommandContext[Any],
    deps: Deps,
    kind: Kind,
    item: Item,
    wallet_address: str,
    latest: dict[str, Any] | None = None,
) -> ItemResult:
    """The item's next step from its journaled attempts (attempt 1 must exist). `latest`:
    the newest attempt as this run just read or journaled it, to save reading it again
    (an older one than the journal holds is safe: a rebuild's insert finds the newer)."""
    assert deps.journal is not None and deps.chain is not None
    if latest is None:
        latest = await deps.journal.latest_attempt(command.ref, item.index)
    assert latest is not None, "journal_first comes before advance"
    fate = await deps.journal.fate(latest["_id"])
    while fate is not None and fate["fate"] == "absent":
        if latest["attempt"] >= deps.chain.max_attempts:
            message = f"{latest['attempt']} attempts proven absent from the chain"
            return ItemResult("failed", code="REBUILDS_EXHAUSTED", message=message, retry_safe=True)
        if command.expires_at <= deps.now():
            message = "every attempt was proven absent and the command has expired"
            return ItemResult("failed", code="EXPIRED", message=message, retry_safe=True)
        wallet = await deps.wallets.by_address(wallet_address)
        assert wallet is not None, "it signed attempt 1"
        number = latest["attempt"] + 1
        try:
            latest = await _new_attempt(command, deps, kind, wallet, item, latest["plan"], number)
        except Refusal as refusal:  # paused: nothing more is signed until an operator looks
            message = f"attempt {number - 1} was proven absent; not rebuilt: {refusal.message}"
            return ItemResult("attention", code=refusal.code, message=message)
        deps.count_rebuild()
        fate = await deps.journal.fate(latest["_id"])
    if fate is None:
        # A crash may have come between journaling and tracking: track again (idempotent),
        # or the follower would never decide this attempt.
        await deps.journal.track(latest, deps.command_key)
        waited_s = (deps.now() - latest["created_at"]).total_seconds()
        if waited_s > deps.chain.attention_after_s:
            # Not terminal: when the follower decides after all, it wakes the command.
            message = (
                f"attempt {latest['attempt']} ({latest['txid']}) has waited {waited_s:.0f} s "
                "for the chain follower to decide its fate (is the follower running, "
                "is a node answering?)"
            )
            return ItemResult(
                "attention", txid=latest["txid"], code="FATE_UNDECIDED", message=message
            )
        await _broadcast(deps, item, latest)
        return ItemResult("pending", txid=latest["txid"], attempt=latest["_id"])
    return await _settle(deps, kind, item, latest, fate)


async def _new_attempt(
    command: CommandContext[Any],
    deps: Deps,
    kind: Kind,
    wallet: dict[str, Any],
    item: Item,
    plan: dict[str, Any],
    number: int,
) -> dict[str, Any]:
    """Build, sign and journal attempt `number` of the plan; broadcasting comes after.

    Raises:
        Refusal: PAUSED, checked immediately before the signature.
    """
    assert deps.node is not None and deps.journal is not None and deps.chain is not None
    paused = await paused_now(deps, plan, wallet["address"])
    if paused is not None:
        raise Refusal("PAUSED", paused)
    reference = await deps.node.solid_head()
    head = await deps.node.head()
    expiration_ms = head.timestamp_ms + int(deps.chain.expiration_s * 1000)
    timestamp_ms = int(deps.now().timestamp() * 1000)
    attempt = attempt_id(command.ref, item.index, number)
    while True:
        signed = kind.sign(deps, wallet, plan, reference, expiration_ms, timestamp_ms)
        await deps.fence()
        if await deps.journal.claim_txid(signed.txid, attempt):
            break
        timestamp_ms += 1  # identical bytes were built for another attempt: differ by 1 ms
    doc = {
        "_id": attempt,
        "ref": command.ref,
        "item": item.index,
        "attempt": number,
        "txid": signed.txid,
        "raw_hex": signed.raw_hex,
        "signed_hex": signed.signed_hex,
        "signature_hex": signed.signature_hex,
        "expiration_ms": expiration_ms,
        "timestamp_ms": timestamp_ms,
        "ref_block_number": reference.number,
        "head_number": head.number,
        "owner": wallet["address"],
        "plan": plan,
        "created_at": deps.now(),
    }
    stored = await deps.journal.record(doc)  # tracked before any broadcast
    if stored.get("void"):
        raise LeaseLost(f"attempt {attempt} was sealed: the command expired and was failed")
    return stored


async def _broadcast(deps: Deps, item: Item, attempt: dict[str, Any]) -> None:
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
            if item.quiet:
                return
            payload = {"txid": attempt["txid"], "attempt": attempt["attempt"], **item.extra}
            await deps.emit(
                f"{item.state_prefix}broadcast",
                payload,
                attempt=attempt["attempt"],
                item=item.index,
            )
        else:
            log.warning(
                "broadcast refused; the follower decides its fate",
                txid=attempt["txid"],
                code=reply.code,
                reason=reply.message[:300],
                endpoint=reply.endpoint,
            )
        return  # refused: not terminal (rule 3); the follower proves absence after expiry


async def _settle(
    deps: Deps, kind: Kind, item: Item, attempt: dict[str, Any], fate: dict[str, Any]
) -> ItemResult:
    txid, number = attempt["txid"], attempt["attempt"]
    if fate["fate"] == "confirmed":
        doubt = kind.doubt(attempt["plan"], fate)
        if doubt is not None:
            message = f"attempt {number} ({txid}): {doubt}"
            return ItemResult("attention", txid=txid, code="UNPROVEN_EFFECT", message=message)
        bandwidth = fate["net_usage"] or len(attempt["signed_hex"]) // 2 + 64
        figures = await kind.figures(deps, attempt["plan"], fate) if kind.figures else None
        if item.quiet:
            return ItemResult("confirmed", txid=txid, fee_sun=fate["fee_sun"])
        await deps.emit(
            f"{item.state_prefix}confirmed",
            {
                "txid": txid,
                "block_number": fate["block_number"],
                "block_time": _iso(fate["block_time_ms"]),
                "fee_sun": fate["fee_sun"],
                "energy_used": fate["energy_used"],
                "bandwidth_used": bandwidth,
                **({"stake": figures} if figures is not None else {}),
                **item.extra,
            },
            attempt=number,
            item=item.index,
        )
        return ItemResult("confirmed", txid=txid, fee_sun=fate["fee_sun"])
    if fate["fate"] == "failed":
        reason = fate.get("result_message") or fate["contract_ret"]
        message = f"the chain refused attempt {number}: {reason}; it burned {fate['fee_sun']} sun"
        return ItemResult(
            "failed", txid=txid, fee_sun=fate["fee_sun"], code=fate["contract_ret"], message=message
        )
    message = (
        f"attempt {number} ({txid}) expired but its absence cannot be proven "
        "(the follower's coverage began after its reference block)"
    )
    return ItemResult("attention", txid=txid, code="FATE_UNKNOWN", message=message)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")


async def needs_of(deps: Deps, owner: str, plans: list[dict[str, Any]]) -> dict[str, int]:
    """What a batch takes from `owner`, per asset: "TRX" in sun (amounts, activation and
    memo fees, and the TRX to burn for energy the wallet lacks; available energy never
    lowers a fee limit, only this), and each token's contract in base units."""
    assert deps.node is not None
    needs: dict[str, int] = {"TRX": sum(plan.get("trx_sun", 0) for plan in plans)}
    for plan in plans:
        if plan.get("token"):
            needs[plan["token"]] = needs.get(plan["token"], 0) + plan["token_units"]
    energy = sum(plan.get("energy", 0) for plan in plans)
    if energy:
        parameters = await deps.node.chain_parameters()
        missing = max(0, energy - await deps.node.energy_available(owner))
        needs["TRX"] += missing * parameters.get("getEnergyFee", 100)
    return needs


async def balance_of(deps: Deps, owner: str, asset: str) -> int:
    """The wallet's balance of an asset as the node sees it: sun, or token base units."""
    assert deps.node is not None
    if asset == "TRX":
        account = await deps.node.account(owner)
        return int((account or {}).get("balance", 0))
    call = abi.balance_of(owner)
    return abi.decode_uint(await deps.node.constant_call(owner, asset, call))


async def check_funds(deps: Deps, owner: str, plans: list[dict[str, Any]]) -> dict[str, int]:
    """The whole batch against the wallet, before the first signature; its needs.

    Raises:
        Refusal: INSUFFICIENT_BALANCE, naming what is missing (the token, or TRX).
    """
    needs = await needs_of(deps, owner, plans)
    symbol = next((plan["symbol"] for plan in plans if plan.get("token")), None)
    for asset in sorted(needs, key=lambda name: name == "TRX"):  # the token first
        held = await balance_of(deps, owner, asset)
        if held >= needs[asset]:
            continue
        if asset != "TRX":
            message = f"{owner} holds {held} of {symbol} (base units); this needs {needs[asset]}"
        else:
            what = "TRX for fees" if symbol is not None else "TRX (amounts plus fees)"
            message = f"{owner} holds {held} sun of {what}; this needs about {needs[asset]} sun"
        raise Refusal("INSUFFICIENT_BALANCE", message)
    return needs
