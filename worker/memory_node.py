"""The in-memory twin of worker.gateway.Gateway (a TRON node), for unit tests.

A chain of blocks the test advances by hand: `produce()` makes the next block
from what was broadcast, `solidify()` moves the solidified head. Broadcasts can
be dropped (accepted, never included), refused with a java-tron code, or
raise NodeUnavailable; every call is counted by method. It checks nothing a
real node would (signatures, balances): devnet does that in integration tests.
The exception is Stake 2.0 and votes (`stake`, worker.memory_stake): a stake
contract is refused at broadcast as java-tron would refuse it, and its effect
(balance, frozen and unfrozen TRX, delegations, votes, rewards) is applied when
a block includes it, so the stake reads and `account()` show it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from worker import abi
from worker.abi import TRANSFER_TOPIC
from worker.errors import NodeUnavailable
from worker.memory_stake import STAKE_CONTRACTS, StakeLedger, StakeRefused
from worker.ports import BlockRef, BroadcastReply, SolidBlock
from worker.txbuild import address_to_base58, decode_raw

__all__ = ["MemoryNode"]

BLOCK_MS = 3000


def _fields(buf: bytes) -> dict[int, bytes]:
    """Length-delimited fields of a protobuf message (enough to find raw_data)."""
    found: dict[int, bytes] = {}
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        if key & 7 != 2:
            raise ValueError("only length-delimited fields are expected here")
        size, pos = _varint(buf, pos)
        found.setdefault(key >> 3, buf[pos : pos + size])
        pos += size
    return found


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


@dataclass
class _Block:
    number: int
    id: str
    parent_id: str
    timestamp_ms: int
    transactions: list[dict[str, Any]]
    receipts: list[dict[str, Any]]


@dataclass
class MemoryNode:
    genesis_ms: int = 1_800_000_000_000
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)  # base58 -> account
    drop_broadcasts: bool = False  # accepted, never included
    refuse_with: str | None = None  # a java-tron code for every broadcast
    unavailable: bool = False  # every call raises NodeUnavailable
    fail_next: str | None = None  # "contractRet" of the next included transaction
    token_balances: dict[str, int] = field(default_factory=dict)  # base58 holder -> units
    blacklisted: set[str] = field(default_factory=set)  # the token's isBlackListed holders
    energy: dict[str, int] = field(default_factory=dict)  # base58 -> energy available
    energy_estimate: int = 64_000
    chain_fees: dict[str, int] = field(
        default_factory=lambda: {
            "getCreateNewAccountFeeInSystemContract": 1_000_000,
            "getEnergyFee": 100,
            "getMaxFeeLimit": 15_000_000_000,
            "getMemoFee": 1_000_000,
        }
    )
    omit_logs: bool = False  # a SUCCESS receipt without the token's Transfer log
    # Stake 2.0: set stake.rewards[address], stake.witnesses, stake.unfreeze_delay_ms.
    stake: StakeLedger = field(default_factory=StakeLedger)
    calls: dict[str, int] = field(default_factory=dict)
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)  # txid -> transaction
    blocks: list[_Block] = field(default_factory=list)
    solid_number: int = 0

    def __post_init__(self) -> None:
        self.blocks.append(_Block(0, self._id(0, "genesis"), "0" * 64, self.genesis_ms, [], []))

    # --- the test's handles -------------------------------------------------------------

    def produce(self, count: int = 1) -> None:
        """Make `count` blocks; the first holds everything broadcast and not dropped."""
        for _ in range(count):
            parent = self.blocks[-1]
            number = parent.number + 1
            timestamp_ms = parent.timestamp_ms + BLOCK_MS
            transactions, receipts = [], []
            for tx in self.pending.values():
                effects = self._stake_effects(tx, timestamp_ms)
                if effects is None:
                    continue  # no longer valid: java-tron leaves it out of the block
                transactions.append(tx)
                receipts.append(self._receipt(tx, number) | effects)
            self.pending.clear()
            block_id = self._id(number, parent.id)
            self.blocks.append(
                _Block(number, block_id, parent.id, timestamp_ms, transactions, receipts)
            )

    def solidify(self) -> None:
        self.solid_number = self.blocks[-1].number

    def included(self) -> list[str]:
        return [tx["txID"] for block in self.blocks for tx in block.transactions]

    # --- TronNode -----------------------------------------------------------------------

    async def head(self) -> BlockRef:
        self._count("head")
        return self._ref(self.blocks[-1])

    async def solid_head(self) -> BlockRef:
        self._count("solid_head")
        return self._ref(self.blocks[self.solid_number])

    async def solid_block(self, number: int) -> SolidBlock | None:
        self._count("solid_block")
        if number > self.solid_number:
            return None
        block = self.blocks[number]
        return SolidBlock(
            block.number,
            block.id,
            block.parent_id,
            block.timestamp_ms,
            list(block.transactions),
            list(block.receipts),
            "memory",
        )

    async def account(self, address: str) -> dict[str, Any] | None:
        self._count("account")
        account = self.accounts.get(address)
        staked = self.stake.account_fields(address)
        if account is None or not staked:
            return account
        resource = account.get("account_resource", {}) | staked.pop("account_resource", {})
        return account | staked | ({"account_resource": resource} if resource else {})

    async def chain_parameters(self) -> dict[str, int]:
        self._count("chain_parameters")
        return dict(self.chain_fees)

    async def estimate_energy(self, owner: str, contract: str, data_hex: str) -> int:
        self._count("estimate_energy")
        return self.energy_estimate

    async def constant_call(self, owner: str, contract: str, data_hex: str) -> bytes:
        self._count("constant_call")
        holder = address_to_base58(b"\x41" + bytes.fromhex(data_hex[-40:]))
        if data_hex.startswith(abi.IS_BLACKLISTED_SELECTOR):
            return int(holder in self.blacklisted).to_bytes(32, "big")
        return self.token_balances.get(holder, 0).to_bytes(32, "big")

    async def energy_available(self, address: str) -> int:
        """`energy[address]` when the test set it, else what the stake gives."""
        self._count("energy_available")
        if address in self.energy:
            return self.energy[address]
        resource = self.stake.account_resource(self.accounts, address)
        return max(0, resource["EnergyLimit"] - resource["EnergyUsed"])

    async def account_resource(self, address: str) -> dict[str, int]:
        """What the stake gives; `energy[address]`, when a test set it, is the energy left
        (as energy_available answers), and getaccount's `free_net_usage` the free used."""
        self._count("account_resource")
        resource = self.stake.account_resource(self.accounts, address)
        if address in self.energy:
            resource = {**resource, "EnergyLimit": self.energy[address], "EnergyUsed": 0}
        used = int((self.accounts.get(address) or {}).get("free_net_usage", 0))
        return {**resource, "freeNetUsed": used}

    async def can_delegate_max_size(self, owner: str, resource: str) -> int:
        self._count("can_delegate_max_size")
        if resource not in ("ENERGY", "BANDWIDTH"):
            raise ValueError(f"resource must be ENERGY or BANDWIDTH, not {resource!r}")
        return self.stake.can_delegate_max_size(owner, resource)

    async def delegated_resource(self, owner: str, receiver: str) -> list[dict[str, int]]:
        self._count("delegated_resource")
        return self.stake.delegated_resource(owner, receiver)

    async def available_unfreeze_count(self, owner: str) -> int:
        self._count("available_unfreeze_count")
        return self.stake.available_unfreeze_count(self.accounts, owner, self._now_ms())

    async def can_withdraw_unfreeze_amount(self, owner: str, timestamp_ms: int) -> int:
        self._count("can_withdraw_unfreeze_amount")
        if timestamp_ms < 0 or owner not in self.accounts:
            return 0
        return self.stake.can_withdraw_unfreeze_amount(owner, timestamp_ms or self._now_ms())

    async def reward(self, address: str) -> int:
        self._count("reward")
        return self.stake.rewards.get(address, 0)

    async def witnesses(self) -> list[str]:
        self._count("witnesses")
        return list(self.stake.witnesses)

    async def broadcast_hex(self, transaction_hex: str) -> BroadcastReply:
        self._count("broadcast_hex")
        raw = _fields(bytes.fromhex(transaction_hex))[1]
        txid = hashlib.sha256(raw).hexdigest()
        if self.refuse_with is not None:
            return BroadcastReply(False, self.refuse_with, "refused", txid, "memory")
        if txid in self.pending or txid in self.included():
            return BroadcastReply(True, "DUP_TRANSACTION_ERROR", "dup", txid, "memory")
        refusal = self._stake_refusal(raw, self._now_ms())
        if refusal is not None:
            message = f"Contract validate error : {refusal}"
            return BroadcastReply(False, "CONTRACT_VALIDATE_ERROR", message, txid, "memory")
        if not self.drop_broadcasts:
            ret = self.fail_next or "SUCCESS"
            self.fail_next = None
            self.pending[txid] = {
                "txID": txid,
                "raw_data_hex": raw.hex(),
                "ret": [{"contractRet": ret}],
            }
        return BroadcastReply(True, "SUCCESS", "", txid, "memory")

    def _receipt(self, transaction: dict[str, Any], number: int) -> dict[str, Any]:
        receipt: dict[str, Any] = {
            "id": transaction["txID"],
            "fee": 1000,
            "blockNumber": number,
            "receipt": {"net_usage": 0},
        }
        raw = decode_raw(bytes.fromhex(transaction["raw_data_hex"]))
        ok = transaction["ret"][0]["contractRet"] == "SUCCESS"
        if raw.contract.type == "TriggerSmartContract" and ok and not self.omit_logs:
            fields = raw.contract.fields
            data = fields["data"].hex()
            receipt["receipt"]["energy_usage_total"] = self.energy_estimate
            receipt["log"] = [
                {
                    "address": fields["contract_address"][1:].hex(),
                    "topics": [
                        TRANSFER_TOPIC,
                        fields["owner_address"][1:].hex().rjust(64, "0"),
                        data[8:72],
                    ],
                    "data": data[72:136],
                }
            ]
        return receipt

    def _stake_refusal(self, raw: bytes, now_ms: int) -> str | None:
        """Why java-tron would refuse a stake transaction now (None: it would not, or it
        is no stake transaction, or not one the worker's decoder reads)."""
        try:
            contract = decode_raw(raw).contract
        except ValueError:
            return None
        if contract.type not in STAKE_CONTRACTS:
            return None
        try:
            self.stake.check(contract, self.accounts, now_ms)
        except StakeRefused as refused:
            return str(refused)
        return None

    def _stake_effects(self, transaction: dict[str, Any], now_ms: int) -> dict[str, Any] | None:
        """Apply an included stake transaction; its receipt's extra fields, or None when it
        is no longer valid. A failed transaction (fail_next) has no effect."""
        raw = bytes.fromhex(transaction["raw_data_hex"])
        contract = decode_raw(raw).contract
        if (
            contract.type not in STAKE_CONTRACTS
            or transaction["ret"][0]["contractRet"] != "SUCCESS"
        ):
            return {}
        if self._stake_refusal(raw, now_ms) is not None:
            return None
        return self.stake.execute(contract, self.accounts, now_ms)

    def _now_ms(self) -> int:
        return self.blocks[-1].timestamp_ms

    def _count(self, method: str) -> None:
        if self.unavailable:
            raise NodeUnavailable(f"{method}: no endpoint answered")
        self.calls[method] = self.calls.get(method, 0) + 1

    @staticmethod
    def _ref(block: _Block) -> BlockRef:
        return BlockRef(block.number, block.id, block.timestamp_ms)

    @staticmethod
    def _id(number: int, salt: str) -> str:
        digest = hashlib.sha256(f"{number}:{salt}".encode()).hexdigest()
        return f"{number:016x}{digest[16:]}"
