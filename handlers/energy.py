"""Energy for token payouts under `staking.energy_policy = "delegate"` (issue 11).

A USDT line burns ~6.5 to ~13 TRX of energy when its source has none. Under
`delegate` the staking wallet keeps a standing delegation to each hot wallet
(worker/standing.py), topped up before a batch's first line is signed:

    the worker is taking the source's delegation back     -> wait for that (below)
    energy needed (the lines' estimates) <= the source's available energy  -> go on
    else decide top-up n+1 of the source (an insert):
        ours   -> the staking wallet delegates the shortfall (plus topup_extra_energy),
                  unlocked, as item 100 of this payout (journaled, broadcast, confirmed
                  by the follower like any transaction); the lines wait (`Pending`,
                  lease given back) and the follower's wake-up resumes the payout,
                  whose run that finds the delegation confirmed signs the lines
        theirs -> another payout (or the worker's idle return) decided first: wait
                  (`Pending` "awaiting_energy"); worker/standing.py wakes this payout
                  when that decision settles, and it reads the energy again

The delegation stays when the payout ends: the next batches spend it, and the worker
takes it back once the wallet has been idle for `return_after_idle_s`. Item 100 is
keyed by the claim like the lines, so a redo after a crash finds it and never
delegates twice. Amounts are staked sun (at least 1 TRX), converted from energy with
the chain's current energy per staked TRX (TotalEnergyLimit / TotalEnergyWeight),
with a 20% margin for the ratio moving meanwhile.

When the staking wallet cannot delegate enough, or the delegation fails on chain,
`staking.burn_fallback` decides: burn TRX as under `off`, or end the payout
(`rejected NO_ENERGY` before anything is signed; `failed NO_ENERGY` after a failed
delegation, which moved nothing).
"""

from __future__ import annotations

import math
from typing import Any

import structlog

from handlers.chain_items import Item, Refusal, advance, journal_first
from handlers.ports import (
    CommandContext,
    Deps,
    Failed,
    NeedsAttention,
    Outcome,
    Pending,
    Rejected,
)
from handlers.stake import STAKE, TRX_SUN, contract_plan
from handlers.transfer import outcome_of

__all__ = ["DELEGATE_ITEM", "lend", "summary"]

log = structlog.get_logger()

DELEGATE_ITEM = 100  # payout lines are 0..99
_DELEGATION = Item(DELEGATE_ITEM, quiet=True)
MARGIN = 1.2


async def lend(
    command: CommandContext[Any], deps: Deps, source: str, plans: list[dict[str, Any]]
) -> Outcome | None:
    """Before the lines are signed: None to go on; Pending while a top-up lands;
    Rejected / Failed NO_ENERGY when it cannot and burning is not allowed."""
    rules, journal, node, desk = deps.chain, deps.journal, deps.node, deps.energy
    assert rules is not None and journal is not None and node is not None
    if rules.energy_policy != "delegate":
        return None
    assert desk is not None, "wired with the delegate policy"
    if await journal.latest_attempt(command.ref, DELEGATE_ITEM) is None:
        await desk.used(source)
        head = await desk.head(source)
        if head is not None and head["kind"] == "return" and not await desk.settled(head):
            return await _wait(deps, head)  # the energy there now is on its way back
        need = sum(int(plan.get("energy", 0)) for plan in plans)
        have = await node.energy_available(source)
        if need <= have:
            return None
        if head is None or head["key"] != deps.command_key:  # not a redo of our decision
            if head is not None and not await desk.settled(head):
                return await _wait(deps, head)
            refused = await _topup(command, deps, source, need - have, head, decide=True)
        else:
            refused = await _topup(command, deps, source, need - have, head, decide=False)
        if refused is not None:
            return None if isinstance(refused, _Burn) else refused
    result = await advance(command, deps, STAKE, _DELEGATION, rules.staking_wallet)
    if result.state == "pending":
        return outcome_of(deps, result)  # woken when the follower decides its fate
    if result.state == "confirmed":
        return None
    if result.state == "attention":
        return NeedsAttention(result.code or "FATE_UNKNOWN", f"energy delegation: {result.message}")
    if rules.burn_fallback:
        log.warning("energy delegation failed; the lines burn TRX", reason=result.message)
        return None
    return Failed("NO_ENERGY", f"the energy delegation failed: {result.message}", True)


class _Burn:
    """No top-up, and burn_fallback allows the lines to burn TRX instead."""


async def _topup(
    command: CommandContext[Any],
    deps: Deps,
    source: str,
    shortfall: int,
    head: dict[str, Any] | None,
    *,
    decide: bool,
) -> Outcome | _Burn | None:
    """Decide (when `decide`) and journal top-up n+1 as item 100; None when journaled."""
    rules, node, desk = deps.chain, deps.node, deps.energy
    assert rules is not None and node is not None and desk is not None
    energy = shortfall + rules.topup_extra_energy
    stake_sun = await _stake_for(deps, energy)
    staking = await deps.wallets.by_address(rules.staking_wallet)
    most = await node.can_delegate_max_size(rules.staking_wallet, "ENERGY")
    if staking is None or most < stake_sun:
        why = (
            f"{rules.staking_wallet} is not a managed wallet"
            if staking is None
            else f"{rules.staking_wallet} can delegate {most} sun of stake; "
            f"{energy} energy needs {stake_sun}"
        )
        if rules.burn_fallback:
            log.warning("energy not delegated; the lines burn TRX", reason=why)
            return _Burn()
        return Rejected("NO_ENERGY", why)
    if decide:
        number = head["n"] + 1 if head is not None else 1
        decision = await desk.decide(
            {
                "receiver": source,
                "n": number,
                "kind": "topup",
                "key": deps.command_key,
                "ref": command.ref,
                "item": DELEGATE_ITEM,
            }
        )
        if decision["key"] != deps.command_key:  # another payout, or a return, came first
            return await _wait(deps, decision)
    plan = contract_plan(
        "stake.delegate",
        rules.staking_wallet,
        "DelegateResourceContract",
        resource="ENERGY",
        balance=stake_sun,
        receiver_address=source,
        lock=False,
        lock_period=0,
    )
    plan.update(receiver=source, amount_sun=stake_sun, energy=energy)
    try:
        await journal_first(command, deps, STAKE, staking, _DELEGATION, plan)
    except Refusal as refusal:  # the staking wallet is paused
        if rules.burn_fallback:
            return _Burn()
        return Rejected(refusal.code, refusal.message)
    return None


async def _wait(deps: Deps, decision: dict[str, Any]) -> Pending:
    """Wait for another's decision on the same wallet; woken when it settles."""
    desk = deps.energy
    assert desk is not None
    await desk.wait(deps.command_key, decision)

    async def news() -> bool:
        return await desk.settled(decision)

    log.info("waiting for the wallet's energy", decision=decision["_id"], kind=decision["kind"])
    return Pending("awaiting_energy", news)


async def summary(command: CommandContext[Any], deps: Deps) -> dict[str, Any] | None:
    """What `payout.completed` reports of the energy this payout topped up, or None."""
    journal = deps.journal
    assert journal is not None
    delegated = await journal.latest_attempt(command.ref, DELEGATE_ITEM)
    if delegated is None:
        return None
    fate = await journal.fate(delegated["_id"])
    return {
        "delegated_sun": delegated["plan"]["amount_sun"],
        "energy": delegated["plan"]["energy"],
        "from": delegated["owner"],
        "delegate_txid": delegated["txid"],
        "fee_sun": int(fate.get("fee_sun", 0)) if fate is not None else 0,
    }


async def _stake_for(deps: Deps, energy: int) -> int:
    """Staked sun that yields `energy` now (with the margin), in whole TRX, at least 1."""
    assert deps.node is not None and deps.chain is not None
    totals = await deps.node.account_resource(deps.chain.staking_wallet)
    limit, weight = totals.get("TotalEnergyLimit", 0), totals.get("TotalEnergyWeight", 0)
    per_trx = limit / weight if weight and limit else 1.0  # nobody staked: be careful
    return max(1, math.ceil(energy * MARGIN / per_trx)) * TRX_SUN
