"""`wallets list`: the managed wallets (never their keys), with balances from a node."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from worker.client.common import BALANCE_CONCURRENCY, OK
from worker.client.status import _database, _table
from worker.client.text import _console, _print_json, _trx, _when
from worker.settings import Settings

if TYPE_CHECKING:
    pass


async def _wallets(args: argparse.Namespace, settings: Settings) -> int:
    from worker.store import MongoStore

    async with _database(settings) as db:
        store, rows, after = MongoStore(db), [], None
        while page := await store.scan("wallets", 1000, after=after):
            after = page[-1]["_id"]
            # Only these fields leave the document: it also holds the encrypted key.
            rows += [
                {
                    "address": doc["address"],
                    "purpose": doc.get("purpose"),
                    "label": doc.get("label"),
                    "created_at": doc.get("created_at"),
                }
                for doc in page
                if args.purpose is None or doc.get("purpose") == args.purpose
            ]
    rows.sort(key=lambda row: row["created_at"] or datetime.min.replace(tzinfo=UTC))
    balances = await _balances(settings, [row["address"] for row in rows])
    for row in rows:
        row["balance_sun"] = balances.get(row["address"])
    if args.json:
        _print_json({"ok": True, "wallets": rows})
        return OK
    cells = [
        (
            row["address"],
            str(row["purpose"]),
            row["label"] or "",
            _when(row["created_at"]),
            "?" if row["balance_sun"] is None else _trx(row["balance_sun"], unit=False),
            "?" if row["balance_sun"] is None else str(row["balance_sun"]),
        )
        for row in rows
    ]
    headers = ("ADDRESS", "PURPOSE", "LABEL", "CREATED", "TRX", "SUN")
    purpose = f" with purpose {args.purpose}" if args.purpose else ""
    console = _console()
    console.print(_table(headers, cells) if rows else f"no managed wallets{purpose}")
    if any(row["balance_sun"] is None for row in rows):
        _console(stderr=True).print("?: no node answered for that wallet")
    return OK


async def _balances(settings: Settings, addresses: list[str]) -> dict[str, int | None]:
    """Each address's balance in sun from /wallet/getaccount, trying the endpoints in
    order; None where none answered. At most BALANCE_CONCURRENCY calls at once."""
    import aiohttp

    tron = settings.tron
    headers = {tron.api_key_header: tron.api_key.get_secret_value()} if tron.api_key else {}
    gate = asyncio.Semaphore(BALANCE_CONCURRENCY)
    timeout = aiohttp.ClientTimeout(total=tron.request_timeout_s)

    async def one(http: aiohttp.ClientSession, address: str) -> int | None:
        async with gate:
            for endpoint in tron.endpoints:
                try:
                    url = f"{endpoint}/wallet/getaccount"
                    body = {"address": address, "visible": True}
                    async with http.post(url, json=body, headers=headers) as response:
                        if response.status == 200:
                            account = await response.json(content_type=None)
                            return int(account.get("balance", 0))
                except (aiohttp.ClientError, TimeoutError, ValueError, AttributeError):
                    continue
            return None

    async with aiohttp.ClientSession(timeout=timeout) as http:
        found = await asyncio.gather(*(one(http, address) for address in addresses))
    return dict(zip(addresses, found, strict=True))
