"""The event outbox: events are stored (insert-only) before the state they announce,
then published with confirms and marked.

Storing an event also inserts a marker in the small `outbox` collection; the
marker is deleted once the broker confirmed the event. Two paths publish: the
executor right after a command's step (the fast path), and `run()`, which
sweeps markers left a little longer (a crash, a broker outage). Both may
publish the same event; subscribers deduplicate on `event_id`, which is the
AMQP message id too. The stored body is the exact JSON text, so every
publication of an event is byte-identical.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

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
        """Store an event and its pending marker; a redo stores nothing twice."""
        if not await self._store.insert("events", doc):
            stored = await self._store.get("events", doc["_id"])
            if stored is None or stored.get("published_at") is not None:
                return
        # Marker after the event: a crash between the two is mended by the redo's add().
        await self._store.insert("outbox", {"_id": doc["_id"], "created_at": doc["created_at"]})

    async def flush(self, event_ids: Iterable[str], *, again: bool = False) -> int:
        """Publish these events if still pending (all of them when again=True), in order."""
        sent = 0
        for event_id in event_ids:
            doc = await self._store.get("events", event_id)
            if doc is None:
                continue
            if again or await self._store.get("outbox", event_id) is not None:
                await self._send(doc)
                sent += 1
        return sent

    async def flush_pending(self, limit: int = 200) -> int:
        """Publish events whose marker is older than the fast path needs."""
        before = self._clock() - timedelta(seconds=self._sweep_after_s)
        markers = [m for m in await self._store.scan("outbox", limit) if m["created_at"] < before]
        markers.sort(key=lambda marker: marker["created_at"])
        return await self.flush(marker["_id"] for marker in markers)

    async def run(self, stop: asyncio.Event, interval_s: float) -> None:
        """Sweep until stop; a broker or database outage only delays the next round."""
        while not stop.is_set():
            try:
                sent = await self.flush_pending()
                if sent:
                    log.info("outbox relayed pending events", count=sent)
                self._metrics.outbox_unpublished.set(await self._store.count("outbox"))
            except TransientError as exc:
                log.warning("outbox sweep deferred", error=str(exc))
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
            except TimeoutError:
                pass

    async def _send(self, doc: Doc) -> None:
        await self._publish(
            doc["routing_key"],
            doc["body_json"].encode(),
            message_id=doc["_id"],
            correlation_id=doc.get("correlation_id"),
            headers={"x-command-id": doc["command_id"]},
        )
        self._metrics.events_published_total.labels(doc["routing_key"]).inc()
        if doc.get("published_at") is None:
            await self._store.set_fields("events", doc["_id"], {"published_at": self._clock()})
        await self._store.delete("outbox", doc["_id"])
