"""The audit of a chaos run, from outside the worker: devnet's ledger (every block and
receipt), the events an independent subscriber heard, and the commands that were sent.

    commands        each sent command has exactly one terminal event (by event_id: a
                    re-published copy of the same event is not a second one)
    money items     each transfer and payout line pays a fresh address: the ledger's
                    successful payments to it must be 1 when its events say confirmed
                    and 0 otherwise; 2 or more is a double spend
    balances        each managed wallet: what was funded minus what the events say
                    left it (amounts confirmed, fees reported, TRX frozen) equals
                    devnet's balance, to the sun (and to the token base unit)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tronpy.keys import to_base58check_address

from tests.chaos.workload import USDT, Command, Heard, terminal

__all__ = ["Audit", "Ledger", "audit", "read_ledger"]

_TRANSFER_SELECTOR = "a9059cbb"


@dataclass
class Payment:
    owner: str
    to: str
    asset: str  # "TRX" or "USDT"
    amount: int
    txid: str
    success: bool


@dataclass
class Ledger:
    payments: list[Payment] = field(default_factory=list)
    transactions: int = 0
    blocks: int = 0


async def read_ledger(devnet: Any, owners: set[str]) -> Ledger:
    """Every transaction of every block up to the head; payments by `owners` kept."""
    head = (await devnet("/wallet/getnowblock", {}))["block_header"]["raw_data"]["number"]
    ledger = Ledger(blocks=head)
    for number in range(1, head + 1):
        block = await devnet("/wallet/getblockbynum", {"num": number, "visible": True})
        for tx in block.get("transactions", []):
            ledger.transactions += 1
            payment = _payment(tx)
            if payment is not None and payment.owner in owners:
                ledger.payments.append(payment)
    return ledger


def _payment(tx: dict[str, Any]) -> Payment | None:
    contract = tx["raw_data"]["contract"][0]
    value = contract["parameter"]["value"]
    success = (tx.get("ret") or [{}])[0].get("contractRet", "SUCCESS") == "SUCCESS"
    owner = _base58(value.get("owner_address", ""))
    if contract["type"] == "TransferContract":
        return Payment(owner, _base58(value["to_address"]), "TRX", int(value["amount"]),
                       tx["txID"], success)  # fmt: skip
    if contract["type"] == "TriggerSmartContract" and _base58(value["contract_address"]) == USDT:
        data = value.get("data", "")
        if data.startswith(_TRANSFER_SELECTOR) and len(data) >= 8 + 128:
            to = _base58("41" + data[8 + 24 : 8 + 64])
            amount = int(data[8 + 64 : 8 + 128], 16)
            return Payment(owner, to, "USDT", amount, tx["txID"], success)
    return None


def _base58(address: str) -> str:
    if not address or address.startswith("T"):
        return address
    return str(to_base58check_address(address))


@dataclass
class Audit:
    sent: int = 0  # distinct commands
    publishes: int = 0  # including duplicates
    exactly_one: int = 0
    missing: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    attention: list[str] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    event_copies: int = 0  # deliveries of an event_id already heard (at-least-once)
    items: int = 0  # money items sent
    executed: int = 0  # confirmed by their events
    executed_once_on_chain: int = 0
    confirmed_not_on_chain: list[str] = field(default_factory=list)
    paid_not_confirmed: list[str] = field(default_factory=list)
    double_spends: list[str] = field(default_factory=list)
    balances: list[tuple[str, str, int, int]] = field(default_factory=list)  # wallet, asset

    @property
    def mismatched(self) -> list[tuple[str, str, int, int]]:
        return [row for row in self.balances if row[2] != row[3]]

    @property
    def ok(self) -> bool:
        return not (
            self.missing or self.duplicated or self.attention or self.confirmed_not_on_chain
            or self.paid_not_confirmed or self.double_spends or self.mismatched
        )  # fmt: skip


def audit(
    commands: list[Command],
    publishes: int,
    heard: list[Heard],
    ledger: Ledger,
    funded: dict[tuple[str, str], int],
    balances: dict[tuple[str, str], int],
) -> Audit:
    report = Audit(sent=len(commands), publishes=publishes)
    by_key: dict[str, list[Heard]] = {}
    seen_ids: set[str] = set()
    for h in heard:
        by_key.setdefault(h.event.get("idempotency_key", ""), []).append(h)
        if h.event["event_id"] in seen_ids:
            report.event_copies += 1
        seen_ids.add(h.event["event_id"])
    paid: dict[str, list[Payment]] = {}
    for payment in ledger.payments:
        if payment.success:
            paid.setdefault(payment.to, []).append(payment)
    spent: Counter[tuple[str, str]] = Counter()
    for command in commands:
        events = by_key.get(command.key, [])
        ends = {h.event["event_id"]: h for h in terminal(command, events)}
        if len(ends) == 1:
            report.exactly_one += 1
        elif not ends:
            attention = any(h.routing_key.endswith("needs_attention") for h in events)
            (report.attention if attention else report.missing).append(command.key)
            continue
        else:
            report.duplicated.append(command.key)
        end = next(iter(ends.values()))
        report.outcomes[end.routing_key] += 1
        if "code" in end.event["payload"]:
            report.codes[f"{end.routing_key} {end.event['payload']['code']}"] += 1
        for to, confirmed in _items(command, end):
            report.items += 1
            count = len(paid.get(to, []))
            report.executed += confirmed
            if count > 1:
                report.double_spends.append(f"{command.key} -> {to} ({count} payments)")
            elif confirmed and count == 1:
                report.executed_once_on_chain += 1
            elif confirmed:
                report.confirmed_not_on_chain.append(f"{command.key} -> {to}")
            elif count:
                report.paid_not_confirmed.append(f"{command.key} -> {to}")
        _spend(command, end, spent)
    for (wallet, asset), start in sorted(funded.items()):
        expected = start - spent[(wallet, asset)]
        report.balances.append((wallet, asset, expected, balances[(wallet, asset)]))
    return report


def _items(command: Command, end: Heard) -> list[tuple[str, bool]]:
    """(recipient, confirmed by the events) for each money item of a command."""
    if command.kind in ("transfer.trx", "transfer.trc20"):
        return [(command.payload["to"], end.routing_key == "transfer.confirmed")]
    if command.kind == "payout.create":
        lines = end.event["payload"].get("items") if end.routing_key == "payout.completed" else None
        if lines is None:  # rejected or failed whole: no line was paid
            return [(line["to"], False) for line in command.payload["recipients"]]
        return [(line["to"], line["state"] == "confirmed") for line in lines]
    return []


def _spend(command: Command, end: Heard, spent: Counter[tuple[str, str]]) -> None:
    """What the events say left each wallet: amounts confirmed, fees, TRX frozen."""
    payload, state = end.event["payload"], end.routing_key.split(".", 1)[1]
    if command.kind == "payout.create":
        if state != "completed":
            return
        source, asset = payload["source_wallet"], payload["asset"]
        asset = "USDT" if asset in (USDT, "USDT") else "TRX"
        for line in payload["items"]:
            spent[(source, "TRX")] += int(line.get("fee_sun", 0))
            if line["state"] == "confirmed":
                spent[(source, asset)] += int(line["amount"])
        return
    wallet = command.payload.get("wallet")
    if wallet is None or state not in ("confirmed", "failed"):
        return
    spent[(wallet, "TRX")] += int(payload.get("fee_sun", 0))
    if state != "confirmed":
        return
    if command.kind == "transfer.trx":
        spent[(wallet, "TRX")] += int(command.payload["amount_sun"])
    elif command.kind == "transfer.trc20":
        spent[(wallet, "USDT")] += int(command.payload["amount"])
    elif command.kind == "stake.freeze":
        spent[(wallet, "TRX")] += int(command.payload["amount_sun"])


def table(report: Audit, facts: dict[str, Any], *, ok: bool) -> str:
    """The printed (and committed) table."""
    rows = [
        ("seed", facts["seed"]),
        ("commands sent (distinct)", report.sent),
        ("publishes (duplicates included)", report.publishes),
        ("commands with exactly one terminal event", report.exactly_one),
        ("missing (no terminal event)", len(report.missing)),
        ("needs_attention (no terminal event)", len(report.attention)),
        ("duplicated terminal events", len(report.duplicated)),
        ("re-delivered copies of an event (same event_id)", report.event_copies),
        ("money items sent", report.items),
        ("executed items (confirmed by events)", report.executed),
        ("executed items with exactly 1 on-chain tx", report.executed_once_on_chain),
        ("confirmed but not on chain", len(report.confirmed_not_on_chain)),
        ("paid on chain but not confirmed", len(report.paid_not_confirmed)),
        ("double spends", len(report.double_spends)),
        (
            "wallet balances reconciled to the sun",
            f"{len(report.balances) - len(report.mismatched)} of {len(report.balances)}",
        ),
        *[(k, v) for k, v in facts.items() if k != "seed"],
        ("verdict", "PASS" if ok else "FAIL"),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"| {'measure'.ljust(width)} | value |", f"|{'-' * (width + 2)}|-------|"]
    lines += [f"| {name.ljust(width)} | {value} |" for name, value in rows]
    lines += ["", "| wallet | asset | expected | devnet | diff |", "|---|---|---|---|---|"]
    lines += [
        f"| {wallet} | {asset} | {expected} | {actual} | {actual - expected} |"
        for wallet, asset, expected, actual in report.balances
    ]
    lines += ["", "| terminal outcome | count |", "|---|---|"]
    lines += [f"| {name} | {count} |" for name, count in sorted(report.outcomes.items())]
    lines += [f"| {name} | {count} |" for name, count in sorted(report.codes.items())]
    return "\n".join(lines)
