"""The 11 command payloads of DESIGN.md's table, one model per command type.

Each model normalises as it validates (amounts -> int, addresses -> base58,
defaults filled in), so `model_dump(mode="json")` of two equal intents is equal:
that is what the idempotency hash is computed over. Cross-field checks that a
publisher can fix (sending to itself, labels per wallet) are raised on the
field that is wrong, so the rejection names it.
"""

from __future__ import annotations

import uuid
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationInfo, field_validator

from schemas.types import (
    MAX_INT64,
    Address,
    Memo,
    PositiveAmount,
    Reference,
    Resource,
    TokenRef,
    printable_text,
    strict_int,
)

__all__ = [
    "PAYLOADS",
    "CommandPayload",
    "PayoutCreatePayload",
    "PayoutRecipient",
    "StakeClaimRewardsPayload",
    "StakeDelegatePayload",
    "StakeFreezePayload",
    "StakeUndelegatePayload",
    "StakeUnfreezePayload",
    "StakeVotePayload",
    "StakeWithdrawUnfrozenPayload",
    "TransferTrc20Payload",
    "TransferTrxPayload",
    "Vote",
    "WalletCreatePayload",
]

MAX_WALLETS_PER_COMMAND = 100
MAX_RECIPIENTS = 100
MAX_VOTES = 30  # java-tron's MAX_VOTE_NUMBER
Label = Annotated[str, printable_text("label", 128)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CommandPayload(_Frozen):
    """Base of every payload; `command_type` ties a model to its envelope `type`."""

    command_type: ClassVar[str]


def _not_self(value: str, info: ValidationInfo, other: str, what: str) -> str:
    if value == info.data.get(other):
        raise ValueError(what)
    return value


# ----------------------------------------------------------------------------- wallet


class WalletCreatePayload(CommandPayload):
    """Create `count` managed wallets; `labels`, when given, has one label per wallet."""

    command_type: ClassVar[str] = "wallet.create"

    count: Annotated[int, strict_int(1, MAX_WALLETS_PER_COMMAND)] = 1
    labels: list[Label] | None = None
    purpose: Literal["deposit", "hot", "staking"] = "deposit"

    @field_validator("labels")
    @classmethod
    def _one_label_per_wallet(
        cls, labels: list[str] | None, info: ValidationInfo
    ) -> list[str] | None:
        count = info.data.get("count")
        if labels is not None and count is not None and len(labels) != count:
            raise ValueError(f"labels must have one label per wallet: {len(labels)} for {count}")
        return labels


# ----------------------------------------------------------------------------- transfer


class TransferTrxPayload(CommandPayload):
    """Send `amount_sun` TRX from a managed wallet."""

    command_type: ClassVar[str] = "transfer.trx"

    wallet: Address
    to: Address
    amount_sun: PositiveAmount
    memo: Memo = None

    @field_validator("to")
    @classmethod
    def _not_to_itself(cls, to: str, info: ValidationInfo) -> str:
        return _not_self(to, info, "wallet", "cannot send to itself (to equals wallet)")


class TransferTrc20Payload(CommandPayload):
    """Send `amount` base units of a TRC20 token (allow-listed symbol or contract)."""

    command_type: ClassVar[str] = "transfer.trc20"

    wallet: Address
    to: Address
    token: TokenRef
    amount: PositiveAmount
    memo: Memo = None

    @field_validator("to")
    @classmethod
    def _not_to_itself(cls, to: str, info: ValidationInfo) -> str:
        return _not_self(to, info, "wallet", "cannot send to itself (to equals wallet)")

    @field_validator("token")
    @classmethod
    def _not_trx(cls, token: str) -> str:
        if token == "TRX":
            raise ValueError("TRX is not a TRC20 token: use transfer.trx")
        return token


# ----------------------------------------------------------------------------- payout


class PayoutRecipient(_Frozen):
    to: Address
    amount: PositiveAmount
    reference: Reference


class PayoutCreatePayload(CommandPayload):
    """Pay each recipient `amount` of `asset`, from `source_wallet` or the hot-wallet pool."""

    command_type: ClassVar[str] = "payout.create"

    asset: TokenRef
    recipients: Annotated[list[PayoutRecipient], Field(min_length=1, max_length=MAX_RECIPIENTS)]
    source_wallet: Address | None = None
    memo: Memo = None

    @field_validator("recipients")
    @classmethod
    def _distinct_references_and_bounded_total(
        cls, recipients: list[PayoutRecipient]
    ) -> list[PayoutRecipient]:
        seen: dict[str, int] = {}
        for i, recipient in enumerate(recipients):
            if recipient.reference in seen:
                raise ValueError(
                    f"duplicate reference in recipients {seen[recipient.reference]} and {i}: "
                    "each line needs its own"
                )
            seen[recipient.reference] = i
        if sum(recipient.amount for recipient in recipients) > MAX_INT64:
            raise ValueError(f"the total of all amounts must be at most {MAX_INT64}")
        return recipients

    @field_validator("source_wallet")
    @classmethod
    def _source_not_a_recipient(cls, source: str | None, info: ValidationInfo) -> str | None:
        recipients: list[PayoutRecipient] = info.data.get("recipients") or []
        lines = [str(i) for i, r in enumerate(recipients) if r.to == source]
        if source is not None and lines:
            raise ValueError(f"cannot send to itself (recipients {', '.join(lines)})")
        return source


# ----------------------------------------------------------------------------- stake


class _StakeAmount(CommandPayload):
    wallet: Address
    amount_sun: PositiveAmount
    resource: Resource


class StakeFreezePayload(_StakeAmount):
    """Stake 2.0 freeze: `amount_sun` TRX for ENERGY or BANDWIDTH."""

    command_type: ClassVar[str] = "stake.freeze"


class StakeUnfreezePayload(_StakeAmount):
    """Stake 2.0 unfreeze; the TRX becomes withdrawable after the unfreeze delay."""

    command_type: ClassVar[str] = "stake.unfreeze"


class StakeDelegatePayload(CommandPayload):
    """Delegate staked resource to `receiver`, optionally locked for `lock_period_blocks`."""

    command_type: ClassVar[str] = "stake.delegate"

    wallet: Address
    receiver: Address
    amount_sun: PositiveAmount
    resource: Resource
    lock: StrictBool = False
    # 0 with lock=true means the chain's default lock period.
    lock_period_blocks: Annotated[int, strict_int(0)] = 0

    @field_validator("receiver")
    @classmethod
    def _not_to_itself(cls, receiver: str, info: ValidationInfo) -> str:
        return _not_self(receiver, info, "wallet", "cannot delegate to itself")

    @field_validator("lock_period_blocks")
    @classmethod
    def _only_with_lock(cls, blocks: int, info: ValidationInfo) -> int:
        if blocks and info.data.get("lock") is False:
            raise ValueError("lock_period_blocks needs lock: true")
        return blocks


class StakeUndelegatePayload(CommandPayload):
    """Take back resource delegated to `receiver`."""

    command_type: ClassVar[str] = "stake.undelegate"

    wallet: Address
    receiver: Address
    amount_sun: PositiveAmount
    resource: Resource

    @field_validator("receiver")
    @classmethod
    def _not_to_itself(cls, receiver: str, info: ValidationInfo) -> str:
        return _not_self(receiver, info, "wallet", "cannot undelegate from itself")


class Vote(_Frozen):
    witness: Address
    count: PositiveAmount


class StakeVotePayload(CommandPayload):
    """Replace the wallet's votes; order does not matter, so it is normalised by witness."""

    command_type: ClassVar[str] = "stake.vote"

    wallet: Address
    votes: Annotated[list[Vote], Field(min_length=1, max_length=MAX_VOTES)]

    @field_validator("votes")
    @classmethod
    def _distinct_witnesses(cls, votes: list[Vote]) -> list[Vote]:
        seen: dict[str, int] = {}
        for i, vote in enumerate(votes):
            if vote.witness in seen:
                raise ValueError(f"duplicate witness in votes {seen[vote.witness]} and {i}")
            seen[vote.witness] = i
        return sorted(votes, key=lambda vote: vote.witness)


class StakeWithdrawUnfrozenPayload(CommandPayload):
    """Withdraw TRX whose unfreeze delay has passed."""

    command_type: ClassVar[str] = "stake.withdraw_unfrozen"

    wallet: Address


class StakeClaimRewardsPayload(CommandPayload):
    """Claim voting rewards (WithdrawBalance)."""

    command_type: ClassVar[str] = "stake.claim_rewards"

    wallet: Address


class PayoutDecisionPayload(CommandPayload):
    """Approve or cancel a payout awaiting approval, named by its `command_id` (keys are
    scoped per publisher key id, so an idempotency key could not name it across keys)."""

    command_id: uuid.UUID
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class PayoutApprovePayload(PayoutDecisionPayload):
    """Release a waiting payout; needs a key id with the approver role, never its own."""

    command_type: ClassVar[str] = "payout.approve"


class PayoutCancelPayload(PayoutDecisionPayload):
    """End a waiting payout `rejected CANCELLED` (its own key id or an approver)."""

    command_type: ClassVar[str] = "payout.cancel"


PAYLOADS: dict[str, type[CommandPayload]] = {
    model.command_type: model
    for model in (
        WalletCreatePayload,
        TransferTrxPayload,
        TransferTrc20Payload,
        PayoutCreatePayload,
        PayoutApprovePayload,
        PayoutCancelPayload,
        StakeFreezePayload,
        StakeUnfreezePayload,
        StakeDelegatePayload,
        StakeUndelegatePayload,
        StakeVotePayload,
        StakeWithdrawUnfrozenPayload,
        StakeClaimRewardsPayload,
    )
}
"""Command type -> payload model, in DESIGN.md's table order."""
