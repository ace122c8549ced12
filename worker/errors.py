"""The worker's error classes; foreign exceptions are mapped to these once, at the edge.

The tree of what is actually raised (and by whom):

WorkerError                   `code` is what events and metrics carry
 +-- TransientError           the outcome is unknown: retry with bounded backoff
 |    |                       (worker.store, worker.broker, worker.database)
 |    +-- LeaseLost           a later lease epoch exists: stop (worker.leases)
 |    +-- NodeUnavailable     no TRON endpoint answered (worker.gateway)
 +-- PermanentError           retrying cannot help: `failed`, or a dead letter
 |    +-- KeystoreError       a key cannot be made, opened or trusted (worker.keystore)
 +-- Unauthenticated          signature or timing not acceptable: `rejected` (worker.auth)

What cannot be parsed at all is not an exception here: schemas.errors.NotAnEnvelope
marks it, and the pipeline dead-letters it as poison.
"""

from __future__ import annotations

__all__ = [
    "LeaseLost",
    "NodeUnavailable",
    "PermanentError",
    "TransientError",
    "Unauthenticated",
    "WorkerError",
]


class WorkerError(Exception):
    """Base of every error the worker classifies; `code` is what events and metrics carry."""

    code = "INTERNAL"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class TransientError(WorkerError):
    """The outcome is unknown or the dependency is briefly unavailable; try again later."""

    code = "TRANSIENT"


class LeaseLost(TransientError):
    """Another worker holds a later epoch: stop working on this command."""

    code = "LEASE_LOST"


class NodeUnavailable(TransientError):
    """No TRON endpoint gave an answer (timeouts, connection errors, 5xx, 429, open
    circuits): the outcome of the call is unknown, never "absent" or "refused"."""

    code = "NODE_UNAVAILABLE"


class PermanentError(WorkerError):
    """Retrying cannot help; report it and acknowledge the command."""

    code = "PERMANENT"


class Unauthenticated(WorkerError):
    """The delivery's signature or timing is not acceptable (rejected UNAUTHENTICATED)."""

    code = "UNAUTHENTICATED"
