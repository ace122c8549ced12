"""`tron-worker submit | events | status | wallets list | dlq` as people and scripts run
them: the real entry point in a subprocess, with a worker process's environment (its
namespace, database and node), against RabbitMQ, FerretDB and a devnet."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
import uuid
from typing import Any

import aio_pika
import pytest
from tronpy.keys import PrivateKey

from tests.integration.test_transfer_pipeline import _post, _start, balance_sun, devnet  # noqa: F401
from tests.integration.test_wallet_pipeline import database, wallet_command  # noqa: F401
from tests.support import ROOT, queue_depth

pytestmark = pytest.mark.integration

FUNDED_SUN = 50_000_000
ADDRESS = re.compile(r"^\s+(T[1-9A-HJ-NP-Za-km-z]{33})$", re.MULTILINE)


async def tron_worker(
    env: dict[str, str], *args: str, timeout_s: float = 120
) -> tuple[int, str, str]:
    """`python -m worker <args>` without blocking the loop (the devnet serves from it)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "worker", *args,
        env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout_s)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def tron_worker_json(env: dict[str, str], *args: str) -> tuple[int, Any]:
    code, out, err = await tron_worker(env, *args, "--json")
    assert out.count("\n") == 1, (out, err)
    return code, json.loads(out)


async def until(check, timeout_s: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await check():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


async def test_submit_wait_then_status_and_wallets(make_worker, amqp, devnet, database):  # noqa: F811
    worker = await _start(make_worker, devnet)
    env = worker.env
    code, out, err = await tron_worker(
        env, "submit", "wallet.create", "--count", "1", "--purpose", "hot", "--wait"
    )
    assert code == 0, (out, err)
    assert "created 1 wallet(s):" in out and "idempotency key: cli-" in out
    [wallet] = ADDRESS.findall(out)
    stored = await database.wallets.find_one({"address": wallet})
    assert stored is not None and stored["purpose"] == "hot"
    await _post(devnet, "/devnet/fund", {"address": wallet, "amount_sun": FUNDED_SUN})

    recipient = PrivateKey.random().public_key.to_base58check_address()
    key = f"pay-{uuid.uuid4().hex}"
    code, out, err = await tron_worker(
        env, "submit", "transfer.trx", "--wallet", wallet, "--to", recipient,
        "--amount-sun", "1000000", "--idempotency-key", key, "--wait",
    )  # fmt: skip
    assert code == 0, (out, err)
    assert f"idempotency key: {key}" in out
    [confirmed] = [line for line in out.splitlines() if line.startswith("transfer.confirmed: ")]
    txid = re.search(r"txid ([0-9a-f]{64}), block \d+, fee ", confirmed)
    assert txid is not None, confirmed
    assert "sent -> accepted -> broadcast" in err  # the progress, one line per step off a tty
    assert await balance_sun(devnet, recipient) == 1_000_000

    too_much = f"too-much-{uuid.uuid4().hex}"
    code, out, err = await tron_worker(
        env, "submit", "transfer.trx", "--wallet", wallet, "--to", recipient,
        "--amount-sun", str(10**12), "--idempotency-key", too_much, "--wait",
    )  # fmt: skip
    assert code == 1, (out, err)
    assert "transfer.rejected INSUFFICIENT_BALANCE: " in out

    code, status = await tron_worker_json(env, "status", key)
    assert code == 0, status
    assert status["command"]["key"] == f"-:{key}" and status["command"]["terminal"] is True
    [attempt] = status["attempts"]
    assert (attempt["item"], attempt["attempt"], attempt["txid"]) == (0, 1, txid.group(1))
    assert attempt["fate"]["fate"] == "confirmed" and attempt["fate"]["block_number"] > 0
    kinds = [event["routing_key"] for event in status["events"]]
    assert kinds == ["transfer.accepted", "transfer.broadcast", "transfer.confirmed"]
    code, out, _ = await tron_worker(env, "status", key)
    assert code == 0 and txid.group(1) in out and "confirmed" in out
    code, status = await tron_worker_json(env, "status", too_much)
    assert code == 0 and status["command"]["state"] == "rejected" and status["attempts"] == []
    code, missing = await tron_worker_json(env, "status", "no-such-key")
    assert code == 1 and "no command with idempotency key 'no-such-key'" in missing["error"]

    code, listed = await tron_worker_json(env, "wallets", "list", "--purpose", "hot")
    assert code == 0
    [row] = listed["wallets"]
    assert row["address"] == wallet and row["purpose"] == "hot"
    assert row["balance_sun"] == await balance_sun(devnet, wallet) < FUNDED_SUN - 1_000_000
    assert set(row) == {"address", "purpose", "label", "created_at", "balance_sun"}
    code, out, _ = await tron_worker(env, "wallets", "list")
    assert code == 0 and wallet in out and "encrypted" not in out and "ciphertext" not in out
    assert await worker.stop() == 0


async def test_events_tails_until_sigterm_and_wait_json_prints_the_event(make_worker, amqp):
    worker = make_worker()
    worker.start()
    await worker.wait_status("/health/ready", 200)
    env = worker.env
    tail = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "worker", "events", "--json", "--filter", "wallet.#",
        env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert tail.stderr is not None and tail.stdout is not None
        banner = await asyncio.wait_for(tail.stderr.readline(), 30)
        assert banner.startswith(b"following "), banner  # bound: nothing published is missed
        key = f"w-{uuid.uuid4().hex}"
        code, out, err = await tron_worker(env, "submit", "wallet.create", "--idempotency-key", key)
        assert code == 0 and f"idempotency key: {key}" in out, (out, err)
        while True:
            event = json.loads(await asyncio.wait_for(tail.stdout.readline(), 30))
            if event["idempotency_key"] == key:
                break
        assert event["type"] == "wallet.created" and len(event["payload"]["addresses"]) == 1
        tail.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(tail.wait(), 30) == 0
    finally:
        if tail.returncode is None:
            tail.kill()
            await tail.wait()

    code, event = await tron_worker_json(env, "submit", "wallet.create", "--count", "2", "--wait")
    assert code == 0 and event["type"] == "wallet.created" and event["payload"]["count"] == 2
    assert await worker.stop() == 0


async def test_dlq_lists_shows_and_replays_once(make_worker, amqp, namespace, database):  # noqa: F811
    worker = make_worker()
    worker.start()
    await worker.wait_status("/health/ready", 200)
    env, dead = worker.env, f"{namespace}.wallet.dead"
    channel = await amqp.channel(publisher_confirms=True)
    commands = await channel.get_exchange(f"{namespace}.commands")
    poison = aio_pika.Message(b"not json \x1b[31m", message_id="poison-1")
    await commands.publish(poison, "command.wallet.create")
    await until(lambda: _depth_is(amqp, dead, 1))

    code, listed = await tron_worker_json(env, "dlq", "list", "--family", "wallet")
    assert code == 0
    [queue] = listed["queues"]
    [letter] = queue["dead_letters"]
    assert (queue["queue"], queue["count"]) == (dead, 1)
    assert (letter["id"], letter["reason"], letter["routing_key"]) == (
        "poison-1",
        "poison",
        "command.wallet.create",
    )
    assert letter["not_a_command"].startswith("body is not JSON") and not letter["finished"]
    assert await queue_depth(amqp, dead) == 1, "listing leaves them in the queue"
    code, out, err = await tron_worker(env, "dlq", "show", "poison-1")
    assert code == 0, (out, err)
    assert 'x-dead-letter-reason: "poison"' in out and "not json \\x1b[31m" in out
    assert "\x1b" not in out, "a body never reaches the terminal raw"

    # A valid command dead-lettered before it ran (as when its retries run out), twice.
    key = f"dead-{uuid.uuid4().hex}"
    body = wallet_command(count=1, key=key)
    headers = {
        "x-dead-letter-reason": "retries-exhausted",
        "x-dead-letter-detail": "TransientError: database unavailable",
        "x-original-routing-key": f"{namespace}.wallet",  # a retry tier's copy names the queue
        "x-attempt": 5,
    }
    for n in (0, 1):
        copy = aio_pika.Message(body, message_id=f"{key}-{n}", headers=headers)
        await channel.default_exchange.publish(copy, dead)
    await until(lambda: _depth_is(amqp, dead, 3))

    code, replayed = await tron_worker_json(env, "dlq", "replay", f"{key}-0")
    assert code == 0, replayed
    [result] = replayed["dead_letters"]
    assert (result["outcome"], result["routing_key"]) == ("replayed", "command.wallet.create")
    await until(lambda: _terminal(database, f"-:{key}"))
    assert await database.wallets.count_documents({}) == 1

    code, again = await tron_worker_json(env, "dlq", "replay", f"{key}-1")
    assert code == 0 and again["dead_letters"][0]["outcome"] == "finished"
    code, out, _ = await tron_worker(env, "dlq", "list")
    assert code == 0 and "finished (completed)" in out and "not a command" in out
    assert await queue_depth(amqp, dead) == 2, "the finished one stays, with the poison"
    code, dropped = await tron_worker_json(env, "dlq", "replay", "--all", "--drop-finished")
    assert code == 0
    outcomes = {r["id"]: r["outcome"] for r in dropped["dead_letters"]}
    assert outcomes == {"poison-1": "skipped", f"{key}-1": "dropped"}
    assert await queue_depth(amqp, dead) == 1
    code, _ = await tron_worker_json(env, "dlq", "replay", f"{key}-0")
    assert code == 1, "gone once replayed"
    code, out, _ = await tron_worker(env, "status", key)
    assert code == 0 and "wallet.created" in out
    assert await database.wallets.count_documents({}) == 1, "run once"
    assert await worker.stop() == 0


async def _depth_is(amqp, queue: str, expected: int) -> bool:  # type: ignore[no-untyped-def]
    return await queue_depth(amqp, queue) == expected


async def _terminal(db, key: str) -> bool:  # type: ignore[no-untyped-def]
    command = await db.commands.find_one({"_id": key})
    return command is not None and command["terminal"]
