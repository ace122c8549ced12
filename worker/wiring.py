"""One wiring of the command path, used by worker/app.py and by the tests alike.

`build_pipeline` takes the adapters (a store, a broker, a keystore, a clock)
and builds everything between them; app.py passes the real ones, the tests
the in-memory twins, so both run the same objects in the same order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from handlers import COMMAND_TYPES
from handlers.ports import ChainRules, CommandType, TokenRef
from worker.approvals import StoreApprovals
from worker.attention import UndecidedFates
from worker.auth import Authenticator
from worker.caps import Caps
from worker.claims import Claims
from worker.controls import MoneyControls
from worker.executor import ChainServices, Executor
from worker.follower import ChainFollower
from worker.journal import Journal
from worker.keystore import Keystore
from worker.leases import Leases
from worker.metrics import Metrics
from worker.outbox import Outbox
from worker.pipeline import Pipeline
from worker.pool import HotWalletPool
from worker.ports import BrokerPort, EventSink, TronNode
from worker.reconcile import BalanceCheck, Reconciler
from worker.records import Commands, Gates, ManagedAddresses, StoreWallets
from worker.reservations import Reservations
from worker.retries import Retrier
from worker.settings import Settings
from worker.signer import KeystoreSigner
from worker.standing import StoreStandingEnergy
from worker.store import CommandStore
from worker.sweeper import Sweeper
from worker.switches import Switches

__all__ = ["Wired", "build_pipeline"]


@dataclass(frozen=True)
class Wired:
    pipeline: Pipeline
    executor: Executor
    outbox: Outbox
    sweeper: Sweeper
    follower: ChainFollower
    leases: Leases
    metrics: Metrics
    switches: Switches
    approvals: StoreApprovals
    balance_check: BalanceCheck
    standing: StoreStandingEnergy


def build_pipeline(
    settings: Settings,
    *,
    store: CommandStore,
    broker: BrokerPort,
    node: TronNode,
    keys: Keystore,
    owner: str,
    metrics: Metrics | None = None,
    clock: Callable[[], datetime] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    types: Mapping[str, CommandType] = COMMAND_TYPES,  # type: ignore[type-arg]
) -> Wired:
    """The command path: authentication, claims, leases, gates, outbox, executor, retries,
    and the TRON side: journal, local signer, chain follower.

    Raises:
        ValueError: an authentication setting that cannot work (no keys, a bad key id).
    """
    metrics = metrics or Metrics()
    clock = clock or (lambda: datetime.now(UTC))
    ws, amqp = settings.worker, settings.amqp
    publish: EventSink = broker.publish_event
    authenticator = Authenticator(
        required=amqp.require_signature,
        keys={k: v.get_secret_value().encode() for k, v in amqp.hmac_keys.items()},
        skew_s=amqp.signature_skew_s,
        clock=clock,
    )
    commands = Commands(store, clock)
    leases = Leases(store, owner=owner, lease_s=ws.lease_s, clock=clock)
    outbox = Outbox(
        store, publish, metrics, sweep_after_s=max(2.0, ws.relay_interval_s * 4), clock=clock
    )
    journal = Journal(store, clock)
    switches = Switches(store, outbox, clock)
    approvals = StoreApprovals(store, commands, clock)
    claims = Claims(commands, leases, clock=clock)
    standing = StoreStandingEnergy(
        store,
        journal,
        commands,
        claims,
        leases,
        node,
        staking_wallet=settings.staking.wallet,
        idle_s=settings.staking.return_after_idle_s,
        clock=clock,
    )
    chain = ChainServices(
        node=node,
        journal=journal,
        signer=KeystoreSigner(keys),
        rules=ChainRules(
            expiration_s=settings.chain.expiration_s,
            max_attempts=settings.chain.max_attempts,
            broadcast_tries=settings.chain.broadcast_tries,
            broadcast_backoff_s=settings.chain.broadcast_backoff_s,
            fee_margin=settings.chain.fee_margin,
            max_fee_limit_sun=settings.chain.max_fee_limit_sun,
            tokens=tuple(
                TokenRef(t.symbol, t.address, t.decimals) for t in settings.tokens.allowed
            ),
            attention_after_s=settings.controls.attention_after_s,
            energy_policy=settings.staking.energy_policy,
            staking_wallet=settings.staking.wallet,
            burn_fallback=settings.staking.burn_fallback,
            topup_extra_energy=settings.staking.topup_extra_energy,
        ),
        sleep=sleep,
        pool=HotWalletPool(
            store,
            node,
            Reservations(store, clock),
            refresh_s=settings.chain.managed_refresh_s,
            clock=clock,
        ),
        controls=MoneyControls(
            settings.controls, switches, Caps(store, clock, settings.controls.window_zone)
        ),
        approvals=approvals,
        energy=standing,
    )
    executor = Executor(
        chain=chain,
        commands=commands,
        gates=Gates(store, clock),
        wallets=StoreWallets(store),
        leases=leases,
        outbox=outbox,
        types=types,
        keys=keys,
        metrics=metrics,
        clock=clock,
    )
    retrier = Retrier(
        broker,
        metrics,
        max_attempts=amqp.max_attempts,
        requeue_delay_s=ws.requeue_delay_s,
        requeue_max_delay_s=ws.requeue_max_delay_s,
        sleep=sleep,
    )
    pipeline = Pipeline(
        authenticator=authenticator,
        claims=claims,
        executor=executor,
        outbox=outbox,
        retrier=retrier,
        publish=publish,
        metrics=metrics,
        command_timeout_s=ws.command_timeout_s,
        clock=clock,
    )
    sweeper = Sweeper(
        store,
        leases,
        executor,
        metrics,
        lease_s=ws.lease_s,
        max_epochs=2 * amqp.max_attempts,
        retention_days=ws.retention_days,
        command_timeout_s=ws.command_timeout_s,
        clock=clock,
        duties=(
            approvals.expire_due,
            UndecidedFates(
                store, commands, attention_after_s=settings.controls.attention_after_s, clock=clock
            ).wake_overdue,
            standing.round,
        ),
    )
    reconciler = Reconciler(
        store,
        switches,
        outbox,
        metrics,
        tokens={t.address: t.symbol for t in settings.tokens.allowed},
        clock=clock,
    )
    follower = ChainFollower(
        node,
        journal,
        leases,
        store,
        metrics,
        managed_addresses=ManagedAddresses(
            store, refresh_s=settings.chain.managed_refresh_s, clock=clock
        ),
        poll_interval_s=settings.chain.follower_interval_s,
        clock=clock,
        reconciler=reconciler,
    )
    balance_check = BalanceCheck(
        store,
        node,
        journal,
        reconciler,
        metrics,
        interval_s=settings.controls.balance_check_interval_s,
    )
    return Wired(
        pipeline,
        executor,
        outbox,
        sweeper,
        follower,
        leases,
        metrics,
        switches,
        approvals=approvals,
        balance_check=balance_check,
        standing=standing,
    )
