"""schemas/commands.py: envelope parsing in two stages, expiry, and the idempotency hash."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas.commands import (
    MAX_BODY_BYTES,
    Command,
    Envelope,
    expired,
    idempotency_hash,
    normalised_payload,
    parse_command,
    parse_envelope,
    parse_payload,
)
from schemas.errors import InvalidCommand, NotAnEnvelope
from schemas.payloads import PAYLOADS, StakeDelegatePayload, TransferTrxPayload
from schemas.types import base58check_encode

USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
USDT_HEX = "41a614f803b6fd780986a42c78ec9c7f77e6ded13c"
OTHER = base58check_encode(b"\x41" + hashlib.sha256(b"other").digest()[:20])
COMMAND_ID = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
ISSUED = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def envelope(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "command_id": COMMAND_ID,
        "idempotency_key": "order-42",
        "type": "transfer.trx",
        "schema_version": 1,
        "issued_at": "2026-11-23T12:00:00Z",
        "payload": {"wallet": USDT, "to": OTHER, "amount_sun": 100},
    }
    for key, value in overrides.items():
        if value is ...:
            data.pop(key)
        else:
            data[key] = value
    return data


def encode(data: Any) -> bytes:
    return json.dumps(data).encode()


def not_an_envelope(body: bytes | str) -> NotAnEnvelope:
    with pytest.raises(NotAnEnvelope) as info:
        parse_envelope(body)
    return info.value


# ----------------------------------------------------------------------------- stage one


def test_a_valid_envelope_parses_with_defaults_and_derived_names() -> None:
    parsed = parse_envelope(encode(envelope()))
    assert parsed.command_id == uuid.UUID(COMMAND_ID)
    assert parsed.issued_at == ISSUED
    assert parsed.expires_at == ISSUED + timedelta(hours=24)
    assert (parsed.family, parsed.routing_key) == ("transfer", "command.transfer.trx")
    assert parse_envelope(encode(envelope()).decode()) == parsed


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\xff not json", "body is not UTF-8 text"),
        (b"not json", "body is not JSON: Expecting value at line 1 column 1"),
        (b"", "body is not JSON"),
        (b"[1, 2]", "body is a JSON array, not an object"),
        (b'"text"', "body is a JSON string, not an object"),
        (b"null", "body is a JSON null, not an object"),
        (b'{"a": 1, "a": 2}', "duplicate key 'a'"),
        (b'{"amount": NaN}', "NaN is not a JSON number"),
        (b"[" * 100_000 + b"]" * 100_000, "body is "),
    ],
)
def test_unreadable_bodies_are_not_envelopes(body: bytes, reason: str) -> None:
    assert reason in not_an_envelope(body).reason


def test_oversized_bodies_are_not_envelopes() -> None:
    padded = envelope(idempotency_key="k")
    padded["payload"]["memo"] = "x" * MAX_BODY_BYTES
    assert "at most 262144" in not_an_envelope(encode(padded)).reason


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"command_id": ...}, "command_id", "required field is missing"),
        ({"command_id": "not-a-uuid"}, "command_id", "must be a UUID"),
        ({"command_id": 42}, "command_id", "must be a UUID"),
        ({"idempotency_key": ""}, "idempotency_key", "1 to 255 characters"),
        ({"idempotency_key": "k" * 256}, "idempotency_key", "1 to 255 characters"),
        ({"type": "transfer.eth"}, "type", "unknown command type 'transfer.eth'"),
        ({"type": ...}, "type", "required field is missing"),
        ({"schema_version": 2}, "schema_version", "unsupported schema_version 2"),
        ({"schema_version": "1"}, "schema_version", "must be the integer 1"),
        ({"schema_version": True}, "schema_version", "must be the integer 1"),
        ({"schema_version": 1.0}, "schema_version", "must be the integer 1"),
        ({"issued_at": "2026-11-23T12:00:00"}, "issued_at", "with a timezone"),
        ({"issued_at": 1_790_000_000}, "issued_at", "RFC 3339 string"),
        (
            {"expires_at": "2026-11-23T11:00:00Z"},
            "expires_at",
            "expires_at must be after issued_at",
        ),
        (
            {"expires_at": "2026-11-23T12:00:00Z"},
            "expires_at",
            "expires_at must be after issued_at",
        ),
        ({"expires_at": "2026-12-23T12:00:00Z"}, "expires_at", "at most 7 days after issued_at"),
        ({"payload": ...}, "payload", "required field is missing"),
        ({"extra": 1}, "extra", "unknown field"),
    ],
)
def test_bad_envelope_fields_are_not_envelopes(overrides, field, message) -> None:
    error = not_an_envelope(encode(envelope(**overrides)))
    assert [e["field"] for e in error.errors] == [field]
    assert message in error.errors[0]["message"]
    assert error.reason.startswith("invalid envelope: ")
    assert message in error.reason


def test_bad_issued_at_without_expires_at_reports_only_issued_at() -> None:
    for extra in ({}, {"expires_at": None}):
        error = not_an_envelope(encode({**envelope(issued_at="yesterday"), **extra}))
        assert [e["field"] for e in error.errors] == ["issued_at"]


def test_expires_at_defaults_from_issued_at_and_explicit_null_means_default() -> None:
    explicit_null = parse_envelope(encode(envelope(expires_at=None)))
    assert explicit_null.expires_at == ISSUED + timedelta(hours=24)
    other_zone = parse_envelope(encode(envelope(issued_at="2026-11-23T14:00:00+02:00")))
    assert other_zone.issued_at == ISSUED and other_zone.expires_at == ISSUED + timedelta(hours=24)
    given = parse_envelope(encode(envelope(expires_at="2026-11-23T12:05:00Z")))
    assert given.expires_at == ISSUED + timedelta(minutes=5)


def test_expired_is_inclusive_of_the_deadline_and_needs_an_aware_now() -> None:
    parsed = parse_envelope(encode(envelope(expires_at="2026-11-23T12:05:00Z")))
    assert not expired(parsed, ISSUED + timedelta(minutes=4, seconds=59))
    assert expired(parsed, ISSUED + timedelta(minutes=5))
    assert expired(parsed, ISSUED + timedelta(days=3))
    with pytest.raises(ValueError):
        expired(parsed, datetime(2026, 11, 23, 12, 6))


def test_envelope_is_frozen_and_constructible_in_python() -> None:
    built = Envelope(
        command_id=uuid.UUID(COMMAND_ID),
        idempotency_key="k",
        type="stake.claim_rewards",
        schema_version=1,
        issued_at=ISSUED,
        payload={"wallet": USDT},
    )
    assert built.expires_at == ISSUED + timedelta(hours=24)
    with pytest.raises(ValueError):
        built.idempotency_key = "other"  # type: ignore[misc]


# ----------------------------------------------------------------------------- stage two


def test_bad_payload_in_a_good_envelope_is_an_invalid_command_with_field_paths() -> None:
    data = envelope(
        type="payout.create",
        payload={
            "asset": "TRX",
            "recipients": [
                {"to": OTHER, "amount": 1, "reference": "a"},
                {"to": USDT[:-1] + "u", "amount": "1e3", "reference": "b"},
            ],
            "colour": "blue",
        },
    )
    parsed = parse_envelope(encode(data))  # stage one is happy
    with pytest.raises(InvalidCommand) as info:
        parse_payload(parsed)
    assert info.value.errors == [
        {"field": "payload.recipients.1.to", "message": "not a TRON address: bad checksum"},
        {
            "field": "payload.recipients.1.amount",
            "message": "amount string must contain only the digits 0-9 "
            "(no sign, spaces, decimal point or exponent)",
        },
        {"field": "payload.colour", "message": "unknown field"},
    ]
    assert info.value.reason.startswith("invalid payload: payload.recipients.1.to: not a TRON")
    assert not isinstance(info.value, NotAnEnvelope)


def test_field_errors_are_capped() -> None:
    lines = [{"to": "x", "amount": -1, "reference": f"r{i}"} for i in range(40)]
    data = envelope(type="payout.create", payload={"asset": "TRX", "recipients": lines})
    with pytest.raises(InvalidCommand) as info:
        parse_command(encode(data))
    assert len(info.value.errors) == 51  # 80 errors: 50 shown, then a note
    assert info.value.errors[-1] == {"field": "payload", "message": "30 more errors not shown"}
    assert info.value.reason.endswith("(and 48 more)")


def test_parse_command_gives_the_typed_payload_and_names() -> None:
    command = parse_command(encode(envelope()))
    assert isinstance(command, Command)
    assert isinstance(command.payload, TransferTrxPayload)
    assert command.payload.amount_sun == 100
    assert (command.type, command.family, command.routing_key) == (
        "transfer.trx",
        "transfer",
        "command.transfer.trx",
    )
    assert command.command_id == uuid.UUID(COMMAND_ID)
    assert command.idempotency_key == "order-42"
    assert command.payload_hash == idempotency_hash("transfer.trx", command.payload)
    assert command.normalised_payload() == {
        "wallet": USDT,
        "to": OTHER,
        "amount_sun": 100,
        "memo": None,
    }


# ----------------------------------------------------------------------------- hash


def _hash(command_type: str, payload: dict[str, Any]) -> str:
    return idempotency_hash(command_type, PAYLOADS[command_type].model_validate(payload))


def test_equal_intents_hash_alike() -> None:
    base = {"wallet": USDT, "to": OTHER, "amount_sun": 100}
    digest = _hash("transfer.trx", base)
    assert _hash("transfer.trx", {**base, "amount_sun": "100"}) == digest
    assert _hash("transfer.trx", {**base, "amount_sun": "0100"}) == digest
    assert _hash("transfer.trx", {**base, "wallet": USDT_HEX}) == digest
    assert _hash("transfer.trx", {**base, "wallet": USDT_HEX.upper()}) == digest
    assert _hash("transfer.trx", {**base, "memo": None}) == digest
    assert _hash("transfer.trx", {**base, "memo": ""}) == digest
    assert _hash("transfer.trx", dict(reversed(list(base.items())))) == digest
    assert _hash("wallet.create", {}) == _hash(
        "wallet.create", {"count": 1, "purpose": "deposit", "labels": None}
    )
    delegate = {"wallet": USDT, "receiver": OTHER, "amount_sun": 5, "resource": "ENERGY"}
    assert _hash("stake.delegate", delegate) == _hash(
        "stake.delegate", {**delegate, "lock": False, "lock_period_blocks": 0}
    )
    votes_a = [{"witness": USDT, "count": 1}, {"witness": OTHER, "count": 2}]
    assert _hash("stake.vote", {"wallet": OTHER, "votes": votes_a}) == _hash(
        "stake.vote", {"wallet": OTHER, "votes": list(reversed(votes_a))}
    )


def test_different_intents_hash_differently() -> None:
    base = {"wallet": USDT, "to": OTHER, "amount_sun": 100}
    digest = _hash("transfer.trx", base)
    assert _hash("transfer.trx", {**base, "amount_sun": 101}) != digest
    assert _hash("transfer.trx", {**base, "memo": "x"}) != digest
    stake = {"wallet": USDT, "amount_sun": 100, "resource": "ENERGY"}
    assert _hash("stake.freeze", stake) != _hash("stake.unfreeze", stake)
    delegate = {"wallet": USDT, "receiver": OTHER, "amount_sun": 5, "resource": "ENERGY"}
    assert _hash("stake.delegate", delegate) != _hash("stake.delegate", {**delegate, "lock": True})


def test_hash_is_sha256_of_the_documented_canonical_json() -> None:
    payload = StakeDelegatePayload.model_validate(
        {"wallet": USDT_HEX, "receiver": OTHER, "amount_sun": "5", "resource": "ENERGY"}
    )
    canonical = (
        '{"payload":{"amount_sun":5,"lock":false,"lock_period_blocks":0,'
        f'"receiver":"{OTHER}","resource":"ENERGY","wallet":"{USDT}"}},'
        '"type":"stake.delegate"}'
    )
    assert (
        idempotency_hash("stake.delegate", payload)
        == hashlib.sha256(canonical.encode()).hexdigest()
    )
    assert normalised_payload(payload)["amount_sun"] == 5
    with pytest.raises(ValueError, match=r"cannot hash as stake\.undelegate"):
        idempotency_hash("stake.undelegate", payload)
