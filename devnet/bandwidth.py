"""Paying for a transaction's bytes: BandwidthProcessor.consume and the memo/multi-sign fees.

Order, as java-tron tries it: a transaction that creates an account (a TRX
transfer to an unknown address) pays with staked bandwidth at
`getCreateNewAccountBandwidthRate` per byte, else burns `getCreateAccountFee`
(free bandwidth does not count); any other pays with staked bandwidth, then
the daily free bandwidth (`getFreeNetLimit`), then burns `getTransactionFee`
sun per byte; failing all, BANDWITH_ERROR. Bytes are the serialised
transaction without `ret` plus 64 per contract.
"""

from __future__ import annotations

from devnet.accounts import Account
from devnet.context import ExecutionContext, Receipt
from devnet.errors import ContractValidateError, ResourceInsufficient, TooBigTransaction
from devnet.keys import address_to_base58
from devnet.ledger import StateView
from devnet.resources import Usage, global_limit, increase, increase_v2
from devnet.signatures import owner_address
from devnet.transactions import Transaction, bandwidth_bytes

__all__ = ["TOTAL_NET_WEIGHT", "consume_bandwidth", "consume_memo_fee", "consume_multi_sign_fee"]

TOTAL_NET_WEIGHT = "TOTAL_NET_WEIGHT"  # dynamic property: staked TRX for bandwidth, in TRX
PER_SIGN_LENGTH = 65


def _net_usage(account: Account) -> Usage:
    return Usage(
        account.net_usage,
        account.latest_consume_time_slot,
        account.net_window_size,
        account.net_window_optimized,
    )


def staked_net_limit(account: Account, ctx: ExecutionContext, state: StateView) -> int:
    """calculateGlobalNetLimitV2: bandwidth bought by the account's stake."""
    return global_limit(
        account.staked_for_bandwidth_sun,
        ctx.param("getTotalNetLimit"),
        state.property(TOTAL_NET_WEIGHT),
    )


def _use_staked_net(account: Account, cost: int, ctx: ExecutionContext, state: StateView) -> bool:
    current = _net_usage(account)
    recovered = increase(current.usage, 0, current.last_slot, ctx.now_slot, current.window_slots)
    if cost > staked_net_limit(account, ctx, state) - recovered:
        return False
    used = increase_v2(current, cost, ctx.now_slot)
    state.put_account(
        account.evolve(
            net_usage=used.usage,
            latest_consume_time_slot=ctx.now_slot,
            net_window_size=used.window_size,
            net_window_optimized=used.window_optimized,
            latest_operation_time_ms=ctx.head_timestamp_ms,
        )
    )
    return True


def _use_free_net(account: Account, cost: int, ctx: ExecutionContext, state: StateView) -> bool:
    now = ctx.now_slot
    recovered = increase(account.free_net_usage, 0, account.latest_consume_free_time_slot, now)
    if cost > ctx.param("getFreeNetLimit") - recovered:
        return False
    state.put_account(
        account.evolve(
            free_net_usage=increase(recovered, cost, now, now),
            latest_consume_free_time_slot=now,
            latest_operation_time_ms=ctx.head_timestamp_ms,
        )
    )
    return True


def _burn(account: Account, fee_sun: int, ctx: ExecutionContext, state: StateView) -> bool:
    """consumeFeeForBandwidth / consumeFeeForNewAccount (black-hole optimisation on: burnt)."""
    if account.balance_sun < fee_sun:
        return False
    state.put_account(
        account.evolve(
            balance_sun=account.balance_sun - fee_sun,
            latest_operation_time_ms=ctx.head_timestamp_ms,
        )
    )
    return True


def _creates_account(tx: Transaction, state: StateView) -> bool:
    contract = tx.contract
    if contract is None or contract.type_name not in ("TransferContract", "TransferAssetContract"):
        return False
    to_address = contract.value.get("to_address", b"")
    assert isinstance(to_address, bytes)
    return state.account(to_address) is None


def _pay_for_new_account(
    tx: Transaction, account: Account, byte_count: int, ctx: ExecutionContext, state: StateView
) -> Receipt:
    size = len(tx.wire_bytes) - len(tx.signatures) * PER_SIGN_LENGTH
    if size > ctx.param("getMaxCreateAccountTxSize"):
        raise TooBigTransaction(
            f"Too big new account transaction, TxId {tx.txid.hex()}, the size is {size} bytes, "
            f"maxTxSize {ctx.param('getMaxCreateAccountTxSize')}"
        )
    cost = byte_count * ctx.param("getCreateNewAccountBandwidthRate")
    if _use_staked_net(account, cost, ctx, state):
        return Receipt(net_usage=cost)
    fee_sun = ctx.param("getCreateAccountFee")
    if _burn(account, fee_sun, ctx, state):
        return Receipt(net_fee_sun=fee_sun)
    raise ResourceInsufficient(
        f"account [{address_to_base58(account.address)}] has insufficient bandwidth"
        f"[{byte_count}] and balance[{fee_sun}] to create new account"
    )


def consume_bandwidth(tx: Transaction, ctx: ExecutionContext, state: StateView) -> Receipt:
    """BandwidthProcessor.consume for the transaction's (single) contract.

    Raises:
        ContractValidateError: the owner account does not exist.
        TooBigTransaction: an account-creating transaction over getMaxCreateAccountTxSize.
        ResourceInsufficient: no bandwidth and not enough TRX to burn for it.
    """
    contract = tx.contract
    assert contract is not None
    byte_count = bandwidth_bytes(tx)
    owner = owner_address(contract)
    account = state.account(owner)
    if account is None:
        raise ContractValidateError(f"account [{address_to_base58(owner)}] does not exist")
    if _creates_account(tx, state):
        return _pay_for_new_account(tx, account, byte_count, ctx, state)
    if _use_staked_net(account, byte_count, ctx, state):
        return Receipt(net_usage=byte_count)
    if _use_free_net(account, byte_count, ctx, state):
        return Receipt(net_usage=byte_count)
    fee_sun = ctx.param("getTransactionFee") * byte_count
    if _burn(account, fee_sun, ctx, state):
        return Receipt(net_fee_sun=fee_sun)
    raise ResourceInsufficient(
        f"account [{address_to_base58(owner)}] has insufficient bandwidth[{byte_count}] "
        f"and balance[{fee_sun}] to create new account"
    )


def _charge_owner(tx: Transaction, fee_sun: int, what: str, state: StateView) -> None:
    contract = tx.contract
    assert contract is not None
    owner = owner_address(contract)
    account = state.account(owner)
    if account is None:
        return
    if account.balance_sun < fee_sun:
        raise ResourceInsufficient(
            f"account {address_to_base58(owner)} insufficient balance[{fee_sun}] to {what}"
        )
    state.put_account(account.evolve(balance_sun=account.balance_sun - fee_sun))


def consume_multi_sign_fee(
    tx: Transaction, ctx: ExecutionContext, state: StateView, receipt: Receipt
) -> None:
    """Manager.consumeMultiSignFee: getMultiSignFee when signed more than once."""
    if len(tx.signatures) > 1:
        fee_sun = ctx.param("getMultiSignFee")
        _charge_owner(tx, fee_sun, "multiSign", state)
        receipt.multi_sign_fee_sun = fee_sun


def consume_memo_fee(
    tx: Transaction, ctx: ExecutionContext, state: StateView, receipt: Receipt
) -> None:
    """Manager.consumeMemoFee: getMemoFee when raw_data.data is not empty."""
    fee_sun = ctx.param("getMemoFee")
    if tx.raw.data and fee_sun:
        _charge_owner(tx, fee_sun, "memo fee", state)
        receipt.memo_fee_sun = fee_sun
