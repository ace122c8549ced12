"""What handlers may use: small interfaces the runtime implements (worker/) and tests twin.

No aio-pika, pymongo or httpx here or in any handler: handlers orchestrate.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel

__all__ = [
    "CommandContext",
    "Completed",
    "Deps",
    "Failed",
    "Handler",
    "KeyMaker",
    "NewWallet",
    "Outcome",
    "WalletStore",
]


@dataclass(frozen=True)
class CommandContext:
    """A claimed command as a handler sees it."""

    command_id: str
    type: str
    payload: BaseModel
    idempotency_key: str
    expires_at: datetime


@dataclass(frozen=True)
class Completed:
    """The command did what it asked; its events are stored."""


@dataclass(frozen=True)
class Failed:
    """The command cannot succeed; `retry_safe` tells the publisher whether a new command may."""

    code: str
    message: str
    retry_safe: bool


Outcome = Completed | Failed


class NewWallet(Protocol):
    """A fresh key pair whose private key is already encrypted; the plaintext never leaves."""

    @property
    def address(self) -> str: ...
    @property
    def public_key_hex(self) -> str: ...
    @property
    def encrypted_key(self) -> dict[str, Any]: ...


class KeyMaker(Protocol):
    def create_wallet(self) -> NewWallet: ...


class WalletStore(Protocol):
    async def of_command(self, command_id: str, count: int) -> list[dict[str, Any]]:
        """The command's wallet records among indexes 0..count-1, by index."""
        ...

    async def add(self, record: dict[str, Any]) -> bool:
        """Insert under `<command_id>:<index>`; False when it already exists."""
        ...


@dataclass(frozen=True)
class Deps:
    """Everything a handler may touch, bound to one command and its lease."""

    fence: Callable[[], Awaitable[None]]  # raises LeaseLost when another worker took over
    emit: Callable[[str, dict[str, Any]], Awaitable[None]]  # store an event: (state, payload)
    now: Callable[[], datetime]
    wallets: WalletStore
    keys: KeyMaker


Handler = Callable[[CommandContext, Deps], Awaitable[Outcome]]
