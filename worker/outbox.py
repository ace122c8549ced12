"""The event outbox: events are stored (insert-only) before the state they announce,
then published with confirms, and their pending marker deleted.

Storing an event inserts a marker in the small `outbox` collection first, then
the event: a crash between the two leaves a marker that the redo (or, much
later, the relay) settles, never an event nobody will publish. Two paths
publish: the executor right after a command's step (the fast path, with the
documents in hand), and `run()`, which pages through markers left a little
longer (a crash, a broker outage). Both may publish the same event;
subscribers deduplicate on `event_id`, which is the AMQP message id too. The
stored body is the exact JSON text, so every publication of an event is
byte-identical.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from schemas.documents import event_ref
from schemas.events import STATE_PAYLOADS, Event, make_event
from worker.errors import TransientError
from worker.loops import Backoff
from worker.metrics import Metrics
from worker.ports import EventSink
from worker.store import CommandStore, Doc

__all__ = ["Outbox", "command_event", "event_doc"]

log = structlog.get_logger()

# A marker whose event never arrived (its writer died between the two inserts and no
# redo came) is dropped after this long.
ORPHAN_MARKER_AGE = timedelta(hours=1)


def command_event(
    command: Doc,
    state: str,
    payload: dict[str, Any],
    *,
    occurred_at: datetime,
    attempt: int = 0,
    item: int = 0,
) -> Event:
    """The one builder of a claimed command's events: id from `c`, item, state, attempt."""
    return make_event(
        family=command["type"].split(".", 1)[0],
        state=state,
        payload=STATE_PAYLOADS[state].model_validate(payload),  # type: ignore[arg-type]
        command_id=command["command_id"],
        idempotency_key=command["idempotency_key"],
        occurred_at=occurred_at,
        attempt=attempt,
        seq=len(command["events"]) + 1,
        command_ref=event_ref(command["ref"], item),
    )


def event_doc(event: Event, *, correlation_id: str | None, created_at: datetime) -> Doc:
    """The stored form of one event (collection `events`, `_id` = event_id)."""
    return {
        "_id": str(event.event_id),
        "command_id": str(event.command_id) if event.command_id else None,
        "seq": event.seq,
        "routing_key": event.type,
        "body_json": event.model_dump_json(),
        "correlation_id": correlation_id,
        "created_at": created_at,
    }


class Outbox:
    def __init__(
        self,
        store: CommandStore,
        publish: EventSink,
        metrics: Metrics,
        *,
        sweep_after_s: float,
        page_size: int = 200,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._store = store
        self._publish = publish
        self._metrics = metrics
        self._sweep_after_s = sweep_after_s
        self._page_size = page_size
        self._clock = clock or (lambda: datetime.now(UTC))
        self._cursor: str | None = None  # where the relay's next page starts

    async def add(self, doc: Doc) -> Doc:
        """Store an event and its pending marker; the stored document (a redo's is the first's)."""
        await self._store.insert("outbox", {"_id": doc["_id"], "created_at": doc["created_at"]})
        if await self._store.insert("events", doc):
            return doc
        stored = await self._store.get("events", doc["_id"])
        if stored is None:
            raise TransientError(f"event {doc['_id']} vanished after its insert")
        return stored

    async def flush(self, docs: Iterable[Doc]) -> int:
        """Publish these stored events in order, now; what the broker does not confirm stays
        pending for the relay (never raises for it: the state they announce is stored)."""
        sent = 0
        for doc in docs:
            try:
                await self._send(doc)
            except TransientError as exc:
                log.warning("event left to the relay", event_id=doc["_id"], error=str(exc))
                break  # keep the command's order: the relay sends the rest
            sent += 1
        return sent

    async def republish(self, event_ids: Iterable[str]) -> int:
        """Publish a finished command's stored events again (a duplicate delivery)."""
        docs = [await self._store.get("events", event_id) for event_id in event_ids]
        return await self.flush(doc for doc in docs if doc is not None)

    async def flush_pending(self) -> int:
        """One page of markers older than the fast path needs; a failure skips one event."""
        now = self._clock()
        markers = await self._store.scan("outbox", self._page_size, after=self._cursor)
        self._cursor = markers[-1]["_id"] if len(markers) == self._page_size else None
        before = now - timedelta(seconds=self._sweep_after_s)
        sent = 0
        for marker in sorted(markers, key=lambda m: m["created_at"]):
            if marker["created_at"] >= before:
                continue
            doc = await self._store.get("events", marker["_id"])
            if doc is None:
                if marker["created_at"] < now - ORPHAN_MARKER_AGE:
                    await self._store.delete("outbox", marker["_id"])
                continue
            try:
                await self._send(doc)
                sent += 1
            except TransientError as exc:
                self._metrics.background_errors_total.labels("relay").inc()
                log.warning("event not confirmed; next round", event_id=doc["_id"], error=str(exc))
        return sent

    async def run(self, stop: asyncio.Event, interval_s: float) -> None:
        """Relay until stop; any failure only delays the next round (with backoff)."""
        backoff = Backoff(interval_s)
        while not stop.is_set():
            try:
                sent = await self.flush_pending()
                if sent:
                    log.info("outbox relayed pending events", count=sent)
                self._metrics.outbox_unpublished.set(await self._store.count("outbox"))
                backoff.reset()
            except Exception as exc:  # a loop that dies stops the worker: log, count, go on
                self._metrics.background_errors_total.labels("relay").inc()
                log.error("outbox round failed", error=f"{type(exc).__name__}: {exc}")
                backoff.failed()
            await backoff.wait(stop)

    async def _send(self, doc: Doc) -> None:
        await self._publish(
            doc["routing_key"],
            doc["body_json"].encode(),
            message_id=doc["_id"],
            correlation_id=doc.get("correlation_id"),
            headers={"x-command-id": doc["command_id"]} if doc.get("command_id") else {},
        )
        self._metrics.events_published_total.labels(doc["routing_key"]).inc()
        await self._store.delete("outbox", doc["_id"])
