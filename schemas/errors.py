"""Why a body is not a command we can run, in two kinds the consumer treats differently.

SchemaError (ValueError)
 +-- NotAnEnvelope    not JSON, not an object, or a bad envelope field: poison,
 |                    dead-lettered (plus a `rejected` event if ids can be recovered)
 +-- InvalidCommand   a valid envelope whose payload is wrong: `<family>.rejected`
                      with code INVALID_COMMAND and the field-level messages, then ack

Messages name fields and rules, never echo input values: a body may carry a
secret pasted into the wrong field, and these messages reach events and logs.
"""

from __future__ import annotations

from typing import Any, TypedDict

from pydantic import ValidationError

__all__ = ["MAX_FIELD_ERRORS", "FieldError", "InvalidCommand", "NotAnEnvelope", "SchemaError"]

# A payout with 100 bad lines would otherwise make a very large event.
MAX_FIELD_ERRORS = 50

_PLAIN_MESSAGES = {
    "missing": "required field is missing",
    "extra_forbidden": "unknown field",
    "dict_type": "must be a JSON object",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "list_type": "must be a JSON array",
    "tuple_type": "must be a JSON array",
    "bool_type": "must be true or false",
}


class FieldError(TypedDict):
    field: str
    message: str


class SchemaError(ValueError):
    """A body or payload failed validation; `errors` lists what, field by field."""

    def __init__(self, reason: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.errors: list[FieldError] = list(errors or [])


class NotAnEnvelope(SchemaError):
    """Poison: the body cannot be read as a command envelope at all."""


class InvalidCommand(SchemaError):
    """The envelope is fine; the payload is not (code INVALID_COMMAND)."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(summarise("invalid payload", errors), errors)


def field_errors(exc: ValidationError, prefix: str = "") -> list[FieldError]:
    """pydantic's errors as `[{"field": "payload.recipients.0.amount", "message": ...}]`."""
    errors = exc.errors(include_url=False, include_input=False)
    out: list[FieldError] = []
    for error in errors[:MAX_FIELD_ERRORS]:
        path = ".".join(str(part) for part in (prefix, *error["loc"]) if part != "")
        out.append({"field": path or "body", "message": _message(error)})
    if len(errors) > MAX_FIELD_ERRORS:
        hidden = len(errors) - MAX_FIELD_ERRORS
        out.append({"field": prefix or "body", "message": f"{hidden} more errors not shown"})
    return out


def summarise(what: str, errors: list[FieldError], limit: int = 3) -> str:
    """One line: `what: field: message; field: message (and N more)`."""
    shown = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:limit])
    more = f" (and {len(errors) - limit} more)" if len(errors) > limit else ""
    return f"{what}: {shown}{more}" if shown else what


def _message(error: Any) -> str:
    if error["type"] in _PLAIN_MESSAGES:
        return _PLAIN_MESSAGES[error["type"]]
    if error["type"] in ("too_short", "too_long") and "actual_length" in error.get("ctx", {}):
        ctx = error["ctx"]
        if error["type"] == "too_short":
            return f"must have at least {_items(ctx['min_length'])}, got {ctx['actual_length']}"
        return f"must have at most {_items(ctx['max_length'])}, got {ctx['actual_length']}"
    if error["type"] == "value_error":
        return str(error.get("ctx", {}).get("error", error["msg"]))
    return str(error["msg"])


def _items(count: int) -> str:
    return f"{count} item" if count == 1 else f"{count} items"
