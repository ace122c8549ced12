"""JSON Schema (2020-12) for every command and event, as data; writing files is the CLI's job.

Keys are file names: `command.<type>.json` is the envelope with that type's
payload (what publishers send), `event.<type>.json` the event body with that
state's payload (what subscribers receive).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, create_model

from schemas.commands import COMMAND_TYPES, Envelope
from schemas.events import EVENT_TYPES, STATE_PAYLOADS, EventFields
from schemas.payloads import PAYLOADS

__all__ = ["JSON_SCHEMA_DIALECT", "json_schemas"]

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def json_schemas() -> dict[str, dict[str, Any]]:
    """Filename -> JSON Schema, for all 11 commands and every event type; deterministic."""
    schemas: dict[str, dict[str, Any]] = {}
    for command_type in COMMAND_TYPES:
        name = f"command.{command_type}.json"
        model = _command_model(command_type)
        schemas[name] = _document(name, model.model_json_schema(mode="validation"))
    for event_type in EVENT_TYPES:
        name = f"event.{event_type}.json"
        model = _event_model(event_type)
        schemas[name] = _document(name, model.model_json_schema(mode="serialization"))
    return schemas


def _command_model(command_type: str) -> type[BaseModel]:
    payload = PAYLOADS[command_type]
    model: type[BaseModel] = create_model(
        _title(command_type) + "Command",
        __base__=Envelope,
        __doc__=f"`{command_type}`, published with routing key `command.{command_type}`. "
        + (payload.__doc__ or ""),
        type=(_literal(command_type), ...),
        payload=(payload, ...),
    )
    return model


def _event_model(event_type: str) -> type[BaseModel]:
    payload = STATE_PAYLOADS[event_type.partition(".")[2]]
    model: type[BaseModel] = create_model(
        _title(event_type) + "Event",
        __base__=EventFields,
        __doc__=f"`{event_type}`, published to `tron.events` with that routing key. "
        + (payload.__doc__ or ""),
        type=(_literal(event_type), ...),
        payload=(payload, ...),
    )
    return model


def _literal(value: str) -> Any:
    literal: Any = Literal
    return literal[value]


def _title(dotted: str) -> str:
    return "".join(part.capitalize() for part in dotted.replace("_", ".").split("."))


def _document(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"$schema": JSON_SCHEMA_DIALECT, "$id": name, **schema}
