"""schemas/payloads.py: each of the 11 payloads, valid and invalid, as a publisher sends them."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import pytest

from schemas.commands import COMMAND_TYPES, parse_command
from schemas.errors import InvalidCommand
from schemas.payloads import (
    PAYLOADS,
    PayoutCreatePayload,
    StakeDelegatePayload,
    StakeVotePayload,
    TransferTrc20Payload,
    WalletCreatePayload,
)
from schemas.types import base58check_encode

USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
USDT_HEX = "41a614f803b6fd780986a42c78ec9c7f77e6ded13c"


def address(n: int) -> str:
    return base58check_encode(b"\x41" + hashlib.sha256(f"wallet-{n}".encode()).digest()[:20])


WALLET, OTHER, THIRD = address(1), address(2), address(3)

VALID: dict[str, dict[str, Any]] = {
    "wallet.create": {"count": 3, "labels": ["a", "b", "c"], "purpose": "hot"},
    "transfer.trx": {"wallet": WALLET, "to": OTHER, "amount_sun": "1000000", "memo": "hi"},
    "transfer.trc20": {"wallet": WALLET, "to": OTHER, "token": "USDT", "amount": 5},
    "payout.create": {
        "asset": "TRX",
        "recipients": [
            {"to": OTHER, "amount": 1, "reference": "inv-1"},
            {"to": THIRD, "amount": "2", "reference": "inv-2"},
        ],
        "source_wallet": WALLET,
        "memo": "payroll",
    },
    "stake.freeze": {"wallet": WALLET, "amount_sun": 1_000_000, "resource": "ENERGY"},
    "stake.unfreeze": {"wallet": WALLET, "amount_sun": 1, "resource": "BANDWIDTH"},
    "stake.delegate": {
        "wallet": WALLET,
        "receiver": OTHER,
        "amount_sun": 10,
        "resource": "ENERGY",
        "lock": True,
        "lock_period_blocks": 28800,
    },
    "stake.undelegate": {
        "wallet": WALLET,
        "receiver": OTHER,
        "amount_sun": 10,
        "resource": "BANDWIDTH",
    },
    "stake.vote": {"wallet": WALLET, "votes": [{"witness": OTHER, "count": 3}]},
    "stake.withdraw_unfrozen": {"wallet": WALLET},
    "stake.claim_rewards": {"wallet": WALLET},
    "payout.approve": {"command_id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "reason": "ok"},
    "payout.cancel": {"command_id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "reason": "no"},
}


def body(command_type: str, payload: Any) -> bytes:
    return json.dumps(
        {
            "command_id": str(uuid.uuid4()),
            "idempotency_key": "k-1",
            "type": command_type,
            "schema_version": 1,
            "issued_at": "2026-11-23T12:00:00Z",
            "payload": payload,
        }
    ).encode()


def errors(command_type: str, payload: Any) -> dict[str, str]:
    with pytest.raises(InvalidCommand) as info:
        parse_command(body(command_type, payload))
    return {error["field"]: error["message"] for error in info.value.errors}


def with_(command_type: str, **changes: Any) -> dict[str, Any]:
    payload = dict(VALID[command_type])
    for key, value in changes.items():
        if value is ...:
            payload.pop(key, None)
        else:
            payload[key] = value
    return payload


def test_every_command_type_has_a_valid_example_and_a_model() -> None:
    assert set(VALID) == set(PAYLOADS) == set(COMMAND_TYPES)
    assert len(COMMAND_TYPES) == 13
    for command_type, payload in VALID.items():
        command = parse_command(body(command_type, payload))
        assert type(command.payload) is PAYLOADS[command_type]
        assert command.payload.command_type == command_type


@pytest.mark.parametrize("command_type", sorted(VALID))
def test_every_payload_rejects_unknown_fields_and_non_objects(command_type: str) -> None:
    assert errors(command_type, {**VALID[command_type], "surprise": 1}) == {
        "payload.surprise": "unknown field"
    }
    assert errors(command_type, [VALID[command_type]]) == {"payload": "must be a JSON object"}
    assert errors(command_type, None) == {"payload": "must be a JSON object"}


@pytest.mark.parametrize(
    "command_type",
    [t for t in sorted(VALID) if t not in ("wallet.create", "payout.approve", "payout.cancel")],
)
def test_every_wallet_field_must_be_an_address(command_type: str) -> None:
    field = "source_wallet" if command_type == "payout.create" else "wallet"
    found = errors(command_type, with_(command_type, **{field: USDT[:-1] + "u"}))
    assert found == {f"payload.{field}": "not a TRON address: bad checksum"}


def test_a_payout_decision_names_the_waiting_payout_by_command_id_and_gives_a_reason() -> None:
    found = errors("payout.approve", {"command_id": "order-42", "reason": "ok"})
    assert set(found) == {"payload.command_id"}
    assert set(errors("payout.cancel", {"command_id": str(uuid.uuid4())})) == {"payload.reason"}


def test_wallet_create_defaults_and_label_rules() -> None:
    payload = WalletCreatePayload.model_validate({})
    assert (payload.count, payload.labels, payload.purpose) == (1, None, "deposit")
    assert errors("wallet.create", {"count": 0})["payload.count"].startswith("must be between 1")
    assert "between 1 and 100" in errors("wallet.create", {"count": 101})["payload.count"]
    assert "JSON integer" in errors("wallet.create", {"count": "2"})["payload.count"]
    assert errors("wallet.create", {"count": 2, "labels": ["a"]}) == {
        "payload.labels": "labels must have one label per wallet: 1 for 2"
    }
    assert "labels" in errors("wallet.create", {"labels": ["a", "b"]})["payload.labels"]
    assert "control" in errors("wallet.create", {"labels": ["tab\t"]})["payload.labels.0"]
    assert "Input should be" in errors("wallet.create", {"purpose": "cold"})["payload.purpose"]


def test_transfer_trx_rules() -> None:
    assert errors("transfer.trx", with_("transfer.trx", to=WALLET)) == {
        "payload.to": "cannot send to itself (to equals wallet)"
    }
    # The same wallet in hex is still itself.
    hex_wallet = with_("transfer.trx", wallet=USDT_HEX, to=USDT)
    assert errors("transfer.trx", hex_wallet) == {
        "payload.to": "cannot send to itself (to equals wallet)"
    }
    assert (
        "at least 1"
        in errors("transfer.trx", with_("transfer.trx", amount_sun=0))["payload.amount_sun"]
    )
    assert (
        "never a float"
        in errors("transfer.trx", with_("transfer.trx", amount_sun=1.0))["payload.amount_sun"]
    )
    assert errors("transfer.trx", with_("transfer.trx", amount_sun=...)) == {
        "payload.amount_sun": "required field is missing"
    }
    assert (
        "200 bytes" in errors("transfer.trx", with_("transfer.trx", memo="x" * 201))["payload.memo"]
    )


def test_transfer_trc20_rules() -> None:
    by_contract = TransferTrc20Payload.model_validate(with_("transfer.trc20", token=USDT_HEX))
    assert by_contract.token == USDT
    assert errors("transfer.trc20", with_("transfer.trc20", token="TRX")) == {
        "payload.token": "TRX is not a TRC20 token: use transfer.trx"
    }
    assert (
        "token must be a symbol"
        in errors("transfer.trc20", with_("transfer.trc20", token="usdt"))["payload.token"]
    )
    assert "payload.to" in errors("transfer.trc20", with_("transfer.trc20", to=WALLET))
    assert "payload.amount" in errors("transfer.trc20", with_("transfer.trc20", amount="-5"))


def test_payout_rules_name_the_line() -> None:
    recipients = VALID["payout.create"]["recipients"]
    bad_line = [recipients[0], {"to": OTHER, "amount": 2.5, "reference": "inv-2"}]
    assert list(errors("payout.create", with_("payout.create", recipients=bad_line))) == [
        "payload.recipients.1.amount"
    ]
    assert (
        "must have at least 1 item, got 0"
        == errors("payout.create", with_("payout.create", recipients=[]))["payload.recipients"]
    )
    many = [{"to": OTHER, "amount": 1, "reference": f"r{i}"} for i in range(101)]
    assert (
        "must have at most 100 items, got 101"
        == errors("payout.create", with_("payout.create", recipients=many))["payload.recipients"]
    )
    assert (
        PayoutCreatePayload.model_validate(with_("payout.create", recipients=many[:100]))
        .recipients[99]
        .reference
        == "r99"
    )
    dupes = [recipients[0], {**recipients[1], "reference": "inv-1"}]
    assert errors("payout.create", with_("payout.create", recipients=dupes)) == {
        "payload.recipients": "duplicate reference in recipients 0 and 1: each line needs its own"
    }
    huge = [
        {"to": OTHER, "amount": 2**62, "reference": "a"},
        {"to": THIRD, "amount": 2**62, "reference": "b"},
    ]
    assert (
        "total"
        in errors("payout.create", with_("payout.create", recipients=huge))["payload.recipients"]
    )
    assert errors("payout.create", with_("payout.create", source_wallet=THIRD)) == {
        "payload.source_wallet": "cannot send to itself (recipients 1)"
    }
    long_ref = [{"to": OTHER, "amount": 1, "reference": "r" * 129}]
    assert (
        "1 to 128"
        in errors("payout.create", with_("payout.create", recipients=long_ref))[
            "payload.recipients.0.reference"
        ]
    )
    pool = PayoutCreatePayload.model_validate(with_("payout.create", source_wallet=...))
    assert pool.source_wallet is None


def test_stake_amount_and_resource_rules() -> None:
    for command_type in ("stake.freeze", "stake.unfreeze"):
        assert (
            "Input should be 'ENERGY' or 'BANDWIDTH'"
            in errors(command_type, with_(command_type, resource="energy"))["payload.resource"]
        )
        assert errors(command_type, with_(command_type, resource=...)) == {
            "payload.resource": "required field is missing"
        }
        assert "payload.amount_sun" in errors(command_type, with_(command_type, amount_sun=0))


def test_delegate_lock_rules() -> None:
    plain = StakeDelegatePayload.model_validate(
        with_("stake.delegate", lock=..., lock_period_blocks=...)
    )
    assert (plain.lock, plain.lock_period_blocks) == (False, 0)
    assert errors("stake.delegate", with_("stake.delegate", lock=False)) == {
        "payload.lock_period_blocks": "lock_period_blocks needs lock: true"
    }
    assert errors("stake.delegate", with_("stake.delegate", lock="true")) == {
        "payload.lock": "must be true or false"
    }
    assert "payload.lock_period_blocks" in errors(
        "stake.delegate", with_("stake.delegate", lock_period_blocks=-1)
    )
    assert errors("stake.delegate", with_("stake.delegate", receiver=WALLET)) == {
        "payload.receiver": "cannot delegate to itself"
    }
    assert errors("stake.undelegate", with_("stake.undelegate", receiver=WALLET)) == {
        "payload.receiver": "cannot undelegate from itself"
    }


def test_vote_rules() -> None:
    votes = [{"witness": THIRD, "count": "2"}, {"witness": OTHER, "count": 1}]
    parsed = StakeVotePayload.model_validate(with_("stake.vote", votes=votes))
    assert [vote.witness for vote in parsed.votes] == sorted([THIRD, OTHER])
    assert errors("stake.vote", with_("stake.vote", votes=[])) == {
        "payload.votes": "must have at least 1 item, got 0"
    }
    too_many = [{"witness": address(10 + i), "count": 1} for i in range(31)]
    assert (
        "must have at most 30 items, got 31"
        == errors("stake.vote", with_("stake.vote", votes=too_many))["payload.votes"]
    )
    assert StakeVotePayload.model_validate(with_("stake.vote", votes=too_many[:30]))
    twice = [{"witness": OTHER, "count": 1}, {"witness": OTHER, "count": 2}]
    assert errors("stake.vote", with_("stake.vote", votes=twice)) == {
        "payload.votes": "duplicate witness in votes 0 and 1"
    }
    assert (
        "at least 1"
        in errors("stake.vote", with_("stake.vote", votes=[{"witness": OTHER, "count": 0}]))[
            "payload.votes.0.count"
        ]
    )


def test_wallet_only_commands_need_exactly_a_wallet() -> None:
    for command_type in ("stake.withdraw_unfrozen", "stake.claim_rewards"):
        assert errors(command_type, {}) == {"payload.wallet": "required field is missing"}
        assert errors(command_type, {"wallet": WALLET, "amount_sun": 1}) == {
            "payload.amount_sun": "unknown field"
        }


def test_payloads_are_frozen() -> None:
    payload = PAYLOADS["stake.freeze"].model_validate(VALID["stake.freeze"])
    with pytest.raises(ValueError):
        payload.amount_sun = 5  # type: ignore[attr-defined]
