"""What MongoDB holds (DESIGN.md, "The invariant"): one model per collection.

Every decision two workers could race on is an insert under a unique `_id`,
so the `_id` rules live here as functions the store calls:

    commands     command_key(scope, idempotency_key)   the claim
    leases       lease_id(command_id, epoch)            next epoch = ownership
    tx_attempts  attempt_id(command_id, attempt)        the signed-tx journal
    events       str(event_id)                          the outbox
    wallets      wallet_id(command_id, index)           a redo creates only the missing

Datetimes are aware UTC with millisecond precision (what BSON keeps, so a
round trip compares equal); naive datetimes from a client without
`tz_aware=True` are read as UTC. UUIDs are stored as canonical strings (no
BSON binary subtype to configure). Money is int.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.events import Event
from schemas.types import (
    Address,
    IdempotencyKey,
    Rule,
    TxId,
    printable_text,
    strict_int,
)

__all__ = [
    "COMMAND_STATES",
    "NO_SCOPE",
    "TERMINAL_STATES",
    "CommandDoc",
    "CommandState",
    "EventDoc",
    "LeaseDoc",
    "StoredDatetime",
    "TxAttemptDoc",
    "WalletDoc",
    "attempt_id",
    "command_key",
    "lease_id",
    "wallet_id",
]

CommandState = Literal[
    "received", "signed", "broadcast", "confirmed", "failed", "rejected", "completed"
]
COMMAND_STATES: tuple[str, ...] = (
    "received",
    "signed",
    "broadcast",
    "confirmed",
    "failed",
    "rejected",
    "completed",
)
TERMINAL_STATES = frozenset({"confirmed", "failed", "rejected", "completed"})
NO_SCOPE = "-"  # the key scope when command authentication is off
ENCRYPTED_KEY_FIELDS = ("kek_id", "wrapped_dek", "nonce", "ciphertext")


def _stored_datetime(value: Any) -> datetime:
    if not isinstance(value, datetime):
        raise ValueError("must be a datetime")
    # BSON dates are UTC; pymongo returns them naive unless tz_aware=True.
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware.replace(microsecond=aware.microsecond // 1000 * 1000)


StoredDatetime = Annotated[
    datetime, Rule(_stored_datetime, {"type": "string", "format": "date-time"})
]


def _uuid_text(value: Any) -> str:
    try:
        return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
    except ValueError:
        raise ValueError("must be a UUID") from None


UuidText = Annotated[str, Rule(_uuid_text, {"type": "string", "format": "uuid"})]
"""A UUID kept as its canonical string: no BSON UUID representation to configure."""


def command_key(scope: str, idempotency_key: str) -> str:
    """The `commands` `_id`: `<scope>:<key>`; scope is the publisher's key id or "-".

    Raises:
        ValueError: scope is empty or contains ":" (the key may; the scope must not,
            or two scopes could produce the same `_id`).
    """
    if not scope or ":" in scope:
        raise ValueError("a key scope must be non-empty and contain no ':'")
    return f"{scope}:{idempotency_key}"


def lease_id(command_id: uuid.UUID | str, epoch: int) -> str:
    return f"{command_id}:{epoch}"


def attempt_id(command_id: uuid.UUID | str, attempt: int) -> str:
    return f"{command_id}:{attempt}"


def wallet_id(command_id: uuid.UUID | str, index: int) -> str:
    return f"{command_id}:{index}"


class _Document(BaseModel):
    """A stored document; `id` is the collection's `_id`."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_by_alias=True, validate_by_name=True
    )

    id: str = Field(alias="_id")

    def to_mongo(self) -> dict[str, Any]:
        """The document to insert: `_id`, aware datetimes, ints, plain dicts."""
        return self.model_dump(by_alias=True)

    @classmethod
    def from_mongo(cls, doc: dict[str, Any]) -> Self:
        return cls.model_validate(doc)


class CommandDoc(_Document):
    """`commands`: the claim. Inserted once; afterwards only the lease holder writes it."""

    command_id: UuidText
    key_scope: str
    idempotency_key: IdempotencyKey
    type: str
    payload_hash: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    payload: dict[str, Any]  # normalised (schemas.commands.normalised_payload)
    state: CommandState = "received"
    terminal: bool = False
    created_at: StoredDatetime
    updated_at: StoredDatetime
    terminal_at: StoredDatetime | None = None
    attempts: Annotated[int, strict_int(0)] = 0
    message_id: str | None = None
    correlation_id: str | None = None
    expires_at: StoredDatetime

    @model_validator(mode="after")
    def _terminal_matches_state(self) -> Self:
        terminal = self.state in TERMINAL_STATES
        if self.terminal != terminal:
            raise ValueError(f"terminal must be {terminal} in state {self.state}")
        if terminal != (self.terminal_at is not None):
            raise ValueError("terminal_at is set exactly when the command is terminal")
        return self


class LeaseDoc(_Document):
    """`leases`: `_id` `<command_id>:<epoch>`; inserting the next epoch takes the command."""

    command_id: UuidText
    epoch: Annotated[int, strict_int(1)]
    owner: str
    acquired_at: StoredDatetime
    expires_at: StoredDatetime


class TxAttemptDoc(_Document):
    """`tx_attempts`: the journal, written before the first broadcast, never updated."""

    command_id: UuidText
    attempt: Annotated[int, strict_int(1)]
    txid: TxId
    signed_tx: dict[str, Any]
    expiration: Annotated[int, strict_int(0)]  # ms since the epoch, from raw_data
    created_at: StoredDatetime


class EventDoc(_Document):
    """`events`: the outbox. `body_json` is the exact text published, so every
    re-publication is byte-identical; `published_at` is None until the broker confirmed."""

    command_id: UuidText | None
    seq: Annotated[int, strict_int(1)]
    routing_key: str  # the event's type
    body_json: str
    message_id: str | None = None  # the command's AMQP message_id, carried through
    correlation_id: str | None = None
    created_at: StoredDatetime
    published_at: StoredDatetime | None = None

    @classmethod
    def from_event(
        cls,
        event: Event,
        *,
        created_at: datetime,
        message_id: str | None = None,
        correlation_id: str | None = None,
    ) -> EventDoc:
        return cls(
            _id=str(event.event_id),
            command_id=str(event.command_id) if event.command_id else None,
            seq=event.seq,
            routing_key=event.type,
            body_json=event.model_dump_json(),
            message_id=message_id,
            correlation_id=correlation_id,
            created_at=created_at,
        )

    def event(self) -> Event:
        return Event.model_validate_json(self.body_json)


def _encrypted_key(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError("encrypted_key must be an object")
    missing = [name for name in ENCRYPTED_KEY_FIELDS if name not in value]
    if missing:
        raise ValueError(f"encrypted_key lacks {', '.join(missing)}")
    return value


class WalletDoc(_Document):
    """`wallets`: `_id` `<command_id>:<index>`; the private key only ever encrypted."""

    command_id: UuidText
    index: Annotated[int, strict_int(0)]
    address: Address
    public_key: Annotated[str, Field(pattern=r"^[0-9a-f]{128}$")]  # x||y, tronpy's form
    encrypted_key: Annotated[
        dict[str, Any],
        Rule(_encrypted_key, {"type": "object", "required": list(ENCRYPTED_KEY_FIELDS)}),
    ] = Field(repr=False)
    label: Annotated[str, printable_text("label", 128)] | None = None
    purpose: Literal["deposit", "hot", "staking"]
    created_at: StoredDatetime
