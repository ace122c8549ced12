"""Protobuf messages described as data: parsed from java-tron's JSON, encoded, printed back.

java-tron turns HTTP JSON into protobuf with its own JsonFormat and prints
protobuf back with it. Three behaviours matter for txids and for clients:
- parsing: unknown keys are ignored, `null` leaves a field unset, a repeated
  field also accepts a single value, int64 must be a JSON integer (a quoted
  number fails), enums take a name or a number (an all-lowercase name gets its
  first letter capitalised first), bytes are hex (optional 0x, odd length
  padded) except that with `visible=true` address fields are base58check and
  name fields are UTF-8 text (HttpSelfFormatFieldName);
- encoding: protobuf-java's canonical bytes, fields in number order, proto3
  defaults left out (done by `devnet.encoding`);
- printing: only fields that differ from their default, enums by name.

A message value is a dict from field name to value: int (also enums), bool,
bytes, str, a nested dict, or a list of those for repeated fields.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from devnet.encoding import field_bytes, field_message, field_varint
from devnet.keys import address_to_base58, base58check_decode

__all__ = [
    "EnumSpec",
    "FieldSpec",
    "Kind",
    "MessageParseError",
    "MessageSpec",
    "encode_message",
    "parse_message",
    "print_message",
]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


class MessageParseError(ValueError):
    """JSON that JsonFormat.merge would reject (a JsonFormat$ParseException or worse)."""


class Kind(enum.Enum):
    """The protobuf field types devnet's messages use."""

    INT64 = "int64"
    INT32 = "int32"
    BOOL = "bool"
    ENUM = "enum"
    BYTES = "bytes"
    STRING = "string"
    MESSAGE = "message"


@dataclass(frozen=True, slots=True)
class EnumSpec:
    """A protobuf enum: value names by number, as the .proto declares them."""

    names: Mapping[int, str]

    def number_of(self, name: str) -> int | None:
        for number, candidate in self.names.items():
            if candidate == name:
                return number
        return None


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field: JSON name, field number, type, and java-tron's visible-mode formatting."""

    name: str
    number: int
    kind: Kind
    repeated: bool = False
    address: bool = False  # HttpSelfFormatFieldName address field: base58 when visible
    text: bool = False  # HttpSelfFormatFieldName name field: UTF-8 text when visible
    enum: EnumSpec | None = None
    message: MessageSpec | None = None


@dataclass(frozen=True, slots=True)
class MessageSpec:
    """A message type: its protobuf full name and fields (any order; encoding sorts them)."""

    full_name: str
    fields: tuple[FieldSpec, ...]
    by_name: Mapping[str, FieldSpec] = field(init=False, repr=False, compare=False)
    in_number_order: tuple[FieldSpec, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {spec.name: spec for spec in self.fields})
        ordered = tuple(sorted(self.fields, key=lambda spec: spec.number))
        object.__setattr__(self, "in_number_order", ordered)


def _parse_int(value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise MessageParseError(f'Couldn\'t parse integer: For input string: "{value}"')
    return value


def _parse_hex(text: str) -> bytes:
    text = text.removeprefix("0x")
    if len(text) % 2:
        text = "0" + text
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise MessageParseError("INVALID hex String") from None


def _parse_address(text: str) -> bytes:
    # Commons.decodeFromBase58Check returns null for anything invalid and
    # ByteString.copyFrom(null) then throws: the field cannot be parsed.
    try:
        address = base58check_decode(text)
    except ValueError:
        raise MessageParseError(f"invalid base58check address {text!r}") from None
    if len(address) != 21 or address[0] != 0x41:
        raise MessageParseError(f"invalid base58check address {text!r}")
    return address


def _parse_bytes(spec: FieldSpec, value: Any, visible: bool) -> bytes:
    if not isinstance(value, str):
        raise MessageParseError("Expected string.")
    if visible and spec.address:
        return _parse_address(value)
    if visible and spec.text:
        return value.encode()
    return _parse_hex(value)


def _parse_enum(spec: FieldSpec, value: Any) -> int:
    assert spec.enum is not None
    if isinstance(value, int) and not isinstance(value, bool):
        if value not in spec.enum.names:
            raise MessageParseError(f"Enum type has no value with number {value}.")
        return value
    if not isinstance(value, str):
        raise MessageParseError("Expected identifier.")
    name = value[:1].upper() + value[1:] if value.islower() else value
    number = spec.enum.number_of(name)
    if number is None:
        raise MessageParseError(f'Enum type has no value named "{name}".')
    return number


def _parse_bool(value: Any) -> bool:
    # TextFormat's boolean tokens include 1 and 0.
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise MessageParseError(f'Expected "true" or "false". Found "{value}".')


def _parse_value(spec: FieldSpec, value: Any, visible: bool) -> Any:
    match spec.kind:
        case Kind.INT64:
            return _parse_int(value, _INT64_MIN, _INT64_MAX)
        case Kind.INT32:
            return _parse_int(value, _INT32_MIN, _INT32_MAX)
        case Kind.BOOL:
            return _parse_bool(value)
        case Kind.ENUM:
            return _parse_enum(spec, value)
        case Kind.BYTES:
            return _parse_bytes(spec, value, visible)
        case Kind.STRING:
            if not isinstance(value, str):
                raise MessageParseError("Expected string.")
            return value
        case Kind.MESSAGE:
            assert spec.message is not None
            return parse_message(spec.message, value, visible)
    raise AssertionError(spec.kind)


def parse_message(spec: MessageSpec, obj: Any, visible: bool) -> dict[str, Any]:
    """Parse a JSON object into a message value as JsonFormat.merge does.

    Raises:
        MessageParseError: a field's JSON value cannot be parsed.
    """
    if not isinstance(obj, dict):
        raise MessageParseError('Expected "{".')
    values: dict[str, Any] = {}
    for name, raw in obj.items():
        field_spec = spec.by_name.get(name)
        if field_spec is None or raw is None:
            continue
        if field_spec.repeated:
            items = raw if isinstance(raw, list) else [raw]
            parsed = [_parse_value(field_spec, item, visible) for item in items if item is not None]
            values[name] = values.get(name, []) + parsed
        else:
            values[name] = _parse_value(field_spec, raw, visible)
    return values


def _encode_one(spec: FieldSpec, value: Any) -> bytes:
    if spec.kind in (Kind.INT64, Kind.INT32, Kind.ENUM, Kind.BOOL):
        return field_varint(spec.number, int(value))
    if spec.kind is Kind.BYTES:
        return field_bytes(spec.number, value)
    if spec.kind is Kind.STRING:
        return field_bytes(spec.number, value.encode())
    assert spec.message is not None
    return field_message(spec.number, encode_message(spec.message, value))


def _encode_repeated(spec: FieldSpec, items: Sequence[Any]) -> bytes:
    if spec.kind is Kind.BYTES:
        # Repeated bytes keep empty elements: only singular proto3 fields drop defaults.
        return b"".join(field_message(spec.number, item) for item in items)
    if spec.kind is Kind.MESSAGE:
        return b"".join(_encode_one(spec, item) for item in items)
    raise NotImplementedError("packed repeated scalars are not used by devnet's messages")


def encode_message(spec: MessageSpec, values: Mapping[str, Any]) -> bytes:
    """Serialise a message value as protobuf-java does: number order, defaults omitted."""
    parts = []
    for field_spec in spec.in_number_order:
        value = values.get(field_spec.name)
        if value is None:
            continue
        if field_spec.repeated:
            parts.append(_encode_repeated(field_spec, value))
        else:
            parts.append(_encode_one(field_spec, value))
    return b"".join(parts)


def _print_bytes(spec: FieldSpec, value: bytes, visible: bool) -> str:
    if visible and spec.address:
        return address_to_base58(value)
    if visible and spec.text:
        return value.decode(errors="replace")
    return value.hex()


def _print_value(spec: FieldSpec, value: Any, visible: bool) -> Any:
    if spec.kind is Kind.ENUM:
        assert spec.enum is not None
        return spec.enum.names.get(value, value)
    if spec.kind is Kind.BYTES:
        return _print_bytes(spec, value, visible)
    if spec.kind is Kind.MESSAGE:
        assert spec.message is not None
        return print_message(spec.message, value, visible)
    return value


def _is_default(spec: FieldSpec, value: Any) -> bool:
    if spec.repeated:
        return not value
    if spec.kind is Kind.MESSAGE:
        return value is None  # a set message prints even when empty
    return not value


def print_message(spec: MessageSpec, values: Mapping[str, Any], visible: bool) -> dict[str, Any]:
    """Render a message value as JsonFormat.printToString does, in field-number order."""
    out: dict[str, Any] = {}
    for field_spec in spec.in_number_order:
        value = values.get(field_spec.name)
        if value is None or _is_default(field_spec, value):
            continue
        if field_spec.repeated:
            out[field_spec.name] = [_print_value(field_spec, item, visible) for item in value]
        else:
            out[field_spec.name] = _print_value(field_spec, value, visible)
    return out
