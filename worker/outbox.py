"""The event outbox: events are stored (insert-only) before the state they announce,
then published with confirms and marked.

Two paths publish: the pipeline right after a command's step (the fast path),
and `run()`, which sweeps up whatever is still unpublished a little later (a
crash, a broker outage). Both may publish the same event; subscribers
deduplicate on `event_id`, which is the AMQP message id too. The stored body is
the exact JSON text, so every publication of an event is byte-identical.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from worker.errors import TransientError
from worker.metrics import Metrics
from worker.ports import EventSink
from worker.store import CommandStore, Doc

__all__ = ["Outbox", "event_doc"]

log = structlog.get_logger()


def event_doc(
    *,
    event_id: str,
    command_id: str,
    seq: int,
    routing_key: str,
    body_json: str,
    correlation_id: str | None,
    created_at: datetime,
) -> Doc:
    """The stored form of one event (collection `events`, `_id` = event_id)."""
    return {
        "_id": event_id,
        "command_id": command_id,
        "seq": seq,
        "routing_key": routing_key,
        "body_json": body_json,
        "correlation_id": correlation_id,
        "created_at": created_at,
        "published_at": None,
    }


class Outbox:
    def __init__(
        self,
        store: CommandStore,
        publish: EventSink,
        metrics: Metrics,
        *,
        sweep_after_s: float,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._store = store
        self._publish = publish
        self._metrics = metrics
        self._sweep_after_s = sweep_after_s
        self._clock = clock or (lambda: datetime.now(UTC))

    async def add(self, doc: Doc) -> None:
        """Store an event; storing it again (a redo) is a no-op."""
        await self._store.insert("events", doc)

    async def flush_command(self, command_id: str, *, again: bool = False) -> int:
        """Publish a command's unpublished events (all of them when again=True), in seq order."""
        sent = 0
        for doc in await self._store.find_by_command("events", command_id):
            if again or doc.get("published_at") is None:
                await self._send(doc)
                sent += 1
        return sent

    async def flush_pending(self, limit: int = 200) -> int:
        """Publish events left unpublished for longer than the fast path needs."""
        before = self._clock() - timedelta(seconds=self._sweep_after_s)
        pending = await self._store.unpublished_events(before, limit)
        for doc in pending:
            await self._send(doc)
        return len(pending)

    async def run(self, stop: asyncio.Event, interval_s: float) -> None:
        """Sweep until stop; a broker or database outage only delays the next round."""
        while not stop.is_set():
            try:
                sent = await self.flush_pending()
                if sent:
                    log.info("outbox relayed pending events", count=sent)
                self._metrics.outbox_unpublished.set(await self._store.count_unpublished())
            except TransientError as exc:
                log.warning("outbox sweep deferred", error=str(exc))
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
            except TimeoutError:
                pass

    async def _send(self, doc: Doc) -> None:
        headers: dict[str, Any] = {"x-command-id": doc["command_id"]}
        await self._publish(
            doc["routing_key"],
            doc["body_json"].encode(),
            message_id=doc["_id"],
            correlation_id=doc.get("correlation_id"),
            headers=headers,
        )
        self._metrics.events_published_total.labels(doc["routing_key"]).inc()
        if doc.get("published_at") is None:
            await self._store.set_fields("events", doc["_id"], {"published_at": self._clock()})
