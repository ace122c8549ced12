"""The broker topology of DESIGN.md, as plain data derived from settings (no I/O).

<ns>.commands (topic) --command.<family>.*--> <ns>.<family> (quorum)
    <ns>.<family> --dead-letter--> <ns>.dlx (direct) --> <ns>.<family>.dead
    <ns>.<family>.retry.<d>s (quorum, TTL d) --dead-letter--> <ns>.<family>
<ns>.events (topic, alternate-exchange) ...unrouted...> <ns>.events.unrouted (fanout)
    --> <ns>.events.unrouted (quorum)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from worker.settings import AmqpSettings

__all__ = ["ExchangeSpec", "QueueSpec", "Topology", "build_topology"]


@dataclass(frozen=True)
class ExchangeSpec:
    name: str
    type: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class QueueSpec:
    name: str
    arguments: dict[str, Any]
    # (exchange name, routing key) pairs
    bindings: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Topology:
    commands: ExchangeSpec
    events: ExchangeSpec
    unrouted: ExchangeSpec
    dead_letters: ExchangeSpec
    work_queues: dict[str, QueueSpec]  # by family
    other_queues: tuple[QueueSpec, ...]
    retry_queues: dict[str, tuple[tuple[int, str], ...]]  # family -> ((delay_s, queue name), ...)

    @property
    def exchanges(self) -> tuple[ExchangeSpec, ...]:
        # Order matters: the alternate exchange exists before the exchange that names it.
        return (self.unrouted, self.dead_letters, self.commands, self.events)

    @property
    def queues(self) -> tuple[QueueSpec, ...]:
        return (*self.work_queues.values(), *self.other_queues)


def _quorum(**extra: Any) -> dict[str, Any]:
    # at-least-once dead-lettering requires reject-publish overflow on the source queue.
    return {
        "x-queue-type": "quorum",
        "x-overflow": "reject-publish",
        **extra,
    }


def build_topology(amqp: AmqpSettings) -> Topology:
    """Every exchange, queue, argument and binding the worker declares."""
    ns = amqp.namespace
    dlx = ExchangeSpec(f"{ns}.dlx", "direct")
    unrouted = ExchangeSpec(f"{ns}.events.unrouted", "fanout")
    commands = ExchangeSpec(f"{ns}.commands", "topic")
    events = ExchangeSpec(f"{ns}.events", "topic", {"alternate-exchange": unrouted.name})
    work: dict[str, QueueSpec] = {}
    others: list[QueueSpec] = [
        QueueSpec(unrouted.name, _quorum(), ((unrouted.name, ""),)),
    ]
    retries: dict[str, tuple[tuple[int, str], ...]] = {}
    for family in amqp.families:
        name = f"{ns}.{family}"
        dead = f"{name}.dead"
        work[family] = QueueSpec(
            name,
            _quorum(
                **{
                    "x-delivery-limit": amqp.delivery_limit,
                    "x-dead-letter-exchange": dlx.name,
                    "x-dead-letter-routing-key": dead,
                    "x-dead-letter-strategy": "at-least-once",
                }
            ),
            ((commands.name, f"command.{family}.*"),),
        )
        others.append(
            QueueSpec(
                dead,
                _quorum(**{"x-max-length": amqp.dead_letter_max_messages}),
                ((dlx.name, dead),),
            )
        )
        tiers = []
        for delay_s in amqp.retry_delays_s:
            retry = f"{name}.retry.{delay_s}s"
            tiers.append((delay_s, retry))
            # Published to through the default exchange; on expiry back to the work queue.
            others.append(
                QueueSpec(
                    retry,
                    _quorum(
                        **{
                            "x-message-ttl": delay_s * 1000,
                            "x-dead-letter-exchange": "",
                            "x-dead-letter-routing-key": name,
                            "x-dead-letter-strategy": "at-least-once",
                        }
                    ),
                )
            )
        retries[family] = tuple(tiers)
    return Topology(commands, events, unrouted, dlx, work, tuple(others), retries)
