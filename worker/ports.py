"""Small interfaces between the runtime's parts; each has a real adapter and a twin in tests."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from worker.topology import Topology

__all__ = [
    "ACCOUNT_RESOURCE_KEYS",
    "DELEGATION_KEYS",
    "BlockRef",
    "BroadcastReply",
    "BrokerPort",
    "Delivery",
    "EventSink",
    "SolidBlock",
    "TronNode",
]


class Delivery(Protocol):
    """The part of an AMQP delivery the pipeline uses (aio-pika's IncomingMessage fits)."""

    @property
    def body(self) -> bytes: ...
    @property
    def message_id(self) -> str | None: ...
    @property
    def correlation_id(self) -> str | None: ...
    @property
    def headers(self) -> dict[str, Any]: ...
    @property
    def routing_key(self) -> str | None: ...
    @property
    def content_type(self) -> str | None: ...

    async def ack(self) -> None: ...
    async def nack(self, *, requeue: bool = True) -> None: ...


class EventSink(Protocol):
    """Publishes one event and returns once the broker confirmed it (Broker.publish_event)."""

    def __call__(
        self,
        routing_key: str,
        body: bytes,
        *,
        message_id: str,
        correlation_id: str | None,
        headers: dict[str, Any] | None = None,
    ) -> Awaitable[None]: ...


class BrokerPort(Protocol):
    """What the command path needs of a broker: worker.broker.Broker, and its in-memory
    twin worker.memory_broker.MemoryBroker."""

    @property
    def topology(self) -> Topology: ...

    @property
    def publish_event(self) -> EventSink: ...

    async def send_copy(
        self, delivery: Delivery, *, exchange: str, routing_key: str, headers: dict[str, Any]
    ) -> None:
        """Publish a confirmed copy of a delivery; TransientError when not confirmed."""
        ...


# --- the TRON side -------------------------------------------------------------------------


@dataclass(frozen=True)
class BlockRef:
    """A block as a reference: its number, id (64 hex) and timestamp (ms since the epoch)."""

    number: int
    id: str
    timestamp_ms: int


@dataclass(frozen=True)
class SolidBlock:
    """A solidified block with the receipts of its transactions, both from one endpoint."""

    number: int
    id: str
    parent_id: str
    timestamp_ms: int
    transactions: list[dict[str, Any]]  # java-tron's JSON: txID, raw_data, ret, ...
    receipts: list[dict[str, Any]]  # gettransactioninfobyblocknum's items
    endpoint: str


@dataclass(frozen=True)
class BroadcastReply:
    """What a node said to a broadcast; a node's refusal is a value, not an exception.

    accepted: the node took it (`result: true`) or has seen it (DUP_TRANSACTION_ERROR).
    """

    accepted: bool
    code: str  # "SUCCESS" or java-tron's response code, e.g. "SIGERROR", "SERVER_BUSY"
    message: str  # plain text
    txid: str | None
    endpoint: str


class TronNode(Protocol):
    """The worker's view of TRON nodes (worker.gateway.Gateway: failover, retries, circuit
    breakers). Raises TransientError (NodeUnavailable) when no endpoint answered."""

    async def head(self) -> BlockRef:
        """The head block (/wallet/getnowblock)."""
        ...

    async def solid_head(self) -> BlockRef:
        """The latest solidified block (/walletsolidity/getnowblock)."""
        ...

    async def solid_block(self, number: int) -> SolidBlock | None:
        """Solidified block `number` and its receipts from one endpoint; None when it is past
        that endpoint's solidified head (java-tron answers `{}`)."""
        ...

    async def account(self, address: str) -> dict[str, Any] | None:
        """/wallet/getaccount (visible); None when the account does not exist."""
        ...

    async def chain_parameters(self) -> dict[str, int]:
        """/wallet/getchainparameters as {key: value}."""
        ...

    async def estimate_energy(self, owner: str, contract: str, data_hex: str) -> int:
        """Energy the call `data_hex` (selector + arguments) from `owner` would use:
        /wallet/estimateenergy, or triggerconstantcontract's energy_used where that is off.
        Raises NodeRejected (permanent) when the call would revert or is invalid."""
        ...

    async def constant_call(self, owner: str, contract: str, data_hex: str) -> bytes:
        """What the call returns, run on the node's head state and thrown away
        (/wallet/triggerconstantcontract). Raises NodeRejected when it would revert."""
        ...

    async def energy_available(self, address: str) -> int:
        """EnergyLimit - EnergyUsed of /wallet/getaccountresource (0 if none, never negative)."""
        ...

    async def broadcast_hex(self, transaction_hex: str) -> BroadcastReply:
        """/wallet/broadcasthex of a serialized, signed Transaction."""
        ...

    # Stake 2.0 and votes: reads of the head state, amounts in sun, times in ms. A
    # malformed address that every endpoint refuses is NodeRejected (permanent).

    async def account_resource(self, address: str) -> dict[str, int]:
        """/wallet/getaccountresource: ACCOUNT_RESOURCE_KEYS, each 0 when java-tron omits it
        (all 0 for an account that does not exist)."""
        ...

    async def can_delegate_max_size(self, owner: str, resource: str) -> int:
        """/wallet/getcandelegatedmaxsize for resource "ENERGY" or "BANDWIDTH": the most
        stake `owner` may delegate now (0 below 1 TRX, or no such account)."""
        ...

    async def delegated_resource(self, owner: str, receiver: str) -> list[dict[str, int]]:
        """/wallet/getdelegatedresourcev2: the unlocked record of owner -> receiver, then the
        locked one (each only if not empty), as DELEGATION_KEYS with 0 for what is omitted;
        an unlocked record's expire times are 0."""
        ...

    async def available_unfreeze_count(self, owner: str) -> int:
        """/wallet/getavailableunfreezecount: more UnfreezeBalanceV2 `owner` may start while
        its current ones wait (java-tron allows 32 at once); 0 for no such account."""
        ...

    async def can_withdraw_unfreeze_amount(self, owner: str, timestamp_ms: int) -> int:
        """/wallet/getcanwithdrawunfreezeamount: unfrozen sun whose wait is over at
        `timestamp_ms` (0: the head block's time)."""
        ...

    async def reward(self, address: str) -> int:
        """/wallet/getReward: the voting reward WithdrawBalance would pay now. java-tron
        answers 0, not an error, for a base58 address it cannot decode."""
        ...

    async def witnesses(self) -> list[str]:
        """/wallet/listwitnesses: every witness's base58 address, in the node's order."""
        ...


# getaccountresource's keys the worker reads (AccountResourceMessage in api/api.proto).
ACCOUNT_RESOURCE_KEYS = (
    "freeNetUsed", "freeNetLimit", "NetUsed", "NetLimit", "TotalNetLimit", "TotalNetWeight",
    "tronPowerUsed", "tronPowerLimit", "EnergyUsed", "EnergyLimit", "TotalEnergyLimit",
    "TotalEnergyWeight",
)  # fmt: skip
# A DelegatedResource record's amounts and lock ends (core/Tron.proto DelegatedResource).
DELEGATION_KEYS = (
    "frozen_balance_for_bandwidth", "frozen_balance_for_energy",
    "expire_time_for_bandwidth", "expire_time_for_energy",
)  # fmt: skip
