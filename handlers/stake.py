"""stake.*: the seven Stake 2.0 commands, each one transaction on the transaction path.

Every command is item 0 on handlers/chain_items.py, like a transfer: `accepted`,
pre-checks (each refusal its own code, with the figures, before anything is signed),
attempt 1 built and signed locally (worker/txbuild.py), journaled, broadcast, and
confirmed by the chain follower. The `confirmed` event carries, under `stake`, the
figures read from the chain after confirmation (frozen amount, unfreeze availability,
delegation and its lock, votes, the amount withdrawn).

    stake.freeze            FreezeBalanceV2        balance, at least 1 TRX
    stake.unfreeze          UnfreezeBalanceV2      frozen for the resource; free unfreeze slots
    stake.withdraw_unfrozen WithdrawExpireUnfreeze something expired to withdraw
    stake.delegate          DelegateResource       getcandelegatedmaxsize; lock period rules
    stake.undelegate        UnDelegateResource     delegated to the receiver, and not locked
    stake.vote              VoteWitness            witnesses only; at most the TRON power
    stake.claim_rewards     WithdrawBalance        a reward, 24 h after the last withdrawal

Amounts are staked sun. A lock period is in blocks (3 s each): 0 means the chain's
default of 86,400 (3 days), never more than `getMaxDelegateLockPeriod`, and a re-lock
may not end before the lock it replaces. Votes replace all earlier votes, whole TRX.
"""

from __future__ import annotations

from typing import Any

from handlers.chain_items import Item, Kind, Refusal, advance, journal_first, seal_all
from handlers.controls import paused_now
from handlers.ports import (
    BlockRef,
    CommandContext,
    CommandType,
    Deps,
    Failed,
    Outcome,
    Rejected,
    SignedTx,
)
from handlers.transfer import outcome_of
from schemas.payloads import (
    StakeClaimRewardsPayload,
    StakeDelegatePayload,
    StakeFreezePayload,
    StakeUndelegatePayload,
    StakeUnfreezePayload,
    StakeVotePayload,
    StakeWithdrawUnfrozenPayload,
)

__all__ = ["STAKE", "STAKE_TYPES", "contract_plan"]

ITEM = Item(0)
TRX_SUN = 1_000_000
BLOCK_MS = 3_000
DEFAULT_LOCK_BLOCKS = 86_400  # java-tron's DELEGATE_PERIOD / 3000 ms: 3 days
REWARD_INTERVAL_MS = 24 * 3600 * 1000  # WithdrawBalance: once a day


# --- what the account says ----------------------------------------------------------------


def frozen_sun(account: dict[str, Any] | None, resource: str) -> int:
    """Stake 2.0 frozen (not delegated) for a resource; java-tron omits BANDWIDTH's type."""
    for entry in (account or {}).get("frozenV2", []):
        if entry.get("type", "BANDWIDTH") == resource:
            return int(entry.get("amount", 0))
    return 0


def delegated_sun(account: dict[str, Any] | None, resource: str) -> int:
    """What the account delegated out of its stake, for a resource."""
    account = account or {}
    if resource == "ENERGY":
        source = account.get("account_resource", {})
        return int(source.get("delegated_frozenV2_balance_for_energy", 0))
    return int(account.get("delegated_frozenV2_balance_for_bandwidth", 0))


def votes_of(account: dict[str, Any] | None) -> dict[str, int]:
    return {v["vote_address"]: int(v["vote_count"]) for v in (account or {}).get("votes", [])}


# --- the kind: sign whatever contract the plan names ---------------------------------------


def _sign(
    deps: Deps,
    wallet: dict[str, Any],
    plan: dict[str, Any],
    reference: BlockRef,
    expiration_ms: int,
    timestamp_ms: int,
) -> SignedTx:
    assert deps.signer is not None
    return deps.signer.contract(
        wallet,
        contract_type=plan["contract_type"],
        fields=plan["fields"],
        reference=reference,
        expiration_ms=expiration_ms,
        timestamp_ms=timestamp_ms,
    )


def _no_doubt(plan: dict[str, Any], fate: dict[str, Any]) -> str | None:
    return None  # a system contract's SUCCESS is its effect (no logs to check)


async def _figures(deps: Deps, plan: dict[str, Any], fate: dict[str, Any]) -> dict[str, Any]:
    """What the chain shows after confirmation, per command type."""
    assert deps.node is not None
    owner, kind = plan["owner"], plan["command"]
    account = await deps.node.account(owner)
    if kind in ("stake.freeze", "stake.unfreeze"):
        resource = plan["resource"]
        figures: dict[str, Any] = {"frozen_sun": frozen_sun(account, resource)}
        if kind == "stake.unfreeze":
            entries = [
                e
                for e in (account or {}).get("unfrozenV2", [])
                if e.get("type", "BANDWIDTH") == resource
            ]
            figures["unfreeze_amount_sun"] = fate.get("unfreeze_amount") or plan["amount_sun"]
            if entries:
                figures["unfreeze_available_at_ms"] = max(
                    int(e.get("unfreeze_expire_time", 0)) for e in entries
                )
        return figures
    if kind in ("stake.delegate", "stake.undelegate"):
        receiver, resource = plan["receiver"], plan["resource"]
        entries = await deps.node.delegated_resource(owner, receiver)
        key = "energy" if resource == "ENERGY" else "bandwidth"
        return {
            "delegated_sun": sum(e[f"frozen_balance_for_{key}"] for e in entries),
            "lock_until_ms": max([e[f"expire_time_for_{key}"] for e in entries] or [0]),
        }
    if kind == "stake.vote":
        return {"votes": votes_of(account)}
    if kind == "stake.withdraw_unfrozen":
        return {"withdrawn_sun": int(fate.get("withdraw_expire_amount", 0))}
    return {"withdrawn_sun": int(fate.get("withdraw_amount", 0))}  # claim_rewards


STAKE = Kind(plan=None, sign=_sign, doubt=_no_doubt, figures=_figures)  # type: ignore[arg-type]


# --- the pre-checks, one per command type -----------------------------------------------------


RESOURCE_CODES = {"BANDWIDTH": 0, "ENERGY": 1}  # core.ResourceCode


def contract_plan(command: str, owner: str, contract_type: str, **fields: Any) -> dict[str, Any]:
    """What attempt n signs: the contract and its fields (addresses base58, enums as ints)."""
    resource = fields.pop("resource", None)
    contract: dict[str, Any] = {"owner_address": owner, **fields}
    plan: dict[str, Any] = {
        "command": command,
        "owner": owner,
        "contract_type": contract_type,
        "fields": contract,
    }
    if resource is not None:
        plan["resource"] = resource
        contract["resource"] = RESOURCE_CODES[resource]
    return plan


async def _freeze(command: CommandContext[StakeFreezePayload], deps: Deps) -> dict[str, Any]:
    assert deps.node is not None
    p = command.payload
    if p.amount_sun < TRX_SUN:
        raise Refusal(
            "AMOUNT_BELOW_MINIMUM", f"a freeze is at least 1 TRX; asked {p.amount_sun} sun"
        )
    account = await deps.node.account(p.wallet)
    balance = int((account or {}).get("balance", 0))
    if balance < p.amount_sun:
        raise Refusal(
            "INSUFFICIENT_BALANCE", f"{p.wallet} holds {balance} sun; freezing {p.amount_sun}"
        )
    return contract_plan(
        "stake.freeze", p.wallet, "FreezeBalanceV2Contract",
        frozen_balance=p.amount_sun, resource=p.resource,
    )  # fmt: skip


async def _unfreeze(command: CommandContext[StakeUnfreezePayload], deps: Deps) -> dict[str, Any]:
    assert deps.node is not None
    p = command.payload
    frozen = frozen_sun(await deps.node.account(p.wallet), p.resource)
    if frozen < p.amount_sun:
        raise Refusal(
            "NOT_ENOUGH_FROZEN",
            f"{p.wallet} has {frozen} sun frozen for {p.resource} (not delegated); "
            f"unfreezing {p.amount_sun}",
        )
    if await deps.node.available_unfreeze_count(p.wallet) <= 0:
        raise Refusal(
            "TOO_MANY_UNFREEZES",
            f"{p.wallet} has the chain's maximum of unfreezes pending; withdraw expired ones "
            "first (stake.withdraw_unfrozen) or wait",
        )
    plan = contract_plan(
        "stake.unfreeze", p.wallet, "UnfreezeBalanceV2Contract",
        unfreeze_balance=p.amount_sun, resource=p.resource,
    )  # fmt: skip
    return {**plan, "amount_sun": p.amount_sun}


async def _withdraw(
    command: CommandContext[StakeWithdrawUnfrozenPayload], deps: Deps
) -> dict[str, Any]:
    assert deps.node is not None
    p = command.payload
    head = await deps.node.head()
    amount = await deps.node.can_withdraw_unfreeze_amount(p.wallet, head.timestamp_ms)
    if amount <= 0:
        raise Refusal("NOTHING_TO_WITHDRAW", f"no unfrozen TRX of {p.wallet} has passed its delay")
    plan = contract_plan("stake.withdraw_unfrozen", p.wallet, "WithdrawExpireUnfreezeContract")
    return {**plan, "expected_sun": amount}


async def _delegate(command: CommandContext[StakeDelegatePayload], deps: Deps) -> dict[str, Any]:
    assert deps.node is not None
    p = command.payload
    if p.amount_sun < TRX_SUN:
        message = f"a delegation is at least 1 TRX of stake; asked {p.amount_sun} sun"
        raise Refusal("AMOUNT_BELOW_MINIMUM", message)
    if await deps.node.account(p.receiver) is None:
        message = f"{p.receiver} is not an account on chain yet: activate it before delegating"
        raise Refusal("RECEIVER_NOT_ACTIVATED", message)
    most = await deps.node.can_delegate_max_size(p.wallet, p.resource)
    if p.amount_sun > most:
        raise Refusal(
            "DELEGATE_ABOVE_MAX",
            f"{p.wallet} can delegate at most {most} sun of {p.resource} now; asked {p.amount_sun}",
        )
    fields: dict[str, Any] = {
        "resource": p.resource,
        "balance": p.amount_sun,
        "receiver_address": p.receiver,
        "lock": p.lock,
        "lock_period": 0,
    }
    if p.lock:
        blocks = p.lock_period_blocks or DEFAULT_LOCK_BLOCKS
        parameters = await deps.node.chain_parameters()
        longest = parameters.get("getMaxDelegateLockPeriod", DEFAULT_LOCK_BLOCKS)
        if blocks > longest:
            raise Refusal(
                "LOCK_PERIOD_INVALID",
                f"a lock of {blocks} blocks is longer than the chain's maximum {longest}",
            )
        head = await deps.node.head()
        ends_ms = head.timestamp_ms + blocks * BLOCK_MS
        key = "energy" if p.resource == "ENERGY" else "bandwidth"
        current = max(
            [
                e[f"expire_time_for_{key}"]
                for e in await deps.node.delegated_resource(p.wallet, p.receiver)
            ]
            or [0]
        )
        if current > ends_ms:
            raise Refusal(
                "LOCK_PERIOD_INVALID",
                f"the delegation to {p.receiver} is locked until {current} ms; a lock of "
                f"{blocks} blocks would end at {ends_ms} ms, before it",
            )
        fields["lock_period"] = blocks
    plan = contract_plan("stake.delegate", p.wallet, "DelegateResourceContract", **fields)
    return {**plan, "receiver": p.receiver}


async def _undelegate(
    command: CommandContext[StakeUndelegatePayload], deps: Deps
) -> dict[str, Any]:
    assert deps.node is not None
    p = command.payload
    key = "energy" if p.resource == "ENERGY" else "bandwidth"
    entries = await deps.node.delegated_resource(p.wallet, p.receiver)
    total = sum(e[f"frozen_balance_for_{key}"] for e in entries)
    if total < p.amount_sun:
        raise Refusal(
            "NOT_ENOUGH_DELEGATED",
            f"{p.wallet} delegated {total} sun of {p.resource} to {p.receiver}; "
            f"undelegating {p.amount_sun}",
        )
    head = await deps.node.head()
    free = sum(
        e[f"frozen_balance_for_{key}"]
        for e in entries
        if e[f"expire_time_for_{key}"] < head.timestamp_ms  # java-tron: expired before now
    )
    if free < p.amount_sun:
        until = max(e[f"expire_time_for_{key}"] for e in entries)
        raise Refusal(
            "DELEGATION_LOCKED",
            f"only {free} sun of the {total} delegated to {p.receiver} is unlocked; the lock "
            f"ends at {until} ms (head {head.timestamp_ms} ms)",
        )
    plan = contract_plan(
        "stake.undelegate", p.wallet, "UnDelegateResourceContract",
        resource=p.resource, balance=p.amount_sun, receiver_address=p.receiver,
    )  # fmt: skip
    return {**plan, "receiver": p.receiver}


async def _vote(command: CommandContext[StakeVotePayload], deps: Deps) -> dict[str, Any]:
    assert deps.node is not None
    p = command.payload
    witnesses = set(await deps.node.witnesses())
    strangers = [v.witness for v in p.votes if v.witness not in witnesses]
    if strangers:
        raise Refusal("NOT_A_WITNESS", f"not witnesses: {', '.join(strangers)}")
    power = (await deps.node.account_resource(p.wallet)).get("tronPowerLimit", 0)
    asked = sum(v.count for v in p.votes)
    if asked > power:
        raise Refusal(
            "VOTES_ABOVE_TRON_POWER",
            f"{asked} votes asked; {p.wallet}'s TRON power is {power} (1 per whole staked TRX)",
        )
    votes = [{"vote_address": v.witness, "vote_count": v.count} for v in p.votes]
    return contract_plan("stake.vote", p.wallet, "VoteWitnessContract", votes=votes, support=False)


async def _claim(command: CommandContext[StakeClaimRewardsPayload], deps: Deps) -> dict[str, Any]:
    assert deps.node is not None
    p = command.payload
    account = await deps.node.account(p.wallet)
    head = await deps.node.head()
    last_ms = int((account or {}).get("latest_withdraw_time", 0))
    if last_ms and head.timestamp_ms - last_ms < REWARD_INTERVAL_MS:
        raise Refusal(
            "REWARD_NOT_CLAIMABLE",
            f"{p.wallet} last withdrew rewards at {last_ms} ms; the next withdrawal is "
            f"possible at {last_ms + REWARD_INTERVAL_MS} ms (head {head.timestamp_ms} ms)",
        )
    reward = await deps.node.reward(p.wallet)
    if reward <= 0:
        raise Refusal("NOTHING_TO_CLAIM", f"{p.wallet} has no voting reward to withdraw")
    plan = contract_plan("stake.claim_rewards", p.wallet, "WithdrawBalanceContract")
    return {**plan, "expected_sun": reward}


# --- one handler for all seven ------------------------------------------------------------------


def _handler(precheck):  # type: ignore[no-untyped-def]
    async def handle(command: CommandContext[Any], deps: Deps) -> Outcome:
        assert deps.journal is not None, "wired by worker.wiring"
        wallet_address = command.payload.wallet
        latest = await deps.journal.latest_attempt(command.ref, 0)
        if latest is None and command.expires_at <= deps.now():
            if await seal_all(command, deps, 1):
                return Failed("EXPIRED", "the command expired before anything was signed", True)
            latest = await deps.journal.latest_attempt(command.ref, 0)
        if latest is None:
            await deps.emit("accepted", {})
            wallet = await deps.wallets.by_address(wallet_address)
            if wallet is None:
                message = f"{wallet_address} is not a wallet this worker manages"
                return Rejected("UNKNOWN_WALLET", message)
            try:
                paused = await paused_now(deps, {}, wallet_address)
                if paused is not None:
                    raise Refusal("PAUSED", paused)
                plan = await precheck(command, deps)
                latest = await journal_first(command, deps, STAKE, wallet, ITEM, plan)
            except Refusal as refusal:
                return Rejected(refusal.code, refusal.message)
        result = await advance(command, deps, STAKE, ITEM, wallet_address, latest)
        return outcome_of(deps, result)

    return handle


async def has_effects(command: CommandContext[Any], deps: Deps) -> bool:
    assert deps.journal is not None
    return await deps.journal.latest_attempt(command.ref, 0) is not None


STAKE_TYPES: dict[str, CommandType] = {  # type: ignore[type-arg]
    "stake.freeze": CommandType(StakeFreezePayload, _handler(_freeze), has_effects),
    "stake.unfreeze": CommandType(StakeUnfreezePayload, _handler(_unfreeze), has_effects),
    "stake.withdraw_unfrozen": CommandType(
        StakeWithdrawUnfrozenPayload, _handler(_withdraw), has_effects
    ),
    "stake.delegate": CommandType(StakeDelegatePayload, _handler(_delegate), has_effects),
    "stake.undelegate": CommandType(StakeUndelegatePayload, _handler(_undelegate), has_effects),
    "stake.vote": CommandType(StakeVotePayload, _handler(_vote), has_effects),
    "stake.claim_rewards": CommandType(StakeClaimRewardsPayload, _handler(_claim), has_effects),
}
