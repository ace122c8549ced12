"""Events the worker publishes to `tron.events` (DESIGN.md, "Message contract").

No I/O here. `event_id` is deterministic (uuid5 of command id, state and
attempt) so a re-published event carries the same id and subscribers can
deduplicate on it. `type` is also the routing key, `<family>.<state>`:

    wallet                      accepted  created  failed  rejected  needs_attention
    transfer, payout, stake     accepted  broadcast  confirmed  failed  rejected
                                needs_attention
    command                     rejected  (poison whose family is unknown)

`needs_attention` is not terminal: the worker could not decide the command's
fate (it may have effects) and a human must look.

Each state has a typed payload model; `Event.payload` holds its JSON form
(None-valued optional fields left out). Events never carry private keys.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from schemas.errors import FieldError
from schemas.types import (
    Address,
    Amount,
    Reference,
    Rule,
    Timestamp,
    TxId,
    strict_int,
)

__all__ = [
    "CHAIN_REJECTED",
    "EVENT_NAMESPACE",
    "EVENT_TYPES",
    "EXPIRED",
    "FAILURE_CODES",
    "FAMILY_STATES",
    "FEE_LIMIT_TOO_LOW",
    "IDEMPOTENCY_CONFLICT",
    "INSUFFICIENT_BALANCE",
    "INVALID_COMMAND",
    "KEY_MISMATCH",
    "NOT_IMPLEMENTED",
    "POISON",
    "POLICY",
    "REBUILDS_EXHAUSTED",
    "REJECTION_CODES",
    "RETRIES_EXHAUSTED",
    "STATE_PAYLOADS",
    "TRANSACTION_FAILED",
    "UNAUTHENTICATED",
    "UNKNOWN_TOKEN",
    "UNKNOWN_WALLET",
    "VERIFICATION_FAILED",
    "AcceptedPayload",
    "ApprovalRequiredPayload",
    "BroadcastPayload",
    "ConfirmedPayload",
    "ControlPayload",
    "DecidedPayload",
    "Event",
    "EventFieldError",
    "EventFields",
    "EventPayload",
    "EventState",
    "FailedPayload",
    "NeedsAttentionPayload",
    "PayoutCompletedPayload",
    "PayoutItemSummary",
    "RejectedPayload",
    "RejectionCode",
    "WalletCreatedPayload",
    "event_id_for",
    "make_event",
    "rejected_event",
]

# Fixed namespace for uuid5 event ids; changing it would change every event id.
EVENT_NAMESPACE = uuid.UUID("6f1c3a52-7d0e-5b8a-9c41-2e7f4d9a1b30")

EventState = Literal[
    "accepted",
    "broadcast",
    "confirmed",
    "failed",
    "rejected",
    "created",
    "needs_attention",
    "item.broadcast",
    "item.confirmed",
    "item.failed",
    "completed",
    "approval_required",
    "decided",
    "paused",
    "resumed",
]

_CHAIN_STATES = ("accepted", "broadcast", "confirmed", "failed", "rejected", "needs_attention")
FAMILY_STATES: Final[dict[str, tuple[str, ...]]] = {
    "wallet": ("accepted", "created", "failed", "rejected", "needs_attention"),
    "transfer": _CHAIN_STATES,
    # A payout's lines each have their own item.* events; `completed` is its terminal one.
    "payout": (
        "accepted",
        "item.broadcast",
        "item.confirmed",
        "item.failed",
        "completed",
        "approval_required",
        "decided",
        "failed",
        "rejected",
        "needs_attention",
    ),
    "stake": _CHAIN_STATES,
    # Kill switches (worker/switches.py): not about one command.
    "control": ("paused", "resumed"),
    "command": ("rejected",),
}
EVENT_TYPES: Final[tuple[str, ...]] = tuple(
    f"{family}.{state}" for family, states in FAMILY_STATES.items() for state in states
)

# Rejected: refused before anything was signed; always safe to fix and resend
# under a new idempotency key.
INVALID_COMMAND: Final = "INVALID_COMMAND"
UNAUTHENTICATED: Final = "UNAUTHENTICATED"
EXPIRED: Final = "EXPIRED"
IDEMPOTENCY_CONFLICT: Final = "IDEMPOTENCY_CONFLICT"
POLICY: Final = "POLICY"
NOT_IMPLEMENTED: Final = "NOT_IMPLEMENTED"
POISON: Final = "POISON"
UNKNOWN_WALLET: Final = "UNKNOWN_WALLET"  # `wallet` is not one this worker manages
INSUFFICIENT_BALANCE: Final = "INSUFFICIENT_BALANCE"  # plainly cannot succeed
UNKNOWN_TOKEN: Final = "UNKNOWN_TOKEN"  # not on the settings' allow-list
FEE_LIMIT_TOO_LOW: Final = "FEE_LIMIT_TOO_LOW"  # the estimate's fee limit is over the cap
INSUFFICIENT_FUNDS: Final = "INSUFFICIENT_FUNDS"  # no hot wallet can pay the whole batch
WOULD_REVERT: Final = "WOULD_REVERT"  # the contract refuses the call in the node's dry run
PAUSED: Final = "PAUSED"  # a kill switch is on for the asset, the wallet, or everything
AMOUNT_BELOW_MINIMUM: Final = "AMOUNT_BELOW_MINIMUM"  # an item below the asset's minimum
AMOUNT_ABOVE_LIMIT: Final = "AMOUNT_ABOVE_LIMIT"  # an item above the asset's per-item maximum
DAILY_LIMIT_EXCEEDED: Final = (
    "DAILY_LIMIT_EXCEEDED"  # a daily cap (asset, destination or key id) would be exceeded
)
DESTINATION_DENIED: Final = (
    "DESTINATION_DENIED"  # on the deny-list, or not on the allow-list in allow-list mode
)
DESTINATION_IS_CONTRACT: Final = "DESTINATION_IS_CONTRACT"  # the destination is a contract account
DESTINATION_BLACKLISTED: Final = (
    "DESTINATION_BLACKLISTED"  # the token's contract has blacklisted the destination or source
)
CANCELLED: Final = "CANCELLED"  # a waiting payout was cancelled
APPROVAL_EXPIRED: Final = (
    "APPROVAL_EXPIRED"  # a waiting payout was neither approved nor cancelled in time
)
DECISION_TAKEN: Final = "DECISION_TAKEN"  # the payout's approval was already decided
UNKNOWN_COMMAND: Final = "UNKNOWN_COMMAND"  # an approve/cancel names no payout awaiting approval
NOT_APPROVER: Final = "NOT_APPROVER"  # the key id may not approve this payout
NOT_ENOUGH_FROZEN: Final = "NOT_ENOUGH_FROZEN"  # unfreezing more than is frozen
TOO_MANY_UNFREEZES: Final = "TOO_MANY_UNFREEZES"  # the limit of pending unfreezes
NOTHING_TO_WITHDRAW: Final = "NOTHING_TO_WITHDRAW"  # no unfrozen TRX has passed its delay
DELEGATE_ABOVE_MAX: Final = "DELEGATE_ABOVE_MAX"  # more than getcandelegatedmaxsize allows
NOT_ENOUGH_DELEGATED: Final = "NOT_ENOUGH_DELEGATED"  # more than was delegated
DELEGATION_LOCKED: Final = "DELEGATION_LOCKED"  # the delegation is locked until a later time
LOCK_PERIOD_INVALID: Final = "LOCK_PERIOD_INVALID"  # above the max, or ends before a lock
RECEIVER_NOT_ACTIVATED: Final = "RECEIVER_NOT_ACTIVATED"  # delegating to no account
NO_ENERGY: Final = "NO_ENERGY"  # no energy could be lent and burning is not allowed
NOT_A_WITNESS: Final = "NOT_A_WITNESS"  # a vote names an account that is not a witness
VOTES_ABOVE_TRON_POWER: Final = "VOTES_ABOVE_TRON_POWER"  # more votes than the wallet's TRON power
NOTHING_TO_CLAIM: Final = "NOTHING_TO_CLAIM"  # no voting reward to withdraw
REWARD_NOT_CLAIMABLE: Final = "REWARD_NOT_CLAIMABLE"  # withdrawn less than 24 h ago
REJECTION_CODES: Final = (
    INVALID_COMMAND,
    UNAUTHENTICATED,
    EXPIRED,
    IDEMPOTENCY_CONFLICT,
    POLICY,
    NOT_IMPLEMENTED,
    POISON,
    UNKNOWN_WALLET,
    INSUFFICIENT_BALANCE,
    UNKNOWN_TOKEN,
    FEE_LIMIT_TOO_LOW,
    INSUFFICIENT_FUNDS,
    WOULD_REVERT,
    PAUSED,
    AMOUNT_BELOW_MINIMUM,
    AMOUNT_ABOVE_LIMIT,
    DAILY_LIMIT_EXCEEDED,
    DESTINATION_DENIED,
    DESTINATION_IS_CONTRACT,
    DESTINATION_BLACKLISTED,
    CANCELLED,
    APPROVAL_EXPIRED,
    DECISION_TAKEN,
    UNKNOWN_COMMAND,
    NOT_APPROVER,
    NOT_ENOUGH_FROZEN,
    TOO_MANY_UNFREEZES,
    NOTHING_TO_WITHDRAW,
    DELEGATE_ABOVE_MAX,
    NOT_ENOUGH_DELEGATED,
    DELEGATION_LOCKED,
    LOCK_PERIOD_INVALID,
    RECEIVER_NOT_ACTIVATED,
    NO_ENERGY,
    NOT_A_WITNESS,
    VOTES_ABOVE_TRON_POWER,
    NOTHING_TO_CLAIM,
    REWARD_NOT_CLAIMABLE,
)
RejectionCode = Literal[
    "INVALID_COMMAND",
    "UNAUTHENTICATED",
    "EXPIRED",
    "IDEMPOTENCY_CONFLICT",
    "POLICY",
    "NOT_IMPLEMENTED",
    "POISON",
    "UNKNOWN_WALLET",
    "INSUFFICIENT_BALANCE",
    "UNKNOWN_TOKEN",
    "FEE_LIMIT_TOO_LOW",
    "INSUFFICIENT_FUNDS",
    "WOULD_REVERT",
    "PAUSED",
    "AMOUNT_BELOW_MINIMUM",
    "AMOUNT_ABOVE_LIMIT",
    "DAILY_LIMIT_EXCEEDED",
    "DESTINATION_DENIED",
    "DESTINATION_IS_CONTRACT",
    "DESTINATION_BLACKLISTED",
    "CANCELLED",
    "APPROVAL_EXPIRED",
    "DECISION_TAKEN",
    "UNKNOWN_COMMAND",
    "NOT_APPROVER",
    "NOT_ENOUGH_FROZEN",
    "TOO_MANY_UNFREEZES",
    "NOTHING_TO_WITHDRAW",
    "DELEGATE_ABOVE_MAX",
    "NOT_ENOUGH_DELEGATED",
    "DELEGATION_LOCKED",
    "LOCK_PERIOD_INVALID",
    "RECEIVER_NOT_ACTIVATED",
    "NO_ENERGY",
    "NOT_A_WITNESS",
    "VOTES_ABOVE_TRON_POWER",
    "NOTHING_TO_CLAIM",
    "REWARD_NOT_CLAIMABLE",
]

# Failed: the worker's own codes. Node and receipt codes (`REVERT`,
# `OUT_OF_ENERGY`, `CONTRACT_VALIDATE_ERROR`, ...) are passed through as they are.
RETRIES_EXHAUSTED: Final = "RETRIES_EXHAUSTED"  # nothing journaled, transient errors ran out
REBUILDS_EXHAUSTED: Final = "REBUILDS_EXHAUSTED"  # every attempt proven absent, cap reached
CHAIN_REJECTED: Final = "CHAIN_REJECTED"  # the node refused to build the transaction
TRANSACTION_FAILED: Final = "TRANSACTION_FAILED"  # solidified receipt is not SUCCESS
VERIFICATION_FAILED: Final = "VERIFICATION_FAILED"  # node-built tx differs from the command
KEY_MISMATCH: Final = "KEY_MISMATCH"  # decrypted key does not derive the wallet's address
FAILURE_CODES: Final = (
    RETRIES_EXHAUSTED,
    REBUILDS_EXHAUSTED,
    CHAIN_REJECTED,
    TRANSACTION_FAILED,
    VERIFICATION_FAILED,
    KEY_MISMATCH,
)


def event_id_for(command_ref: str, state: str, attempt: int) -> uuid.UUID:
    """The id an event about (command, state, attempt) always has."""
    return uuid.uuid5(EVENT_NAMESPACE, f"{command_ref}:{state}:{attempt}")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# ----------------------------------------------------------------------------- payloads


class EventFieldError(_Frozen):
    field: str
    message: str


class AcceptedPayload(_Frozen):
    """Claimed and validated; work has started."""


class BroadcastPayload(_Frozen):
    """A signed, journaled transaction was sent to a node (not yet confirmed)."""

    txid: TxId
    attempt: Annotated[int, strict_int(1)]
    reference: Reference | None = None  # the payout line, for multi-transaction commands


class ConfirmedPayload(_Frozen):
    """In a solidified block with contractRet SUCCESS."""

    txid: TxId
    block_number: Annotated[int, strict_int(0)]
    block_time: Timestamp
    fee_sun: Amount
    energy_used: Amount
    bandwidth_used: Amount
    reference: Reference | None = None
    # stake.*: the figures read from the chain after confirmation (frozen_sun,
    # unfreeze_available_at_ms, delegated_sun, lock_until_ms, votes, withdrawn_sun, …).
    stake: dict[str, Any] | None = None


class RejectedPayload(_Frozen):
    """Refused before anything was signed: always safe to correct and resend."""

    code: RejectionCode
    message: str
    retry_safe: Literal[True] = True
    errors: list[EventFieldError] | None = None


class FailedPayload(_Frozen):
    """The chain said no, or the worker proved the command cannot complete."""

    code: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{0,63}$")]
    message: str
    # Whether the publisher may send a *new* command (new key) for the same intent.
    retry_safe: bool
    txid: TxId | None = None
    fee_sun: Amount | None = None  # TRX the failed transaction burned
    reference: Reference | None = None
    errors: list[EventFieldError] | None = None


class NeedsAttentionPayload(_Frozen):
    """The worker cannot decide this command's fate on its own; an operator must look.
    `wallet.needs_attention` (an outflow nobody asked for) names the transaction."""

    code: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{0,63}$")]
    message: str
    wallet: Address | None = None
    txid: TxId | None = None
    asset: str | None = None
    amount: Amount | None = None
    pause: str | None = None  # the pause link this put on the wallet


class ControlPayload(_Frozen):
    """A kill switch changed (`control.paused` / `control.resumed`)."""

    scope: Annotated[str, Field(min_length=1, max_length=128)]  # global, asset:X, wallet:T…
    link: str  # the switch link's id; a resume names the pause link it lifts
    reason: str
    by: str
    lifts: str | None = None
    note: str | None = None
    details: dict[str, Any] | None = None


class DecidedPayload(_Frozen):
    """A payout.approve / payout.cancel took its decision on the waiting payout."""

    payout_command_id: uuid.UUID
    decision: Literal["approved", "cancelled"]
    by: str  # the deciding publisher key id
    reason: str


class ApprovalRequiredPayload(_Frozen):
    """A payout above the approval threshold waits for `payout.approve` or `payout.cancel`."""

    asset: str
    total_amount: Amount
    items: Annotated[int, strict_int(1)]
    recipients: list[dict[str, Any]]
    reason: str
    expires_at: Timestamp


class PayoutItemSummary(_Frozen):
    """One payout line's final state."""

    index: Annotated[int, strict_int(0)]
    reference: Reference
    to: Address
    amount: Amount
    state: Literal["confirmed", "failed"]
    txid: TxId | None = None
    fee_sun: Amount
    code: str | None = None
    retry_safe: bool  # whether a new payout for this line is safe


class PayoutCompletedPayload(_Frozen):
    """Every line of a payout is terminal: counts, totals and each line's fate."""

    asset: str
    source_wallet: Address
    confirmed: Annotated[int, strict_int(0)]
    failed: Annotated[int, strict_int(0)]
    total_amount_confirmed: Amount
    total_fee_sun: Amount
    items: list[PayoutItemSummary]
    # Energy the staking wallet lent the source for this payout (staking.energy_policy
    # "delegate"): delegated_sun, energy, from, delegate_txid, fee_sun (a top-up of the
    # source's standing delegation that this payout made; it stays for the next batches).
    energy: dict[str, Any] | None = None


class WalletCreatedPayload(_Frozen):
    """The wallets of a `wallet.create`, in index order (labels follow the same order)."""

    addresses: Annotated[list[Address], Field(min_length=1, max_length=100)]
    count: Annotated[int, strict_int(1, 100)]

    @field_validator("count")
    @classmethod
    def _count_matches(cls, count: int, info: ValidationInfo) -> int:
        addresses = info.data.get("addresses")
        if addresses is not None and len(addresses) != count:
            raise ValueError(f"count is {count} but {len(addresses)} addresses are listed")
        return count


EventPayload = (
    AcceptedPayload
    | BroadcastPayload
    | ConfirmedPayload
    | RejectedPayload
    | FailedPayload
    | WalletCreatedPayload
    | NeedsAttentionPayload
    | PayoutCompletedPayload
    | ControlPayload
    | ApprovalRequiredPayload
    | DecidedPayload
)
STATE_PAYLOADS: Final[dict[str, type[BaseModel]]] = {
    "accepted": AcceptedPayload,
    "broadcast": BroadcastPayload,
    "confirmed": ConfirmedPayload,
    "failed": FailedPayload,
    "rejected": RejectedPayload,
    "created": WalletCreatedPayload,
    "needs_attention": NeedsAttentionPayload,
    "item.broadcast": BroadcastPayload,
    "item.confirmed": ConfirmedPayload,
    "item.failed": FailedPayload,
    "completed": PayoutCompletedPayload,
    "approval_required": ApprovalRequiredPayload,
    "decided": DecidedPayload,
    "paused": ControlPayload,
    "resumed": ControlPayload,
}


# ----------------------------------------------------------------------------- the body


def _event_type(value: Any) -> str:
    if not isinstance(value, str) or value not in EVENT_TYPES:
        raise ValueError(f"event type must be one of {', '.join(EVENT_TYPES)}")
    return value


class EventFields(_Frozen):
    """What every event body has; `Event` adds the checked `type` and `payload`."""

    event_id: uuid.UUID
    seq: Annotated[int, strict_int(1)]
    type: str
    command_id: uuid.UUID | None
    # As recovered from the command (poison may hold any printable text); not re-validated.
    idempotency_key: Annotated[str, Field(max_length=255)] | None
    occurred_at: Timestamp


class Event(EventFields):
    """The body of every event; `type` is also the routing key (`<family>.<state>`)."""

    type: Annotated[str, Rule(_event_type, {"type": "string", "enum": list(EVENT_TYPES)})]
    payload: dict[str, Any]

    @field_validator("payload")
    @classmethod
    def _payload_fits_state(cls, payload: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        event_type = info.data.get("type")
        if event_type is None:
            return payload  # the type's own error is reported
        model = STATE_PAYLOADS[_state_of(event_type)]
        return model.model_validate(payload).model_dump(mode="json", exclude_none=True)

    @property
    def family(self) -> str:
        return self.type.partition(".")[0]

    @property
    def state(self) -> str:
        return _state_of(self.type)

    def typed_payload(self) -> EventPayload:
        """The payload as its state's model."""
        model = STATE_PAYLOADS[self.state]
        return model.model_validate(self.payload)  # type: ignore[return-value]


def _state_of(event_type: str) -> str:
    return event_type.partition(".")[2]


def make_event(
    *,
    family: str,
    state: str,
    payload: EventPayload,
    command_id: uuid.UUID | None,
    idempotency_key: str | None,
    occurred_at: datetime,
    attempt: int = 0,
    seq: int = 1,
    command_ref: str | None = None,
) -> Event:
    """An event with its deterministic id: uuid5 of (command_ref, state, attempt).

    Args:
        command_ref: defaults to str(command_id); poison without an id passes
            the body's hash reference (worker.pipeline.recover_ids).
        attempt: 0 for events not tied to a transaction attempt.

    Raises:
        ValueError: unknown (family, state), a payload of another state, or no reference.
    """
    event_type = f"{family}.{state}"
    if event_type not in EVENT_TYPES:
        raise ValueError(f"no event type {event_type!r}")
    if not isinstance(payload, STATE_PAYLOADS[state]):
        raise ValueError(f"{state} events need a {STATE_PAYLOADS[state].__name__}")
    if command_ref is None:
        if command_id is None:
            raise ValueError("an event needs a command_ref when there is no command_id")
        command_ref = str(command_id)
    return Event(
        event_id=event_id_for(command_ref, state, attempt),
        seq=seq,
        type=event_type,
        command_id=command_id,
        idempotency_key=idempotency_key,
        occurred_at=occurred_at,
        payload=payload.model_dump(mode="json", exclude_none=True),
    )


def rejected_event(
    *,
    family: str,
    command_ref: str,
    command_id: uuid.UUID | None,
    idempotency_key: str | None,
    code: str,
    message: str,
    occurred_at: datetime,
    errors: list[FieldError] | None = None,
    seq: int = 1,
) -> Event:
    """A `<family>.rejected` event: refused before anything was signed, safe to resend."""
    payload = RejectedPayload.model_validate(
        {"code": code, "message": message, "retry_safe": True, "errors": errors}
    )
    return make_event(
        family=family,
        state="rejected",
        payload=payload,
        command_id=command_id,
        idempotency_key=idempotency_key,
        occurred_at=occurred_at,
        attempt=0,
        seq=seq,
        command_ref=command_ref,
    )
