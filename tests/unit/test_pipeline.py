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

from handlers import HANDLERS
from schemas.events import event_id_for
from schemas.payloads import PAYLOADS
from worker.auth import Authenticator
from worker.claims import Claims
from worker.errors import TransientError
from worker.executor import Executor
from worker.keystore import Keystore
from worker.leases import Leases
from worker.metrics import Metrics
from worker.outbox import Outbox
from worker.pipeline import Pipeline, recover_ids
from worker.retries import Retrier
from worker.settings import KeystoreSettings, load_settings
from worker.store import MemoryStore
from worker.topology import build_topology

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


@dataclass
class FakeBroker:
    """The part of Broker the retrier uses, recording what it was asked to send."""

    topology: Any
    copies: list[dict[str, Any]] = field(default_factory=list)

    async def send_copy(self, delivery, *, exchange, routing_key, headers) -> None:
        self.copies.append({"exchange": exchange, "routing_key": routing_key, "headers": headers})


@dataclass
class EventLog:
    published: list[dict[str, Any]] = field(default_factory=list)
    fail: bool = False  # the broker does not confirm

    async def __call__(self, routing_key, body, *, message_id, correlation_id, headers=None):
        if self.fail:
            raise TransientError("publish not confirmed")
        self.published.append(
            {
                "routing_key": routing_key,
                "body": body,
                "event": json.loads(body),
                "message_id": message_id,
            }
        )

    def of(self, routing_key: str) -> list[dict[str, Any]]:
        return [p for p in self.published if p["routing_key"] == routing_key]


class World:
    """One worker's pipeline over a MemoryStore, with a settable clock."""

    def __init__(self, *, require_signature: bool = False, store: MemoryStore | None = None):
        self.now = NOW
        clock = lambda: self.now  # noqa: E731
        self.store = store or MemoryStore()
        self.events = EventLog()
        self.metrics = Metrics()
        self.broker = FakeBroker(build_topology(load_settings(environ={}).amqp))
        leases = Leases(self.store, owner="w1", lease_s=30, clock=clock)
        self.outbox = outbox = Outbox(
            self.store, self.events, self.metrics, sweep_after_s=2, clock=clock
        )
        keystore = Keystore(
            KeystoreSettings(active_key_id="k1", master_keys={"k1": SecretStr(MASTER_KEY)})
        )
        self.executor = Executor(
            store=self.store,
            leases=leases,
            outbox=outbox,
            handlers=HANDLERS,
            parse_payload=lambda kind, payload: PAYLOADS[kind].model_validate(payload),
            keys=keystore,
            metrics=self.metrics,
            clock=clock,
        )
        retrier = Retrier(
            self.broker,
            self.events,
            self.metrics,
            max_attempts=3,
            give_up=self.executor.give_up,
            clock=clock,
        )
        self.pipeline = Pipeline(
            authenticator=Authenticator(
                required=require_signature,
                keys={"billing": HMAC_SECRET},
                skew_s=300,
                clock=clock,
            ),
            claims=Claims(self.store, leases, clock=clock),
            executor=self.executor,
            outbox=outbox,
            retrier=retrier,
            publish=self.events,
            metrics=self.metrics,
            command_timeout_s=30,
            clock=clock,
        )

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


async def test_poison_is_dead_lettered_with_reason_and_rejected_when_ids_known() -> None:
    world = World()
    junk = await world.deliver(b"\xff not json")
    assert junk.outcome == "ack"
    [copy] = world.broker.copies
    assert (copy["exchange"], copy["routing_key"]) == ("tron.dlx", "tron.wallet.dead")
    assert copy["headers"]["x-dead-letter-reason"] == "poison"
    assert world.events.published == [], "nobody to tell"
    known = json.dumps({"command_id": str(uuid.uuid4()), "type": "wallet.create"}).encode()
    await world.deliver(known)
    [rejected] = world.events.of("wallet.rejected")
    assert rejected["event"]["payload"]["code"] == "POISON"
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
    a = PrivateKey(b"\x01" * 32).public_key.to_base58check_address()
    b = PrivateKey(b"\x02" * 32).public_key.to_base58check_address()
    body = command("transfer.trx", payload={"wallet": a, "to": b, "amount_sun": 5})
    await world.deliver(body, family="transfer", routing_key="command.transfer.trx")
    [rejected] = world.events.of("transfer.rejected")
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
    sent_id = json.loads(body)["command_id"]
    assert failed["message_id"] == str(event_id_for(sent_id, "failed", 0))


async def test_give_up_fails_a_claimed_command_that_signed_nothing() -> None:
    world = World()
    body = command()
    await world.deliver(body)
    command_id = json.loads(body)["command_id"]
    assert await world.executor.give_up(command_id, "x") is False, "already terminal"
    assert await world.executor.give_up(str(uuid.uuid4()), "x") is None, "never claimed"


def test_recover_ids_ignores_junk_fields() -> None:
    ids = recover_ids(command(command_id="not-a-uuid", idempotency_key="x" * 300, type=5))
    assert ids.command_id is None and ids.idempotency_key is None and ids.type is None
    assert ids.command_ref.startswith("body-sha256:")


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
    from handlers import HANDLERS as real
    from worker.errors import PermanentError

    async def refuse(context, deps):
        raise PermanentError("label not allowed", code="POLICY_REFUSED")

    world = World()
    world.executor._handlers = {**real, "wallet.create": refuse}
    await world.deliver(command())
    [failed] = world.events.of("wallet.failed")
    assert failed["event"]["payload"] == {
        "code": "POLICY_REFUSED",
        "message": "label not allowed",
        "retry_safe": True,
    }
    [doc] = world.store.collections["commands"].values()
    assert doc["state"] == "failed" and doc["terminal"] is True
