"""What MongoDB holds (DESIGN.md, "The invariant"): one model per collection, the truth
of what the worker writes (tests round-trip documents the worker really stored).

Every decision two workers could race on is an insert under a unique `_id`,
so the `_id` rules live here as functions every repository calls. All but the
claim's start from `c` = `command_ref(claim)`:

    commands     command_key(scope, idempotency_key)   the claim
    active       command_key(...)                      an unfinished command let go of
    leases       lease_id(c, epoch)                    next epoch = ownership
    gates        gate_id(c)                            open (effects may follow) or void
    tx_attempts  attempt_id(c, item, attempt)          the signed-tx journal
    events       str(event_id)                         the outbox (uuid5 of event_ref)
    outbox       str(event_id)                         an event not yet confirmed
    wallets      wallet_id(c, index)                   a redo creates only the missing

Inserted documents carry the writer's `nonce` (worker/store.py). Datetimes are
aware UTC with millisecond precision (what BSON keeps, so a round trip compares
equal); naive datetimes from a client without `tz_aware=True` are read as UTC.
UUIDs are stored as canonical strings. Money is int.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self, get_args

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
    "DOCUMENTS",
    "NO_SCOPE",
    "TERMINAL_STATES",
    "ActiveDoc",
    "CommandDoc",
    "CommandState",
    "EventDoc",
    "GateDoc",
    "LeaseDoc",
    "OutboxDoc",
    "OutflowDoc",
    "StoredDatetime",
    "TxAttemptDoc",
    "WalletDoc",
    "attempt_id",
    "command_key",
    "command_ref",
    "event_ref",
    "gate_id",
    "lease_id",
    "wallet_id",
]

CommandState = Literal[
    "received",
    "signed",
    "broadcast",
    "confirmed",
    "failed",
    "rejected",
    "completed",
    "needs_attention",
    "awaiting_approval",
]
COMMAND_STATES: tuple[str, ...] = get_args(CommandState)
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


# Fixed namespace of `c`; changing it would change every id derived from a claim.
COMMAND_NAMESPACE = uuid.UUID("0b6f3d0e-4c1a-5e7b-8d2f-9a3c5e7f1b24")


def command_key(scope: str, idempotency_key: str) -> str:
    """The `commands` `_id`: `<scope>:<key>`; scope is the publisher's key id or "-".

    Raises:
        ValueError: scope is empty or contains ":" (the key may; the scope must not,
            or two scopes could produce the same `_id`).
    """
    if not scope or ":" in scope:
        raise ValueError("a key scope must be non-empty and contain no ':'")
    return f"{scope}:{idempotency_key}"


def command_ref(key: str) -> str:
    """`c`: uuid5 of the claim. Every other id of a command starts from it, never from the
    publisher's `command_id` (another tenant may reuse it) or the raw key (it may hold ':')."""
    return str(uuid.uuid5(COMMAND_NAMESPACE, key))


def lease_id(ref: str, epoch: int) -> str:
    return f"{ref}:{epoch}"


def attempt_id(ref: str, item: int, attempt: int) -> str:
    return f"{ref}:{item}:{attempt}"


def wallet_id(ref: str, index: int) -> str:
    return f"{ref}:{index}"


def gate_id(ref: str) -> str:
    return ref


def event_ref(ref: str, item: int = 0) -> str:
    """What an event id is derived from, with the state and the attempt: uuid5 of
    (c, item, state, attempt); a single transfer or a wallet.create is item 0."""
    return f"{ref}:{item}"


Nonce = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]


class _Document(BaseModel):
    """A stored document; `id` is the collection's `_id`."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_by_alias=True, validate_by_name=True
    )

    id: str = Field(alias="_id")

    def to_mongo(self) -> dict[str, Any]:
        """The document as stored: `_id`, aware datetimes, ints, plain dicts."""
        return self.model_dump(by_alias=True, exclude_none=False)

    @classmethod
    def from_mongo(cls, doc: dict[str, Any]) -> Self:
        return cls.model_validate(doc)


class CommandDoc(_Document):
    """`commands`: the claim. Inserted once; afterwards only the lease holder writes it,
    once, when it ends (state, terminal flag and event ids together)."""

    ref: UuidText  # `c`
    command_id: UuidText  # the publisher's, for display: never an id of ours
    scope: str
    idempotency_key: IdempotencyKey
    type: str
    payload_hash: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    payload: dict[str, Any]  # normalised (schemas.commands.normalised_payload)
    state: CommandState = "received"
    terminal: bool = False
    terminal_at: StoredDatetime | None = None
    issued_at: StoredDatetime
    expires_at: StoredDatetime
    created_at: StoredDatetime
    updated_at: StoredDatetime
    events: list[str] = Field(default_factory=list)
    progress_epoch: Annotated[int, strict_int(1)] | None = None  # the last epoch that moved it
    message_id: str | None = None
    correlation_id: str | None = None
    nonce: Nonce | None = None

    @model_validator(mode="after")
    def _terminal_matches_state(self) -> Self:
        terminal = self.state in TERMINAL_STATES
        if self.terminal != terminal:
            raise ValueError(f"terminal must be {terminal} in state {self.state}")
        if terminal != (self.terminal_at is not None):
            raise ValueError("terminal_at is set exactly when the command is terminal")
        if self.ref != command_ref(self.id):
            raise ValueError("ref must be command_ref(_id)")
        return self


class ActiveDoc(_Document):
    """`active`: a non-terminal command some delivery let go of; the sweeper's work list."""

    ref: UuidText
    marked_at: StoredDatetime
    nonce: Nonce | None = None


class LeaseDoc(_Document):
    """`leases`: `_id` `<c>:<epoch>`; inserting the next epoch takes the command. Epoch 1
    is the claim itself and has a document only once its holder renewed it."""

    ref: str  # a command's `c`, or "chain-follower" for the follower's own lease
    epoch: Annotated[int, strict_int(1)]
    owner: str
    renewed_at: StoredDatetime
    expires_at: StoredDatetime
    nonce: Nonce | None = None


class GateDoc(_Document):
    """`gates`: `_id` `<c>`; "open" before a command's first effect, "void" when given up."""

    state: Literal["open", "void"]
    epoch: Annotated[int, strict_int(1)]
    at: StoredDatetime
    nonce: Nonce | None = None


class TxAttemptDoc(_Document):
    """`tx_attempts`: the journal, written before the first broadcast, never updated."""

    ref: UuidText
    item: Annotated[int, strict_int(0)]
    attempt: Annotated[int, strict_int(1)]
    void: bool = False  # attempt 1 sealed: the command ended before anything was signed
    txid: TxId | None = None
    raw_hex: str | None = None  # Transaction.raw as signed
    signed_hex: str | None = None  # Transaction{raw_data, signature}, as broadcast
    signature_hex: str | None = None
    expiration_ms: Annotated[int, strict_int(0)] | None = None
    timestamp_ms: Annotated[int, strict_int(0)] | None = None
    ref_block_number: Annotated[int, strict_int(0)] | None = None
    head_number: Annotated[int, strict_int(0)] | None = None  # the endpoint's head at build
    owner: Address | None = None
    created_at: StoredDatetime | None = None
    nonce: Nonce | None = None

    @model_validator(mode="after")
    def _signed_unless_void(self) -> Self:
        if not self.void and (self.txid is None or self.signed_hex is None):
            raise ValueError("a journaled attempt holds its txid and signed bytes")
        return self


class EventDoc(_Document):
    """`events`: the outbox. `body_json` is the exact text published, so every
    re-publication is byte-identical. Published once its `outbox` marker is gone."""

    command_id: UuidText | None
    seq: Annotated[int, strict_int(1)]
    routing_key: str  # the event's type
    body_json: str
    correlation_id: str | None = None
    created_at: StoredDatetime
    nonce: Nonce | None = None

    def event(self) -> Event:
        return Event.model_validate_json(self.body_json)


class OutboxDoc(_Document):
    """`outbox`: an event not yet confirmed by the broker (`_id` = event id)."""

    created_at: StoredDatetime
    nonce: Nonce | None = None


def _encrypted_key(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError("encrypted_key must be an object")
    missing = [name for name in ENCRYPTED_KEY_FIELDS if name not in value]
    if missing:
        raise ValueError(f"encrypted_key lacks {', '.join(missing)}")
    return value


class WalletDoc(_Document):
    """`wallets`: `_id` `<c>:<index>`; the private key only ever encrypted."""

    ref: UuidText
    index: Annotated[int, strict_int(0)]
    command_id: UuidText
    address: Address
    public_key: Annotated[str, Field(pattern=r"^[0-9a-f]{128}$")]  # x||y, tronpy's form
    encrypted_key: Annotated[
        dict[str, Any],
        Rule(_encrypted_key, {"type": "object", "required": list(ENCRYPTED_KEY_FIELDS)}),
    ] = Field(repr=False)
    label: Annotated[str, printable_text("label", 128)] | None = None
    purpose: Literal["deposit", "hot", "staking"]
    created_at: StoredDatetime
    nonce: Nonce | None = None


class AddressDoc(_Document):
    """`addresses`: `_id` a managed wallet's base58 address; which wallet it is."""

    wallet: str
    nonce: Nonce | None = None


class TxidDoc(_Document):
    """`txids`: `_id` a txid, claimed by one attempt before it is journaled."""

    attempt: str
    at: StoredDatetime
    nonce: Nonce | None = None


class InflightDoc(_Document):
    """`inflight`: `_id` a txid whose fate the chain follower must decide."""

    attempt: str
    command: str  # the claim's key: what the follower wakes
    expiration_ms: Annotated[int, strict_int(0)]
    ref_block_number: Annotated[int, strict_int(0)]
    at: StoredDatetime
    nonce: Nonce | None = None


class FateDoc(_Document):
    """`fates`: `_id` an attempt id; what the chain decided, once."""

    model_config = ConfigDict(extra="allow")  # the receipt's figures ride along

    fate: Literal["confirmed", "failed", "absent", "unknown"]
    txid: TxId
    block_number: Annotated[int, strict_int(0)]
    decided_at: StoredDatetime
    nonce: Nonce | None = None


class SeenDoc(_Document):
    """`seen`: `_id` a txid found in a solidified block (ours, or a managed wallet's)."""

    block_number: Annotated[int, strict_int(0)]
    block_id: str
    block_time_ms: Annotated[int, strict_int(0)]
    nonce: Nonce | None = None


class OutflowDoc(_Document):
    """`outflows`: `_id` a txid, or `<txid>:<log index>` for a TRC20 Transfer log: an
    outflow from a managed wallet that no journaled attempt explains (worker/reconcile.py).
    Inserted once (the insert decides who counts it); `pause` is set once the wallet's
    pause link exists, by the follower's lease holder only."""

    txid: TxId
    wallet: Address
    asset: str  # "TRX", a token symbol, a contract's base58 address, or "TRC10:<id>"
    amount: Annotated[int, strict_int(0)]  # sun or base units, capped at int64
    what: str
    block_number: Annotated[int, strict_int(0)]
    block_id: str
    block_time_ms: Annotated[int, strict_int(0)]
    found_at: StoredDatetime
    pause: str | None = None  # the pause link put on the wallet
    nonce: Nonce | None = None


class CursorDoc(_Document):
    """`chain`: `_id` "cursor"; the follower's last processed solidified block."""

    number: Annotated[int, strict_int(0)]
    block_id: str
    timestamp_ms: Annotated[int, strict_int(0)]
    coverage_from: Annotated[int, strict_int(0)]
    moved_at: StoredDatetime


# The model of every collection the worker writes.
DOCUMENTS: dict[str, type[_Document]] = {
    "commands": CommandDoc,
    "active": ActiveDoc,
    "leases": LeaseDoc,
    "gates": GateDoc,
    "tx_attempts": TxAttemptDoc,
    "events": EventDoc,
    "outbox": OutboxDoc,
    "wallets": WalletDoc,
    "addresses": AddressDoc,
    "txids": TxidDoc,
    "inflight": InflightDoc,
    "fates": FateDoc,
    "seen": SeenDoc,
    "chain": CursorDoc,
    "outflows": OutflowDoc,
}
