"""Protobuf wire decoding, as protobuf-java parses a message from bytes (`parseFrom`).

The counterpart of `devnet.encoding`, for the one place bytes come in:
`/wallet/broadcasthex`. What protobuf-java does, and so what this does:
- nested messages are parsed at once, so a bad embedded message fails the
  whole parse; `bytes` fields (such as `Any.value`) are not looked into;
- a field that is unknown, or known but sent with another wire type, is an
  unknown field: skipped here (protobuf-java keeps it; devnet has nowhere to);
- a singular field sent twice: the last scalar wins, messages are merged;
- `string` fields must be valid UTF-8 (proto3);
- anything malformed raises `WireFormatError` carrying the message of
  protobuf-java's InvalidProtocolBufferException, which java-tron's servlets
  print as `{"Error": "class <java_class> : <message>"}`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from devnet.messages import FieldSpec, Kind, MessageSpec

__all__ = ["WireFormatError", "decode_message"]

_PROTOBUF_EXCEPTION = "com.google.protobuf.InvalidProtocolBufferException"

_TRUNCATED = (
    "While parsing a protocol message, the input ended unexpectedly in the middle of a field.  "
    "This could mean either that the input has been truncated or that an embedded message "
    "misreported its own length."
)
_NEGATIVE_SIZE = (
    "CodedInputStream encountered an embedded string or message which claimed to have "
    "negative size."
)
_MALFORMED_VARINT = "CodedInputStream encountered a malformed varint."
_INVALID_TAG = "Protocol message contained an invalid tag (zero)."
_INVALID_END_TAG = "Protocol message end-group tag did not match expected tag."
_INVALID_WIRE_TYPE = "Protocol message tag had invalid wire type."
_INVALID_WIRE_TYPE_CLASS = f"{_PROTOBUF_EXCEPTION}$InvalidWireTypeException"
_INVALID_UTF8 = "Protocol message had invalid UTF-8."
_TOO_DEEP = (
    "Protocol message had too many levels of nesting.  May be malicious.  "
    "Use setRecursionLimit() to increase the recursion depth limit."
)

# CodedInputStream.DEFAULT_RECURSION_LIMIT.
_RECURSION_LIMIT = 100

_VARINT, _FIXED64, _LENGTH_DELIMITED, _START_GROUP, _END_GROUP, _FIXED32 = range(6)
_VARINT_KINDS = (Kind.INT64, Kind.INT32, Kind.BOOL, Kind.ENUM)


class WireFormatError(ValueError):
    """Bytes protobuf-java would refuse to parse; `java_class` is the exception it throws."""

    def __init__(self, message: str, java_class: str = _PROTOBUF_EXCEPTION) -> None:
        super().__init__(message)
        self.java_class = java_class
        self.message = message


@dataclass(frozen=True, slots=True)
class _Field:
    number: int
    wire_type: int
    value: Any  # int for varints and fixed, bytes for length-delimited, None for groups


class _Reader:
    """A cursor over one message's bytes, as CodedInputStream reads them."""

    def __init__(self, data: bytes, depth: int) -> None:
        self.data = data
        self.pos = 0
        self.depth = depth

    def at_end(self) -> bool:
        return self.pos >= len(self.data)

    def varint(self) -> int:
        value, shift = 0, 0
        for _ in range(10):
            if self.pos >= len(self.data):
                raise WireFormatError(_TRUNCATED)
            byte = self.data[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value & ((1 << 64) - 1)
            shift += 7
        raise WireFormatError(_MALFORMED_VARINT)

    def take(self, size: int) -> bytes:
        if size > len(self.data) - self.pos:
            raise WireFormatError(_TRUNCATED)
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def length_delimited(self) -> bytes:
        size = self.varint() & 0xFFFFFFFF  # readRawVarint32: an int32 length
        if size >= 1 << 31:
            raise WireFormatError(_NEGATIVE_SIZE)
        return self.take(size)

    def tag(self) -> tuple[int, int]:
        tag = self.varint() & 0xFFFFFFFF
        if tag >> 3 == 0:
            raise WireFormatError(_INVALID_TAG)
        return tag >> 3, tag & 7

    def skip_group(self, number: int) -> None:
        """Skip a group's fields up to its end tag (UnknownFieldSet counts its depth too)."""
        if self.depth + 1 > _RECURSION_LIMIT:
            raise WireFormatError(_TOO_DEEP)
        self.depth += 1
        try:
            for _ in self.fields(group=number):
                pass
        finally:
            self.depth -= 1

    def fields(self, group: int | None = None) -> Iterator[_Field]:
        """The fields up to the end of the data (or of the group being skipped)."""
        while not self.at_end():
            number, wire_type = self.tag()
            if wire_type == _END_GROUP:
                if number != group:
                    raise WireFormatError(_INVALID_END_TAG)
                return
            yield _Field(number, wire_type, self._value(number, wire_type))
        if group is not None:
            raise WireFormatError(_TRUNCATED)

    def _value(self, number: int, wire_type: int) -> Any:
        if wire_type == _VARINT:
            return self.varint()
        if wire_type == _FIXED64:
            return int.from_bytes(self.take(8), "little")
        if wire_type == _LENGTH_DELIMITED:
            return self.length_delimited()
        if wire_type == _START_GROUP:
            self.skip_group(number)
            return None
        if wire_type == _FIXED32:
            return int.from_bytes(self.take(4), "little")
        raise WireFormatError(_INVALID_WIRE_TYPE, _INVALID_WIRE_TYPE_CLASS)


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _scalar(spec: FieldSpec, value: Any) -> Any:
    match spec.kind:
        case Kind.INT64:
            return _signed(value, 64)
        case Kind.INT32 | Kind.ENUM:
            return _signed(value, 32)
        case Kind.BOOL:
            return value != 0
        case Kind.STRING:
            try:
                return bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                raise WireFormatError(_INVALID_UTF8) from None
    return bytes(value)


def _expected_wire_type(spec: FieldSpec) -> int:
    return _VARINT if spec.kind in _VARINT_KINDS else _LENGTH_DELIMITED


def _decode(spec: MessageSpec, data: bytes, depth: int) -> dict[str, Any]:
    if depth > _RECURSION_LIMIT:
        raise WireFormatError(_TOO_DEEP)
    by_number = {field.number: field for field in spec.fields}
    values: dict[str, Any] = {}
    messages: dict[str, bytes] = {}  # singular message fields: their bytes, merged by joining
    for item in _Reader(data, depth).fields():
        field = by_number.get(item.number)
        if field is None or item.wire_type != _expected_wire_type(field):
            continue  # an unknown field
        if field.kind is Kind.MESSAGE:
            assert field.message is not None
            if field.repeated:
                values.setdefault(field.name, []).append(
                    _decode(field.message, item.value, depth + 1)
                )
            else:
                messages[field.name] = messages.get(field.name, b"") + item.value
                _decode(field.message, item.value, depth + 1)  # fails where protobuf-java does
        elif field.repeated:
            if field.kind is not Kind.BYTES and field.kind is not Kind.STRING:
                raise NotImplementedError("packed repeated scalars are not used by devnet")
            values.setdefault(field.name, []).append(_scalar(field, item.value))
        else:
            values[field.name] = _scalar(field, item.value)
    for name, joined in messages.items():
        message = spec.by_name[name].message
        assert message is not None
        values[name] = _decode(message, joined, depth + 1)
    return values


def decode_message(spec: MessageSpec, data: bytes) -> dict[str, Any]:
    """Parse bytes into a message value (the dict `devnet.messages` works with).

    Only fields that were sent are present, as after `parse_message`; a
    message field that was sent is present even when empty.

    Raises:
        WireFormatError: protobuf-java would throw InvalidProtocolBufferException.
    """
    return _decode(spec, data, 0)
