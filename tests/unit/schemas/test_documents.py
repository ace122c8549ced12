"""schemas/documents.py: the stored documents, their `_id` rules and Mongo round trips."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from schemas.commands import idempotency_hash, normalised_payload
from schemas.documents import (
    DOCUMENTS,
    CommandDoc,
    EventDoc,
    LeaseDoc,
    TxAttemptDoc,
    WalletDoc,
    attempt_id,
    command_key,
    command_ref,
    event_ref,
    gate_id,
    lease_id,
    wallet_id,
)
from schemas.events import AcceptedPayload, make_event
from schemas.payloads import WalletCreatePayload

NOW = datetime(2026, 11, 23, 12, 0, 0, 123456, tzinfo=UTC)
COMMAND_ID = uuid.UUID("1b4e28ba-2fa1-11d2-883f-0016d3cca427")
REF = command_ref("-:order-42")
USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
USDT_HEX = "41a614f803b6fd780986a42c78ec9c7f77e6ded13c"


def command_doc(**overrides) -> CommandDoc:
    payload = WalletCreatePayload(count=2)
    fields = {
        "_id": command_key("-", "order-42"),
        "ref": REF,
        "command_id": COMMAND_ID,
        "scope": "-",
        "idempotency_key": "order-42",
        "type": "wallet.create",
        "payload_hash": idempotency_hash("wallet.create", payload),
        "payload": normalised_payload(payload),
        "issued_at": NOW,
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
    assert REF == str(uuid.uuid5(uuid.UUID("0b6f3d0e-4c1a-5e7b-8d2f-9a3c5e7f1b24"), "-:order-42"))
    assert command_ref("a:b:c") != command_ref("a:b-c"), "a key holding ':' stays distinct"
    assert lease_id(REF, 3) == f"{REF}:3"
    assert attempt_id(REF, 0, 1) == f"{REF}:0:1"
    assert wallet_id(REF, 0) == f"{REF}:0"
    assert gate_id(REF) == REF
    assert (event_ref(REF), event_ref(REF, 2)) == (f"{REF}:0", f"{REF}:2")


def test_command_doc_round_trips_through_mongo_shape() -> None:
    doc = command_doc()
    stored = doc.to_mongo()
    assert stored["_id"] == "-:order-42" and "id" not in stored
    assert stored["command_id"] == str(COMMAND_ID)  # no BSON UUID representation needed
    assert stored["created_at"] == datetime(2026, 11, 23, 12, 0, 0, 123000, tzinfo=UTC)
    assert (stored["state"], stored["terminal"], stored["events"]) == ("received", False, [])
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
    with pytest.raises(ValidationError, match="ref must be"):
        command_doc(ref=str(COMMAND_ID))
    assert not command_doc(state="needs_attention").terminal
    other_zone = command_doc(
        created_at=datetime(2026, 11, 23, 14, tzinfo=timezone(timedelta(hours=2)))
    )
    assert other_zone.created_at == datetime(2026, 11, 23, 12, tzinfo=UTC)


def test_lease_and_attempt_docs() -> None:
    lease = LeaseDoc(
        _id=lease_id(REF, 1),
        ref=REF,
        epoch=1,
        owner="host:1",
        renewed_at=NOW,
        expires_at=NOW + timedelta(seconds=30),
    )
    assert LeaseDoc.from_mongo(lease.to_mongo()) == lease
    with pytest.raises(ValidationError):
        LeaseDoc(**{**lease.to_mongo(), "epoch": 0})
    attempt = TxAttemptDoc(
        _id=attempt_id(REF, 0, 1),
        ref=REF,
        item=0,
        attempt=1,
        txid="AB" * 32,
        signed_hex="0a02" + "ab" * 8,
        expiration_ms=1_795_000_000_000,
        created_at=NOW,
    )
    assert attempt.txid == "ab" * 32
    assert TxAttemptDoc.from_mongo(attempt.to_mongo()) == attempt
    sealed = TxAttemptDoc(_id=attempt_id(REF, 0, 1), ref=REF, item=0, attempt=1, void=True)
    assert sealed.txid is None
    with pytest.raises(ValidationError, match="holds its txid"):
        TxAttemptDoc(_id=attempt_id(REF, 0, 1), ref=REF, item=0, attempt=1)


def test_event_doc_keeps_the_exact_body_text() -> None:
    from worker.outbox import event_doc

    event = make_event(
        family="wallet",
        state="accepted",
        payload=AcceptedPayload(),
        command_id=COMMAND_ID,
        idempotency_key="order-42",
        occurred_at=NOW,
        command_ref=REF,
    )
    stored = event_doc(event, correlation_id="c-1", created_at=NOW)
    assert stored["_id"] == str(event.event_id)
    assert stored["routing_key"] == "wallet.accepted"
    assert stored["body_json"] == event.model_dump_json()
    assert (stored["correlation_id"], stored["seq"]) == ("c-1", 1)
    assert EventDoc.from_mongo(stored).event() == event


async def test_every_document_the_worker_writes_is_its_model() -> None:
    """The models are the truth: run the real pipeline and read back all it stored."""
    from tests.unit.test_pipeline import World, command
    from tests.unit.test_sweeper import _crash_after_claim, _sweeper

    world = World()
    await world.deliver(command(key="done"))
    await _crash_after_claim(world, command(key="taken-over"))
    world.now += timedelta(seconds=31)
    await _sweeper(world).sweep_once()  # a lease epoch 2
    await _crash_after_claim(world, command(key="let-go"))  # an active marker, a gate
    world.events.fail = True
    await world.deliver(command(key="unpublished"))  # outbox markers
    seen = set()
    for collection, docs in world.store.collections.items():
        for doc in docs.values():
            model = DOCUMENTS[collection]
            parsed = model.from_mongo(doc)
            assert model.from_mongo(parsed.to_mongo()) == parsed
            seen.add(collection)
    chain_side = {"tx_attempts", "txids", "inflight", "fates", "seen", "chain", "outflows"}
    assert seen == set(DOCUMENTS) - chain_side, "each wallet-side collection was written"


def test_wallet_doc_keeps_the_key_opaque_and_out_of_repr() -> None:
    encrypted = {
        "kek_id": "k1",
        "wrapped_dek": "d2",
        "dek_nonce": "n0",
        "nonce": "n1",
        "ciphertext": "c3",
    }
    wallet = WalletDoc(
        _id=wallet_id(REF, 0),
        ref=REF,
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
