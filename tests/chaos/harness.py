"""The chaos audit (issue 12): a seeded workload through two worker processes while the
stack is broken on a schedule, then an audit from outside.

    .venv/bin/python -m tests.chaos.harness --seed 7                  # make chaos
    .venv/bin/python -m tests.chaos.harness --seed 7 --report docs/reliability.md

Faults, each at a seeded moment of the publishing window (the seed is printed, so a
failure can be replayed): SIGKILLs of worker processes (each restarted), one SIGTERM
under load, the broker stopped and started, the database stopped and started, the
primary TRON endpoint unreachable (a proxy cut), then devnet's own faults one window
at a time: a latency spike, a burst of 503s, dropped broadcasts, lost responses.

Any command without exactly one terminal event, any double spend and any balance that
does not reconcile to the sun fails the run (exit 1).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tronpy.keys import to_base58check_address

from tests.chaos.audit import Audit, audit, read_ledger, table
from tests.chaos.stack import ChaosStack, Fleet
from tests.chaos.workload import Publisher, Subscriber, Workload, envelope, terminal

__all__ = ["ChaosConfig", "Outcome", "run"]

TRX = 1_000_000
HOT_FUNDS_SUN = 200_000 * TRX
HOT_FUNDS_USDT = 50_000_000
STAKING_FUNDS_SUN = 5_000 * TRX


@dataclass(frozen=True)
class ChaosConfig:
    seed: int
    commands: int = 1000
    kills: int = 20
    workers: int = 2
    hot_wallets: int = 4
    publish_per_s: float = 8.0
    drain_timeout_s: float = 600.0


@dataclass
class Fault:
    at_s: float  # after publishing starts
    name: str
    act: Callable[[], Awaitable[None]]
    ended_at: float | None = None  # monotonic


@dataclass
class Outcome:
    audit: Audit
    facts: dict[str, Any] = field(default_factory=dict)

    exit_codes: list[int] = field(default_factory=list)  # every SIGTERM's

    @property
    def ok(self) -> bool:
        """Nothing lost, duplicated or double spent, and every SIGTERM exited cleanly."""
        return self.audit.ok and all(code == 0 for code in self.exit_codes)

    @property
    def table(self) -> str:
        return table(self.audit, self.facts, ok=self.ok)


async def run(config: ChaosConfig, directory: Path) -> Outcome:
    rng = random.Random(config.seed)
    namespace = f"chaos-{config.seed}-{uuid.uuid4().hex[:6]}"
    async with ChaosStack(directory) as stack:
        subscriber = Subscriber(stack.amqp_url, namespace)
        await subscriber.start()
        fleet = Fleet(stack, namespace, config.workers, directory)
        publisher = Publisher(stack.amqp_url, namespace)
        try:
            fleet.start()
            await fleet.ready()
            funded, workload = await _prepare(stack, publisher, subscriber, rng, config)
            window_s = config.commands / config.publish_per_s
            faults = _plan(rng, config, stack, fleet, window_s)
            started = time.monotonic()
            publishes = await _load(publisher, workload, faults, config, started)
            last_fault = max(f.ended_at or started for f in faults)
            print("  publishing done; waiting for every terminal event", flush=True)
            drained = await _drain(subscriber, workload, config.drain_timeout_s)
            await asyncio.sleep(3)  # stragglers: re-published copies of events
            stopped = await fleet.stop()
            await asyncio.sleep(1)
            print("  auditing devnet's ledger", flush=True)
            ledger = await read_ledger(stack.devnet, set(w for w, _ in funded))
            balances = await _balances(stack, funded)
        finally:
            fleet.kill_all()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(publisher.close(), 10)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(subscriber.stop(), 10)
    report = audit(workload.commands, publishes, subscriber.heard, ledger, funded, balances)
    facts = {
        "seed": config.seed,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "worker processes": config.workers,
        "SIGKILLs of workers (each restarted)": fleet.kills,
        "faults injected": ", ".join(
            f.name for f in sorted(faults, key=lambda f: f.at_s) if not f.name.startswith("kill")
        ),
        "broadcasts dropped by devnet (accepted, never landed)": stack.fired.get("drop_broadcast"),
        "broadcast responses lost (landed, answer cut)": stack.fired.get("lost_response"),
        "publish retries through the broker outage": publisher.retries,
        "on-chain transactions (all blocks)": ledger.transactions,
        "time to drain after the last fault (s)": (
            f"{drained - last_fault:.1f}" if drained is not None else "did not drain"
        ),
        "exit code of the SIGTERM under load": fleet.exit_codes,
        "workers' exit codes at the end (SIGTERM)": stopped,
    }
    return Outcome(report, facts, exit_codes=[*fleet.exit_codes, *stopped])


async def _prepare(
    stack: ChaosStack,
    publisher: Publisher,
    subscriber: Subscriber,
    rng: random.Random,
    config: ChaosConfig,
) -> tuple[dict[tuple[str, str], int], Workload]:
    """Hot wallets and a staking wallet, made by the worker and funded by the faucet."""
    hot = await _wallets(publisher, subscriber, "hot", config.hot_wallets)
    [staking] = await _wallets(publisher, subscriber, "staking", 1)
    funded: dict[tuple[str, str], int] = {}
    for wallet in hot:
        await stack.devnet("/devnet/fund", {"address": wallet, "amount_sun": HOT_FUNDS_SUN})
        await stack.devnet("/devnet/fund", {"address": wallet, "token": "USDT",
                                            "amount": HOT_FUNDS_USDT})  # fmt: skip
        funded[(wallet, "TRX")], funded[(wallet, "USDT")] = HOT_FUNDS_SUN, HOT_FUNDS_USDT
    await stack.devnet("/devnet/fund", {"address": staking, "amount_sun": STAKING_FUNDS_SUN})
    funded[(staking, "TRX")] = STAKING_FUNDS_SUN
    witnesses = await stack.devnet("/wallet/listwitnesses", {})
    witness = str(to_base58check_address(witnesses["witnesses"][0]["address"]))
    return funded, Workload(rng, hot, staking, witness)


async def _wallets(
    publisher: Publisher, subscriber: Subscriber, purpose: str, count: int
) -> list[str]:
    command = envelope("wallet.create", {"count": count, "purpose": purpose})
    await publisher.publish(command)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ends = terminal(command, [h for h in subscriber.heard
                                  if h.event.get("idempotency_key") == command.key])  # fmt: skip
        if ends:
            assert ends[0].routing_key == "wallet.created", ends[0].event
            return list(ends[0].event["payload"]["addresses"])
        await asyncio.sleep(0.2)
    raise AssertionError(f"no wallet.created for {purpose} wallets within 60 s")


def _plan(
    rng: random.Random, config: ChaosConfig, stack: ChaosStack, fleet: Fleet, window_s: float
) -> list[Fault]:
    """Every fault at a seeded moment of the window: at most one devnet fault at a time."""

    def at(low: float, high: float) -> float:
        return rng.uniform(low, high) * window_s

    async def broker() -> None:
        await stack.broker_down()
        await asyncio.sleep(3)
        await stack.broker_up()

    async def database() -> None:
        stack.database_down()
        await asyncio.sleep(3)
        stack.database_up()

    async def primary_outage() -> None:
        stack.proxy.down()
        await asyncio.sleep(8)
        stack.proxy.up = True

    one_at_a_time = asyncio.Lock()  # a posted fault config replaces the one in force
    fired = stack.fired  # of the next-N devnet faults, how many the workers ran into

    def devnet_fault(config_json: dict[str, Any], hold_s: float) -> Callable[[], Awaitable[None]]:
        async def act() -> None:
            async with one_at_a_time:
                await stack.devnet("/devnet/faults", {"seed": config.seed, **config_json})
                await asyncio.sleep(hold_s)
                left = await stack.devnet("/devnet/faults", {}, method="GET")
                await stack.devnet("/devnet/faults", {})
            for trigger in ("drop_broadcast", "lost_response"):
                if trigger in config_json:  # how many of the next N the workers ran into
                    planned = config_json[trigger]["next"]
                    fired[trigger] = planned - int((left.get(trigger) or {}).get("next") or 0)

        return act

    stopping = rng.randrange(config.workers)  # drawn now: the plan must not depend on timing

    async def sigterm() -> None:
        await fleet.restart(stopping, graceful=True)

    faults = [
        Fault(at(0.25, 0.32), "broker stop/start (3 s)", broker),
        Fault(at(0.52, 0.58), "database stop/start (3 s)", database),
        Fault(at(0.40, 0.45), "primary TRON endpoint unreachable (8 s)", primary_outage),
        Fault(at(0.08, 0.15), "latency spike 300+-200 ms (4 s)",
              devnet_fault({"latency_ms": 300, "jitter_ms": 200}, 4)),
        Fault(at(0.62, 0.66), "503 burst, rate 0.3 (4 s)",
              devnet_fault({"error_rate": 0.3, "error_status": 503}, 4)),
        Fault(at(0.72, 0.76), "dropped broadcasts (of the next 3)",
              devnet_fault({"drop_broadcast": {"next": 3}}, 4)),
        Fault(at(0.82, 0.86), "lost broadcast responses (of the next 3)",
              devnet_fault({"lost_response": {"next": 3, "mode": "disconnect"}}, 4)),
        Fault(at(0.18, 0.8), "SIGTERM of a worker under load", sigterm),
    ]  # fmt: skip
    for _ in range(config.kills):
        index, down_s = rng.randrange(config.workers), rng.uniform(0.2, 2.0)
        faults.append(Fault(at(0.03, 1.05), f"kill -9 worker {index}", _kill(fleet, index, down_s)))
    return faults


def _kill(fleet: Fleet, index: int, down_s: float) -> Callable[[], Awaitable[None]]:
    async def act() -> None:
        await fleet.restart(index, down_s=down_s)

    return act


async def _load(
    publisher: Publisher,
    workload: Workload,
    faults: list[Fault],
    config: ChaosConfig,
    started: float,
) -> int:
    """Publish at the configured pace while each fault fires at its moment."""

    async def fire(fault: Fault) -> None:
        await asyncio.sleep(max(0.0, started + fault.at_s - time.monotonic()))
        print(f"  {time.monotonic() - started:6.1f} s  {fault.name}", flush=True)
        await fault.act()
        fault.ended_at = time.monotonic()

    firing = [asyncio.create_task(fire(fault)) for fault in faults]
    publishes = 0
    distinct = 0
    while distinct < config.commands:
        command, repeat = workload.next()
        await publisher.publish(command)
        publishes += 1
        distinct += not repeat
        pause = started + publishes / config.publish_per_s - time.monotonic()
        if pause > 0:
            await asyncio.sleep(pause)
    await asyncio.gather(*firing)
    return publishes


async def _drain(subscriber: Subscriber, workload: Workload, timeout_s: float) -> float | None:
    """When every command had a terminal event (or needs attention); None on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ended = {
            h.event.get("idempotency_key")
            for h in subscriber.heard
            if h.routing_key.rsplit(".", 1)[-1]
            in ("created", "confirmed", "completed", "failed", "rejected", "needs_attention")
        }
        if all(command.key in ended for command in workload.commands):
            return time.monotonic()
        await asyncio.sleep(1)
    return None


async def _balances(
    stack: ChaosStack, funded: dict[tuple[str, str], int]
) -> dict[tuple[str, str], int]:
    found: dict[tuple[str, str], int] = {}
    for wallet, asset in funded:
        if asset == "TRX":
            account = await stack.devnet("/wallet/getaccount", {"address": wallet, "visible": True})
            found[(wallet, asset)] = int(account.get("balance", 0))
        else:
            found[(wallet, asset)] = await _usdt_balance(stack, wallet)
    return found


async def _usdt_balance(stack: ChaosStack, wallet: str) -> int:
    from tronpy.keys import to_hex_address

    from tests.chaos.workload import USDT

    answer = await stack.devnet(
        "/wallet/triggerconstantcontract",
        {
            "owner_address": wallet,
            "contract_address": USDT,
            "function_selector": "balanceOf(address)",
            "parameter": to_hex_address(wallet)[2:].rjust(64, "0"),
            "visible": True,
        },
    )
    return int(answer["constant_result"][0], 16)


def render(outcome: Outcome, config: ChaosConfig) -> str:
    command = f".venv/bin/python -m tests.chaos.harness --seed {config.seed}"
    if config.commands != ChaosConfig.commands or config.kills != ChaosConfig.kills:
        command += f" --commands {config.commands} --kills {config.kills}"
    return "\n".join(
        [
            "# Reliability: the chaos audit",
            "",
            "Produced by `make chaos` (tests/chaos/harness.py); the small configuration runs",
            "in `make test` (tests/chaos/test_chaos.py). Replay this run with:",
            "",
            f"    {command}",
            "",
            "What it does: a private RabbitMQ node, FerretDB and devnet (fast blocks); two",
            "worker processes; a seeded workload of TRX and USDT transfers and payouts (2 to",
            "5 lines), wallet creations, stake commands and duplicates (the same bytes",
            "published again). Faults fire at seeded moments of the publishing window:",
            "SIGKILLs of the workers (each restarted), one SIGTERM under load, the broker and",
            "the database each stopped for 3 s, the primary TRON endpoint cut for 8 s, and",
            "devnet's own faults one window at a time. The audit reads devnet's ledger",
            "(every block), the events an independent subscriber heard and the funding, never",
            "the worker's own records.",
            "",
            outcome.table,
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=None, help="default: random, printed")
    parser.add_argument("--commands", type=int, default=ChaosConfig.commands)
    parser.add_argument("--kills", type=int, default=ChaosConfig.kills)
    parser.add_argument("--report", type=Path, help="write the table to this Markdown file")
    parser.add_argument("--keep", type=Path, help="run in this directory and keep its logs")
    args = parser.parse_args(argv)
    logging.getLogger("aio_pika").setLevel(logging.CRITICAL)  # the outage is on purpose
    logging.getLogger("aiormq").setLevel(logging.CRITICAL)
    seed = args.seed if args.seed is not None else random.randrange(1, 10**6)
    config = ChaosConfig(seed=seed, commands=args.commands, kills=args.kills)
    print(f"chaos run, seed {seed}: {config.commands} commands, {config.kills} kills", flush=True)
    with contextlib.ExitStack() as stack:
        tmp = args.keep or stack.enter_context(tempfile.TemporaryDirectory(prefix="chaos-"))
        Path(tmp).mkdir(parents=True, exist_ok=True)
        try:
            outcome = asyncio.run(run(config, Path(tmp)))
        except BaseException:
            with contextlib.suppress(Exception):
                for log in sorted(Path(tmp).glob("worker-*.log")):
                    print(f"--- {log.name} (tail)\n{log.read_text(errors='replace')[-2000:]}")
            raise
    print(outcome.table)
    for name in ("missing", "duplicated", "attention", "confirmed_not_on_chain",
                 "paid_not_confirmed", "double_spends"):  # fmt: skip
        found = getattr(outcome.audit, name)
        if found:
            print(f"{name}: {found[:10]}")
    if args.report is not None:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(render(outcome, config))
        print(f"written to {args.report}")
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
