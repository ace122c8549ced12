"""transfer.trc20 over the in-memory twins: the fee limit, the pre-checks, and a
confirmation that needs the token's own Transfer log."""

from __future__ import annotations

from typing import Any

from tests.unit.test_pipeline import World, command
from tests.unit.test_transfer import A_STRANGER, _chain, _funded_wallet
from worker.txbuild import decode_raw

USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
UNITS = 5_000_000  # 5 USDT


async def _ready(usdt: int = 100_000_000, trx_sun: int | None = None) -> tuple[World, str]:
    world = World()
    wallet = await _funded_wallet(world)
    world.node.token_balances[wallet] = usdt
    if trx_sun is not None:
        world.node.accounts[wallet]["balance"] = trx_sun
    await world.follower.step()
    return world, wallet


async def _send(world: World, wallet: str, key: str = "usdt-1", **extra: Any):  # type: ignore[no-untyped-def]
    payload = {"wallet": wallet, "to": A_STRANGER, "token": "USDT", "amount": UNITS, **extra}
    body = command("transfer.trc20", key=key, payload=payload)
    return await world.deliver(body, family="transfer", routing_key="command.transfer.trc20")


def _codes(world: World, state: str) -> list[str]:
    return [e["event"]["payload"]["code"] for e in world.events.of(f"transfer.{state}")]


async def test_a_usdt_transfer_is_signed_locally_with_an_honest_fee_limit_and_confirmed() -> None:
    world, wallet = await _ready()
    delivery = await _send(world, wallet)
    assert delivery.outcome == "ack"
    [attempt] = world.store.collections["tx_attempts"].values()
    raw = decode_raw(bytes.fromhex(attempt["raw_hex"]))
    assert raw.contract.type == "TriggerSmartContract"
    assert raw.fee_limit_sun == 64_000 * 12 // 10 * 100, "ceil(estimate x 1.2) x energy fee"
    assert raw.contract.fields["data"].hex().startswith("a9059cbb")
    await _chain(world)
    [confirmed] = world.events.of("transfer.confirmed")
    assert confirmed["event"]["payload"]["energy_used"] == 64_000
    assert confirmed["event"]["payload"]["txid"] == attempt["txid"]


async def test_staked_energy_lowers_the_trx_needed_but_never_the_fee_limit() -> None:
    world, wallet = await _ready(trx_sun=0)
    world.node.energy[wallet] = 200_000
    await _send(world, wallet)
    [attempt] = world.store.collections["tx_attempts"].values()
    assert attempt["plan"]["fee_limit_sun"] == 7_680_000
    assert world.events.of("transfer.rejected") == []


async def test_a_token_found_by_contract_address_is_the_same_token() -> None:
    world, wallet = await _ready()
    await _send(world, wallet, token=USDT)
    assert len(world.store.collections["tx_attempts"]) == 1


async def test_refusals_name_what_is_missing_and_sign_nothing() -> None:
    world, wallet = await _ready(usdt=UNITS - 1)
    await _send(world, wallet, key="no-token")
    await _send(world, wallet, key="unknown", token="TXYZopYRdj2D9XRtbG411XZZ3kM5VkAeBf")
    world.node.token_balances[wallet] = UNITS
    world.node.energy_estimate = 1_000_000  # 120 TRX of fee limit, over the 50 TRX cap
    await _send(world, wallet, key="cap")
    world.node.energy_estimate = 64_000
    world.node.accounts[wallet]["balance"] = 1_000_000  # 1 TRX; burning 64k energy is 6.4
    await _send(world, wallet, key="no-trx")
    assert _codes(world, "rejected") == [
        "INSUFFICIENT_BALANCE",
        "UNKNOWN_TOKEN",
        "FEE_LIMIT_TOO_LOW",
        "INSUFFICIENT_BALANCE",
    ]
    messages = [e["event"]["payload"]["message"] for e in world.events.of("transfer.rejected")]
    assert "of USDT" in messages[0] and "TRX for fees" in messages[3]
    assert "120000000 sun" in messages[2] and "50000000" in messages[2]
    assert world.store.collections["tx_attempts"] == {} and world.node.pending == {}


async def test_success_without_the_tokens_transfer_log_is_not_confirmed() -> None:
    world, wallet = await _ready()
    world.node.omit_logs = True
    await _send(world, wallet)
    await _chain(world)
    assert world.events.of("transfer.confirmed") == []
    assert _codes(world, "needs_attention") == ["UNPROVEN_EFFECT"]


async def test_a_revert_is_failed_with_the_trx_it_burned() -> None:
    world, wallet = await _ready()
    world.node.fail_next = "REVERT"
    await _send(world, wallet)
    await _chain(world)
    [failed] = world.events.of("transfer.failed")
    payload = failed["event"]["payload"]
    assert (payload["code"], payload["retry_safe"], payload["fee_sun"]) == ("REVERT", False, 1000)
    assert "burned 1000 sun" in payload["message"]


async def test_a_transfer_the_contract_refuses_in_a_dry_run_is_rejected_not_failed() -> None:
    from worker.errors import PermanentError

    world, wallet = await _ready()

    async def reverts(owner: str, contract: str, data_hex: str) -> int:
        raise PermanentError("REVERT opcode executed: blacklisted", code="NODE_REJECTED")

    world.node.estimate_energy = reverts  # type: ignore[method-assign]
    await _send(world, wallet)
    assert _codes(world, "rejected") == ["WOULD_REVERT"]
    assert world.events.of("transfer.failed") == [] and world.node.pending == {}
