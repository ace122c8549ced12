"""Approvals over the in-memory twins: a payout above the threshold waits, one decision
(approve, cancel or expiry) is the first insert, and the waiting payout is resumed by
the sweeper under a lease."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from tests.unit.test_payout import _lines, _recipient
from tests.unit.test_pipeline import World, _signed, command
from tests.unit.test_transfer import START_BALANCE_SUN
from worker.caps import Caps

BOSS_SECRET = b"boss-secret-0123456789"
AUDIT_SECRET = b"audit-secret-0123456789"
SECRETS = {"billing": None, "boss": BOSS_SECRET, "audit": AUDIT_SECRET}


async def _world(threshold: int = 5000, expiry_s: float = 86_400) -> tuple[World, str]:
    world = World(
        require_signature=True,
        extra_keys={"boss": BOSS_SECRET, "audit": AUDIT_SECRET},
        environ={
            "TRON_WORKER_CONTROLS__LIMITS": json.dumps(
                {"TRX": {"approval_above": threshold, "daily": 1_000_000}}
            ),
            "TRON_WORKER_CONTROLS__ROLES": json.dumps({"boss": ["approver"]}),
            "TRON_WORKER_CONTROLS__APPROVAL_EXPIRY_S": str(expiry_s),
        },
    )
    body = command(key="make-wallet", payload={"count": 1, "purpose": "hot"})
    await world.deliver(body, headers=_signed(body))
    [created] = world.events.of("wallet.created")
    wallet = created["event"]["payload"]["addresses"][0]
    world.node.accounts[wallet] = {"address": wallet, "balance": START_BALANCE_SUN}
    for index in range(10):
        world.node.accounts[_recipient(index)] = {"balance": 1}
    await world.follower.step()
    return world, wallet


def _headers(body: bytes, key_id: str) -> dict[str, Any]:
    secret = SECRETS[key_id]
    return _signed(body) if secret is None else _signed(body, key_id, secret)


async def _send(world: World, kind: str, key: str, payload: dict[str, Any], by: str) -> Any:
    body = command(kind, key=key, payload=payload, issued_at=world.now.isoformat())
    delivery = await world.deliver(
        body, family="payout", routing_key=f"command.{kind}", headers=_headers(body, by)
    )
    return json.loads(body)["command_id"], delivery


def _payout(wallet: str, amount: int) -> dict[str, Any]:
    return {"asset": "TRX", "source_wallet": wallet, "recipients": _lines(2, amount=amount)}


def _payloads(world: World, routing_key: str) -> list[dict[str, Any]]:
    return [e["event"]["payload"] for e in world.events.of(routing_key)]


async def test_a_payout_above_the_threshold_waits_signs_nothing_and_is_acked() -> None:
    world, wallet = await _world()
    _, delivery = await _send(world, "payout.create", "big", _payout(wallet, 3000), "billing")
    assert delivery.outcome == "ack", "acked once awaiting_approval is stored"
    [required] = _payloads(world, "payout.approval_required")
    assert required["total_amount"] == 6001 and required["items"] == 2
    assert "above the approval threshold 5000" in required["reason"]
    assert not world.store.collections["tx_attempts"]
    [doc] = [
        d for d in world.store.collections["commands"].values() if d["type"] == "payout.create"
    ]
    assert doc["state"] == "awaiting_approval" and not doc["terminal"]


async def test_only_another_key_with_the_approver_role_approves_and_only_once() -> None:
    world, wallet = await _world()
    payout_id, _ = await _send(world, "payout.create", "big", _payout(wallet, 3000), "billing")
    approve = {"command_id": payout_id, "reason": "checked the invoice"}
    await _send(world, "payout.approve", "a1", approve, "billing")  # its own key id
    await _send(world, "payout.approve", "a2", approve, "audit")  # no approver role
    own, no_role = _payloads(world, "payout.rejected")
    assert own["code"] == no_role["code"] == "NOT_APPROVER"
    assert "own key id" in own["message"] and "approver role" in no_role["message"]
    assert not world.store.collections["tx_attempts"]
    await _send(world, "payout.approve", "a3", approve, "boss")
    [decided] = _payloads(world, "payout.decided")
    assert decided["decision"] == "approved" and decided["by"] == "boss"
    await world.sweeper.sweep_once()  # the woken payout is resumed under a lease
    assert len(world.store.collections["tx_attempts"]) == 2, "both lines signed"
    await _send(world, "payout.cancel", "c1", {"command_id": payout_id, "reason": "x"}, "boss")
    late = _payloads(world, "payout.rejected")[-1]
    assert late["code"] == "DECISION_TAKEN" and "approved by boss" in late["message"]


async def test_a_cancel_rejects_the_payout_and_releases_its_reservations() -> None:
    world, wallet = await _world()
    payout_id, _ = await _send(world, "payout.create", "big", _payout(wallet, 3000), "billing")
    caps = Caps(world.store, lambda: world.now, "UTC")
    assert await caps.used("asset", "TRX") == 6001, "reserved at request time"
    await _send(world, "payout.cancel", "c1", {"command_id": payout_id, "reason": "dup"}, "billing")
    await world.sweeper.sweep_once()
    [cancelled] = _payloads(world, "payout.rejected")
    assert cancelled["code"] == "CANCELLED" and "cancelled by billing: dup" in cancelled["message"]
    assert await caps.used("asset", "TRX") == 0
    assert await caps.used("approval", "TRX:billing") == 0
    assert not world.store.collections["tx_attempts"]


@pytest.mark.parametrize("hours", [1, 24])  # 24: the command itself expires with it
async def test_an_unapproved_payout_expires_and_releases_its_reservations(hours: int) -> None:
    world, wallet = await _world(expiry_s=hours * 3600)
    payout_id, _ = await _send(world, "payout.create", "big", _payout(wallet, 3000), "billing")
    assert world.approvals.expire_due in world.sweeper._duties, "every sweep round expires"
    assert await world.approvals.expire_due() == 0, "not yet"
    world.now += timedelta(hours=hours, seconds=1)
    assert await world.approvals.expire_due() == 1
    await world.sweeper.sweep_once()
    [expired] = _payloads(world, "payout.rejected")
    assert expired["code"] == "APPROVAL_EXPIRED"
    caps = Caps(world.store, lambda: world.now - timedelta(hours=hours), "UTC")
    assert await caps.used("asset", "TRX") == 0, "released into the day it was reserved in"
    await _send(world, "payout.approve", "a1", {"command_id": payout_id, "reason": "late"}, "boss")
    assert _payloads(world, "payout.rejected")[-1]["code"] == "DECISION_TAKEN"


async def test_splitting_a_payout_does_not_avoid_approval() -> None:
    world, wallet = await _world()
    await _send(world, "payout.create", "part-1", _payout(wallet, 1500), "billing")  # 3001
    await _send(world, "payout.create", "part-2", _payout(wallet, 1500), "billing")  # 6002
    assert len(world.store.collections["tx_attempts"]) == 2, "the first part went"
    [required] = _payloads(world, "payout.approval_required")
    assert "the key's day would be 6002" in required["reason"]


async def test_an_unknown_payout_cannot_be_decided() -> None:
    world, _ = await _world()
    payload = {"command_id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "reason": "?"}
    await _send(world, "payout.approve", "a1", payload, "boss")
    [unknown] = _payloads(world, "payout.rejected")
    assert unknown["code"] == "UNKNOWN_COMMAND"
