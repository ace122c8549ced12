"""What handlers may use: small interfaces the runtime implements (worker/) and tests twin.

No aio-pika, pymongo or httpx here or in any handler: handlers orchestrate.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel

from worker.ports import BlockRef, TronNode

__all__ = [
    "ChainRules",
    "CommandContext",
    "CommandType",
    "Completed",
    "Deps",
    "Failed",
    "Handler",
    "Journal",
    "KeyMaker",
    "NeedsAttention",
    "NewWallet",
    "Outcome",
    "Pending",
    "Pool",
    "Rejected",
    "SignedTx",
    "Signer",
    "StandingEnergy",
    "TokenRef",
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
    scope: str = "-"  # the publisher's key id ("-" when authentication is off)


@dataclass(frozen=True)
class Completed:
    """The command did what it asked; its events are stored."""


@dataclass(frozen=True)
class Failed:
    """The command cannot succeed; `retry_safe` tells the publisher whether a new command may."""

    code: str
    message: str
    retry_safe: bool
    details: dict[str, Any] | None = None  # more payload fields: txid, reference


@dataclass(frozen=True)
class Rejected:
    """Refused before anything was signed (a policy or pre-check): safe to resend."""

    code: str
    message: str


@dataclass(frozen=True)
class Pending:
    """Waiting for the chain: the command is left in `state`, not terminal, its lease given
    back. Whoever learns its fate (the chain follower) wakes it; `news` says whether that
    happened already, so a wake-up racing this outcome is never lost."""

    state: str
    news: Callable[[], Awaitable[bool]]


@dataclass(frozen=True)
class NeedsAttention:
    """The command's fate cannot be decided (it may have effects); an operator must look.
    Not terminal: a later delivery may still finish it."""

    code: str
    message: str


Outcome = Completed | Failed | NeedsAttention | Pending | Rejected


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

    async def by_address(self, address: str) -> dict[str, Any] | None:
        """The managed wallet with this base58 address, if it is one of ours."""
        ...


@dataclass(frozen=True)
class SignedTx:
    """A transaction the worker built and signed itself."""

    txid: str
    raw_hex: str  # Transaction.raw as signed (sha256 of it is the txid)
    signed_hex: str  # Transaction{raw_data, signature}: what broadcasthex sends
    signature_hex: str


class Signer(Protocol):
    def transfer(
        self,
        wallet: dict[str, Any],
        *,
        to: str,
        amount_sun: int,
        memo: bytes,
        reference: BlockRef,
        expiration_ms: int,
        timestamp_ms: int,
    ) -> SignedTx:
        """Build a TransferContract locally and sign it with the wallet's own key (which
        must derive the wallet's address first)."""
        ...

    def trigger(
        self,
        wallet: dict[str, Any],
        *,
        contract: str,
        data_hex: str,
        fee_limit_sun: int,
        reference: BlockRef,
        expiration_ms: int,
        timestamp_ms: int,
    ) -> SignedTx:
        """Build a TriggerSmartContract (a TRC20 call) locally and sign it likewise."""
        ...

    def contract(
        self,
        wallet: dict[str, Any],
        *,
        contract_type: str,
        fields: dict[str, Any],
        reference: BlockRef,
        expiration_ms: int,
        timestamp_ms: int,
    ) -> SignedTx:
        """Build any contract of worker.txbuild.CONTRACT_TYPES locally (the Stake 2.0 and
        vote contracts) and sign it likewise. `fields` are plain: base58 `T…` addresses
        (also each vote's `vote_address`), ints for amounts, enums (ResourceCode BANDWIDTH
        0, ENERGY 1) and bools, `votes` as [{"vote_address", "vote_count"}]; the owner is
        the wallet."""
        ...


class Journal(Protocol):
    """The signed-transaction journal (worker/journal.py)."""

    async def claim_txid(self, txid: str, attempt: str) -> bool: ...
    async def void_first(self, ref: str, item: int) -> bool: ...
    async def record(self, attempt_doc: dict[str, Any]) -> dict[str, Any]: ...
    async def track(self, attempt_doc: dict[str, Any], command_key: str) -> None: ...
    async def latest_attempt(self, ref: str, item: int) -> dict[str, Any] | None: ...
    async def fate(self, attempt: str) -> dict[str, Any] | None: ...


class Pool(Protocol):
    """Which wallet pays a batch, with its funds reserved so two batches (two workers)
    never both count the same balance (worker/pool.py: insert chains)."""

    async def choose(
        self,
        ref: str,
        candidates: list[str] | None,
        needs_for: Callable[[str], Awaitable[dict[str, int] | None]],
    ) -> str | None:
        """The wallet that pays command `ref` (decided once; a redo gets the same), its
        needs reserved; None when no candidate can. candidates None: the hot-wallet pool;
        needs_for(wallet) is what the batch takes from that wallet (None: it cannot)."""
        ...

    async def release(self, ref: str) -> None:
        """Give back what `ref` reserved, once its every line is terminal (idempotent)."""
        ...


@dataclass(frozen=True)
class Limits:
    """One asset's policy (settings [controls.limits]); None: no limit."""

    min_item: int | None = None
    max_item: int | None = None
    daily: int | None = None
    daily_per_destination: int | None = None
    daily_per_key: int | None = None
    approval_above: int | None = None


class Controls(Protocol):
    """Money controls (worker/controls.py): switches, lists, limits and daily caps."""

    check_contract_destination: bool
    check_blacklist: bool

    def limits(self, asset: str) -> Limits: ...

    def destination_refusal(self, to: str) -> str | None:
        """Why the deny/allow lists refuse paying `to` (None: they do not)."""
        ...

    async def paused(self, *, asset: str | None = None, wallet: str | None = None) -> str | None:
        """Why money of this asset or from this wallet may not move now (None: it may)."""
        ...

    async def reserve(
        self, ref: str, item: int, cap: str, key: str, limit: int, amount: int
    ) -> str | None:
        """Reserve under a daily cap (once per ref, item, cap); why it is refused, or None."""
        ...

    async def release(self, ref: str, item: int, cap: str) -> None:
        """Give back an item's reservation under a cap (idempotent)."""
        ...

    async def approval_total(self, ref: str, asset: str, key_id: str, amount: int) -> int:
        """Count a payout's total toward its key id's day (once); the day's total with it."""
        ...

    async def release_approval_total(self, ref: str) -> None: ...

    def is_approver(self, key_id: str) -> bool: ...

    @property
    def approval_expiry_s(self) -> float: ...


class Approvals(Protocol):
    """Payouts awaiting approval and the decisions on them (worker/approvals.py); every
    decision is the first insert of `decisions/<c>`."""

    async def register(self, record: dict[str, Any]) -> dict[str, Any]:
        """Store `approvals/<command_id>` once; the stored record (a redo's is the first)."""
        ...

    async def waiting(self, command_id: str) -> dict[str, Any] | None: ...

    async def decision(self, ref: str) -> dict[str, Any] | None: ...

    async def decide(
        self, ref: str, decision: str, *, by: str, reason: str, deciding_ref: str | None
    ) -> dict[str, Any]:
        """Insert the decision on payout `ref`; the stored one (maybe another's)."""
        ...

    async def wake(self, key: str) -> None:
        """Hand the waiting payout to the sweeper, which resumes it under a lease."""
        ...


class StandingEnergy(Protocol):
    """The standing energy delegation to each hot wallet (worker/standing.py): an insert
    chain `energy/<wallet>:<n>` of decisions (a top-up by a payout, a return by the
    worker), so two workers never both top up or both take back the same energy."""

    async def head(self, receiver: str) -> dict[str, Any] | None:
        """The wallet's latest decision (None: never topped up)."""
        ...

    async def decide(self, decision: dict[str, Any]) -> dict[str, Any]:
        """Insert decision `n` for its receiver; the stored one (maybe another's)."""
        ...

    async def settled(self, decision: dict[str, Any]) -> bool:
        """Whether its transaction's fate is in, or its owner ended without one."""
        ...

    async def used(self, receiver: str) -> None:
        """A batch from `receiver` is about to spend energy: not idle."""
        ...

    async def wait(self, key: str, decision: dict[str, Any]) -> None:
        """Command `key` waits for `decision` to settle; the worker wakes it then."""
        ...


@dataclass(frozen=True)
class TokenRef:
    """An allow-listed TRC20 token."""

    symbol: str
    address: str  # base58 contract address
    decimals: int


@dataclass(frozen=True)
class ChainRules:
    """Settings of the transaction path."""

    expiration_s: float  # after the node's head block time
    max_attempts: int  # attempts per item, rebuilds included
    broadcast_tries: int  # sends of the same bytes before leaving it to the follower
    broadcast_backoff_s: float
    fee_margin: float = 1.2  # on the energy estimate
    max_fee_limit_sun: int = 50_000_000
    tokens: tuple[TokenRef, ...] = ()
    attention_after_s: float = 3600.0  # a journaled attempt undecided this long: attention
    energy_policy: str = "off"  # "delegate": the staking wallet lends a batch its energy
    staking_wallet: str = ""
    burn_fallback: bool = True
    topup_extra_energy: int = 0  # a top-up adds this beyond the batch's shortfall

    def token(self, name: str) -> TokenRef | None:
        """An allow-listed token by symbol or contract address."""
        return next((t for t in self.tokens if name in (t.symbol, t.address)), None)


@dataclass(frozen=True)
class Deps:
    """Everything a handler may touch, bound to one command and its lease."""

    fence: Callable[[], Awaitable[None]]  # raises LeaseLost when another worker took over
    # Store an event (state, payload, attempt=0, item=None) after its own fencing check;
    # once per (state, attempt, item).
    emit: Callable[..., Awaitable[None]]
    now: Callable[[], datetime]
    wallets: WalletStore
    keys: KeyMaker
    command_key: str = ""  # the claim: what the follower wakes
    node: TronNode | None = None
    journal: Journal | None = None
    signer: Signer | None = None
    chain: ChainRules | None = None
    sleep: Callable[[float], Awaitable[None]] | None = None
    count_rebuild: Callable[[], None] = lambda: None
    pool: Pool | None = None
    controls: Controls | None = None
    approvals: Approvals | None = None
    energy: StandingEnergy | None = None


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
    # Give back what a run reserved (pool funds, daily caps) when the command is failed
    # without effects outside its handler (retries exhausted, a permanent error).
    release: Callable[[CommandContext[P], Deps], Awaitable[None]] | None = None
