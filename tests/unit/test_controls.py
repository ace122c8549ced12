"""Money controls over the in-memory twins: policy refusals before anything is signed,
daily caps as insert chains, and kill switches checked at intake and before every
signature."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from tests.unit.test_payout import USDT, _kinds, _lines, _pay, _recipient
from tests.unit.test_pipeline import NOW, World, _signed, command
from tests.unit.test_transfer import START_BALANCE_SUN, _chain, _funded_wallet
from worker.caps import Caps
from worker.store import MemoryStore
from worker.switches import ResumeRefused, Switches, scope_of


def _limits(**per_asset: dict[str, int]) -> dict[str, str]:
    return {"TRON_WORKER_CONTROLS__LIMITS": json.dumps(per_asset)}


async def _world(environ: dict[str, str] | None = None, **kwargs: Any) -> tuple[World, str]:
    world = World(environ=environ, **kwargs)
    wallet = await _funded_wallet(world)
    for index in range(100):
        world.node.accounts[_recipient(index)] = {"balance": 1}
    await world.follower.step()
    return world, wallet


def _rejected(world: World, family: str = "payout") -> list[dict[str, Any]]:
    return [e["event"]["payload"] for e in world.events.of(f"{family}.rejected")]


def _signed_nothing(world: World) -> bool:
    return not world.store.collections["tx_attempts"] and not world.node.pending


async def test_amounts_outside_the_item_limits_are_rejected_with_the_figures() -> None:
    world, wallet = await _world(_limits(TRX={"min_item": 1000, "max_item": 5000}))
    await _pay(world, wallet, [{"to": _recipient(0), "amount": 999, "reference": "a"}], key="low")
    lines = [{"to": _recipient(0), "amount": 1000, "reference": "a"}]
    lines.append({"to": _recipient(1), "amount": 5001, "reference": "b"})
    await _pay(world, wallet, lines, key="high")
    low, high = _rejected(world)
    assert low["code"] == "AMOUNT_BELOW_MINIMUM" and "999 sun" in low["message"]
    assert "1000" in low["message"]
    assert high["code"] == "AMOUNT_ABOVE_LIMIT" and high["message"].startswith("line 1: 5001")
    assert _signed_nothing(world)


async def test_deny_list_and_allow_list_mode_refuse_destinations() -> None:
    denied = _recipient(3)
    world, wallet = await _world(
        {
            "TRON_WORKER_CONTROLS__DENY": json.dumps([denied]),
            "TRON_WORKER_CONTROLS__ALLOW_ONLY": "true",
            "TRON_WORKER_CONTROLS__ALLOW": json.dumps([_recipient(0), denied]),
        }
    )
    await _pay(world, wallet, [{"to": denied, "amount": 10, "reference": "a"}], key="deny")
    await _pay(world, wallet, [{"to": _recipient(1), "amount": 10, "reference": "a"}], key="off")
    await _pay(world, wallet, [{"to": _recipient(0), "amount": 10, "reference": "a"}], key="ok")
    deny, off = _rejected(world)
    assert deny["code"] == off["code"] == "DESTINATION_DENIED"
    assert "deny-list" in deny["message"] and "allow-list" in off["message"]
    assert len(world.store.collections["tx_attempts"]) == 1, "only the allowed one signed"


async def test_a_contract_destination_is_refused_for_trx_and_tokens() -> None:
    world, wallet = await _world()
    world.node.accounts[_recipient(5)] = {"balance": 0, "type": "Contract"}
    world.node.token_balances[wallet] = 10_000
    await _pay(world, wallet, [{"to": _recipient(5), "amount": 10, "reference": "a"}], key="t")
    await _pay(
        world, wallet, [{"to": _recipient(5), "amount": 10, "reference": "a"}], key="u", asset=USDT
    )
    assert [r["code"] for r in _rejected(world)] == ["DESTINATION_IS_CONTRACT"] * 2
    assert _signed_nothing(world)


async def test_a_blacklisted_destination_or_source_is_refused_for_usdt() -> None:
    world, wallet = await _world()
    world.node.token_balances[wallet] = 10_000
    world.node.blacklisted.add(_recipient(2))
    lines = [{"to": _recipient(2), "amount": 10, "reference": "a"}]
    await _pay(world, wallet, lines, key="dest", asset="USDT")
    world.node.blacklisted = {wallet}
    lines = [{"to": _recipient(1), "amount": 10, "reference": "a"}]
    await _pay(world, wallet, lines, key="source", asset="USDT")
    dest, source = _rejected(world)
    assert dest["code"] == source["code"] == "DESTINATION_BLACKLISTED"
    assert _recipient(2) in dest["message"] and f"source {wallet}" in source["message"]
    assert _signed_nothing(world)


async def test_daily_asset_cap_admits_until_full_then_names_the_cap_used_and_remaining() -> None:
    world, wallet = await _world(_limits(TRX={"daily": 2500}))
    for key in ("p1", "p2"):  # 1000 + 1000
        await _pay(world, wallet, _lines(1, amount=1000), key=key)
    await _pay(world, wallet, _lines(1, amount=600), key="p3")  # 2000 + 600 > 2500
    [refused] = _rejected(world)
    assert refused["code"] == "DAILY_LIMIT_EXCEEDED"
    assert "asset cap for TRX is 2500" in refused["message"]
    assert "2000 used, 500 remaining, this item needs 600" in refused["message"]
    await _pay(world, wallet, _lines(1, amount=500), key="p4")  # exactly fills it
    assert len(_rejected(world)) == 1
    assert len(world.store.collections["tx_attempts"]) == 3


async def test_a_later_cap_refusing_releases_what_earlier_lines_and_caps_reserved() -> None:
    world, wallet = await _world(_limits(TRX={"daily": 10_000, "daily_per_destination": 1500}))
    lines = [
        {"to": _recipient(0), "amount": 1000, "reference": "a"},
        {"to": _recipient(1), "amount": 1000, "reference": "b"},
        {"to": _recipient(0), "amount": 1000, "reference": "c"},  # 2000 to recipient 0
    ]
    await _pay(world, wallet, lines, key="batch")
    [refused] = _rejected(world)
    assert refused["code"] == "DAILY_LIMIT_EXCEEDED"
    assert refused["message"].startswith("line 2: the daily destination cap")
    caps = Caps(world.store, lambda: world.now, "UTC")
    assert await caps.used("asset", "TRX") == 0, "every reservation of the batch given back"
    assert await caps.used("destination", f"TRX:{_recipient(0)}") == 0
    # A redo of the same rejected command reserves nothing more.
    await _pay(world, wallet, lines, key="batch")
    assert await caps.used("asset", "TRX") == 0


async def test_a_failed_line_gives_its_cap_back_a_confirmed_one_keeps_it() -> None:
    world, wallet = await _world(_limits(TRX={"daily": 100_000}))
    world.node.fail_next = "REVERT"  # the first line broadcast fails on chain
    await _pay(world, wallet, _lines(2, amount=1000), key="two")
    caps = Caps(world.store, lambda: world.now, "UTC")
    assert await caps.used("asset", "TRX") == 2001
    await _chain(world, 3)
    assert _kinds(world)[-1] == "payout.completed"
    [summary] = [e["event"]["payload"] for e in world.events.of("payout.completed")]
    [paid] = [line["amount"] for line in summary["items"] if line["state"] == "confirmed"]
    assert await caps.used("asset", "TRX") == paid, "the failed line's reservation released"


async def test_the_per_key_cap_counts_a_publisher_key_id_across_its_commands() -> None:
    world = World(environ=_limits(TRX={"daily_per_key": 1500}), require_signature=True)
    body = command(key="make-wallet", payload={"count": 1, "purpose": "hot"})
    await world.deliver(body, headers=_signed(body))
    [created] = world.events.of("wallet.created")
    wallet = created["event"]["payload"]["addresses"][0]
    world.node.accounts[wallet] = {"address": wallet, "balance": START_BALANCE_SUN}
    world.node.accounts[_recipient(0)] = {"balance": 1}
    await world.follower.step()
    for key in ("k1", "k2"):
        payload = {"asset": "TRX", "source_wallet": wallet, "recipients": _lines(1)}
        body = command("payout.create", key=key, payload=payload)
        await world.deliver(
            body, family="payout", routing_key="command.payout.create", headers=_signed(body)
        )
    [refused] = _rejected(world)
    assert (
        refused["code"] == "DAILY_LIMIT_EXCEEDED"
        and "key cap for TRX:billing" in refused["message"]
    )


async def test_caps_reset_with_the_window_and_a_release_goes_to_its_own_day() -> None:
    store = MemoryStore()
    now = [NOW.replace(hour=23, minute=59)]
    caps = Caps(store, lambda: now[0], "UTC")
    assert await caps.reserve("c1", 0, "asset", "TRX", 100, 100) is None
    refused = await caps.reserve("c2", 0, "asset", "TRX", 100, 1)
    assert refused is not None and (refused.used, refused.remaining) == (100, 0)
    now[0] += timedelta(minutes=2)  # the next day
    assert await caps.reserve("c3", 0, "asset", "TRX", 100, 100) is None
    await caps.release("c1", 0, "asset")  # yesterday's reservation ends without paying
    assert await caps.used("asset", "TRX") == 100, "today's window untouched"
    assert await caps.used("asset", "TRX", (now[0] - timedelta(days=1)).date().isoformat()) == 0
    # A redo of c1 after midnight still finds yesterday's link, not a new one today.
    assert await caps.reserve("c1", 0, "asset", "TRX", 100, 100) is None
    assert await caps.used("asset", "TRX") == 100


async def test_a_paused_asset_rejects_new_commands_and_resume_names_the_pause() -> None:
    world, wallet = await _world()
    pause = await world.switches.pause(scope_of("asset", "TRX"), reason="audit", by="ops")
    await _pay(world, wallet, _lines(1), key="p1")
    [refused] = _rejected(world)
    assert refused["code"] == "PAUSED" and "audit" in refused["message"]
    assert pause["_id"] in refused["message"]
    second = await world.switches.pause(scope_of("asset", "TRX"), reason="again", by="ops2")
    try:
        await world.switches.resume(
            scope_of("asset", "TRX"), lifts=pause["_id"], reason="ok", by="ops"
        )
    except ResumeRefused as exc:
        assert second["_id"] in str(exc)
    else:
        raise AssertionError("a resume naming an older pause must be refused")
    await world.switches.resume(scope_of("asset", "TRX"), lifts=second["_id"], reason="ok", by="o")
    await _pay(world, wallet, _lines(1), key="p2")
    assert len(world.store.collections["tx_attempts"]) == 1
    events = [e["routing_key"] for e in world.store.collections["events"].values()]
    assert events.count("control.paused") == 2 and events.count("control.resumed") == 1


async def test_a_pause_after_intake_stops_the_signature_and_the_pool_skips_a_paused_wallet() -> (
    None
):
    world, wallet = await _world()
    switches: Switches = world.switches
    original = world.node.chain_parameters

    async def pause_while_planning() -> dict[str, int]:
        # An operator pauses the wallet after the intake checks, before the signature.
        if await switches.blocking(wallet=wallet) is None:
            await switches.pause(scope_of("wallet", wallet), reason="leak?", by="ops")
        return await original()

    world.node.chain_parameters = pause_while_planning  # type: ignore[method-assign]
    payload = {"wallet": wallet, "to": _recipient(0), "amount_sun": 1000}
    await world.deliver(
        command("transfer.trx", key="t1", payload=payload),
        family="transfer",
        routing_key="command.transfer.trx",
    )
    [refused] = _rejected(world, "transfer")
    assert refused["code"] == "PAUSED" and "leak?" in refused["message"]
    assert _signed_nothing(world)
    world.node.chain_parameters = original  # type: ignore[method-assign]
    await _pay(world, None, _lines(1), key="pool")  # the only hot wallet is paused
    assert [r["code"] for r in _rejected(world)] == ["PAUSED"]
    assert world.node.accounts[wallet]["balance"] == START_BALANCE_SUN


async def test_a_pause_stops_the_rebuild_of_an_attempt_proven_absent() -> None:
    world, wallet = await _world()
    world.node.drop_broadcasts = True
    payload = {"wallet": wallet, "to": _recipient(0), "amount_sun": 1000}
    await world.deliver(
        command("transfer.trx", key="t1", payload=payload),
        family="transfer",
        routing_key="command.transfer.trx",
    )
    await world.switches.pause(scope_of("global"), reason="incident", by="ops")
    world.node.drop_broadcasts = False
    for _ in range(40):  # past the expiry: attempt 1 is proven absent
        await _chain(world, 1)
    [attention] = [e["event"]["payload"] for e in world.events.of("transfer.needs_attention")]
    assert attention["code"] == "PAUSED" and "incident" in attention["message"]
    assert len(world.store.collections["tx_attempts"]) == 1, "no attempt 2 signed"


async def test_a_switch_whose_writer_died_before_its_event_is_announced_by_the_next_reader() -> (
    None
):
    world, _ = await _world()
    link = {"_id": "global:1", "scope": "global", "n": 1, "paused": True, "reason": "r",
            "by": "ops", "at": world.now, "lifts": None, "details": {}}  # fmt: skip
    await world.store.insert("switches", link)  # the writer died here
    assert await world.switches.blocking(asset="TRX") is not None
    kinds = [e["routing_key"] for e in world.store.collections["events"].values()]
    assert kinds.count("control.paused") == 1
    assert await world.switches.blocking(asset="TRX") is not None
    kinds = [e["routing_key"] for e in world.store.collections["events"].values()]
    assert kinds.count("control.paused") == 1, "announced once"


async def test_a_payout_failed_before_any_signature_gives_its_caps_and_pool_funds_back() -> None:
    world, _ = await _world(
        {
            **_limits(TRX={"daily": 100_000}),
            "TRON_WORKER_CONTROLS__CHECK_CONTRACT_DESTINATION": "false",
        }
    )
    original = world.node.chain_parameters

    async def broken() -> dict[str, int]:  # every plan needs the chain's fees
        from worker.errors import PermanentError

        raise PermanentError("the node answers nonsense")

    world.node.chain_parameters = broken  # type: ignore[method-assign]
    body = command(
        "payout.create",
        key="doomed",
        payload={"asset": "TRX", "recipients": _lines(2, amount=1000)},
    )
    await world.deliver(body, family="payout", routing_key="command.payout.create")
    [failed] = [e["event"]["payload"] for e in world.events.of("payout.failed")]
    assert "nonsense" in failed["message"] and failed["retry_safe"] is True
    caps = Caps(world.store, lambda: world.now, "UTC")
    assert await caps.used("asset", "TRX") == 0, "the day's cap is not spent by nothing"
    world.node.chain_parameters = original  # type: ignore[method-assign]
    assert not world.store.collections["tx_attempts"]
