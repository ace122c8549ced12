"""Command handlers, one module per family; COMMAND_TYPES is the registry the executor
dispatches on (payload model, handler, "has effects" test), so it knows no family."""

from handlers import approvals, payout, stake, transfer, trc20, wallet
from handlers.ports import CommandType

__all__ = ["COMMAND_TYPES"]

COMMAND_TYPES: dict[str, CommandType] = {  # type: ignore[type-arg]
    "wallet.create": wallet.WALLET_CREATE,
    "transfer.trx": transfer.TRANSFER_TRX,
    "transfer.trc20": trc20.TRANSFER_TRC20,
    "payout.create": payout.PAYOUT_CREATE,
    "payout.approve": approvals.PAYOUT_APPROVE,
    "payout.cancel": approvals.PAYOUT_CANCEL,
    **stake.STAKE_TYPES,
}
