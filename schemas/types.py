"""Field types shared by commands, events and documents: amounts, addresses, keys, times.

Every type validates *and normalises*: an amount arrives as a JSON integer or a
decimal-digit string and leaves as `int`; an address arrives as base58check or
hex and leaves as base58. The idempotency hash relies on this: equal intents
must have equal normalised values. No I/O here; base58check is implemented with
hashlib so schemas stay dependency-light.

Types are `Annotated[T, Rule(...)]`: a `Rule` is one plain validator (so
pydantic's lax coercions, such as `True` -> 1 or `"5"` -> 5, never apply)
plus the JSON Schema that documents it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

__all__ = [
    "MAX_INT64",
    "MEMO_MAX_BYTES",
    "Address",
    "Amount",
    "IdempotencyKey",
    "Memo",
    "PositiveAmount",
    "Reference",
    "Resource",
    "Rule",
    "Timestamp",
    "TokenRef",
    "TxId",
    "base58check_decode",
    "base58check_encode",
    "normalise_address",
    "parse_amount",
    "parse_timestamp",
    "printable_text",
    "strict_int",
]

MAX_INT64 = 2**63 - 1  # java-tron stores balances and amounts as int64
MEMO_MAX_BYTES = 200
_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {char: i for i, char in enumerate(_ALPHABET)}
_TRON_VERSION = 0x41
_DIGITS = re.compile(r"[0-9]+")
_HEX_ADDRESS = re.compile(r"[0-9a-fA-F]{42}")
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+")
_SYMBOL = re.compile(r"[A-Z0-9]{2,10}")
_TXID = re.compile(r"[0-9a-fA-F]{64}")
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")
_BASE58_ADDRESS = r"^T[1-9A-HJ-NP-Za-km-z]{33}$"
_HEX_ADDRESS_PATTERN = r"^41[0-9a-fA-F]{40}$"


class Rule:
    """`Annotated` metadata: validate with `parse` only, document with `json_schema`.

    `output_schema`, when given, documents the normalised value (events, documents).
    """

    def __init__(
        self,
        parse: Callable[[Any], Any],
        json_schema: dict[str, Any],
        output_schema: dict[str, Any] | None = None,
    ) -> None:
        self.parse = parse
        self.json_schema = json_schema
        self.output_schema = output_schema

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(self.parse)

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        if handler.mode == "serialization" and self.output_schema is not None:
            return dict(self.output_schema)
        return dict(self.json_schema)


# ----------------------------------------------------------------------------- integers


def parse_amount(value: Any, *, minimum: int = 0, what: str = "amount") -> int:
    """An integer amount from a JSON integer or a decimal-digit string; never a float or bool.

    Raises:
        ValueError: with a message a publisher can act on.
    """
    if isinstance(value, bool):  # bool is an int subclass: `true` must not mean 1 sun
        raise ValueError(f"{what} must be an integer or a decimal string, not a boolean")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        if not _DIGITS.fullmatch(value):
            raise ValueError(
                f"{what} string must contain only the digits 0-9 "
                "(no sign, spaces, decimal point or exponent)"
            )
        if len(value.lstrip("0")) > len(str(MAX_INT64)):
            raise ValueError(f"{what} must be at most {MAX_INT64}")
        number = int(value)
    elif isinstance(value, float):
        raise ValueError(
            f"{what} must be an integer in the smallest unit or a decimal string, never a float"
        )
    else:
        raise ValueError(f"{what} must be an integer or a decimal string, got {_kind(value)}")
    if number < 0:
        raise ValueError(f"{what} must not be negative")
    if number < minimum:
        raise ValueError(f"{what} must be at least {minimum}")
    if number > MAX_INT64:
        raise ValueError(f"{what} must be at most {MAX_INT64}")
    return number


def _amount_rule(minimum: int) -> Rule:
    digits = r"^[0-9]+$" if minimum == 0 else r"^[0-9]*[1-9][0-9]*$"
    return Rule(
        lambda value: parse_amount(value, minimum=minimum),
        {
            "anyOf": [
                {"type": "integer", "minimum": minimum, "maximum": MAX_INT64},
                {"type": "string", "pattern": digits},
            ],
            "description": "integer in the smallest unit, as a JSON integer or a decimal "
            f"string; {minimum}..2**63-1",
        },
        {"type": "integer", "minimum": minimum, "maximum": MAX_INT64},
    )


Amount = Annotated[int, _amount_rule(0)]
"""0 .. 2**63-1, as an int or a decimal-digit string; normalised to int."""

PositiveAmount = Annotated[int, _amount_rule(1)]
"""1 .. 2**63-1: an amount where zero is meaningless."""


def strict_int(minimum: int, maximum: int = MAX_INT64) -> Rule:
    """A JSON integer in [minimum, maximum]: no strings, floats or booleans (counts, indexes)."""

    def parse(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be a JSON integer, got {_kind(value)}")
        if not minimum <= value <= maximum:
            raise ValueError(f"must be between {minimum} and {maximum}, got {value}")
        return value

    return Rule(parse, {"type": "integer", "minimum": minimum, "maximum": maximum})


# ----------------------------------------------------------------------------- addresses


def base58check_encode(payload: bytes) -> str:
    """Base58 of payload + the first 4 bytes of its double SHA-256."""
    data = payload + _checksum(payload)
    number = int.from_bytes(data, "big")
    out = []
    while number:
        number, rest = divmod(number, 58)
        out.append(_ALPHABET[rest])
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + "".join(reversed(out))


def base58check_decode(text: str) -> bytes:
    """The payload of a base58check string.

    Raises:
        ValueError: "invalid base58 character", "too short" or "bad checksum".
    """
    number = 0
    for char in text:
        if char not in _INDEX:
            raise ValueError(f"invalid base58 character {char!r}")
        number = number * 58 + _INDEX[char]
    zeros = len(text) - len(text.lstrip("1"))
    data = b"\0" * zeros + number.to_bytes((number.bit_length() + 7) // 8, "big")
    if len(data) < 5:
        raise ValueError("too short")
    payload, checksum = data[:-4], data[-4:]
    if _checksum(payload) != checksum:
        raise ValueError("bad checksum")
    return payload


def _checksum(payload: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]


def normalise_address(value: Any) -> str:
    """A TRON address in base58 (`T…`) from base58check or hex `41` + 40 hex digits.

    Raises:
        ValueError: "not a TRON address: <reason>".
    """
    if not isinstance(value, str):
        raise ValueError(f"not a TRON address: expected a string, got {_kind(value)}")
    if _HEX_ADDRESS.fullmatch(value):
        raw = bytes.fromhex(value)
        if raw[0] != _TRON_VERSION:
            raise ValueError("not a TRON address: wrong version byte (hex form starts with 41)")
        return base58check_encode(raw)
    if len(value) != 34:
        raise ValueError(
            f"not a TRON address: wrong length ({len(value)} characters; "
            "expected 34 base58 or 42 hex)"
        )
    try:
        raw = base58check_decode(value)
    except ValueError as exc:
        raise ValueError(f"not a TRON address: {exc}") from None
    if len(raw) != 21:
        raise ValueError("not a TRON address: wrong length")
    if raw[0] != _TRON_VERSION:
        raise ValueError("not a TRON address: wrong version byte (expected 0x41)")
    return value


Address = Annotated[
    str,
    Rule(
        normalise_address,
        {
            "type": "string",
            "anyOf": [{"pattern": _BASE58_ADDRESS}, {"pattern": _HEX_ADDRESS_PATTERN}],
            "description": "TRON address: base58check (T...) or hex 41...; normalised to base58",
        },
        {"type": "string", "pattern": _BASE58_ADDRESS, "description": "TRON address, base58"},
    ),
]


def _token(value: Any) -> str:
    if isinstance(value, str) and _SYMBOL.fullmatch(value):
        return value
    try:
        return normalise_address(value)
    except ValueError as exc:
        raise ValueError(
            f"token must be a symbol (2-10 of A-Z, 0-9) or a TRC20 contract address ({exc})"
        ) from None


TokenRef = Annotated[
    str,
    Rule(
        _token,
        {
            "type": "string",
            "anyOf": [
                {"pattern": r"^[A-Z0-9]{2,10}$"},
                {"pattern": _BASE58_ADDRESS},
                {"pattern": _HEX_ADDRESS_PATTERN},
            ],
            "description": "token symbol (allow-listed at run time) or TRC20 contract address",
        },
        {
            "type": "string",
            "anyOf": [{"pattern": r"^[A-Z0-9]{2,10}$"}, {"pattern": _BASE58_ADDRESS}],
        },
    ),
]
"""A token symbol (shape only; the allow-list is run-time policy) or a contract address."""


# ----------------------------------------------------------------------------- text


def _memo(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"memo must be a string, got {_kind(value)}")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError("memo must be valid UTF-8 text (it holds a lone surrogate)") from None
    if size > MEMO_MAX_BYTES:
        raise ValueError(f"memo must be at most {MEMO_MAX_BYTES} bytes of UTF-8, got {size}")
    return value or None  # an empty memo is no memo on chain; hash them alike


Memo = Annotated[
    str | None,
    Rule(
        _memo,
        {
            "anyOf": [{"type": "string"}, {"type": "null"}],
            "description": f"at most {MEMO_MAX_BYTES} bytes of UTF-8; empty means none",
        },
    ),
]


def _printable_ascii(what: str, maximum: int) -> Rule:
    def parse(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"{what} must be a string, got {_kind(value)}")
        if not 1 <= len(value) <= maximum:
            raise ValueError(f"{what} must be 1 to {maximum} characters, got {len(value)}")
        if not _PRINTABLE_ASCII.fullmatch(value):
            raise ValueError(f"{what} must be printable ASCII (0x20-0x7E)")
        return value

    return Rule(
        parse, {"type": "string", "minLength": 1, "maxLength": maximum, "pattern": r"^[ -~]+$"}
    )


IdempotencyKey = Annotated[str, _printable_ascii("idempotency_key", 255)]
Reference = Annotated[str, _printable_ascii("reference", 128)]


def printable_text(what: str, maximum: int) -> Rule:
    """1..maximum printable Unicode characters (labels): no control characters."""

    def parse(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"{what} must be a string, got {_kind(value)}")
        if not 1 <= len(value) <= maximum:
            raise ValueError(f"{what} must be 1 to {maximum} characters, got {len(value)}")
        if not value.isprintable():
            raise ValueError(f"{what} must not contain control or unprintable characters")
        return value

    return Rule(parse, {"type": "string", "minLength": 1, "maxLength": maximum})


def _txid(value: Any) -> str:
    if not isinstance(value, str) or not _TXID.fullmatch(value):
        raise ValueError("txid must be 64 hex digits")
    return value.lower()


TxId = Annotated[str, Rule(_txid, {"type": "string", "pattern": r"^[0-9a-f]{64}$"})]

Resource = Literal["ENERGY", "BANDWIDTH"]


# ----------------------------------------------------------------------------- time


_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def parse_timestamp(value: Any, *, what: str = "timestamp") -> datetime:
    """An aware datetime, in UTC, from an RFC 3339 string or an aware datetime.

    Raises:
        ValueError: naive times, numbers, and anything not RFC 3339.
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        if not _RFC3339.fullmatch(value):
            raise ValueError(f"{what} must be RFC 3339 with a timezone, e.g. 2026-11-23T12:00:00Z")
        try:
            parsed = datetime.fromisoformat(value.upper())
        except ValueError as exc:
            reason = "" if value in str(exc) else f": {exc}"  # never echo the input
            raise ValueError(f"{what} is not a valid date and time{reason}") from None
    else:
        raise ValueError(f"{what} must be an RFC 3339 string, got {_kind(value)}")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"{what} must carry a timezone (naive times are ambiguous)")
    try:
        in_utc = parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+00:01 is before the first representable time
        in_utc = _EARLIEST - timedelta(days=1)
    if not _EARLIEST <= in_utc < _LATEST:  # and a week later must still be a time
        raise ValueError(f"{what} must fall in the years 2000 to 8999")
    return in_utc


Timestamp = Annotated[datetime, Rule(parse_timestamp, {"type": "string", "format": "date-time"})]
"""RFC 3339 with a timezone; normalised to UTC."""


# ----------------------------------------------------------------------------- helpers


def _kind(value: Any) -> str:
    """A JSON-ish name for a value's type; inputs are never echoed (they may hold secrets)."""
    names = {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
    }
    return "null" if value is None else names.get(type(value), type(value).__name__)
