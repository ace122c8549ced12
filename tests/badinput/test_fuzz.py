"""Property-based fuzzing of the envelope decoder and every payload model (no servers).

Whatever the bytes, the two stages of schemas/commands.py end in one of the documented
outcomes: a valid model, NotAnEnvelope (poison: dead letter + POISON), or
InvalidCommand (INVALID_COMMAND with field errors under `payload`). Never another
exception, and every refusal can be published as the pipeline would publish it (a
`rejected` event, and the dead letter's detail as an AMQP header) without echoing the
values it refused. Bounded: derandomized, a fixed number of examples, a deadline.
"""

from __future__ import annotations

import json
import string
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from schemas.commands import (
    COMMAND_TYPES,
    FAMILIES,
    Envelope,
    idempotency_hash,
    parse_envelope,
    parse_payload,
)
from schemas.errors import FieldError, InvalidCommand, NotAnEnvelope
from schemas.events import rejected_event
from schemas.payloads import PAYLOADS, CommandPayload
from schemas.types import base58check_decode, base58check_encode
from worker.health import _issued_at

FUZZ = settings(
    max_examples=150,
    deadline=timedelta(seconds=1),
    derandomize=True,
    database=None,
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# A value planted in payload fields: refusals name fields and rules, never values.
MARKER = "zq-secret-7Hx"

# --- strategies ---------------------------------------------------------------------------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
JUNK = JSON_VALUES | st.just(MARKER) | st.text(max_size=8).map(lambda t: MARKER + t)

ADDRESSES = [base58check_encode(bytes([0x41]) + bytes([n] * 20)) for n in (1, 2, 3, 0xAB, 0xFF)] + [
    "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
]


def _mutate_text(text: str, position: int, char: str) -> str:
    position %= len(text) + 1
    return text[:position] + char + text[position + 1 :]


ADDRESS = st.one_of(
    st.sampled_from(ADDRESSES),
    st.sampled_from(ADDRESSES).map(lambda a: base58check_decode(a).hex()),
    st.sampled_from(ADDRESSES).map(lambda a: base58check_decode(a).hex().upper()),
    st.builds(_mutate_text, st.sampled_from(ADDRESSES), st.integers(0, 40), st.characters()),
    st.sampled_from(
        [
            "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
            "0x742d35Cc6634C0532925a3b844Bc454e4438f44e",
            "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
        ]
    ),
    st.binary(min_size=20, max_size=22).map(lambda b: base58check_encode(b)),
    JUNK,
)
AMOUNT = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, 2**63 - 1, 2**63, 2**64, 2**256, -1]),
    st.integers(min_value=0, max_value=2**80).map(str),
    st.from_regex(r"\A[-+ ]?[0-9]{0,25}([.eE][0-9+-]{0,3})?\s?\Z"),
    st.floats(allow_nan=True),
    st.booleans(),
    JUNK,
)
TEXT = st.one_of(st.text(max_size=30), st.text(max_size=260), st.just(""), JUNK)
TOKEN = st.one_of(
    st.sampled_from(["USDT", "TRX", "DOGE", "usdt", "A", "ABCDEFGHIJK"]), ADDRESS, JUNK
)


def _line(address: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    fields = {"to": address, "amount": AMOUNT, "reference": TEXT}
    return st.fixed_dictionaries({}, optional={**fields, "extra": JUNK}) | st.fixed_dictionaries(
        fields
    )


FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "wallet": ADDRESS,
    "to": ADDRESS,
    "receiver": ADDRESS,
    "source_wallet": st.none() | ADDRESS,
    "amount_sun": AMOUNT,
    "amount": AMOUNT,
    "count": AMOUNT,
    "lock_period_blocks": AMOUNT,
    "memo": st.none() | TEXT | st.text(min_size=60, max_size=70).map(lambda t: t * 3),
    "labels": st.none() | st.lists(TEXT, max_size=4) | JUNK,
    "purpose": st.sampled_from(["deposit", "hot", "staking", "cold", "HOT"]) | JUNK,
    "token": TOKEN,
    "asset": TOKEN,
    "resource": st.sampled_from(["ENERGY", "BANDWIDTH", "energy", "CPU"]) | JUNK,
    "lock": st.booleans() | JUNK,
    "recipients": st.lists(_line(ADDRESS), max_size=4)
    | st.lists(_line(st.sampled_from(ADDRESSES)), min_size=99, max_size=102)
    | JUNK,
    "votes": st.lists(st.fixed_dictionaries({"witness": ADDRESS, "count": AMOUNT}), max_size=4)
    | st.lists(
        st.fixed_dictionaries({"witness": st.sampled_from(ADDRESSES), "count": AMOUNT}),
        min_size=29,
        max_size=32,
    )
    | JUNK,
    "command_id": st.uuids().map(str) | JUNK,
    "reason": TEXT,
}


VALID_ADDRESS = st.sampled_from(ADDRESSES) | st.sampled_from(ADDRESSES).map(
    lambda a: base58check_decode(a).hex()
)
VALID_AMOUNT = st.integers(1, 2**63 - 1) | st.integers(1, 2**63 - 1).map(str)


@st.composite
def _valid_lines(draw: st.DrawFn) -> list[dict[str, Any]]:
    references = draw(st.lists(st.text(string.printable[:95], min_size=1, max_size=8),
                               min_size=1, max_size=5, unique=True))  # fmt: skip
    return [
        {"to": draw(VALID_ADDRESS), "amount": draw(st.integers(1, 2**40)), "reference": ref}
        for ref in references
    ]


VALID_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "wallet": st.just(ADDRESSES[0]),
    "to": st.sampled_from(ADDRESSES[1:]),
    "receiver": st.sampled_from(ADDRESSES[1:]),
    "source_wallet": st.none() | st.just(ADDRESSES[0]),
    "amount_sun": VALID_AMOUNT,
    "amount": VALID_AMOUNT,
    "count": st.integers(1, 100),
    "lock_period_blocks": st.just(0),
    "memo": st.none() | st.text(max_size=50),
    "labels": st.none(),
    "purpose": st.sampled_from(["deposit", "hot", "staking"]),
    "token": st.sampled_from(["USDT", "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"]),
    "asset": st.sampled_from(["TRX", "USDT"]),
    "resource": st.sampled_from(["ENERGY", "BANDWIDTH"]),
    "lock": st.booleans(),
    "recipients": _valid_lines(),
    "votes": st.lists(st.sampled_from(ADDRESSES), min_size=1, max_size=5, unique=True).map(
        lambda witnesses: [{"witness": w, "count": 1} for w in witnesses]
    ),
    "command_id": st.uuids().map(str),
    "reason": st.text(min_size=1, max_size=50),
}


@st.composite
def payloads(draw: st.DrawFn, command_type: str) -> Any:
    """A valid payload with up to three fields dropped or broken, sometimes anything."""
    if draw(st.integers(0, 9)) == 0:
        return draw(JSON_VALUES)
    model = PAYLOADS[command_type]
    payload = {name: draw(VALID_VALUES[name]) for name in model.model_fields}
    for name in draw(st.lists(st.sampled_from([*model.model_fields, "<extra>"]), max_size=3)):
        if name == "<extra>":
            payload[draw(st.text(max_size=10))] = draw(JUNK)
        elif draw(st.booleans()):
            payload.pop(name, None)
        else:
            payload[name] = draw(FIELD_VALUES[name])
    return payload


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


OFFSETS = st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
SAFE_TIMES = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(9000, 1, 1), timezones=OFFSETS
).map(_rfc3339)
EDGE_TIMES = st.one_of(
    st.datetimes(
        min_value=datetime(9999, 12, 30),
        max_value=datetime(9999, 12, 31, 23, 59),
        timezones=OFFSETS,
    ),
    st.datetimes(
        min_value=datetime(1, 1, 1), max_value=datetime(1, 1, 1, 23, 59), timezones=OFFSETS
    ),
).map(_rfc3339)
TIMESTAMP = st.one_of(
    SAFE_TIMES,
    st.from_regex(
        r"\A\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2})?(\.\d{1,12})?([Zz]|[+-]\d{2}:?\d{2})?\Z"
    ),
    JUNK,
)
ENVELOPE_FIELDS = (
    "command_id",
    "idempotency_key",
    "type",
    "schema_version",
    "issued_at",
    "expires_at",
    "payload",
)
ENVELOPE_JUNK: dict[str, st.SearchStrategy[Any]] = {
    "command_id": st.one_of(
        st.uuids().map(lambda u: u.hex), st.uuids().map(str).map(str.upper), JUNK
    ),
    "idempotency_key": st.one_of(
        st.text(max_size=300), st.text(string.printable, max_size=300), JUNK
    ),
    # An unknown type is named in the refusal when short and printable (by design).
    "type": st.one_of(
        st.sampled_from([*COMMAND_TYPES, "wallet.destroy", "", "WALLET.CREATE"]), JSON_VALUES
    ),
    "schema_version": st.one_of(
        st.integers(-3, 3), st.just(1.0), st.just("1"), st.booleans(), JUNK
    ),
    "issued_at": TIMESTAMP,
    "expires_at": st.none() | TIMESTAMP,
    "payload": JSON_VALUES,
}


@st.composite
def envelopes(draw: st.DrawFn, times: st.SearchStrategy[str] = SAFE_TIMES) -> dict[str, Any]:
    """A valid envelope, then a few of its fields dropped or replaced, or extra ones added."""
    command_type = draw(st.sampled_from(COMMAND_TYPES))
    data: dict[str, Any] = {
        "command_id": str(draw(st.uuids())),
        "idempotency_key": draw(st.text(string.printable[:95], min_size=1, max_size=255)),
        "type": command_type,
        "schema_version": 1,
        "issued_at": draw(times),
        "payload": draw(payloads(command_type)),
    }
    for name in draw(st.lists(st.sampled_from([*ENVELOPE_FIELDS, "extra"]), max_size=3)):
        action = draw(st.sampled_from(["drop", "replace"]))
        if name == "extra":
            data[draw(st.text(max_size=12))] = draw(JUNK)
        elif action == "drop":
            data.pop(name, None)
        else:
            data[name] = draw(ENVELOPE_JUNK[name])
    return data


# --- what every outcome must satisfy ---------------------------------------------------------


def _publishable(family: str, code: str, error: NotAnEnvelope | InvalidCommand) -> None:
    """The pipeline can publish the refusal, and it echoes no refused value."""
    errors = [FieldError(field=e["field"], message=e["message"]) for e in error.errors]
    event = rejected_event(
        family=family,
        command_ref="fuzz",
        command_id=None,
        idempotency_key=None,
        code=code,
        message=error.reason,
        occurred_at=datetime.now(UTC),
        errors=errors or None,
    )
    body = event.model_dump_json().encode()
    error.reason[:500].encode("utf-8")  # the dead letter's x-dead-letter-detail header
    assert MARKER not in error.reason
    assert all(MARKER not in e["message"] for e in error.errors)
    assert json.loads(body)["payload"]["code"] == code


def _decode(body: bytes) -> Envelope | None:
    """Stage one: an Envelope, or None after checking the poison is well-formed."""
    try:
        envelope = parse_envelope(body)
    except NotAnEnvelope as error:
        event("poison")
        assert error.reason
        _publishable("wallet", "POISON", error)
        return None
    assert envelope.family in FAMILIES
    assert envelope.issued_at < envelope.expires_at
    assert envelope.issued_at.tzinfo is not None
    return envelope


def _payload(envelope: Envelope) -> CommandPayload | None:
    """Stage two: the type's model, normalised for good, or a well-formed INVALID_COMMAND."""
    try:
        payload = parse_payload(envelope)
    except InvalidCommand as error:
        event("INVALID_COMMAND")
        assert error.errors, "a refusal names at least one field"
        assert all(e["field"].startswith("payload") for e in error.errors)
        _publishable(envelope.family, "INVALID_COMMAND", error)
        return None
    event("valid payload")
    assert isinstance(payload, PAYLOADS[envelope.type])
    normalised = json.loads(json.dumps(payload.model_dump(mode="json")))
    again = PAYLOADS[envelope.type].model_validate(normalised)
    assert again == payload, "normalising is idempotent (the idempotency hash relies on it)"
    assert idempotency_hash(envelope.type, again) == idempotency_hash(envelope.type, payload)
    return payload


# --- the fuzzers -----------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=300))
def test_any_bytes_decode_or_are_poison(body: bytes) -> None:
    _decode(body)
    _issued_at(body)


@FUZZ
@given(JSON_VALUES)
def test_any_json_document_decodes_or_is_poison(document: Any) -> None:
    body = json.dumps(document).encode()
    envelope = _decode(body)
    if envelope is not None:
        _payload(envelope)


@FUZZ
@given(st.text(max_size=200))
def test_any_text_decodes_or_is_poison(text: str) -> None:
    try:
        body = text.encode("utf-8")
    except UnicodeEncodeError:
        body = text.encode("utf-8", "surrogatepass")  # not UTF-8: must be poison
    _decode(body)


@settings(FUZZ, max_examples=400)
@given(envelopes())
def test_envelopes_with_broken_fields(data: dict[str, Any]) -> None:
    body = json.dumps(data).encode()
    envelope = _decode(body)
    if envelope is not None:
        _payload(envelope)
        assert _issued_at(body) == envelope.issued_at


@pytest.mark.parametrize("command_type", COMMAND_TYPES)
@settings(FUZZ, max_examples=120)
@given(data=st.data())
def test_every_payload_model(command_type: str, data: st.DataObject) -> None:
    envelope = Envelope.model_validate(
        {
            "command_id": str(uuid.uuid4()),
            "idempotency_key": "fuzz",
            "type": command_type,
            "schema_version": 1,
            "issued_at": "2026-06-01T00:00:00Z",
            "payload": data.draw(payloads(command_type)),
        }
    )
    _payload(envelope)


@FUZZ
@given(EDGE_TIMES, st.sampled_from(COMMAND_TYPES))
def test_issued_at_at_the_edges_of_the_calendar(issued_at: str, command_type: str) -> None:
    data = {
        "command_id": str(uuid.uuid4()),
        "idempotency_key": "fuzz",
        "type": command_type,
        "schema_version": 1,
        "issued_at": issued_at,
        "payload": {},
    }
    _decode(json.dumps(data).encode())


@FUZZ
@given(EDGE_TIMES)
def test_delivery_age_of_an_issued_at_at_the_edges_of_the_calendar(issued_at: str) -> None:
    _issued_at(json.dumps({"issued_at": issued_at}).encode())  # never raises
