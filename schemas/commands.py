"""The command envelope, two-stage parsing, and the idempotency hash.

    parse_envelope(body)  -> Envelope        raises NotAnEnvelope (poison)
    parse_payload(env)    -> CommandPayload  raises InvalidCommand (INVALID_COMMAND)
    parse_command(body)   -> Command         both stages

Two stages, so the consumer can tell a body that is not a command at all
(dead-letter it) from a well-formed command that asks for something invalid
(answer `<family>.rejected` and ack).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from schemas.errors import InvalidCommand, NotAnEnvelope, field_errors, summarise
from schemas.payloads import PAYLOADS, CommandPayload
from schemas.types import IdempotencyKey, Rule, Timestamp, parse_timestamp

__all__ = [
    "COMMAND_TYPES",
    "DEFAULT_LIFETIME",
    "FAMILIES",
    "MAX_BODY_BYTES",
    "MAX_LIFETIME",
    "SCHEMA_VERSION",
    "Command",
    "CommandType",
    "Envelope",
    "Family",
    "canonical_json",
    "expired",
    "family_of",
    "idempotency_hash",
    "normalised_payload",
    "parse_command",
    "parse_envelope",
    "parse_payload",
]

SCHEMA_VERSION = 1
DEFAULT_LIFETIME = timedelta(hours=24)
# Commands stay claimable for replays only as long as their record is kept, so
# a publisher cannot ask for more than this (the retention cleanup must keep a
# command until it has expired; see the store).
MAX_LIFETIME = timedelta(days=7)
# The largest valid command (100 payout lines) is ~25 KiB.
MAX_BODY_BYTES = 256 * 1024

CommandType = Literal[
    "wallet.create",
    "transfer.trx",
    "transfer.trc20",
    "payout.create",
    "payout.approve",
    "payout.cancel",
    "stake.freeze",
    "stake.unfreeze",
    "stake.delegate",
    "stake.undelegate",
    "stake.vote",
    "stake.withdraw_unfrozen",
    "stake.claim_rewards",
]
COMMAND_TYPES: tuple[str, ...] = get_args(CommandType)
Family = Literal["wallet", "transfer", "payout", "stake"]
FAMILIES: tuple[str, ...] = get_args(Family)


def _command_type(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("type must be a string naming a command")
    if value not in PAYLOADS:
        named = f" {value!r}" if len(value) <= 64 and value.isprintable() else ""
        raise ValueError(f"unknown command type{named} (known: {', '.join(COMMAND_TYPES)})")
    return value


def _schema_version(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"schema_version must be the integer {SCHEMA_VERSION}")
    if value != SCHEMA_VERSION:
        raise ValueError(
            f"unsupported schema_version {value} (this worker understands {SCHEMA_VERSION})"
        )
    return value


def _command_id(value: Any) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str) and len(value) == 36:
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise ValueError("command_id must be a UUID like 1b4e28ba-2fa1-11d2-883f-0016d3cca427")


_UUID_SCHEMA = {"type": "string", "format": "uuid"}
_OPTIONAL_TIME = {
    "anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}],
    "description": "RFC 3339; default issued_at + 24 h; never executed from then on",
}


class Envelope(BaseModel):
    """A command as published to `tron.commands`; `payload` is checked in stage two."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    command_id: Annotated[uuid.UUID, Rule(_command_id, _UUID_SCHEMA)]
    idempotency_key: IdempotencyKey
    type: Annotated[
        CommandType, Rule(_command_type, {"type": "string", "enum": list(COMMAND_TYPES)})
    ]
    schema_version: Annotated[
        int, Rule(_schema_version, {"type": "integer", "const": SCHEMA_VERSION})
    ]
    issued_at: Timestamp
    # Never None after validation: filled with issued_at + DEFAULT_LIFETIME.
    expires_at: Annotated[datetime, Rule(parse_timestamp, _OPTIONAL_TIME)] = None  # type: ignore[assignment]
    # Any JSON value: a payload that is not an object is the publisher's error to
    # fix (INVALID_COMMAND from stage two), not poison.
    payload: Any

    @model_validator(mode="before")
    @classmethod
    def _default_expiry(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("expires_at") is None:
            data = {key: value for key, value in data.items() if key != "expires_at"}
            try:
                data["expires_at"] = parse_timestamp(data["issued_at"]) + DEFAULT_LIFETIME
            except (KeyError, ValueError):
                pass  # issued_at's own error is the one to report
        return data

    @field_validator("expires_at")
    @classmethod
    def _expiry_after_issue(cls, expires_at: datetime, info: ValidationInfo) -> datetime:
        issued_at = info.data.get("issued_at")
        if issued_at is None:
            return expires_at  # issued_at's own error is the one to report
        if expires_at <= issued_at:
            raise ValueError("expires_at must be after issued_at")
        if expires_at - issued_at > MAX_LIFETIME:
            raise ValueError(f"expires_at must be at most {MAX_LIFETIME.days} days after issued_at")
        return expires_at

    @property
    def family(self) -> str:
        """`wallet`, `transfer`, `payout` or `stake`."""
        return family_of(self.type)

    @property
    def routing_key(self) -> str:
        return f"command.{self.type}"


@dataclass(frozen=True)
class Command:
    """A validated envelope with its typed, normalised payload."""

    envelope: Envelope
    payload: CommandPayload

    @property
    def type(self) -> CommandType:
        return self.envelope.type

    @property
    def family(self) -> str:
        return self.envelope.family

    @property
    def routing_key(self) -> str:
        return self.envelope.routing_key

    @property
    def command_id(self) -> uuid.UUID:
        return self.envelope.command_id

    @property
    def idempotency_key(self) -> str:
        return self.envelope.idempotency_key

    @property
    def payload_hash(self) -> str:
        return idempotency_hash(self.type, self.payload)

    def normalised_payload(self) -> dict[str, Any]:
        return normalised_payload(self.payload)


def family_of(command_type: str) -> str:
    """`payout.create` -> `payout`."""
    return command_type.partition(".")[0]


def parse_envelope(body: bytes | str) -> Envelope:
    """Stage one: the body as an envelope.

    Raises:
        NotAnEnvelope: not UTF-8 JSON, not an object, or a missing/invalid envelope field.
    """
    data = _load_json(body)
    if not isinstance(data, dict):
        raise NotAnEnvelope(f"body is a JSON {_json_kind(data)}, not an object")
    try:
        return Envelope.model_validate(data)
    except ValidationError as exc:
        errors = field_errors(exc)
        raise NotAnEnvelope(summarise("invalid envelope", errors), errors) from None


def parse_payload(envelope: Envelope) -> CommandPayload:
    """Stage two: the payload model for `envelope.type`.

    Raises:
        InvalidCommand: with field-level messages (`payload.recipients.0.amount`).
    """
    try:
        return PAYLOADS[envelope.type].model_validate(envelope.payload)
    except ValidationError as exc:
        raise InvalidCommand(field_errors(exc, "payload")) from None


def parse_command(body: bytes | str) -> Command:
    """Both stages; raises NotAnEnvelope or InvalidCommand."""
    envelope = parse_envelope(body)
    return Command(envelope, parse_payload(envelope))


def expired(envelope: Envelope, now: datetime) -> bool:
    """True once `now` reached `expires_at`: the command must never be executed."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now >= envelope.expires_at


def normalised_payload(payload: CommandPayload) -> dict[str, Any]:
    """The payload as JSON-ready data: ints, base58 addresses, defaults filled in."""
    return payload.model_dump(mode="json")


def canonical_json(data: Any) -> str:
    """Sorted keys, no whitespace, ASCII only: one text per value."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def idempotency_hash(command_type: str, payload: CommandPayload) -> str:
    """sha256 hex of the canonical JSON of `{"type": ..., "payload": <normalised>}`.

    Raises:
        ValueError: the payload model belongs to another command type.
    """
    if payload.command_type != command_type:
        raise ValueError(f"a {payload.command_type} payload cannot hash as {command_type}")
    text = canonical_json({"type": command_type, "payload": normalised_payload(payload)})
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _load_json(body: bytes | str) -> Any:
    if len(body) > MAX_BODY_BYTES:
        raise NotAnEnvelope(f"body is {len(body)} bytes; at most {MAX_BODY_BYTES} are accepted")
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
    except UnicodeDecodeError:
        raise NotAnEnvelope("body is not UTF-8 text") from None
    try:
        return json.loads(
            text,
            object_pairs_hook=_no_duplicate_keys,
            parse_constant=_no_constant,
            parse_int=_integer,
        )
    except NotAnEnvelope:
        raise
    except (ValueError, RecursionError) as exc:
        raise NotAnEnvelope(f"body is not JSON: {_json_error(exc)}") from None


_HUGE = 10**4300  # stands for an integer too long for int(): above every limit all the same


def _integer(digits: str) -> int:
    """A JSON integer; one past Python's int() digit limit is valid JSON and far above any
    amount, so it is judged by the field like 2**256 (and never echoed)."""
    if len(digits) <= 4000:
        return int(digits)
    return -_HUGE if digits.startswith("-") else _HUGE


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # A signer and a reader could disagree on which duplicate wins: refuse both.
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise NotAnEnvelope(f"body is not JSON we accept: duplicate key {key[:64]!r}")
        data[key] = value
    return data


def _no_constant(name: str) -> Any:
    raise NotAnEnvelope(f"body is not JSON we accept: {name} is not a JSON number")


def _json_error(exc: BaseException) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return type(exc).__name__


def _json_kind(value: Any) -> str:
    names = {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
