"""Command authentication (setting amqp.require_signature), as DESIGN.md specifies.

`x-key-id` names the publisher's key; `x-signature` is the lowercase hex
HMAC-SHA256 of the exact body bytes, compared in constant time, on every
delivery. The ±skew window on `issued_at` guards only a key that has no claim
yet (the pipeline asks `Scope.fresh` when it would claim): retry tiers, late
duplicates and redeliveries of a claimed command are authentic all the same.
Idempotency keys are scoped per key id, so two publishers cannot collide on
(or probe) each other's keys.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from schemas.commands import Envelope
from worker.errors import Unauthenticated
from worker.ports import Delivery

__all__ = ["UNSCOPED", "Authenticator", "Scope", "Unauthenticated"]

UNSCOPED = "-"  # the idempotency scope when authentication is off
_KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_HEX_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Scope:
    """Who sent an authentic delivery, and whether it may claim a new key."""

    key_id: str  # the idempotency scope (UNSCOPED when authentication is off)
    skew_s: float = 0.0  # |issued_at - now|
    fresh: bool = True  # within the skew window: may claim a key nobody claimed yet


class Authenticator:
    def __init__(
        self,
        *,
        required: bool,
        keys: Mapping[str, bytes],
        skew_s: float,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        bad = [key_id for key_id in keys if not _KEY_ID.match(key_id)]
        if bad:
            raise ValueError(f"HMAC key ids must match {_KEY_ID.pattern}: {bad[0]!r}")
        if required and not keys:
            raise ValueError(
                "amqp.require_signature is on but TRON_WORKER_AMQP__HMAC_KEYS is empty"
            )
        self._required = required
        self._keys = dict(keys)
        self._skew_s = skew_s
        self._clock = clock or (lambda: datetime.now(UTC))

    def authenticate(self, delivery: Delivery, envelope: Envelope) -> Scope:
        """The idempotency scope of an authentic delivery, with its freshness.

        Raises:
            Unauthenticated: with a reason that names no secret.
        """
        if not self._required:
            return Scope(UNSCOPED)
        headers = delivery.headers or {}
        key_id = _text(headers.get("x-key-id"))
        signature = _text(headers.get("x-signature"))
        if not key_id or not signature:
            raise Unauthenticated("missing x-key-id or x-signature header")
        secret = self._keys.get(key_id)
        if secret is None:
            raise Unauthenticated("unknown x-key-id")
        expected = hmac.new(secret, delivery.body, hashlib.sha256).hexdigest()
        if not _HEX_SHA256.match(signature) or not hmac.compare_digest(expected, signature):
            raise Unauthenticated("x-signature does not match the body")
        skew_s = abs((self._clock() - envelope.issued_at).total_seconds())
        return Scope(key_id, skew_s, fresh=skew_s <= self._skew_s)

    def stale_message(self, scope: Scope) -> str:
        return (
            f"issued_at is {scope.skew_s:.0f} s from this worker's clock "
            f"(allowed ±{self._skew_s:.0f} s for a new idempotency key)"
        )


def _text(value: Any) -> str | None:
    # An AMQP byte array (what e.g. the Java client sends for byte[]) arrives as bytearray.
    if isinstance(value, bytes | bytearray):
        try:
            return value.decode("ascii")
        except UnicodeDecodeError:
            return None
    return value if isinstance(value, str) else None
