"""Money controls as the handlers see them (handlers.ports.Controls): the settings'
limits and lists, the kill switches (worker/switches.py) and the daily caps
(worker/caps.py). Every decision two workers could race is an insert there.
"""

from __future__ import annotations

from handlers.ports import Limits
from worker.caps import Caps
from worker.settings import ControlsSettings
from worker.switches import Switches

__all__ = ["APPROVAL_ITEM", "MoneyControls"]

APPROVAL_ITEM = -1  # the approval counter is the batch's, not a line's


class MoneyControls:
    def __init__(self, settings: ControlsSettings, switches: Switches, caps: Caps) -> None:
        self._settings = settings
        self._switches = switches
        self._caps = caps
        self._deny = frozenset(settings.deny)
        self._allow = frozenset(settings.allow)
        self.check_contract_destination = settings.check_contract_destination
        self.check_blacklist = settings.check_blacklist

    def limits(self, asset: str) -> Limits:
        found = self._settings.limits.get(asset) or self._settings.limits.get(asset.upper())
        return Limits(**found.model_dump()) if found is not None else Limits()

    def destination_refusal(self, to: str) -> str | None:
        if to in self._deny:
            return f"{to} is on the deny-list"
        if self._settings.allow_only and to not in self._allow:
            return f"{to} is not on the allow-list (allow-list mode is on)"
        return None

    async def paused(self, *, asset: str | None = None, wallet: str | None = None) -> str | None:
        switch = await self._switches.blocking(asset=asset, wallet=wallet)
        return None if switch is None else f"{switch.describe()} (pause {switch.link})"

    async def reserve(
        self, ref: str, item: int, cap: str, key: str, limit: int, amount: int
    ) -> str | None:
        refusal = await self._caps.reserve(ref, item, cap, key, limit, amount)
        if refusal is None:
            return None
        return (
            f"the daily {cap} cap for {refusal.key} is {refusal.limit} "
            f"(window {refusal.window}, {self._settings.window_zone}): {refusal.used} used, "
            f"{refusal.remaining} remaining, this item needs {refusal.amount}"
        )

    async def release(self, ref: str, item: int, cap: str) -> None:
        await self._caps.release(ref, item, cap)

    async def approval_total(self, ref: str, asset: str, key_id: str, amount: int) -> int:
        return await self._caps.count(ref, APPROVAL_ITEM, "approval", f"{asset}:{key_id}", amount)

    async def release_approval_total(self, ref: str) -> None:
        await self._caps.release(ref, APPROVAL_ITEM, "approval")

    def is_approver(self, key_id: str) -> bool:
        return "approver" in self._settings.roles.get(key_id, [])

    @property
    def approval_expiry_s(self) -> float:
        return self._settings.approval_expiry_s
