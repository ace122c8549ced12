"""payout.approve and payout.cancel: the one decision on a payout awaiting approval.

Both name the waiting payout's `command_id`. The decision is the first insert of
`decisions/<c>` (worker/approvals.py): a later approve or cancel — or the expiry —
finds it taken and is `rejected DECISION_TAKEN`, naming who decided what. The
deciding command then wakes the payout, which the sweeper resumes under a lease.

Who may decide: approve needs a key id with the approver role and never the payout's
own; cancel may come from the payout's own key id or an approver. With
authentication off every key id is "-", so nobody can approve: approvals need it on.
"""

from __future__ import annotations

from typing import Any

from handlers.ports import CommandContext, CommandType, Completed, Deps, Outcome, Rejected
from schemas.payloads import PayoutApprovePayload, PayoutCancelPayload, PayoutDecisionPayload

__all__ = ["PAYOUT_APPROVE", "PAYOUT_CANCEL"]


async def _decide(
    command: CommandContext[PayoutDecisionPayload], deps: Deps, decision: str
) -> Outcome:
    approvals, controls = deps.approvals, deps.controls
    assert approvals is not None and controls is not None, "wired by worker.wiring"
    payload = command.payload
    waiting = await approvals.waiting(str(payload.command_id))
    if waiting is None:
        message = f"no payout with command_id {payload.command_id} has awaited approval"
        return Rejected("UNKNOWN_COMMAND", message)
    own = command.scope == waiting["scope"]
    if decision == "approved" and (own or not controls.is_approver(command.scope)):
        why = "it is the payout's own key id" if own else "it lacks the approver role"
        return Rejected("NOT_APPROVER", f"key id {command.scope} may not approve: {why}")
    if decision == "cancelled" and not own and not controls.is_approver(command.scope):
        message = f"key id {command.scope} may not cancel another key id's payout"
        return Rejected("NOT_APPROVER", message)
    taken = await approvals.decide(
        waiting["ref"], decision, by=command.scope, reason=payload.reason, deciding_ref=command.ref
    )
    if taken.get("deciding_ref") != command.ref:
        message = f"already {taken['decision']} by {taken['by']}: {taken['reason']}"
        return Rejected("DECISION_TAKEN", message)
    await approvals.wake(waiting["key"])
    await deps.emit(
        "decided",
        {
            "payout_command_id": str(payload.command_id),
            "decision": decision,
            "by": command.scope,
            "reason": payload.reason,
        },
    )
    return Completed()


async def _approve(command: CommandContext[PayoutApprovePayload], deps: Deps) -> Outcome:
    return await _decide(command, deps, "approved")  # type: ignore[arg-type]


async def _cancel(command: CommandContext[PayoutCancelPayload], deps: Deps) -> Outcome:
    return await _decide(command, deps, "cancelled")  # type: ignore[arg-type]


async def _no_effects(command: CommandContext[Any], deps: Deps) -> bool:
    """A decision moves no money; a redo finds its own decision by `deciding_ref`."""
    return False


PAYOUT_APPROVE = CommandType(PayoutApprovePayload, _approve, _no_effects)
PAYOUT_CANCEL = CommandType(PayoutCancelPayload, _cancel, _no_effects)
