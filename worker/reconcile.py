"""Reconciliation: every outflow from a managed wallet is explained by the journal, or that
wallet is paused (DESIGN "Money controls"); and a periodic check of hot wallets' balances.

Outflows. The chain follower hands every solidified block to `Reconciler.check_block`
once, before it decides any fate in it. A transaction is *explained* when its txid is
in flight or claimed by a journaled attempt (`txids/<txid>`, read by `_id`). Found
unexplained:
- a transaction owned by a managed wallet, whatever its contract (transfers, TRC20
  transfer/approve, permission updates, delegations...): finding `<txid>`;
- a TRC20 Transfer log whose `from` is a managed wallet other than the transaction's
  owner (transferFrom by someone holding an approval): finding `<txid>:<log index>`.
Each finding is decided by an insert, `outflows/<finding>`; only the winner counts
`tron_worker_unexplained_outflow_total`. Winner or redo (a crash, a follower takeover),
it then makes sure of the rest, in order: a pause link on `wallet:<address>` (by
"reconciliation"; a redo finds it named in the record, or as the head link naming this
finding), the pause link's id in the record, and the `wallet.needs_attention` event
(a deterministic id, so a redo stores the same one). Nothing more is signed from the
wallet until an operator resumes it.

Balance drift. `BalanceCheck` runs every `controls.balance_check_interval_s` in each
process, but judges only in the one whose follower tallied the blocks up to the
persisted cursor (elsewhere it clears its gauge). While following, the reconciler
keeps per managed wallet, over the blocks it processed:
    in_sun   TRX TransferContract amounts into the wallet that succeeded;
    out_sun  for each journaled (explained) transaction owned by the wallet, the
             receipt's fee plus, when it succeeded, the TRX it sent (TransferContract
             amount, TriggerSmartContract call_value).
The first check of a hot wallet stores a baseline (the node's balance and these sums);
every later one sets
    drift_sun = balance - (baseline balance + in_sun since - out_sun since).
So drift is the TRX that moved with no journaled attempt and no incoming transfer to
account for it, since the baseline: an unexplained outflow (its amount and fee: the
outflow check catches it too), a contract's internal transfer, a reward, devnet's
faucet. It is kept until the follower changes hands or the process restarts (then a new
baseline is taken). The balance is the node's head view and the sums stop at the
solidified cursor, so a wallet is judged only when quiet: none of its attempts in flight
after its balance was read, and its sums unchanged during the check; otherwise it waits
for the next round. Others' transactions not yet solidified (an inflow, an outflow) show
as drift until the follower passes them.

Wallet resources. The same round, in every process (node readings, not the journal's
predictions), reads each hot and staking wallet once (its account, and its energy) and
sets its balance, energy and bandwidth gauges; a wallet that is no longer there loses
its series. Nothing polls per wallet besides this round.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from schemas.events import Event, NeedsAttentionPayload, make_event
from schemas.types import MAX_INT64
from worker.abi import TRANSFER_TOPIC
from worker.errors import TransientError
from worker.journal import Journal
from worker.loops import Backoff
from worker.metrics import Metrics
from worker.outbox import Outbox, event_doc
from worker.ports import SolidBlock, TronNode
from worker.store import CommandStore, Doc
from worker.switches import Switches, scope_of
from worker.txbuild import address_from_base58, address_to_base58, decode_raw

__all__ = [
    "BalanceCheck",
    "Finding",
    "Flows",
    "Reconciler",
    "bandwidth_available",
    "owner_hex",
    "read_contract",
]

log = structlog.get_logger()

OUTFLOW_CODE = "UNEXPLAINED_OUTFLOW"
# The cursor this few blocks past this process's sums: it is still following, mid-block
# (skip the round); further: another process follows (forget the baselines).
_MID_BLOCK_LAG = 10
PAUSED_BY = "reconciliation"
_CALLS = {"a9059cbb": "transfer", "095ea7b3": "approve"}  # selector -> name; amount is arg 2
_AMOUNT_FIELDS = ("amount", "frozen_balance", "balance", "unfreeze_balance")
_RESOURCE_PURPOSES = ("hot", "staking")  # wallets whose resources are shown as gauges


def read_contract(transaction: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(contract type, parameter value) of a block's transaction, addresses as hex `41…`.

    From java-tron's JSON `raw_data` (every contract type); where only `raw_data_hex`
    is given (the in-memory node), from the bytes, for the types worker/txbuild.py knows.
    """
    raw = transaction.get("raw_data")
    try:
        if isinstance(raw, dict):
            contract = raw["contract"][0]
            kind, value = str(contract["type"]), dict(contract["parameter"]["value"])
        elif "raw_data_hex" in transaction:
            decoded = decode_raw(bytes.fromhex(transaction["raw_data_hex"])).contract
            kind = decoded.type
            value = {k: v.hex() if isinstance(v, bytes) else v for k, v in decoded.fields.items()}
        else:
            return None
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return kind, {k: _hex(v) if k.endswith("_address") else v for k, v in value.items()}


def owner_hex(transaction: dict[str, Any]) -> str | None:
    """The transaction's owner as java-tron's hex (`41…`), None when unreadable."""
    found = read_contract(transaction)
    owner = found[1].get("owner_address") if found else None
    return owner if isinstance(owner, str) else None


def _hex(address: Any) -> str:
    text = str(address)
    if text.startswith("T"):
        try:
            return address_from_base58(text).hex()
        except ValueError:
            return text
    return text.lower()


def _base58(address_hex: str) -> str:
    try:
        return address_to_base58(bytes.fromhex(address_hex))
    except ValueError:
        return address_hex


def _drained(
    receipt: dict[str, Any], managed: set[str], owner: Any
) -> list[tuple[int, str, str, int]]:
    """Transfer logs from a managed wallet other than the owner (whose own transaction is
    a finding already): (log index, from, token, amount)."""
    found = []
    for index, entry in enumerate(receipt.get("log", [])):
        transfer = _transfer_log(entry)
        if transfer is not None and transfer[0] in managed and transfer[0] != owner:
            found.append((index, *transfer))
    return found


def _transfer_log(entry: dict[str, Any]) -> tuple[str, str, int] | None:
    """A TRC20 Transfer log as (from as hex `41…`, token contract as 40 hex, amount)."""
    topics = [str(topic).lower().rjust(64, "0") for topic in entry.get("topics", [])]
    if len(topics) != 3 or topics[0] != TRANSFER_TOPIC:
        return None
    try:
        amount = int(str(entry.get("data") or "0"), 16)
    except ValueError:
        return None
    return "41" + topics[1][-40:], str(entry.get("address", "")).lower()[-40:], amount


@dataclass(frozen=True)
class Finding:
    """One unexplained outflow: `id` is its `outflows` `_id`."""

    id: str
    txid: str
    wallet: str  # base58
    asset: str  # "TRX", a token symbol, a contract's base58 address, or "TRC10:<id>"
    amount: int  # sun or base units (capped at int64: an approve may grant 2**256-1)
    what: str  # readable: what the transaction did


@dataclass(frozen=True)
class Flows:
    """TRX moved by one managed wallet in the blocks this process's follower processed."""

    in_sun: int = 0  # TransferContract amounts into it that succeeded
    out_sun: int = 0  # its journaled transactions: fee, plus the TRX sent when they succeeded

    def plus(self, in_sun: int = 0, out_sun: int = 0) -> Flows:
        return Flows(self.in_sun + in_sun, self.out_sun + out_sun)


class Reconciler:
    """What the chain follower calls per block: findings, and the sums the balance check uses."""

    def __init__(
        self,
        store: CommandStore,
        switches: Switches,
        outbox: Outbox,
        metrics: Metrics,
        *,
        tokens: Mapping[str, str],
        clock: Callable[[], datetime],
    ) -> None:
        """tokens: allow-listed contract (base58) -> symbol, to name an asset."""
        self._store = store
        self._switches = switches
        self._outbox = outbox
        self._metrics = metrics
        self._tokens = {address_from_base58(a)[1:].hex(): s for a, s in tokens.items()}
        self._clock = clock
        self._flows: dict[str, Flows] = {}  # wallet hex -> sums since `epoch` began
        self.through: int | None = None  # the last block summed
        self.epoch = 0  # a new one whenever the blocks summed stop being contiguous

    def flows(self, wallet_hex: str) -> Flows:
        return self._flows.get(wallet_hex, Flows())

    async def check_block(
        self, block: SolidBlock, managed: set[str], in_flight: Collection[str]
    ) -> list[Finding]:
        """Sum the block's flows, then handle every unexplained outflow in it (redo-safe)."""
        receipts = {receipt.get("id"): receipt for receipt in block.receipts}
        findings: list[Finding] = []
        flows: dict[str, Flows] = {}
        for transaction in block.transactions:
            txid = str(transaction.get("txID", ""))
            kind, value = read_contract(transaction) or ("", {})
            receipt = receipts.get(txid, {})
            ok = (transaction.get("ret") or [{}])[0].get("contractRet", "SUCCESS") == "SUCCESS"
            owner = value.get("owner_address")
            owned = owner in managed
            to = value.get("to_address")
            if kind == "TransferContract" and to in managed and ok:
                flows[to] = flows.get(to, Flows()).plus(in_sun=_int(value.get("amount")))
            drained = _drained(receipt, managed, owner)
            if not owned and not drained:
                continue
            if txid in in_flight or await self._store.get("txids", txid) is not None:
                if owned:  # journaled: what the balance check expects to leave
                    field = "amount" if kind == "TransferContract" else "call_value"
                    sent = _int(value.get(field))
                    out_sun = _int(receipt.get("fee")) + (sent if ok else 0)
                    flows[str(owner)] = flows.get(str(owner), Flows()).plus(out_sun=out_sun)
                continue
            if owned:
                findings.append(self._transaction_finding(txid, kind, value, receipt))
            for index, source, token, amount in drained:
                asset = self._asset(token)
                what = f"a {asset} Transfer from it (log {index})"
                wallet = _base58(source)
                capped = min(amount, MAX_INT64)
                findings.append(Finding(f"{txid}:{index}", txid, wallet, asset, capped, what))
        self._sum(block.number, flows)
        for finding in findings:
            await self._handle(finding, block)
        return findings

    def _sum(self, number: int, flows: dict[str, Flows]) -> None:
        """Add a block's flows once: a redo of a block already summed adds nothing; a gap
        (another process followed meanwhile) starts the sums, and the baselines, again."""
        if self.through is not None and number <= self.through:
            return
        if self.through is not None and number != self.through + 1:
            self._flows, self.epoch = {}, self.epoch + 1
        for wallet, moved in flows.items():
            self._flows[wallet] = self.flows(wallet).plus(moved.in_sun, moved.out_sun)
        self.through = number

    def _asset(self, contract_hex: str) -> str:
        return self._tokens.get(contract_hex[-40:]) or _base58("41" + contract_hex[-40:])

    def _transaction_finding(
        self, txid: str, kind: str, value: dict[str, Any], receipt: dict[str, Any]
    ) -> Finding:
        owner = str(value["owner_address"])
        asset, amount, what = "TRX", 0, kind or "an unreadable transaction"
        if kind == "TransferContract":
            amount = _int(value.get("amount"))
            what = f"a TRX transfer to {_base58(str(value.get('to_address', '')))}"
        elif kind == "TriggerSmartContract":
            asset = self._asset(str(value.get("contract_address", "")))
            data = str(value.get("data", "")).lower()
            logs = [_transfer_log(entry) for entry in receipt.get("log", [])]
            moved = [found[2] for found in logs if found and found[0] == owner]
            if data[:8] in _CALLS and len(data) >= 136:
                amount, what = _int(data[72:136], 16), f"{_CALLS[data[:8]]} on {asset}"
            elif moved:
                amount, what = moved[0], f"a contract call moving {asset}"
            else:
                what = f"a call to contract {asset}"
        elif kind == "TransferAssetContract":
            asset = f"TRC10:{_text(str(value.get('asset_name', '')))}"
            amount = _int(value.get("amount"))
        else:  # the sun it moves or locks, if it names any
            amounts = [int(value[f]) for f in _AMOUNT_FIELDS if isinstance(value.get(f), int)]
            amount = amounts[0] if amounts else 0
        return Finding(txid, txid, _base58(owner), asset, min(amount, MAX_INT64), what)

    async def _handle(self, finding: Finding, block: SolidBlock) -> None:
        """Record (the insert decides who counts), pause, note the pause, store the event;
        a redo finds the record and finishes what is missing."""
        record, first = await self._record(finding, block)
        pause = record.get("pause") or await self._pause(finding)
        if record.get("pause") is None:
            await self._store.set_fields("outflows", finding.id, {"pause": pause})
        stored = await self._outbox.add(
            event_doc(_event(finding, block, pause), correlation_id=None, created_at=self._clock())
        )
        await self._outbox.flush([stored])  # now, not at the relay's next round
        bound = log.bind(wallet=finding.wallet, txid=finding.txid, amount=finding.amount)
        if first:
            bound.error("unexplained outflow: wallet paused", asset=finding.asset, pause=pause)
        else:
            bound.warning("unexplained outflow handled again (a redo)", pause=pause)

    async def _record(self, finding: Finding, block: SolidBlock) -> tuple[Doc, bool]:
        """The finding's `outflows` record, and whether this insert made it (and counted)."""
        record: Doc = {
            "_id": finding.id,
            "txid": finding.txid,
            "wallet": finding.wallet,
            "asset": finding.asset,
            "amount": finding.amount,
            "what": finding.what,
            "block_number": block.number,
            "block_id": block.id,
            "block_time_ms": block.timestamp_ms,
            "found_at": self._clock(),
            "pause": None,
        }
        if await self._store.insert("outflows", record):
            self._metrics.unexplained_outflow_total.labels(finding.asset).inc()
            return record, True
        stored = await self._store.get("outflows", finding.id)
        if stored is None:
            raise TransientError(f"outflow {finding.id} vanished after its insert")
        return stored, False

    async def _pause(self, finding: Finding) -> str:
        """Pause the wallet for this finding, unless its head link already does (a redo)."""
        scope = scope_of("wallet", finding.wallet)
        head = await self._switches.state(scope)
        if head.link is not None and head.paused:
            link = await self._store.get("switches", head.link)
            if link is not None and (link.get("details") or {}).get("outflow") == finding.id:
                return head.link
        reason = (
            f"unexplained outflow: transaction {finding.txid} ({finding.what}, "
            f"{finding.amount} {finding.asset}) was not signed by this worker"
        )
        details = {"outflow": finding.id, "txid": finding.txid}
        link = await self._switches.pause(scope, reason=reason, by=PAUSED_BY, details=details)
        return str(link["_id"])


def _event(finding: Finding, block: SolidBlock, pause: str) -> Event:
    """`wallet.needs_attention`, its id from the finding: a redo stores the same event."""
    unit = "sun" if finding.asset == "TRX" else f"base units of {finding.asset}"
    message = (
        f"{finding.wallet}: {finding.what}, {finding.amount} {unit}, in transaction "
        f"{finding.txid} (block {block.number}), which no journaled attempt explains; "
        f"the wallet is paused ({pause}) until an operator resumes it"
    )
    return make_event(
        family="wallet",
        state="needs_attention",
        payload=NeedsAttentionPayload(
            code=OUTFLOW_CODE,
            message=message,
            wallet=finding.wallet,
            txid=finding.txid,
            asset=finding.asset,
            amount=finding.amount,
            pause=pause,
        ),
        command_id=None,
        idempotency_key=None,
        occurred_at=datetime.fromtimestamp(block.timestamp_ms / 1000, UTC),
        command_ref=f"outflow:{finding.id}",
    )


def bandwidth_available(resource: Mapping[str, Any]) -> int:
    """Bandwidth points left, from getaccountresource's figures: the free allowance left
    plus the staked one left, each never negative (after an unfreeze NetUsed can exceed
    NetLimit; that must not eat into the free allowance)."""
    free = _int(resource.get("freeNetLimit")) - _int(resource.get("freeNetUsed"))
    staked = _int(resource.get("NetLimit")) - _int(resource.get("NetUsed"))
    return max(0, free) + max(0, staked)


def _int(value: Any, base: int = 10) -> int:
    """A number from a node's JSON (or hex, base 16); 0 for what is not one: reconciliation
    must never stop the follower over a field it cannot read."""
    try:
        return int(value, base) if isinstance(value, str) else int(value or 0)
    except (TypeError, ValueError):
        return 0


def _text(hex_or_text: str) -> str:
    """A TRC10 asset name: java-tron's JSON gives its bytes in hex."""
    try:
        return bytes.fromhex(hex_or_text).decode(errors="replace") or hex_or_text
    except ValueError:
        return hex_or_text


@dataclass(frozen=True)
class _Baseline:
    epoch: int
    balance_sun: int
    flows: Flows


class BalanceCheck:
    """Each hot and staking wallet's resources, read once a round and shown in every process;
    each hot wallet's node balance against the journal's prediction (module docstring)."""

    def __init__(
        self,
        store: CommandStore,
        node: TronNode,
        journal: Journal,
        reconciler: Reconciler,
        metrics: Metrics,
        *,
        interval_s: float,
    ) -> None:
        self._store = store
        self._node = node
        self._journal = journal
        self._reconciler = reconciler
        self._metrics = metrics
        self._interval_s = interval_s
        self._baselines: dict[str, _Baseline] = {}
        self._reported: dict[str, int] = {}  # the drift last set, to log only a change
        self._owners: dict[str, str | None] = {}  # attempt id -> owner, for those in flight
        self._shown: set[str] = set()  # wallets with resource series
        self._free_net_limit: int | None = None  # getFreeNetLimit, read once a round

    async def run(self, stop: asyncio.Event) -> None:
        """Check until stop; any failure is logged, counted and backed off from."""
        backoff = Backoff(self._interval_s, max_s=max(60.0, self._interval_s))
        while not stop.is_set():
            try:
                await self.check_once()
                backoff.reset()
            except Exception as exc:  # a loop that dies stops the worker: log, count, go on
                self._metrics.background_errors_total.labels("balance_check").inc()
                log.warning("balance check failed", error=f"{type(exc).__name__}: {exc}"[:300])
                backoff.failed()
            await backoff.wait(stop)

    async def check_once(self) -> dict[str, int]:
        """One round: each hot and staking wallet read once, its resource gauges set (in
        every process: node readings); the drift (sun) of each hot wallet judged now, by
        address (only where this process follows the chain)."""
        judging = await self._judging()
        sums = self._reconciler
        epoch = sums.epoch
        wallets = await self._wallets()
        self._free_net_limit = None
        readings = []
        for wallet, purpose in wallets.items():
            wallet_hex = address_from_base58(wallet).hex()
            before = sums.flows(wallet_hex)
            account = await self._node.account(wallet)
            balance_sun = int((account or {}).get("balance", 0))
            await self._show(wallet, account, balance_sun)
            if purpose == "hot":
                readings.append((wallet, wallet_hex, before, balance_sun))
        self._forget(set(wallets))
        if not judging:
            return {}
        busy = await self._busy_wallets()  # after the balances: see the module docstring
        drifts: dict[str, int] = {}
        for wallet, wallet_hex, before, balance_sun in readings:
            if wallet in busy or sums.flows(wallet_hex) != before or sums.epoch != epoch:
                continue  # its own transactions may be counted on one side only: next round
            drifts[wallet] = self._judge(wallet, epoch, before, balance_sun)
        return drifts

    async def _judging(self) -> bool:
        """Whether this process judges drift this round: its follower summed the blocks up
        to the persisted cursor."""
        sums = self._reconciler
        cursor = await self._journal.cursor()
        if cursor is not None and sums.through is not None and cursor["number"] != sums.through:
            if cursor["number"] <= sums.through + _MID_BLOCK_LAG:
                return False  # this process is mid-block: judge next round, baselines kept
        if sums.through is None or cursor is None or cursor["number"] != sums.through:
            # Another process follows the chain: its sums are not this one's to judge with.
            self._baselines.clear()
            self._reported.clear()
            self._metrics.wallet_balance_drift_sun.clear()
            return False
        return True

    def _judge(self, wallet: str, epoch: int, flows: Flows, balance_sun: int) -> int:
        base = self._baselines.get(wallet)
        if base is None or base.epoch != epoch:
            self._baselines[wallet] = _Baseline(epoch, balance_sun, flows)
            drift_sun = 0
        else:
            in_sun = flows.in_sun - base.flows.in_sun
            out_sun = flows.out_sun - base.flows.out_sun
            drift_sun = balance_sun - (base.balance_sun + in_sun - out_sun)
        if drift_sun and drift_sun != self._reported.get(wallet):
            log.warning(
                "hot wallet balance drifts from the journal",
                wallet=wallet,
                drift_sun=drift_sun,
                balance_sun=balance_sun,
            )
        self._reported[wallet] = drift_sun
        self._metrics.wallet_balance_drift_sun.labels(wallet).set(drift_sun)
        return drift_sun

    async def _wallets(self) -> dict[str, str]:
        """Hot and staking wallets: address -> purpose (a paged scan of `wallets`, once a
        round)."""
        found: dict[str, str] = {}
        after: str | None = None
        while page := await self._store.scan("wallets", 500, after=after):
            for doc in page:
                if doc.get("purpose") in _RESOURCE_PURPOSES:
                    found[doc["address"]] = doc["purpose"]
            after = page[-1]["_id"]
        return found

    async def _show(self, wallet: str, account: Doc | None, balance_sun: int) -> None:
        """Set the wallet's resource gauges from this round's readings."""
        energy, bandwidth = await self._resources(wallet, account)
        self._metrics.wallet_balance_sun.labels(wallet).set(balance_sun)
        self._metrics.wallet_energy_available.labels(wallet).set(energy)
        self._metrics.wallet_bandwidth_available.labels(wallet).set(bandwidth)
        self._shown.add(wallet)

    async def _resources(self, wallet: str, account: Doc | None) -> tuple[int, int]:
        """(energy, bandwidth) the wallet can spend now, from one getaccountresource per
        wallet (none for an account not on chain): EnergyLimit - EnergyUsed, and the free
        plus the staked bandwidth left (`bandwidth_available`)."""
        if account is None:
            return 0, 0
        resource = await self._node.account_resource(wallet)
        energy = max(0, resource.get("EnergyLimit", 0) - resource.get("EnergyUsed", 0))
        return energy, bandwidth_available(resource)

    def _forget(self, present: set[str]) -> None:
        """Remove the resource series of wallets no longer hot or staking (gone)."""
        for wallet in self._shown - present:
            self._metrics.wallet_balance_sun.remove(wallet)
            self._metrics.wallet_energy_available.remove(wallet)
            self._metrics.wallet_bandwidth_available.remove(wallet)
        self._shown &= present

    async def _busy_wallets(self) -> set[str]:
        """Owners of the attempts in flight (each attempt's owner read once, by `_id`)."""
        owners: dict[str, str | None] = {}
        for doc in await self._journal.inflight():
            attempt = doc["attempt"]
            if attempt in self._owners:
                owners[attempt] = self._owners[attempt]
            else:
                journaled = await self._store.get("tx_attempts", attempt)
                owners[attempt] = None if journaled is None else journaled.get("owner")
        self._owners = owners
        return {owner for owner in owners.values() if owner is not None}
