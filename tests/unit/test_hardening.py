"""The adversarial review's findings (issue 7), one test each, over the in-memory twins.

Each test was written before its fix and failed on the code it describes; the
comment under each test's name says what the old code did.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from typing import Any

import pytest

from tests.unit.test_pipeline import NOW, World, _signed, command
from worker.errors import PermanentError, TransientError


def _fail_terminal_write(world: World) -> list[int]:
    """Make every write that marks a command terminal fail transiently; counts the tries."""
    original = world.store.set_fields
    tries = [0]

    async def set_fields(collection: str, doc_id: str, fields: dict[str, Any]) -> None:
        if collection == "commands" and fields.get("terminal"):
            tries[0] += 1
            raise TransientError("database unavailable")
        await original(collection, doc_id, fields)

    world.store.set_fields = set_fields  # type: ignore[method-assign]
    return tries


def _states(world: World) -> list[str]:
    return [p["routing_key"] for p in world.events.published]


# --- 1. giving up never fails a command that has effects -------------------------------


async def test_last_attempt_failing_on_the_terminal_write_is_not_declared_failed() -> None:
    # Before: `give_up` saw no transaction attempt and published wallet.failed
    # RETRIES_EXHAUSTED next to the already stored wallet.created.
    world = World()
    body = command()
    _fail_terminal_write(world)
    await world.deliver(body, headers={"x-attempt": 3})  # the last attempt (max 3)
    assert world.events.of("wallet.failed") == [], _states(world)
    stored_types = [d["routing_key"] for d in world.store.collections["events"].values()]
    assert "wallet.failed" not in stored_types
    assert len(world.store.collections["wallets"]) == 2


async def test_sweeper_at_max_epochs_sends_a_command_with_effects_to_needs_attention() -> None:
    # Before: the sweeper's give-up at max_epochs failed it although its wallets existed.
    from tests.unit.test_sweeper import _sweeper

    world = World()
    body = command()
    _fail_terminal_write(world)
    await world.deliver(body)
    sweeper = _sweeper(world, max_epochs=2)
    for round_ in range(1, 6):
        world.now = NOW + timedelta(seconds=31 * round_)
        await sweeper.sweep_once()
    assert world.events.of("wallet.failed") == [], _states(world)
    [doc] = world.store.collections["commands"].values()
    assert doc["state"] == "needs_attention"
    assert len(world.events.of("wallet.needs_attention")) == 1


# --- 2. the skew window applies to unclaimed keys only ----------------------------------


async def test_a_signed_duplicate_arriving_after_the_skew_window_is_not_rejected() -> None:
    # Before: the 30 s / 300 s retry tiers and late duplicates got rejected UNAUTHENTICATED
    # beside wallet.created.
    world = World(require_signature=True)
    body = command(key="k")
    await world.deliver(body, headers=_signed(body))
    world.now = NOW + timedelta(minutes=20)
    again = await world.deliver(body, headers=_signed(body))
    assert again.outcome == "ack"
    assert world.events.of("wallet.rejected") == []
    assert len(world.events.of("wallet.created")) == 2, "the duplicate re-publishes"


async def test_a_stale_signature_on_an_unclaimed_key_is_still_rejected() -> None:
    world = World(require_signature=True)
    world.now = NOW + timedelta(minutes=20)
    body = command(key="fresh")
    await world.deliver(body, headers=_signed(body))
    [rejected] = world.events.of("wallet.rejected")
    assert rejected["event"]["payload"]["code"] == "UNAUTHENTICATED"
    assert world.store.collections["commands"] == {}


# --- 3. every per-command id derives from the claim --------------------------------------


async def test_a_reused_command_id_under_another_key_shares_nothing() -> None:
    # Before: leases, wallets and event ids were keyed by the bare command_id, so the second
    # command announced the first one's addresses under the first one's event id.
    world = World()
    shared = str(uuid.uuid4())
    await world.deliver(command(key="a", command_id=shared))
    await world.deliver(command(key="b", command_id=shared))
    first, second = world.events.of("wallet.created")
    assert first["message_id"] != second["message_id"]
    assert set(first["event"]["payload"]["addresses"]).isdisjoint(
        second["event"]["payload"]["addresses"]
    )
    assert len(world.store.collections["wallets"]) == 4


async def test_another_publisher_reusing_a_key_and_command_id_reads_nothing_of_the_first() -> None:
    from tests.unit.test_pipeline import HMAC_SECRET

    world = World(require_signature=True, extra_keys={"other": b"other-secret"})
    shared = str(uuid.uuid4())
    a = command(key="k", command_id=shared)
    await world.deliver(a, headers=_signed(a))
    b = command(key="k", command_id=shared)
    await world.deliver(b, headers=_signed(b, "other", b"other-secret"))
    first, second = world.events.of("wallet.created")
    assert set(first["event"]["payload"]["addresses"]).isdisjoint(
        second["event"]["payload"]["addresses"]
    )
    assert HMAC_SECRET  # both publishers are genuine


# --- 4. background loops survive anything but cancellation -------------------------------


def _stop_after_scans(world: World, stop: asyncio.Event, scans: int) -> None:
    """Let a background loop run `scans` rounds (each starts with a scan), then stop it."""
    original = world.store.scan
    seen = [0]

    async def scan(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        seen[0] += 1
        if seen[0] >= scans:
            stop.set()
        return await original(*args, **kwargs)

    world.store.scan = scan  # type: ignore[method-assign]


async def test_the_sweeper_loop_survives_a_permanent_error_and_a_broken_document() -> None:
    # Before: anything but a TransientError killed the task (and the worker's TaskGroup).
    from tests.unit.test_sweeper import _sweeper

    world = World()
    sweeper = _sweeper(world)
    # A stored command that no longer parses (here: no fields at all) and its marker.
    world.store.collections["commands"]["-:broken"] = {"_id": "-:broken"}
    world.store.collections["active"]["-:broken"] = {"_id": "-:broken"}
    world.store.fail_next = lambda: PermanentError("database refused the operation: 2")
    stop = asyncio.Event()
    _stop_after_scans(world, stop, scans=3)
    await asyncio.wait_for(sweeper.run(stop, 0.001, 3600), timeout=5)  # returns, not raises
    assert world.metrics.background_errors_total.labels("sweeper")._value.get() >= 2


async def test_the_relay_loop_survives_a_permanent_error() -> None:
    world = World()
    world.store.fail_next = lambda: PermanentError("database refused the operation: 2")
    stop = asyncio.Event()
    _stop_after_scans(world, stop, scans=2)
    await asyncio.wait_for(world.outbox.run(stop, 0.001), timeout=5)
    assert world.metrics.background_errors_total.labels("relay")._value.get() == 1


async def test_a_command_given_up_permanently_is_settled_and_never_swept_again() -> None:
    # Before: its lease and active marker stayed, so the sweeper retried it.
    from tests.unit.test_sweeper import _sweeper

    world = World()
    original = world.store.get
    refused = [False]

    async def get(collection: str, doc_id: str) -> dict[str, Any] | None:
        if collection == "leases" and not refused[0]:  # the first fencing read
            refused[0] = True
            raise PermanentError("database refused the operation: 10334")
        return await original(collection, doc_id)

    world.store.get = get  # type: ignore[method-assign]
    delivery = await world.deliver(command())
    world.store.get = original  # type: ignore[method-assign]
    assert delivery.outcome == "ack"
    world.now = NOW + timedelta(minutes=5)
    await _sweeper(world).sweep_once()
    assert world.store.collections["wallets"] == {}, "never retried"
    assert world.events.of("wallet.created") == []
    [failed] = world.events.of("wallet.failed")
    assert failed["event"]["payload"]["code"] == "PERMANENT"
    assert world.store.collections["active"] == {}


# --- 5. every delivery ends settled -------------------------------------------------------


async def test_a_delivery_is_settled_even_when_its_give_up_path_raises() -> None:
    # Before: an exception out of the retrier left the delivery unacked for good; after
    # `prefetch` of them the worker's queue stalled.
    world = World()

    async def broken_copy(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("channel closed underneath")

    world.broker.send_copy = broken_copy  # type: ignore[method-assign]
    world.store.fail_next = lambda: TransientError("database unavailable")
    delivery = await world.deliver(command())
    assert delivery.outcome == "nack-requeue"


async def test_a_permanent_error_in_lease_renewal_does_not_resurface_after_the_work() -> None:
    # Before: the renewal task died with the PermanentError and `kept` re-raised it on exit.
    from worker.leases import Lease, Leases

    world = World()
    leases = Leases(world.store, owner="w1", lease_s=0.03, clock=lambda: world.now)

    async def refuse(*args: Any, **kwargs: Any) -> None:
        raise PermanentError("database refused the operation: 2")

    world.store.set_fields = refuse  # type: ignore[method-assign]
    world.store.insert = refuse  # type: ignore[method-assign]
    async with leases.kept(Lease("c", 1, "w1")):
        await asyncio.sleep(0.05)


# --- 6. metric labels come from validated values ------------------------------------------


async def test_junk_types_do_not_create_metric_series() -> None:
    # Before: the body's unvalidated `type` became a label: 5,000 junk bodies, 10,000 series.
    world = World()
    for index in range(20):
        junk = command(type=f"junk.{index}")
        await world.deliver(junk)
    labels = {
        sample.labels.get("type")
        for metric in world.metrics.registry.collect()
        for sample in metric.samples
        if "type" in sample.labels and metric.name.startswith("tron_worker_command")
    }
    assert labels <= {"wallet.create", "unknown"}, labels


# --- 7. fencing: stale holders cannot write what matters ----------------------------------


async def test_a_stale_holder_stores_no_failed_event() -> None:
    # Before: `_finish` stored the failed event before its lease check.
    world = World()

    async def stall_then_refuse(context, deps):  # type: ignore[no-untyped-def]
        # Meanwhile another worker took the command over (epoch 2).
        ref = getattr(context, "ref", None) or context.command_id
        await world.store.insert(
            "leases",
            {
                "_id": f"{ref}:2",
                "epoch": 2,
                "owner": "w2",
                "expires_at": world.now + timedelta(seconds=30),
            },
        )
        raise PermanentError("refused", code="POLICY_REFUSED")

    world.registry_override("wallet.create", stall_then_refuse)
    await world.deliver(command())
    stored_types = [d["routing_key"] for d in world.store.collections["events"].values()]
    assert "wallet.failed" not in stored_types


async def test_a_give_up_racing_a_stalled_holder_never_fails_a_command_with_effects() -> None:
    # Before: after its fence the stalled worker inserted a wallet for a command the
    # sweeper had meanwhile failed: `failed` published, wallets stored.
    from tests.unit.test_sweeper import _sweeper

    world = World()
    sweeper = _sweeper(world, max_epochs=1)
    original = world.store.insert
    raced = [False]

    async def insert(collection: str, doc: dict[str, Any]) -> bool:
        if collection == "wallets" and not raced[0]:
            raced[0] = True
            world.now = NOW + timedelta(seconds=31)  # the stalled worker's lease ran out
            await sweeper.sweep_once()
        return await original(collection, doc)

    world.store.insert = insert  # type: ignore[method-assign]
    await world.deliver(command())
    failed = world.events.of("wallet.failed")
    wallets = world.store.collections["wallets"]
    assert not (failed and wallets), "failed announced for a command that made wallets"


async def test_a_new_holder_rereads_the_command_and_does_not_redo_a_finished_one() -> None:
    from handlers.wallet import handle as real

    world = World()
    body = command()
    await world.deliver(body)
    [stale] = world.store.collections["commands"].values()
    stale = dict(stale, terminal=False, state="received", events=[])
    runs = [0]

    async def counting(context, deps):  # type: ignore[no-untyped-def]
        runs[0] += 1
        return await real(context, deps)

    world.registry_override("wallet.create", counting)
    world.now = NOW + timedelta(minutes=5)
    await world.resume(stale)
    assert runs[0] == 0, "the fresh read says it is terminal"


def test_lease_must_outlast_the_worst_case_store_call() -> None:
    from worker.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match="lease_s"):
        load_settings(
            environ={
                "TRON_WORKER_WORKER__LEASE_S": "20",
                "TRON_WORKER_MONGO__SOCKET_TIMEOUT_S": "10",
            }
        )


# --- 9. what is not authenticated never speaks for a command ------------------------------


async def test_an_unauthenticated_body_cannot_shadow_a_genuine_rejection() -> None:
    # Before: the forged rejection carried the victim's command_id and the very event id its
    # genuine rejection would have, so subscribers dropped the genuine one as a duplicate.
    world = World(require_signature=True)
    victim = str(uuid.uuid4())
    forged = command(key="k", command_id=victim, payload={"count": 0, "purpose": "deposit"})
    await world.deliver(forged, headers={"x-key-id": "billing", "x-signature": "0" * 64})
    genuine = forged
    await world.deliver(genuine, headers=_signed(genuine))
    forged_event, genuine_event = world.events.of("wallet.rejected")
    assert forged_event["event"]["command_id"] is None
    assert forged_event["event"]["idempotency_key"] is None
    assert forged_event["message_id"] != genuine_event["message_id"]
    assert genuine_event["event"]["command_id"] == victim


async def test_poison_naming_a_command_does_not_speak_for_it() -> None:
    world = World()
    victim = str(uuid.uuid4())
    await world.deliver(json.dumps({"command_id": victim, "type": "wallet.create"}).encode())
    for published in world.events.published:
        assert published["event"]["command_id"] is None


# --- 10. scans page on; one failure does not stop a round --------------------------------


async def test_young_markers_do_not_starve_an_old_stuck_command() -> None:
    # Before: the sweeper read the first 50 markers by _id, with no cursor, every round.
    from tests.unit.test_sweeper import _crash_after_claim, _sweeper

    world = World()
    await _crash_after_claim(world, command(key="zz-old"))
    world.now = NOW + timedelta(seconds=31)
    for index in range(60):
        await _crash_after_claim(world, command(key=f"aa-young-{index:02}"))
    sweeper = _sweeper(world)
    for _ in range(3):
        await sweeper.sweep_once(limit=50)
    old = world.store.collections["commands"]["-:zz-old"]
    assert old["terminal"] is True


async def test_one_failed_publish_does_not_stop_the_relay_round() -> None:
    world = World()
    for index in range(3):
        world.events.fail = True
        await world.deliver(command(key=f"k{index}"))
    world.events.fail = False
    first_id = sorted(world.store.collections["outbox"])[0]
    original = world.broker.publish_event
    calls: list[str] = []

    async def flaky(routing_key, body, *, message_id, correlation_id, headers=None):  # type: ignore[no-untyped-def]
        calls.append(message_id)
        if message_id == first_id:
            raise TransientError("not confirmed")
        await original(routing_key, body, message_id=message_id, correlation_id=correlation_id)

    world.outbox._publish = flaky  # type: ignore[assignment]
    world.now = NOW + timedelta(seconds=10)
    await world.outbox.flush_pending()
    assert len(calls) == 3
    assert list(world.store.collections["outbox"]) == [first_id]


# --- 11. a retried insert recognises its own first try ------------------------------------


async def test_a_retried_insert_whose_first_try_landed_is_ours() -> None:
    # Before: the duplicate-key error on the retry read as "someone else's claim".
    from pymongo.errors import AutoReconnect, DuplicateKeyError

    from worker.store import MongoStore

    class Collection:
        def __init__(self) -> None:
            self.docs: dict[str, dict[str, Any]] = {}
            self.calls = 0

        async def insert_one(self, doc: dict[str, Any]) -> None:
            self.calls += 1
            if doc["_id"] in self.docs:
                raise DuplicateKeyError("E11000 duplicate key")
            self.docs[doc["_id"]] = dict(doc)
            if self.calls == 1:
                raise AutoReconnect("the reply was lost")

        async def find_one(self, query: dict[str, Any]) -> dict[str, Any] | None:
            return self.docs.get(query["_id"])

    collection = Collection()
    store = MongoStore({"commands": collection})  # type: ignore[arg-type]
    assert await store.insert("commands", {"_id": "-:k", "x": 1}) is True
    assert collection.calls == 2
    other = MongoStore({"commands": collection})  # type: ignore[arg-type]
    assert await other.insert("commands", {"_id": "-:k", "x": 1}) is False


# --- 12. a requeue waits first -------------------------------------------------------------


async def test_a_requeue_backs_off_before_handing_the_delivery_back() -> None:
    # Before: with only the publish channel down, requeues were immediate and burned
    # x-delivery-limit in milliseconds.
    world = World()

    async def no_channel(*args: Any, **kwargs: Any) -> None:
        raise TransientError("the broker is not connected")

    world.broker.send_copy = no_channel  # type: ignore[method-assign]
    delays: list[float] = []
    world.sleeps = delays
    world.store.fail_next = lambda: TransientError("database unavailable")
    first = await world.deliver(command())
    world.store.fail_next = lambda: TransientError("database unavailable")
    later = await world.deliver(command(), headers={"x-delivery-count": 4})
    assert first.outcome == later.outcome == "nack-requeue"
    assert len(delays) == 2 and delays[0] >= 1 and delays[1] > delays[0]
