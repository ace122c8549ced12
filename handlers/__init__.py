"""Command handlers, one module per family; HANDLERS maps a command type to its handler."""

from handlers import wallet
from handlers.ports import Handler

__all__ = ["HANDLERS"]

HANDLERS: dict[str, Handler] = {
    "wallet.create": wallet.handle,
}
