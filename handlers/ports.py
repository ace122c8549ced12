"""What handlers may use: small interfaces the runtime implements (worker/) and tests twin.

No aio-pika, pymongo or httpx here or in any handler: handlers orchestrate.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel

__all__ = [
    "CommandContext",
    "CommandType",
    "Completed",
    "Deps",
    "Failed",
    "Handler",
    "KeyMaker",
    "NeedsAttention",
    "NewWallet",
    "Outcome",
    "WalletStore",
]

P = TypeVar("P", bound=BaseModel)


@dataclass(frozen=True)
class CommandContext(Generic[P]):
    """A claimed command as a handler sees it; `ref` (`c`) is what its records are keyed by."""

    ref: str
    command_id: str
    type: str
    payload: P
    idempotency_key: str
    expires_at: datetime
    epoch: int


@dataclass(frozen=True)
class Completed:
    """The command did what it asked; its events are stored."""


@dataclass(frozen=True)
class Failed:
    """The command cannot succeed; `retry_safe` tells the publisher whether a new command may."""

    code: str
    message: str
    retry_safe: bool


@dataclass(frozen=True)
class NeedsAttention:
    """The command's fate cannot be decided (it may have effects); an operator must look.
    Not terminal: a later delivery may still finish it."""

    code: str
    message: str


Outcome = Completed | Failed | NeedsAttention


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
    async def add_once(self, ref: str, index: int, record: dict[str, Any]) -> dict[str, Any]:
        """Store record as the command's wallet `index` unless one is there; the stored one."""
        ...

    async def get(self, ref: str, index: int) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class Deps:
    """Everything a handler may touch, bound to one command and its lease."""

    fence: Callable[[], Awaitable[None]]  # raises LeaseLost when another worker took over
    # Store an event (state, payload), after its own fencing check; once per state.
    emit: Callable[[str, dict[str, Any]], Awaitable[None]]
    now: Callable[[], datetime]
    wallets: WalletStore
    keys: KeyMaker


Handler = Callable[[CommandContext[Any], Deps], Awaitable[Outcome]]


@dataclass(frozen=True)
class CommandType(Generic[P]):
    """One command type: its payload model, its handler, and its own "has effects" test.

    `has_effects` answers whether anything the command did is stored (a wallet, a
    journaled transaction): such a command is never told `retry_safe`.
    """

    payload: type[P]
    handle: Callable[[CommandContext[P], Deps], Awaitable[Outcome]]
    has_effects: Callable[[CommandContext[P], Deps], Awaitable[bool]]
