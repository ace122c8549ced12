"""wallet.create: make `count` managed wallets, once, and announce their addresses.

Each wallet is inserted under `<c>:<index>`, so a redo after a crash keeps the
ones stored and makes only the missing; the event lists the stored addresses
in index order, so a redo announces exactly what the first run would have.
No read comes first: the insert says whether the wallet was already there.
"""

from __future__ import annotations

from handlers.ports import CommandContext, CommandType, Completed, Deps, Outcome
from schemas.payloads import WalletCreatePayload

__all__ = ["WALLET_CREATE", "handle", "has_effects"]


async def handle(command: CommandContext[WalletCreatePayload], deps: Deps) -> Outcome:
    payload = command.payload
    labels: list[str | None] = [None] * payload.count
    if payload.labels:
        labels = list(payload.labels)
    addresses = []
    for index in range(payload.count):
        await deps.fence()
        wallet = deps.keys.create_wallet()
        stored = await deps.wallets.add_once(
            command.ref,
            index,
            {
                "command_id": command.command_id,
                "address": wallet.address,
                "public_key": wallet.public_key_hex,
                "encrypted_key": wallet.encrypted_key,
                "label": labels[index],
                "purpose": payload.purpose,
                "created_at": deps.now(),
            },
        )
        addresses.append(stored["address"])
    await deps.emit("created", {"addresses": addresses, "count": len(addresses)})
    return Completed()


async def has_effects(command: CommandContext[WalletCreatePayload], deps: Deps) -> bool:
    """Wallets are made in index order, so the first one tells."""
    return await deps.wallets.get(command.ref, 0) is not None


WALLET_CREATE = CommandType(WalletCreatePayload, handle, has_effects)
