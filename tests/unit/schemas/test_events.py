"""schemas/events.py: event types, typed payloads, and deterministic ids."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from schemas.events import (
    EVENT_NAMESPACE,
    EVENT_TYPES,
    FAILURE_CODES,
    REJECTION_CODES,
    AcceptedPayload,
    BroadcastPayload,
    ConfirmedPayload,
    Event,
    FailedPayload,
    RejectedPayload,
    WalletCreatedPayload,
    event_id_for,
    make_event,
    rejected_event,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
COMMAND_ID = uuid.UUID("1b4e28ba-2fa1-11d2-883f-0016d3cca427")
USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
USDT_HEX = "41a614f803b6fd780986a42c78ec9c7f77e6ded13c"
TXID = "ab" * 32


def event(family: str, state: str, payload, **kwargs) -> Event:
    return make_event(
        family=family,
        state=state,
        payload=payload,
        command_id=COMMAND_ID,
        idempotency_key="order-42",
        occurred_at=NOW,
        **kwargs,
    )


def test_event_types_cover_every_family_and_state() -> None:
    assert set(EVENT_TYPES) == {
        *(
            f"{family}.{state}"
            for family in ("transfer", "stake")
            for state in (
                "accepted",
                "broadcast",
                "confirmed",
                "failed",
                "rejected",
                "needs_attention",
            )
        ),
        *(
            f"payout.{state}"
            for state in (
                "accepted",
                "item.broadcast",
                "item.confirmed",
                "item.failed",
                "completed",
                "approval_required",
                "decided",
                "failed",
                "rejected",
                "needs_attention",
            )
        ),
        "control.paused",
        "control.resumed",
        "wallet.needs_attention",
        "wallet.accepted",
        "wallet.created",
        "wallet.failed",
        "wallet.rejected",
        "command.rejected",
    }
    assert len(EVENT_TYPES) == len(set(EVENT_TYPES)) == 30
    assert REJECTION_CODES == (
        "INVALID_COMMAND",
        "UNAUTHENTICATED",
        "EXPIRED",
        "IDEMPOTENCY_CONFLICT",
        "POLICY",
        "NOT_IMPLEMENTED",
        "POISON",
        "UNKNOWN_WALLET",
        "INSUFFICIENT_BALANCE",
        "UNKNOWN_TOKEN",
        "FEE_LIMIT_TOO_LOW",
        "INSUFFICIENT_FUNDS",
        "WOULD_REVERT",
        "PAUSED",
        "AMOUNT_BELOW_MINIMUM",
        "AMOUNT_ABOVE_LIMIT",
        "DAILY_LIMIT_EXCEEDED",
        "DESTINATION_DENIED",
        "DESTINATION_IS_CONTRACT",
        "DESTINATION_BLACKLISTED",
        "CANCELLED",
        "APPROVAL_EXPIRED",
        "DECISION_TAKEN",
        "UNKNOWN_COMMAND",
        "NOT_APPROVER",
        "NOT_ENOUGH_FROZEN",
        "TOO_MANY_UNFREEZES",
        "NOTHING_TO_WITHDRAW",
        "DELEGATE_ABOVE_MAX",
        "NOT_ENOUGH_DELEGATED",
        "DELEGATION_LOCKED",
        "LOCK_PERIOD_INVALID",
        "RECEIVER_NOT_ACTIVATED",
        "NO_ENERGY",
        "NOT_A_WITNESS",
        "VOTES_ABOVE_TRON_POWER",
        "NOTHING_TO_CLAIM",
        "REWARD_NOT_CLAIMABLE",
    )
    assert "RETRIES_EXHAUSTED" in FAILURE_CODES


def test_event_id_is_uuid5_of_reference_state_and_attempt() -> None:
    assert EVENT_NAMESPACE == uuid.UUID("6f1c3a52-7d0e-5b8a-9c41-2e7f4d9a1b30")
    expected = uuid.uuid5(EVENT_NAMESPACE, f"{COMMAND_ID}:broadcast:2")
    assert event_id_for(str(COMMAND_ID), "broadcast", 2) == expected
    first = event("transfer", "broadcast", BroadcastPayload(txid=TXID, attempt=2), attempt=2)
    again = event("transfer", "broadcast", BroadcastPayload(txid=TXID, attempt=2), attempt=2)
    assert first.event_id == again.event_id == expected
    assert first.model_dump_json() == again.model_dump_json()
    later = event("transfer", "broadcast", BroadcastPayload(txid=TXID, attempt=3), attempt=3)
    assert later.event_id != first.event_id
    confirmed = event("transfer", "confirmed", _confirmed(), attempt=2)
    assert confirmed.event_id != first.event_id


def test_poison_events_use_the_given_reference() -> None:
    poison = make_event(
        family="command",
        state="rejected",
        payload=RejectedPayload(code="POISON", message="body is not JSON"),
        command_id=None,
        idempotency_key=None,
        occurred_at=NOW,
        command_ref="body-sha256:00",
    )
    assert poison.type == "command.rejected"
    assert poison.event_id == event_id_for("body-sha256:00", "rejected", 0)
    with pytest.raises(ValueError, match="needs a command_ref"):
        make_event(
            family="command",
            state="rejected",
            payload=RejectedPayload(code="POISON", message="x"),
            command_id=None,
            idempotency_key=None,
            occurred_at=NOW,
        )


def test_rejected_event_keeps_its_signature_and_adds_field_errors() -> None:
    plain = rejected_event(
        family="wallet",
        command_ref=str(COMMAND_ID),
        command_id=COMMAND_ID,
        idempotency_key="order-42",
        code="NOT_IMPLEMENTED",
        message="later",
        occurred_at=NOW,
    )
    assert plain.payload == {"code": "NOT_IMPLEMENTED", "message": "later", "retry_safe": True}
    assert plain.event_id == event_id_for(str(COMMAND_ID), "rejected", 0)
    assert (plain.type, plain.seq, plain.family, plain.state) == (
        "wallet.rejected",
        1,
        "wallet",
        "rejected",
    )
    detailed = rejected_event(
        family="payout",
        command_ref=str(COMMAND_ID),
        command_id=COMMAND_ID,
        idempotency_key="order-42",
        code="INVALID_COMMAND",
        message="invalid payload",
        occurred_at=NOW,
        errors=[{"field": "payload.recipients.0.amount", "message": "must not be negative"}],
    )
    assert detailed.payload["errors"] == [
        {"field": "payload.recipients.0.amount", "message": "must not be negative"}
    ]
    with pytest.raises(ValidationError):
        rejected_event(
            family="wallet",
            command_ref="x",
            command_id=None,
            idempotency_key=None,
            code="MADE_UP",
            message="no such code",
            occurred_at=NOW,
        )


def _confirmed() -> ConfirmedPayload:
    return ConfirmedPayload(
        txid=TXID,
        block_number=123,
        block_time=datetime(2026, 11, 23, 12, 0, 3, tzinfo=UTC),
        fee_sun="1100000",
        energy_used=0,
        bandwidth_used=268,
    )


def test_typed_payloads_serialise_to_plain_json() -> None:
    confirmed = event("payout", "item.confirmed", _confirmed(), attempt=1, seq=3)
    body = json.loads(confirmed.model_dump_json())
    assert body == {
        "event_id": str(event_id_for(str(COMMAND_ID), "item.confirmed", 1)),
        "seq": 3,
        "type": "payout.item.confirmed",
        "command_id": str(COMMAND_ID),
        "idempotency_key": "order-42",
        "occurred_at": "2026-11-23T12:00:00Z",
        "payload": {
            "txid": TXID,
            "block_number": 123,
            "block_time": "2026-11-23T12:00:03Z",
            "fee_sun": 1100000,
            "energy_used": 0,
            "bandwidth_used": 268,
        },
    }
    assert Event.model_validate_json(confirmed.model_dump_json()) == confirmed
    assert confirmed.typed_payload() == _confirmed()


def test_wallet_created_lists_addresses_and_count() -> None:
    created = event("wallet", "created", WalletCreatedPayload(addresses=[USDT_HEX, USDT], count=2))
    assert created.payload == {"addresses": [USDT, USDT], "count": 2}
    assert created.event_id == event_id_for(str(COMMAND_ID), "created", 0)
    with pytest.raises(ValidationError, match="count is 3 but 2 addresses"):
        WalletCreatedPayload(addresses=[USDT, USDT], count=3)


def test_failed_payload_carries_retry_safety_and_chain_codes() -> None:
    failed = event(
        "transfer",
        "failed",
        FailedPayload(code="OUT_OF_ENERGY", message="receipt says so", retry_safe=False, txid=TXID),
    )
    assert failed.payload == {
        "code": "OUT_OF_ENERGY",
        "message": "receipt says so",
        "retry_safe": False,
        "txid": TXID,
    }
    with pytest.raises(ValidationError):
        FailedPayload(code="lower case", message="x", retry_safe=True)
    with pytest.raises(ValidationError):
        FailedPayload(code="X", message="x")  # type: ignore[call-arg]  # retry_safe is required


@pytest.mark.parametrize(
    ("family", "state", "payload", "message"),
    [
        ("wallet", "broadcast", BroadcastPayload(txid=TXID, attempt=1), "no event type"),
        (
            "command",
            "failed",
            FailedPayload(code="X", message="m", retry_safe=True),
            "no event type",
        ),
        ("ledger", "rejected", RejectedPayload(code="POLICY", message="m"), "no event type"),
        ("transfer", "confirmed", AcceptedPayload(), "confirmed events need a ConfirmedPayload"),
    ],
)
def test_make_event_refuses_impossible_events(family, state, payload, message) -> None:
    with pytest.raises(ValueError, match=message):
        event(family, state, payload)


def test_event_checks_the_payload_against_its_type() -> None:
    fields = {
        "event_id": uuid.uuid4(),
        "seq": 1,
        "command_id": None,
        "idempotency_key": None,
        "occurred_at": NOW,
    }
    with pytest.raises(ValidationError, match="txid"):
        Event(**fields, type="stake.broadcast", payload={"attempt": 1})
    with pytest.raises(ValidationError, match="event type must be one of"):
        Event(**fields, type="stake.created", payload={})
    with pytest.raises(ValidationError):
        Event(**fields, type="stake.accepted", payload={"private_key": "00"})
    with pytest.raises(ValidationError, match="naive"):
        Event(**{**fields, "occurred_at": datetime(2026, 1, 1)}, type="stake.accepted", payload={})
    accepted = Event(**fields, type="stake.accepted", payload={})
    assert accepted.typed_payload() == AcceptedPayload()
