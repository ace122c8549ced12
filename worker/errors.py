"""The worker's error classes; foreign exceptions are mapped to these once, at the edge.

WorkerError
 +-- TransientError     retry with bounded backoff (timeouts, 5xx, broker/DB loss)
 +-- PermanentError     never retried: a `failed` or `rejected` event, then ack
 +-- PoisonMessage      cannot even be parsed: dead-letter it
"""

from __future__ import annotations

__all__ = ["PermanentError", "PoisonMessage", "TransientError", "WorkerError"]


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


class PermanentError(WorkerError):
    """Retrying cannot help; report it and acknowledge the command."""

    code = "PERMANENT"


class PoisonMessage(WorkerError):
    """The delivery is not a command at all; dead-letter it with the reason."""

    code = "POISON"
