"""Events the worker publishes to `tron.events` (DESIGN.md, "Message contract").

No I/O here. `event_id` is deterministic (uuid5 of command id, state and
attempt) so a re-published event carries the same id and subscribers can
deduplicate on it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["EVENT_NAMESPACE", "Event", "EventState", "event_id_for", "rejected_event"]

# Fixed namespace for uuid5 event ids; changing it would change every event id.
EVENT_NAMESPACE = uuid.UUID("6f1c3a52-7d0e-5b8a-9c41-2e7f4d9a1b30")

EventState = Literal["accepted", "broadcast", "confirmed", "failed", "rejected"]


def event_id_for(command_ref: str, state: str, attempt: int) -> uuid.UUID:
    """The id an event about (command, state, attempt) always has."""
    return uuid.uuid5(EVENT_NAMESPACE, f"{command_ref}:{state}:{attempt}")


class Event(BaseModel):
    """The body of every event; `type` is also the routing key (`<family>.<state>`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: uuid.UUID
    seq: int = Field(ge=1)
    type: str = Field(pattern=r"^[a-z][a-z0-9_]*\.(accepted|broadcast|confirmed|failed|rejected)$")
    command_id: uuid.UUID | None
    idempotency_key: str | None
    occurred_at: datetime
    payload: dict[str, Any]


def rejected_event(
    *,
    family: str,
    command_ref: str,
    command_id: uuid.UUID | None,
    idempotency_key: str | None,
    code: str,
    message: str,
    occurred_at: datetime,
) -> Event:
    """A `<family>.rejected` event: refused before anything was signed, safe to resend."""
    return Event(
        event_id=event_id_for(command_ref, "rejected", 0),
        seq=1,
        type=f"{family}.rejected",
        command_id=command_id,
        idempotency_key=idempotency_key,
        occurred_at=occurred_at,
        payload={"code": code, "message": message, "retry_safe": True},
    )
