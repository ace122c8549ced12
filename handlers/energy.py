"""Energy for token payouts under `staking.energy_policy = "delegate"` (issue 11).

A USDT line burns ~6.5 to ~13 TRX of energy when its source has none. Under
`delegate`, before a batch's first line is signed:

    energy needed (the lines' estimates) <= the source's available energy  -> go on
    else the staking wallet delegates the missing energy, unlocked, as item 100 of
    the payout (journaled, broadcast, confirmed by the follower like any transaction);
    the lines wait (`Pending`, their lease given back) until it is confirmed in a
    solidified block: the follower's wake-up resumes the payout, and the run that
    finds it confirmed signs the lines.

Once every line is terminal the delegation is taken back as item 101, and only then
is `payout.completed` emitted, with the delegation's figures. Both items are keyed
by the claim like the lines, so a redo after a crash finds them and never delegates
or undelegates twice. Delegation amounts are staked sun (at least 1 TRX), converted
from energy with the chain's current energy per staked TRX (TotalEnergyLimit /
TotalEnergyWeight), with a 20% margin for the ratio moving meanwhile.

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
from handlers.ports import CommandContext, Deps, Failed, NeedsAttention, Outcome, Rejected
from handlers.stake import STAKE, TRX_SUN, contract_plan
from handlers.transfer import outcome_of

__all__ = ["DELEGATE_ITEM", "UNDELEGATE_ITEM", "give_back", "lend", "summary"]

log = structlog.get_logger()

DELEGATE_ITEM = 100  # payout lines are 0..99
UNDELEGATE_ITEM = 101
_DELEGATION = Item(DELEGATE_ITEM, quiet=True)
_UNDELEGATION = Item(UNDELEGATE_ITEM, quiet=True)
MARGIN = 1.2


async def lend(
    command: CommandContext[Any], deps: Deps, source: str, plans: list[dict[str, Any]]
) -> Outcome | None:
    """Before the lines are signed: None to go on; Pending while the delegation lands;
    Rejected / Failed NO_ENERGY when it cannot and burning is not allowed."""
    rules, journal, node = deps.chain, deps.journal, deps.node
    assert rules is not None and journal is not None and node is not None
    if rules.energy_policy != "delegate":
        return None
    latest = await journal.latest_attempt(command.ref, DELEGATE_ITEM)
    if latest is None:
        need = sum(int(plan.get("energy", 0)) for plan in plans)
        have = await node.energy_available(source)
        if need <= have:
            return None
        stake_sun = await _stake_for(deps, need - have)
        staking = await deps.wallets.by_address(rules.staking_wallet)
        most = await node.can_delegate_max_size(rules.staking_wallet, "ENERGY")
        if staking is None or most < stake_sun:
            why = (
                f"{rules.staking_wallet} is not a managed wallet"
                if staking is None
                else f"{rules.staking_wallet} can delegate {most} sun of stake; "
                f"{need - have} energy needs {stake_sun}"
            )
            if rules.burn_fallback:
                log.warning("energy not delegated; the lines burn TRX", reason=why)
                return None
            return Rejected("NO_ENERGY", why)
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
        plan.update(receiver=source, amount_sun=stake_sun, energy=need - have)
        try:
            await journal_first(command, deps, STAKE, staking, _DELEGATION, plan)
        except Refusal as refusal:  # the staking wallet is paused
            if rules.burn_fallback:
                return None
            return Rejected(refusal.code, refusal.message)
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


async def give_back(command: CommandContext[Any], deps: Deps) -> Outcome | None:
    """Once every line is terminal: take the delegation back. None when done (or when
    nothing was delegated); Pending while the undelegation lands."""
    rules, journal = deps.chain, deps.journal
    assert rules is not None and journal is not None
    delegated = await journal.latest_attempt(command.ref, DELEGATE_ITEM)
    if delegated is None:
        return None
    fate = await journal.fate(delegated["_id"])
    if fate is None or fate["fate"] != "confirmed":
        return None  # nothing was delegated (it failed, or lines burned instead)
    latest = await journal.latest_attempt(command.ref, UNDELEGATE_ITEM)
    if latest is None:
        lent = delegated["plan"]
        staking = await deps.wallets.by_address(lent["owner"])
        assert staking is not None, "it signed the delegation"
        plan = contract_plan(
            "stake.undelegate",
            lent["owner"],
            "UnDelegateResourceContract",
            resource="ENERGY",
            balance=lent["amount_sun"],
            receiver_address=lent["receiver"],
        )
        plan.update(receiver=lent["receiver"], amount_sun=lent["amount_sun"])
        try:
            await journal_first(command, deps, STAKE, staking, _UNDELEGATION, plan)
        except Refusal as refusal:
            message = f"the energy delegation to {lent['receiver']} was not taken back: "
            return NeedsAttention(refusal.code, message + refusal.message)
    result = await advance(command, deps, STAKE, _UNDELEGATION, delegated["owner"])
    if result.state == "pending":
        return outcome_of(deps, result)  # woken when the follower decides its fate
    if result.state != "confirmed":
        message = f"the energy delegation was not taken back: {result.message}"
        return NeedsAttention(result.code or "UNDELEGATION_FAILED", message)
    return None


async def summary(command: CommandContext[Any], deps: Deps) -> dict[str, Any] | None:
    """What `payout.completed` reports of the energy lent, or None."""
    journal = deps.journal
    assert journal is not None
    delegated = await journal.latest_attempt(command.ref, DELEGATE_ITEM)
    if delegated is None:
        return None
    back = await journal.latest_attempt(command.ref, UNDELEGATE_ITEM)
    fates = [await journal.fate(a["_id"]) for a in (delegated, back) if a is not None]
    return {
        "delegated_sun": delegated["plan"]["amount_sun"],
        "energy": delegated["plan"]["energy"],
        "from": delegated["owner"],
        "delegate_txid": delegated["txid"],
        "undelegate_txid": back["txid"] if back is not None else None,
        "fee_sun": sum(int(f.get("fee_sun", 0)) for f in fates if f is not None),
    }


async def _stake_for(deps: Deps, energy: int) -> int:
    """Staked sun that yields `energy` now (with the margin), in whole TRX, at least 1."""
    assert deps.node is not None and deps.chain is not None
    totals = await deps.node.account_resource(deps.chain.staking_wallet)
    limit, weight = totals.get("TotalEnergyLimit", 0), totals.get("TotalEnergyWeight", 0)
    per_trx = limit / weight if weight and limit else 1.0  # nobody staked: be careful
    return max(1, math.ceil(energy * MARGIN / per_trx)) * TRX_SUN
