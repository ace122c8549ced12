"""Money controls before the first signature (issue 10; DESIGN "Money controls").

`admit` runs once a command's whole batch is known and before anything is signed:

    paused (global, asset, named source)      PAUSED
    per item: below the minimum, above the max AMOUNT_BELOW_MINIMUM, AMOUNT_ABOVE_LIMIT
    deny-list / allow-list mode               DESTINATION_DENIED
    destination is a contract account         DESTINATION_IS_CONTRACT
    token blacklist (destination or source)   DESTINATION_BLACKLISTED
    daily caps, in a fixed order per item:    DAILY_LIMIT_EXCEEDED (which cap, used,
      asset, destination, publisher key id      remaining)

Caps are reserved last, once every other check passed, as insert chains keyed by the
claim, the item and the cap (worker/caps.py), so a redo finds its own reservations;
when a later cap or item refuses, everything this command reserved is released. An
item's reservations are released again only when the item ends without paying
(`release_items`); a confirmed item keeps them: it spent the cap.

Pauses are checked again immediately before every signature (`paused_now`), so a
switch thrown after intake still stops what is not yet signed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from handlers.ports import CommandContext, Controls, Deps, Limits, Rejected
from worker import abi

__all__ = ["CAPS", "Line", "admit", "paused_now", "release_items", "source_refusal"]

CAPS = ("asset", "destination", "key")  # the fixed order caps are reserved in


@dataclass(frozen=True)
class Line:
    """One item to pay: its index in the command, destination and amount."""

    index: int
    to: str
    amount: int


async def admit(
    command: CommandContext[Any],
    deps: Deps,
    *,
    asset: str,
    token: str | None,
    source: str | None,
    lines: list[Line],
) -> Rejected | None:
    """Every policy check of the batch, then its daily caps reserved; None: admitted.

    asset is "TRX" or the token's symbol; token its contract address (None for TRX);
    source the paying wallet when it is known (a pool payout checks it per candidate).
    """
    controls = deps.controls
    if controls is None:
        return None
    where = _labeller(len(lines) > 1)
    reason = await controls.paused(asset=asset, wallet=source)
    if reason is not None:
        return Rejected("PAUSED", reason)
    unit = "sun" if asset == "TRX" else f"base units of {asset}"
    limits = controls.limits(asset)
    for line in lines:
        if limits.min_item is not None and line.amount < limits.min_item:
            message = f"{where(line)}{line.amount} {unit} is below the minimum {limits.min_item}"
            return Rejected("AMOUNT_BELOW_MINIMUM", message)
        if limits.max_item is not None and line.amount > limits.max_item:
            message = f"{where(line)}{line.amount} {unit} is above the limit {limits.max_item}"
            return Rejected("AMOUNT_ABOVE_LIMIT", message)
        denied = controls.destination_refusal(line.to)
        if denied is not None:
            return Rejected("DESTINATION_DENIED", f"{where(line)}{denied}")
    refused = await _destinations(deps, controls, where, token, lines)
    if refused is not None:
        return refused
    if token is not None and source is not None:
        why = await source_refusal(deps, token, asset, source)
        if why is not None:
            return Rejected("DESTINATION_BLACKLISTED", why)
    for line in lines:
        for cap, key, limit in _caps(limits, asset, line, command.scope):
            why = await controls.reserve(command.ref, line.index, cap, key, limit, line.amount)
            if why is not None:
                await release_items(command, deps, (line.index for line in lines))
                return Rejected("DAILY_LIMIT_EXCEEDED", f"{where(line)}{why}")
    return None


async def source_refusal(deps: Deps, token: str, asset: str, source: str) -> str | None:
    """Why the token would refuse to move the source's funds (its blacklist)."""
    if deps.controls is None or not deps.controls.check_blacklist:
        return None
    if await _blacklisted(deps, token, source, source):
        return f"{asset}'s contract has blacklisted the source {source}"
    return None


async def release_items(command: CommandContext[Any], deps: Deps, indices: Iterable[int]) -> None:
    """Give back these items' cap reservations (each ended without paying)."""
    if deps.controls is None:
        return
    for index in indices:
        for cap in CAPS:
            await deps.controls.release(command.ref, index, cap)


async def paused_now(deps: Deps, plan: dict[str, Any], wallet: str) -> str | None:
    """Checked immediately before every signature: why this plan may not be signed now."""
    if deps.controls is None:
        return None
    return await deps.controls.paused(asset=plan.get("symbol") or "TRX", wallet=wallet)


def _labeller(batch: bool):  # type: ignore[no-untyped-def]
    return (lambda line: f"line {line.index}: ") if batch else (lambda line: "")


async def _destinations(deps, controls: Controls, where, token, lines) -> Rejected | None:  # type: ignore[no-untyped-def]
    """Contract accounts and the token's blacklist, each destination read once."""
    assert deps.node is not None
    checked: set[str] = set()
    for line in lines:
        if line.to in checked:
            continue
        checked.add(line.to)
        if controls.check_contract_destination:
            account = await deps.node.account(line.to)
            if account is not None and account.get("type") == "Contract":
                message = f"{where(line)}{line.to} is a contract account, not a wallet"
                return Rejected("DESTINATION_IS_CONTRACT", message)
        if token is not None and controls.check_blacklist:
            if await _blacklisted(deps, token, line.to, line.to):
                message = f"{where(line)}the token's contract has blacklisted {line.to}"
                return Rejected("DESTINATION_BLACKLISTED", message)
    return None


async def _blacklisted(deps: Deps, token: str, holder: str, caller: str) -> bool:
    assert deps.node is not None
    return (
        abi.decode_uint(await deps.node.constant_call(caller, token, abi.is_blacklisted(holder)))
        != 0
    )


def _caps(limits: Limits, asset: str, line: Line, key_id: str) -> list[tuple[str, str, int]]:
    caps = []
    if limits.daily is not None:
        caps.append(("asset", asset, limits.daily))
    if limits.daily_per_destination is not None:
        caps.append(("destination", f"{asset}:{line.to}", limits.daily_per_destination))
    if limits.daily_per_key is not None:
        caps.append(("key", f"{asset}:{key_id}", limits.daily_per_key))
    return caps
