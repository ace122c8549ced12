"""transfer.trc20: a TRC20 (USDT) transfer on the transaction path, with an honest fee
limit.

Before anything is signed: the token must be allow-listed (UNKNOWN_TOKEN); the energy
is estimated and priced, fee_limit = ceil(estimate x margin) x the chain's energy fee,
whatever energy the wallet holds (java-tron caps staked energy by fee_limit too), and
it must fit under min(max_fee_limit_sun, getMaxFeeLimit) (FEE_LIMIT_TOO_LOW, with the
figures); the wallet must hold the tokens and the TRX to burn for the energy it lacks
(handlers/chain_items.check_funds: INSUFFICIENT_BALANCE names which).

Confirmed means SUCCESS *and* the token's own Transfer(from, to, amount) log: USDT's
`transfer` returns 32 zero bytes even on success, so the return value is never read.
"""

from __future__ import annotations

import math
from typing import Any

from handlers.chain_items import Kind, Refusal
from handlers.ports import BlockRef, CommandContext, CommandType, Deps, Outcome, SignedTx
from handlers.transfer import has_effects, release, run_transfer
from schemas.payloads import TransferTrc20Payload
from worker import abi
from worker.errors import PermanentError

__all__ = ["TOKEN", "TRANSFER_TRC20", "handle"]


async def _plan(
    deps: Deps, owner: str, to: str, amount: int, memo: str | None, token: str | None
) -> dict[str, Any]:
    assert deps.node is not None and deps.chain is not None and token is not None
    found = deps.chain.token(token)
    if found is None:
        known = ", ".join(t.symbol for t in deps.chain.tokens) or "none"
        raise Refusal("UNKNOWN_TOKEN", f"token {token} is not allowed (allowed: {known})")
    # The token balance comes first: an estimate of a transfer the wallet cannot cover
    # reverts in the node's dry run, which would hide the reason a publisher can act on.
    held = abi.decode_uint(
        await deps.node.constant_call(owner, found.address, abi.balance_of(owner))
    )
    if held < amount:
        raise Refusal(
            "INSUFFICIENT_BALANCE",
            f"{owner} holds {held} of {found.symbol} (base units); this needs {amount}",
        )
    data_hex = abi.transfer_call(to, amount)
    try:
        energy = await deps.node.estimate_energy(owner, found.address, data_hex)
    except PermanentError as exc:  # the node's dry run reverts: it would fail on chain
        message = f"the token refuses this transfer in a dry run: {exc}"
        raise Refusal("WOULD_REVERT", message) from exc
    parameters = await deps.node.chain_parameters()
    energy_fee_sun = parameters.get("getEnergyFee", 100)
    fee_limit_sun = math.ceil(energy * deps.chain.fee_margin) * energy_fee_sun
    cap_sun = min(deps.chain.max_fee_limit_sun, parameters.get("getMaxFeeLimit", 15_000_000_000))
    if fee_limit_sun > cap_sun:
        raise Refusal(
            "FEE_LIMIT_TOO_LOW",
            f"the estimate is {energy} energy at {energy_fee_sun} sun each, so a fee limit of "
            f"{fee_limit_sun} sun (margin {deps.chain.fee_margin}); the cap is {cap_sun} sun",
        )
    return {
        "owner": owner,
        "to": to,
        "token": found.address,
        "symbol": found.symbol,
        "token_units": amount,
        "data_hex": data_hex,
        "fee_limit_sun": fee_limit_sun,
        "energy": energy,
        "trx_sun": parameters.get("getMemoFee", 0) if memo else 0,
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


def _doubt(plan: dict[str, Any], fate: dict[str, Any]) -> str | None:
    for log in fate.get("logs", []):
        if abi.is_transfer_log(
            log,
            token=plan["token"],
            sender=plan["owner"],
            to=plan["to"],
            amount=plan["token_units"],
        ):
            return None
    return "SUCCESS, but no Transfer log of the token for this sender, recipient and amount"


TOKEN = Kind(_plan, _sign, _doubt)


async def handle(command: CommandContext[TransferTrc20Payload], deps: Deps) -> Outcome:
    return await run_transfer(command, deps, TOKEN, token=command.payload.token)


TRANSFER_TRC20 = CommandType(TransferTrc20Payload, handle, has_effects, release)
