"""wallet.create: make `count` managed wallets, once, and announce their addresses.

Each wallet is stored under `<command_id>:<index>`, so a redo after a crash
creates only the missing ones; the event lists the stored addresses in index
order, so a redo announces exactly what the first run would have.
"""

from __future__ import annotations

from typing import Any

from handlers.ports import CommandContext, Completed, Deps, Outcome

__all__ = ["handle"]


async def handle(command: CommandContext, deps: Deps) -> Outcome:
    payload: Any = command.payload
    existing = {
        record["index"]
        for record in await deps.wallets.of_command(command.command_id, payload.count)
    }
    labels = payload.labels or [None] * payload.count
    for index in range(payload.count):
        if index in existing:
            continue
        await deps.fence()
        wallet = deps.keys.create_wallet()
        await deps.wallets.add(
            {
                "_id": f"{command.command_id}:{index}",
                "command_id": command.command_id,
                "index": index,
                "address": wallet.address,
                "public_key": wallet.public_key_hex,
                "encrypted_key": wallet.encrypted_key,
                "label": labels[index],
                "purpose": payload.purpose,
                "created_at": deps.now(),
            }
        )
    records = await deps.wallets.of_command(command.command_id, payload.count)
    addresses = [record["address"] for record in records]
    await deps.fence()
    await deps.emit("created", {"addresses": addresses, "count": len(addresses)})
    return Completed()
