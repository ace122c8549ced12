"""transfer.trc20: a TRC20 (USDT) transfer on the single-transaction path, with an
honest fee limit.

Before anything is signed: the token must be allow-listed (UNKNOWN_TOKEN); the
wallet must hold the amount of it (INSUFFICIENT_BALANCE, naming the token); the
energy is estimated and priced, fee_limit = ceil(estimate x margin) x the chain's
energy fee, whatever energy the wallet holds (java-tron caps staked energy by
fee_limit too), and it must fit under min(max_fee_limit_sun, getMaxFeeLimit)
(FEE_LIMIT_TOO_LOW, with the figures); staked or delegated energy lowers only the
TRX the wallet must hold to burn (INSUFFICIENT_BALANCE, naming TRX for fees).

Confirmed means SUCCESS *and* the token's own Transfer(from, to, amount) log:
USDT's `transfer` returns 32 zero bytes even on success, so the return value is
never read.
"""

from __future__ import annotations

import math
from typing import Any

from handlers.ports import BlockRef, CommandContext, CommandType, Deps, Outcome, Rejected, SignedTx
from handlers.transfer import Kind, has_effects, run_single
from schemas.payloads import TransferTrc20Payload
from worker import abi

__all__ = ["TRANSFER_TRC20", "handle"]


async def _plan(
    command: CommandContext[TransferTrc20Payload], deps: Deps, wallet: dict[str, Any]
) -> Rejected | dict[str, Any]:
    assert deps.node is not None and deps.chain is not None
    payload = command.payload
    token = deps.chain.token(payload.token)
    if token is None:
        known = ", ".join(t.symbol for t in deps.chain.tokens) or "none"
        return Rejected("UNKNOWN_TOKEN", f"token {payload.token} is not allowed (allowed: {known})")
    held = abi.decode_uint(
        await deps.node.constant_call(payload.wallet, token.address, abi.balance_of(payload.wallet))
    )
    if held < payload.amount:
        return Rejected(
            "INSUFFICIENT_BALANCE",
            f"{payload.wallet} holds {held} of {token.symbol} (base units); "
            f"this transfer needs {payload.amount}",
        )
    data_hex = abi.transfer_call(payload.to, payload.amount)
    energy = await deps.node.estimate_energy(payload.wallet, token.address, data_hex)
    parameters = await deps.node.chain_parameters()
    energy_fee_sun = parameters.get("getEnergyFee", 100)
    fee_limit_sun = math.ceil(energy * deps.chain.fee_margin) * energy_fee_sun
    cap_sun = min(deps.chain.max_fee_limit_sun, parameters.get("getMaxFeeLimit", 15_000_000_000))
    if fee_limit_sun > cap_sun:
        return Rejected(
            "FEE_LIMIT_TOO_LOW",
            f"the estimate is {energy} energy at {energy_fee_sun} sun each, so a fee limit of "
            f"{fee_limit_sun} sun (margin {deps.chain.fee_margin}); the cap is {cap_sun} sun",
        )
    burn_sun = max(0, energy - await deps.node.energy_available(payload.wallet)) * energy_fee_sun
    if payload.memo:
        burn_sun += parameters.get("getMemoFee", 0)
    account = await deps.node.account(payload.wallet)
    trx_sun = int((account or {}).get("balance", 0))
    if trx_sun < burn_sun:
        return Rejected(
            "INSUFFICIENT_BALANCE",
            f"{payload.wallet} holds {trx_sun} sun of TRX for fees; burning the energy it "
            f"lacks needs about {burn_sun} sun",
        )
    return {
        "token": token.address,
        "data_hex": data_hex,
        "fee_limit_sun": fee_limit_sun,
        "energy_estimate": energy,
    }


def _sign(
    deps: Deps,
    wallet: dict[str, Any],
    plan: dict[str, Any],
    reference: BlockRef,
    expiration_ms: int,
    timestamp_ms: int,
) -> SignedTx:
    assert deps.signer is not None
    return deps.signer.trigger(
        wallet,
        contract=plan["token"],
        data_hex=plan["data_hex"],
        fee_limit_sun=plan["fee_limit_sun"],
        reference=reference,
        expiration_ms=expiration_ms,
        timestamp_ms=timestamp_ms,
    )


def _doubt(
    command: CommandContext[TransferTrc20Payload], plan: dict[str, Any], fate: dict[str, Any]
) -> str | None:
    payload = command.payload
    for log in fate.get("logs", []):
        if abi.is_transfer_log(
            log, token=plan["token"], sender=payload.wallet, to=payload.to, amount=payload.amount
        ):
            return None
    return "SUCCESS, but no Transfer log of the token for this sender, recipient and amount"


TRC20 = Kind(_plan, _sign, _doubt)


async def handle(command: CommandContext[TransferTrc20Payload], deps: Deps) -> Outcome:
    return await run_single(command, deps, TRC20)


TRANSFER_TRC20 = CommandType(TransferTrc20Payload, handle, has_effects)
