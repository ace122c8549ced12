"""worker/pipeline.py over in-memory twins: every outcome of one delivery, no network."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from tronpy.keys import PrivateKey

from handlers.ports import CommandType
from schemas.documents import command_ref, event_ref
from schemas.events import event_id_for
from worker.errors import TransientError
from worker.keystore import Keystore
from worker.memory_broker import MemoryBroker
from worker.memory_node import MemoryNode
from worker.settings import KeystoreSettings, load_settings
from worker.store import MemoryStore
from worker.topology import build_topology
from worker.wiring import build_pipeline

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
MASTER_KEY = "dGVzdC1vbmx5LW1hc3Rlci1rZXktMzItYnl0ZXMhISE="
HMAC_SECRET = b"publisher-secret"


@dataclass
class FakeDelivery:
    body: bytes
    headers: dict[str, Any] = field(default_factory=dict)
    routing_key: str | None = "command.wallet.create"
    message_id: str | None = "m-1"
    correlation_id: str | None = None
    content_type: str | None = "application/json"
    outcome: str | None = None

    async def ack(self) -> None:
        self._settle("ack")

    async def nack(self, *, requeue: bool = True) -> None:
        self._settle("nack-requeue" if requeue else "nack")

    def _settle(self, outcome: str) -> None:
        # As aio-pika: a delivery is settled once; a second ack or nack is a bug.
        assert self.outcome is None, f"settled twice: {self.outcome} then {outcome}"
        self.outcome = outcome


class EventLog:
    """The events a MemoryBroker confirmed, as the tests read them."""

    def __init__(self, broker: MemoryBroker) -> None:
        self._broker = broker

    @property
    def published(self) -> list[dict[str, Any]]:
        return self._broker.published

    @property
    def fail(self) -> bool:
        return self._broker.refuse_events

    @fail.setter
    def fail(self, value: bool) -> None:  # the broker does not confirm
        self._broker.refuse_events = value

    def of(self, routing_key: str) -> list[dict[str, Any]]:
        return self._broker.events_of(routing_key)


class World:
    """One worker's pipeline, wired as app.py wires it, over the in-memory twins."""

    def __init__(
        self,
        *,
        require_signature: bool = False,
        store: MemoryStore | None = None,
        extra_keys: dict[str, bytes] | None = None,
        environ: dict[str, str] | None = None,
    ):
        self.now = NOW
        self.sleeps: list[float] = []
        keys = {"billing": HMAC_SECRET, **(extra_keys or {})}
        settings = load_settings(
            environ={
                "TRON_WORKER_AMQP__MAX_ATTEMPTS": "3",
                "TRON_WORKER_AMQP__REQUIRE_SIGNATURE": "true" if require_signature else "false",
                "TRON_WORKER_AMQP__HMAC_KEYS": json.dumps({k: v.decode() for k, v in keys.items()}),
                "TRON_WORKER_WORKER__LEASE_S": "30",
                "TRON_WORKER_CHAIN__FOLLOWER_INTERVAL_S": "0.01",
                **(environ or {}),
            }
        )
        self.store = store or MemoryStore()
        self.broker = MemoryBroker(build_topology(settings.amqp))
        self.events = EventLog(self.broker)
        keystore = Keystore(
            KeystoreSettings(active_key_id="k1", master_keys={"k1": SecretStr(MASTER_KEY)})
        )

        async def sleep(delay_s: float) -> None:
            self.sleeps.append(delay_s)

        self.node = MemoryNode()
        self.keystore = keystore
        wired = build_pipeline(
            settings,
            store=self.store,
            broker=self.broker,
            node=self.node,
            keys=keystore,
            owner="w1",
            clock=lambda: self.now,
            sleep=sleep,
        )
        self.pipeline, self.executor, self.outbox = wired.pipeline, wired.executor, wired.outbox
        self.metrics, self.leases = wired.metrics, wired.leases
        self.sweeper, self.follower = wired.sweeper, wired.follower
        self.switches, self.approvals = wired.switches, wired.approvals
        self.standing = wired.standing

    def registry_override(self, kind: str, handler: Any) -> None:
        """Swap one command type's handler, keeping its payload and "has effects" test."""
        original = self.executor._types[kind]
        replaced = CommandType(original.payload, handler, original.has_effects)
        self.executor._types = {**self.executor._types, kind: replaced}

    async def resume(self, stale: dict[str, Any]) -> None:
        """Take a command over from a (possibly stale) copy of its document and run it."""
        lease = await self.leases.take_over(stale)
        assert lease is not None
        await self.executor.execute(stale, lease, fresh=False)

    async def deliver(self, body: bytes, family: str = "wallet", **kwargs: Any) -> FakeDelivery:
        delivery = FakeDelivery(body, **kwargs)
        await self.pipeline.process(family, delivery)
        return delivery


def command(kind: str = "wallet.create", key: str = "order-42", **overrides: Any) -> bytes:
    body: dict[str, Any] = {
        "command_id": str(uuid.uuid4()),
        "idempotency_key": key,
        "type": kind,
        "schema_version": 1,
        "issued_at": NOW.isoformat(),
        "payload": {"count": 2, "purpose": "deposit"},
    }
    body.update(overrides)
    return json.dumps(body).encode()


async def test_wallet_create_runs_once_and_duplicates_republish_identical_events() -> None:
    world = World()
    body = command()
    first = await world.deliver(body)
    assert first.outcome == "ack"
    [created] = world.events.of("wallet.created")
    assert created["event"]["payload"]["count"] == 2
    assert len(world.store.collections["wallets"]) == 2
    again = await world.deliver(body)
    assert again.outcome == "ack"
    republished = world.events.of("wallet.created")
    assert len(republished) == 2
    assert republished[1]["body"] == created["body"], "byte-identical"
    assert republished[1]["message_id"] == created["message_id"]
    assert len(world.store.collections["wallets"]) == 2, "no second set of wallets"
    command_doc = next(iter(world.store.collections["commands"].values()))
    assert command_doc["state"] == "completed" and command_doc["terminal"] is True


async def test_no_private_key_or_master_key_in_events_or_stored_commands() -> None:
    world = World()
    await world.deliver(command())
    text = json.dumps([p["event"] for p in world.events.published]) + repr(world.store.collections)
    assert MASTER_KEY not in text
    for wallet in world.store.collections["wallets"].values():
        assert "private" not in json.dumps(wallet["encrypted_key"])
    # the events list addresses that really are the stored wallets'
    addresses = world.events.of("wallet.created")[0]["event"]["payload"]["addresses"]
    assert sorted(addresses) == sorted(
        w["address"] for w in world.store.collections["wallets"].values()
    )


async def test_different_payload_same_key_is_a_conflict_and_changes_nothing() -> None:
    world = World()
    await world.deliver(command(key="k"))
    before = json.dumps(world.store.collections, default=str)
    delivery = await world.deliver(command(key="k", payload={"count": 3, "purpose": "hot"}))
    assert delivery.outcome == "ack"
    [rejected] = world.events.of("wallet.rejected")
    assert rejected["event"]["payload"]["code"] == "IDEMPOTENCY_CONFLICT"
    assert json.dumps(world.store.collections, default=str) == before


async def test_same_payload_written_differently_is_a_duplicate_not_a_conflict() -> None:
    world = World()
    await world.deliver(command(key="k", payload={"count": 1, "purpose": "deposit"}))
    await world.deliver(command(key="k", payload={"labels": None}))  # defaults spelled out or not
    assert world.events.of("wallet.rejected") == []
    assert len(world.events.of("wallet.created")) == 2


async def test_invalid_payload_is_rejected_with_field_messages() -> None:
    world = World()
    delivery = await world.deliver(command(payload={"count": 0, "purpose": "deposit"}))
    assert delivery.outcome == "ack"
    [rejected] = world.events.of("wallet.rejected")
    payload = rejected["event"]["payload"]
    assert payload["code"] == "INVALID_COMMAND"
    assert payload["errors"][0]["field"] == "payload.count"
    assert world.store.collections["commands"] == {}


async def test_command_on_the_wrong_queue_is_invalid() -> None:
    world = World()
    await world.deliver(command(), family="stake")
    [rejected] = world.events.of("stake.rejected")
    assert rejected["event"]["payload"]["code"] == "INVALID_COMMAND"


async def test_poison_is_dead_lettered_and_rejected_without_naming_a_command() -> None:
    world = World()
    junk = await world.deliver(b"\xff not json", message_id="m-junk")
    assert junk.outcome == "ack"
    [copy] = world.broker.copies
    assert (copy["exchange"], copy["routing_key"]) == ("tron.dlx", "tron.wallet.dead")
    assert copy["headers"]["x-dead-letter-reason"] == "poison"
    [rejected] = world.events.of("wallet.rejected")
    assert rejected["event"]["payload"]["code"] == "POISON"
    assert rejected["event"]["command_id"] is None, "what is not authentic names nobody"
    assert rejected["headers"] == {"x-command-message-id": "m-junk"}, "the publisher's handle"
    known = json.dumps({"command_id": str(uuid.uuid4()), "type": "wallet.create"}).encode()
    await world.deliver(known)
    assert len(world.events.of("wallet.rejected")) == 2
    assert world.metrics.dead_letters_total.labels("tron.wallet", "poison")._value.get() == 2


async def test_expired_command_is_rejected_and_not_claimed() -> None:
    world = World()
    world.now = NOW + timedelta(hours=25)
    await world.deliver(command())
    [rejected] = world.events.of("wallet.rejected")
    assert rejected["event"]["payload"]["code"] == "EXPIRED"
    assert world.store.collections["commands"] == {}


async def test_unimplemented_type_is_rejected_before_claim() -> None:
    world = World()
    # Every type has a handler now: a worker without one (an older deploy) still answers.
    world.executor._types = {
        k: v for k, v in world.executor._types.items() if k != "stake.claim_rewards"
    }
    a = PrivateKey(b"\x01" * 32).public_key.to_base58check_address()
    body = command("stake.claim_rewards", payload={"wallet": a})
    await world.deliver(body, family="stake", routing_key="command.stake.claim_rewards")
    [rejected] = world.events.of("stake.rejected")
    assert rejected["event"]["payload"]["code"] == "NOT_IMPLEMENTED"


def _signed(body: bytes, key_id: str = "billing", secret: bytes = HMAC_SECRET) -> dict[str, Any]:
    return {"x-key-id": key_id, "x-signature": hmac.new(secret, body, hashlib.sha256).hexdigest()}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-key-id": "billing"},
        {"x-key-id": "other", "x-signature": "0" * 64},
        {"x-key-id": "billing", "x-signature": "0" * 64},
    ],
)
async def test_unauthenticated_deliveries_are_rejected(headers) -> None:
    world = World(require_signature=True)
    delivery = await world.deliver(command(), headers=headers)
    assert delivery.outcome == "ack"
    [rejected] = world.events.of("wallet.rejected")
    assert rejected["event"]["payload"]["code"] == "UNAUTHENTICATED"
    assert world.metrics.rejections_total.labels("UNAUTHENTICATED")._value.get() == 1
    assert world.store.collections["commands"] == {}


async def test_signed_delivery_is_scoped_to_its_key_id_and_skew_is_enforced() -> None:
    world = World(require_signature=True)
    body = command(key="k")
    await world.deliver(body, headers=_signed(body))
    assert list(world.store.collections["commands"]) == ["billing:k"]
    stale = command(key="k2", issued_at=(NOW - timedelta(minutes=10)).isoformat())
    await world.deliver(stale, headers=_signed(stale))
    assert world.events.of("wallet.rejected")[0]["event"]["payload"]["code"] == "UNAUTHENTICATED"


async def test_transient_failure_goes_to_a_retry_tier_then_dead_letter_with_failed_event() -> None:
    world = World()
    body = command()
    world.store.fail_next = lambda: TransientError("database unavailable")
    first = await world.deliver(body)
    assert first.outcome == "ack"
    [retry] = world.broker.copies
    assert retry["routing_key"] == "tron.wallet.retry.5s"
    assert retry["headers"]["x-attempt"] == 2
    world.store.fail_next = lambda: TransientError("database unavailable")
    second = await world.deliver(body, headers={"x-attempt": 2})
    assert world.broker.copies[-1]["routing_key"] == "tron.wallet.retry.30s"
    assert second.outcome == "ack"
    world.store.fail_next = lambda: TransientError("database unavailable")
    last = await world.deliver(body, headers={"x-attempt": 3})
    assert last.outcome == "ack"
    assert world.broker.copies[-1]["headers"]["x-dead-letter-reason"] == "retries-exhausted"
    [failed] = world.events.of("wallet.failed")
    assert failed["event"]["payload"]["code"] == "RETRIES_EXHAUSTED"
    expected = event_id_for(event_ref(command_ref("-:order-42")), "failed", 0)
    assert failed["message_id"] == str(expected)
    assert failed["event"]["command_id"] == json.loads(body)["command_id"]


async def test_give_up_leaves_finished_and_unknown_commands_alone() -> None:
    world = World()
    await world.deliver(command())
    assert await world.executor.give_up("-:order-42", "X", "x", attention=False) == "terminal"
    assert await world.executor.give_up("-:nope", "X", "x", attention=False) == "unclaimed"


async def test_permanent_database_refusal_is_dead_lettered_never_retried() -> None:
    from worker.errors import PermanentError

    world = World()
    world.store.fail_next = lambda: PermanentError("database refused the operation: 10334")
    delivery = await world.deliver(command())
    assert delivery.outcome == "ack"
    [copy] = world.broker.copies
    assert copy["headers"]["x-dead-letter-reason"] == "permanent"
    assert not any(c["routing_key"].startswith("tron.wallet.retry") for c in world.broker.copies)


async def test_a_handler_permanent_error_is_a_failed_outcome() -> None:
    from worker.errors import PermanentError

    async def refuse(context, deps):
        raise PermanentError("label not allowed", code="POLICY_REFUSED")

    world = World()
    world.registry_override("wallet.create", refuse)
    await world.deliver(command())
    [failed] = world.events.of("wallet.failed")
    assert failed["event"]["payload"] == {
        "code": "POLICY_REFUSED",
        "message": "label not allowed",
        "retry_safe": True,
    }
    [doc] = world.store.collections["commands"].values()
    assert doc["state"] == "failed" and doc["terminal"] is True
