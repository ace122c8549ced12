"""schemas/documents.py: the stored documents, their `_id` rules and Mongo round trips."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from schemas.commands import idempotency_hash, normalised_payload
from schemas.documents import (
    CommandDoc,
    EventDoc,
    LeaseDoc,
    TxAttemptDoc,
    WalletDoc,
    attempt_id,
    command_key,
    lease_id,
    wallet_id,
)
from schemas.events import AcceptedPayload, make_event
from schemas.payloads import WalletCreatePayload

NOW = datetime(2026, 11, 23, 12, 0, 0, 123456, tzinfo=UTC)
COMMAND_ID = uuid.UUID("1b4e28ba-2fa1-11d2-883f-0016d3cca427")
USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
USDT_HEX = "41a614f803b6fd780986a42c78ec9c7f77e6ded13c"


def command_doc(**overrides) -> CommandDoc:
    payload = WalletCreatePayload(count=2)
    fields = {
        "_id": command_key("-", "order-42"),
        "command_id": COMMAND_ID,
        "key_scope": "-",
        "idempotency_key": "order-42",
        "type": "wallet.create",
        "payload_hash": idempotency_hash("wallet.create", payload),
        "payload": normalised_payload(payload),
        "created_at": NOW,
        "updated_at": NOW,
        "expires_at": NOW + timedelta(hours=24),
    }
    return CommandDoc.model_validate({**fields, **overrides})


def test_ids_follow_the_design() -> None:
    assert command_key("-", "order-42") == "-:order-42"
    assert command_key("publisher-a", "a:b") == "publisher-a:a:b"
    for bad in ("", "a:b"):
        with pytest.raises(ValueError):
            command_key(bad, "k")
    assert lease_id(COMMAND_ID, 3) == f"{COMMAND_ID}:3"
    assert attempt_id(str(COMMAND_ID), 1) == f"{COMMAND_ID}:1"
    assert wallet_id(COMMAND_ID, 0) == f"{COMMAND_ID}:0"


def test_command_doc_round_trips_through_mongo_shape() -> None:
    doc = command_doc()
    stored = doc.to_mongo()
    assert stored["_id"] == "-:order-42" and "id" not in stored
    assert stored["command_id"] == str(COMMAND_ID)  # no BSON UUID representation needed
    assert stored["created_at"] == datetime(2026, 11, 23, 12, 0, 0, 123000, tzinfo=UTC)
    assert (stored["state"], stored["terminal"], stored["attempts"]) == ("received", False, 0)
    assert stored["payload"] == {"count": 2, "labels": None, "purpose": "deposit"}
    # pymongo without tz_aware=True hands back naive UTC datetimes.
    naive = {
        key: value.replace(tzinfo=None) if isinstance(value, datetime) else value
        for key, value in stored.items()
    }
    assert CommandDoc.from_mongo(naive) == doc
    assert CommandDoc.from_mongo(stored) == doc


def test_command_doc_rules() -> None:
    done = command_doc(state="completed", terminal=True, terminal_at=NOW)
    assert done.terminal
    with pytest.raises(ValidationError, match="terminal must be True in state failed"):
        command_doc(state="failed", terminal_at=NOW)
    with pytest.raises(ValidationError, match="terminal must be False in state signed"):
        command_doc(state="signed", terminal=True)
    with pytest.raises(ValidationError, match="terminal_at is set exactly"):
        command_doc(state="rejected", terminal=True)
    with pytest.raises(ValidationError, match="terminal_at is set exactly"):
        command_doc(state="signed", terminal_at=NOW)
    with pytest.raises(ValidationError):
        command_doc(state="lost")
    with pytest.raises(ValidationError):
        command_doc(payload_hash="xyz")
    with pytest.raises(ValidationError):
        command_doc(unexpected=True)
    other_zone = command_doc(
        created_at=datetime(2026, 11, 23, 14, tzinfo=timezone(timedelta(hours=2)))
    )
    assert other_zone.created_at == datetime(2026, 11, 23, 12, tzinfo=UTC)


def test_lease_and_attempt_docs() -> None:
    lease = LeaseDoc(
        _id=lease_id(COMMAND_ID, 1),
        command_id=str(COMMAND_ID),
        epoch=1,
        owner="host:1",
        acquired_at=NOW,
        expires_at=NOW + timedelta(seconds=30),
    )
    assert LeaseDoc.from_mongo(lease.to_mongo()) == lease
    with pytest.raises(ValidationError):
        LeaseDoc(**{**lease.to_mongo(), "epoch": 0})
    attempt = TxAttemptDoc(
        _id=attempt_id(COMMAND_ID, 1),
        command_id=COMMAND_ID,
        attempt=1,
        txid="AB" * 32,
        signed_tx={"txID": "ab" * 32, "raw_data": {"expiration": 1}, "signature": ["00"]},
        expiration=1_795_000_000_000,
        created_at=NOW,
    )
    assert attempt.txid == "ab" * 32
    assert TxAttemptDoc.from_mongo(attempt.to_mongo()) == attempt


def test_event_doc_keeps_the_exact_body_text() -> None:
    event = make_event(
        family="wallet",
        state="accepted",
        payload=AcceptedPayload(),
        command_id=COMMAND_ID,
        idempotency_key="order-42",
        occurred_at=NOW,
    )
    doc = EventDoc.from_event(event, created_at=NOW, message_id="m-1", correlation_id="c-1")
    stored = doc.to_mongo()
    assert stored["_id"] == str(event.event_id)
    assert stored["routing_key"] == "wallet.accepted"
    assert stored["body_json"] == event.model_dump_json()
    assert stored["published_at"] is None
    assert (stored["message_id"], stored["correlation_id"], stored["seq"]) == ("m-1", "c-1", 1)
    assert EventDoc.from_mongo(stored).event() == event
    published = EventDoc.from_mongo({**stored, "published_at": NOW})
    assert published.published_at == datetime(2026, 11, 23, 12, 0, 0, 123000, tzinfo=UTC)


def test_wallet_doc_keeps_the_key_opaque_and_out_of_repr() -> None:
    encrypted = {
        "kek_id": "k1",
        "wrapped_dek": "d2",
        "dek_nonce": "n0",
        "nonce": "n1",
        "ciphertext": "c3",
    }
    wallet = WalletDoc(
        _id=wallet_id(COMMAND_ID, 0),
        command_id=COMMAND_ID,
        index=0,
        address=USDT_HEX,
        public_key="ab" * 64,
        encrypted_key=encrypted,
        label="shop 1",
        purpose="deposit",
        created_at=NOW,
    )
    assert wallet.address == USDT
    assert wallet.to_mongo()["encrypted_key"] == encrypted
    assert "c3" not in repr(wallet) and "wrapped_dek" not in repr(wallet)
    with pytest.raises(ValidationError, match="encrypted_key lacks ciphertext"):
        WalletDoc(
            **{
                **wallet.to_mongo(),
                "encrypted_key": {"kek_id": "k1", "wrapped_dek": "d", "nonce": "n"},
            }
        )
    with pytest.raises(ValidationError):
        WalletDoc(**{**wallet.to_mongo(), "public_key": "04" + "ab" * 64})
