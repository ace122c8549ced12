"""worker/cli_controls.py: pause, resume, controls list, attention list/resolve, over the
MemoryStore, with the arguments parsed by the real `tron-worker` parser."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from schemas.documents import CommandDoc, command_key, command_ref
from worker.cli import _parser
from worker.cli_controls import RESOLVED_BY_OPERATOR, Context, Reply, dispatch, show
from worker.errors import LeaseLost
from worker.leases import Lease, Leases
from worker.metrics import Metrics
from worker.outbox import Outbox, command_event, event_doc
from worker.store import CommandStore, Doc, MemoryStore
from worker.switches import SIGNED_CONTINUE

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
WALLET = "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8"
LEASE_S = 30.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


async def run(store: MemoryStore, clock: Clock, *argv: str) -> Reply:
    """`tron-worker <argv>` over the in-memory store."""
    ctx = Context(
        clock=clock,
        assets=frozenset({"TRX", "USDT"}),
        lease_s=LEASE_S,
        token_symbols={USDT: "USDT"},
    )
    return await dispatch(_parser().parse_args(list(argv)), store, ctx)


def stored_events(store: MemoryStore, routing_key: str) -> list[Doc]:
    return [d for d in store.collections["events"].values() if d["routing_key"] == routing_key]


# ----------------------------------------------------------------------------- kill switches


async def test_pause_then_list_shows_it(store: MemoryStore, clock: Clock) -> None:
    paused = await run(store, clock, "pause", "--asset", "usdt", "--reason", "audit", "--by", "al")
    assert paused.code == 0
    assert "pause link: asset:USDT:1" in paused.text
    assert SIGNED_CONTINUE in paused.text, "the operator is told signed transactions go on"
    assert "tron-worker resume --asset USDT --lifts asset:USDT:1" in paused.text
    listed = await run(store, clock, "controls", "list")
    assert listed.code == 0
    [row] = listed.data["controls"]
    assert row == {
        "scope": "asset:USDT",
        "state": "paused",
        "link": "asset:USDT:1",
        "by": "al",
        "at": NOW,
        "reason": "audit",
    }
    header, line = listed.text.splitlines()
    assert header.split() == ["SCOPE", "STATE", "LINK", "BY", "AT", "REASON"]
    assert line.split()[:4] == ["asset:USDT", "paused", "asset:USDT:1", "al"]


async def test_every_change_stores_its_event_for_the_relay(
    store: MemoryStore, clock: Clock
) -> None:
    await run(store, clock, "pause", "--global", "--reason", "incident 7", "--by", "al")
    clock.now += timedelta(minutes=5)
    resumed = await run(
        store, clock, "resume", "--global", "--lifts", "global:1", "--reason", "fixed", "--by", "bo"
    )
    assert resumed.code == 0, resumed.text
    [paused_doc] = stored_events(store, "control.paused")
    [resumed_doc] = stored_events(store, "control.resumed")
    for doc in (paused_doc, resumed_doc):
        assert doc["_id"] in store.collections["outbox"], "a marker: the relay publishes it"
    paused = json.loads(paused_doc["body_json"])["payload"]
    assert paused == {
        "scope": "global",
        "link": "global:1",
        "reason": "incident 7",
        "by": "al",
        "note": SIGNED_CONTINUE,
    }
    resumed = json.loads(resumed_doc["body_json"])["payload"]
    assert resumed["lifts"] == "global:1" and resumed["by"] == "bo"


async def test_resume_without_lifts_shows_the_pause_and_is_refused(
    store: MemoryStore, clock: Clock
) -> None:
    await run(store, clock, "pause", "--wallet", WALLET, "--reason", "odd outflow", "--by", "al")
    refused = await run(store, clock, "resume", "--wallet", WALLET, "--reason", "ok", "--by", "bo")
    assert refused.code == 1
    assert f"wallet:{WALLET}:1" in refused.text and "odd outflow" in refused.text
    assert f"--lifts wallet:{WALLET}:1" in refused.text
    assert refused.data["current"]["link"] == f"wallet:{WALLET}:1"
    assert stored_events(store, "control.resumed") == []


async def test_resume_naming_an_older_pause_is_refused_and_the_head_works(
    store: MemoryStore, clock: Clock
) -> None:
    await run(store, clock, "pause", "--asset", "TRX", "--reason", "first", "--by", "al")
    again = await run(store, clock, "pause", "--asset", "TRX", "--reason", "second", "--by", "bo")
    assert "already paused by asset:TRX:1" in again.text
    stale = await run(
        store, clock, "resume", "--asset", "TRX", "--lifts", "asset:TRX:1", "--reason", "x"
    )
    assert stale.code == 1
    assert stale.text.startswith("resume refused: asset:TRX is paused by asset:TRX:2 (second)")
    head = await run(
        store, clock, "resume", "--asset", "TRX", "--lifts", "asset:TRX:2", "--reason", "done"
    )
    assert head.code == 0
    assert head.data["link"]["id"] == "asset:TRX:3" and head.data["link"]["lifts"] == "asset:TRX:2"
    [row] = (await run(store, clock, "controls", "list")).data["controls"]
    assert row["state"] == "resumed" and row["link"] == "asset:TRX:3"


async def test_resume_of_what_is_not_paused_is_refused(store: MemoryStore, clock: Clock) -> None:
    refused = await run(store, clock, "resume", "--asset", "TRX", "--reason", "x", "--by", "al")
    assert (refused.code, refused.text) == (1, "asset:TRX is not paused")


async def test_scopes_are_checked_and_normalised(store: MemoryStore, clock: Clock) -> None:
    unknown = await run(store, clock, "pause", "--asset", "USTD", "--reason", "typo")
    assert unknown.code == 2 and "unknown asset 'USTD': one of TRX, USDT" in unknown.text
    bad = await run(store, clock, "pause", "--wallet", "Tnope", "--reason", "x")
    assert bad.code == 2 and bad.text.startswith("--wallet: not a TRON address")
    by_contract = await run(store, clock, "pause", "--asset", USDT, "--reason", "x", "--by", "al")
    assert by_contract.data["scope"] == "asset:USDT"
    hex_wallet = "41" + "5cbdd86a2fa8dc4bddd8a8f69dba48572eec07fb"
    by_hex = await run(store, clock, "pause", "--wallet", hex_wallet, "--reason", "x", "--by", "a")
    assert by_hex.code == 0 and by_hex.data["scope"].startswith("wallet:T")
    assert "is not a wallet this worker manages" in by_hex.text and not by_hex.data["managed"]
    await store.insert("addresses", {"_id": WALLET, "wallet": "c:0"})
    managed = await run(store, clock, "pause", "--wallet", WALLET, "--reason", "x", "--by", "a")
    assert "not a wallet" not in managed.text and "managed" not in managed.data
    empty = await run(store, clock, "pause", "--global", "--reason", " ", "--by", "al")
    assert empty.code == 2


def test_a_scope_is_required_and_only_one() -> None:
    for argv in (
        ["pause", "--reason", "x"],
        ["pause", "--global", "--asset", "TRX", "--reason", "x"],
    ):
        with pytest.raises(SystemExit) as exit_:
            _parser().parse_args(argv)
        assert exit_.value.code == 2


async def test_by_defaults_to_the_os_user(
    store: MemoryStore, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("getpass.getuser", lambda: "opsuser")
    paused = await run(store, clock, "pause", "--global", "--reason", "x")
    assert paused.data["link"]["by"] == "opsuser"


async def test_json_output_is_one_object(
    store: MemoryStore, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    reply = await run(store, clock, "pause", "--asset", "TRX", "--reason", "x", "--by", "al")
    show(reply, as_json=True)
    printed = json.loads(capsys.readouterr().out)
    assert printed["ok"] is True and printed["link"]["at"] == NOW.isoformat()
    refused = await run(store, clock, "resume", "--asset", "TRX", "--reason", "x", "--by", "al")
    show(refused, as_json=True)
    printed = json.loads(capsys.readouterr().out)
    assert printed["ok"] is False and printed["current"]["link"] == "asset:TRX:1"
    show(refused, as_json=False)
    assert "asset:TRX:1" in capsys.readouterr().err, "a refusal goes to stderr"


# ----------------------------------------------------------------------------- needs_attention


async def add_command(
    store: CommandStore,
    key: str,
    state: str = "needs_attention",
    *,
    scope: str = "-",
    created_at: datetime = NOW - timedelta(hours=3),
) -> Doc:
    """A stored command; in needs_attention it carries its accepted and needs_attention
    events, stored the way the executor stores them."""
    _id = command_key(scope, key)
    terminal = state in ("confirmed", "failed", "rejected", "completed")
    command = CommandDoc(
        _id=_id,
        ref=command_ref(_id),
        command_id=str(uuid.uuid4()),
        scope=scope,
        idempotency_key=key,
        type="transfer.trx",
        payload_hash=hashlib.sha256(key.encode()).hexdigest(),
        payload={"wallet": WALLET, "to": USDT, "amount_sun": 5},
        state=state,  # type: ignore[arg-type]
        terminal=terminal,
        terminal_at=created_at if terminal else None,
        issued_at=created_at,
        expires_at=created_at + timedelta(days=1),
        created_at=created_at,
        updated_at=created_at,
    ).to_mongo()
    outbox = Outbox(store, _no_publish, Metrics(), sweep_after_s=60)
    states = ["accepted"] + (["needs_attention"] if state == "needs_attention" else [])
    for step, event_state in enumerate(states):
        payload = {}
        if event_state == "needs_attention":
            payload = {"code": "FATE_UNKNOWN", "message": "the node never answered"}
        at = created_at + timedelta(minutes=step)
        event = command_event(command, event_state, payload, occurred_at=at)
        await outbox.add(event_doc(event, correlation_id=None, created_at=at))
        command["events"].append(str(event.event_id))
    await store.insert("commands", command)
    return command


async def _no_publish(*args: object, **kwargs: object) -> None:
    raise AssertionError("nothing is published here")


async def test_attention_list_shows_only_needs_attention(store: MemoryStore, clock: Clock) -> None:
    await add_command(store, "stuck-1")
    await add_command(store, "done-1", "confirmed")
    await add_command(store, "running-1", "broadcast")
    listed = await run(store, clock, "attention", "list")
    assert listed.code == 0
    [row] = listed.data["commands"]
    assert row["key"] == "-:stuck-1" and row["type"] == "transfer.trx"
    assert (row["code"], row["reason"]) == ("FATE_UNKNOWN", "the node never answered")
    assert row["age_s"] == 3 * 3600 - 60 and row["resolved"] is None
    header, line, hint = listed.text.splitlines()
    assert header.split() == ["KEY", "TYPE", "STATE", "CODE", "AGE", "RESOLVED", "REASON"]
    assert line.split() == [
        "-:stuck-1",
        "transfer.trx",
        "needs_attention",
        "FATE_UNKNOWN",
        "2h59m",
        "-",
        *"the node never answered".split(),
    ]
    assert hint.endswith("-- KEY"), "an _id starting with '-' goes after `--`"


async def test_resolve_failed_records_once_ends_the_command_and_stores_its_event(
    store: MemoryStore, clock: Clock
) -> None:
    original = await add_command(store, "stuck-1")
    resolved = await run(
        store, clock, "attention", "resolve", "stuck-1", "--outcome", "failed",
        "--reason", "refunded by hand", "--by", "al",
    )  # fmt: skip
    assert resolved.code == 0, resolved.text
    assert resolved.text.startswith("resolved -:stuck-1 (transfer.trx) as failed by al")
    decision = store.collections["resolutions"]["-:stuck-1"]
    assert {k: decision[k] for k in ("outcome", "by", "reason", "at", "code")} == {
        "outcome": "failed",
        "by": "al",
        "reason": "refunded by hand",
        "at": NOW,
        "code": "FATE_UNKNOWN",
    }
    command = store.collections["commands"]["-:stuck-1"]
    CommandDoc.from_mongo(command)  # a terminal state's fields hold together
    assert (command["state"], command["terminal"], command["terminal_at"]) == ("failed", True, NOW)
    [failed] = stored_events(store, "transfer.failed")
    assert command["events"] == [*original["events"], failed["_id"]]
    assert failed["_id"] in store.collections["outbox"]
    body = json.loads(failed["body_json"])
    assert body["seq"] == 3 and body["command_id"] == original["command_id"]
    assert body["payload"] == {
        "code": RESOLVED_BY_OPERATOR,
        "message": "refunded by hand",
        "retry_safe": False,
    }
    assert resolved.data["event_id"] == failed["_id"]

    clock.now += timedelta(minutes=2)
    again = await run(
        store, clock, "attention", "resolve", "--outcome", "completed",
        "--reason", "paid after all", "--by", "bo", "--", "-:stuck-1",
    )  # fmt: skip
    assert again.code == 1
    assert "already resolved as failed by al" in again.text
    assert store.collections["commands"]["-:stuck-1"]["state"] == "failed", "unchanged"
    assert len(stored_events(store, "transfer.failed")) == 1


async def test_resolve_completed_stores_no_money_event(store: MemoryStore, clock: Clock) -> None:
    original = await add_command(store, "stuck-2")
    resolved = await run(
        store, clock, "attention", "resolve", "stuck-2", "--outcome", "completed",
        "--reason", "confirmed on tronscan", "--by", "al",
    )  # fmt: skip
    assert resolved.code == 0 and resolved.data["event_id"] is None
    command = store.collections["commands"]["-:stuck-2"]
    CommandDoc.from_mongo(command)
    assert command["state"] == "completed" and command["events"] == original["events"]
    assert len(store.collections["events"]) == 2, "accepted and needs_attention only"


async def test_resolved_commands_show_in_attention_list_all(
    store: MemoryStore, clock: Clock
) -> None:
    await add_command(store, "stuck-1")
    await add_command(store, "stuck-2")
    await run(
        store, clock, "attention", "resolve", "stuck-1", "--outcome", "failed",
        "--reason", "refunded", "--by", "al",
    )  # fmt: skip
    open_only = await run(store, clock, "attention", "list")
    assert [r["key"] for r in open_only.data["commands"]] == ["-:stuck-2"]
    everything = await run(store, clock, "attention", "list", "--all")
    rows = {r["key"]: r for r in everything.data["commands"]}
    assert rows["-:stuck-1"]["state"] == "failed"
    assert rows["-:stuck-1"]["resolved"]["by"] == "al"
    assert rows["-:stuck-1"]["code"] == "FATE_UNKNOWN", "the original cause is kept"
    assert rows["-:stuck-2"]["resolved"] is None
    assert "failed by al 2025-06-01 12:00:00Z" in everything.text


async def test_only_needs_attention_can_be_resolved(store: MemoryStore, clock: Clock) -> None:
    await add_command(store, "done-1", "confirmed")
    refused = await run(
        store, clock, "attention", "resolve", "done-1", "--outcome", "failed", "--reason", "x"
    )
    assert refused.code == 1
    assert refused.text == "-:done-1 is confirmed, not needs_attention: only those can be resolved"
    missing = await run(
        store, clock, "attention", "resolve", "nope", "--outcome", "failed", "--reason", "x"
    )
    assert missing.code == 1 and "no command has the _id or idempotency key 'nope'" in missing.text
    assert store.collections["resolutions"] == {}


async def test_a_key_used_under_two_scopes_must_be_named_by_id(
    store: MemoryStore, clock: Clock
) -> None:
    await add_command(store, "same", scope="alpha")
    await add_command(store, "same", scope="beta")
    ambiguous = await run(
        store, clock, "attention", "resolve", "same", "--outcome", "failed", "--reason", "x"
    )
    assert ambiguous.code == 1 and "alpha:same, beta:same" in ambiguous.text
    named = await run(
        store, clock, "attention", "resolve", "beta:same", "--outcome", "failed",
        "--reason", "x", "--by", "al",
    )  # fmt: skip
    assert named.code == 0
    assert list(store.collections["resolutions"]) == ["beta:same"]


async def test_resolve_waits_for_a_live_lease_and_fences_the_old_holder(
    store: MemoryStore, clock: Clock
) -> None:
    await add_command(store, "fresh", created_at=NOW - timedelta(seconds=5))
    held = await run(
        store, clock, "attention", "resolve", "fresh", "--outcome", "failed", "--reason", "x"
    )
    assert held.code == 1 and "a worker holds it right now" in held.text
    assert store.collections["resolutions"] == {}
    clock.now += timedelta(seconds=LEASE_S)
    done = await run(
        store, clock, "attention", "resolve", "fresh", "--outcome", "failed", "--reason", "x"
    )
    assert done.code == 0
    ref = store.collections["commands"]["-:fresh"]["ref"]
    with pytest.raises(LeaseLost):
        await Leases(store, owner="w", lease_s=LEASE_S).check(Lease(ref, 1, "w"))


async def test_a_recorded_resolution_left_unapplied_is_applied_by_the_next_resolve(
    store: MemoryStore, clock: Clock
) -> None:
    """The first resolve died after its decision's insert: the decision stands."""
    await add_command(store, "stuck-3")
    original_set = store.set_fields

    async def die(collection: str, doc_id: str, fields: Doc) -> None:
        raise RuntimeError("the CLI was killed here")

    store.set_fields = die  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        await run(
            store, clock, "attention", "resolve", "stuck-3", "--outcome", "failed",
            "--reason", "refunded", "--by", "al",
        )  # fmt: skip
    store.set_fields = original_set  # type: ignore[method-assign]
    assert store.collections["commands"]["-:stuck-3"]["state"] == "needs_attention"
    clock.now += timedelta(seconds=LEASE_S)
    again = await run(
        store, clock, "attention", "resolve", "stuck-3", "--outcome", "completed",
        "--reason", "other idea", "--by", "bo",
    )  # fmt: skip
    assert again.code == 1 and "already resolved as failed by al" in again.text
    assert "now applied" in again.text
    command = store.collections["commands"]["-:stuck-3"]
    assert command["state"] == "failed"
    assert len(stored_events(store, "transfer.failed")) == 1, "the redo found its event"
    assert command["events"][-1] == stored_events(store, "transfer.failed")[0]["_id"]
