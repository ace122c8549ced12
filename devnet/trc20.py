"""TRON's USDT (TetherToken at TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t), emulated natively.

Behaviour follows the verified source of the mainnet contract (Solidity
0.4.18: TetherToken <- StandardTokenWithFees <- StandardToken <- BasicToken,
BlackList, Pausable; quoted in molecula-fi/molecula-public
blockchain/solidity/contracts/test/MockUsdtTron.sol), quirks included:
- `transfer` returns false, 32 zero bytes, even when it succeeds:
  StandardTokenWithFees.transfer has no return statement (a real receipt
  with contractResult 00..00 is in andelf/tronpy issue 3); `transferFrom`
  and `approve` return true. Success is `SUCCESS` plus the Transfer log.
- every refusal is a bare `require`: REVERT with empty data, so
  TransactionInfo says only "REVERT opcode executed" (insufficient balance,
  blacklisted sender, zero recipient, not the owner, TRX sent along).
- fees (basisPointsRate) are zero and the contract is neither paused nor
  deprecated, as on mainnet; those branches are not modelled.

Energy: a transfer to an address that already holds USDT costs 14,650 and
one to an empty balance 29,650 (java-tron issue 2982, with tronscan
receipts; 64,285 - 49,635 penalty in the dynamic-energy sample of round
two). The difference is java-tron's EnergyCost: SSTORE of a zero slot costs
20,000, any other SSTORE 5,000; LOGn 375 + 375 per topic + 8 per data byte.
How the other 2,894 energy of a transfer splits between the steps before
and after the stores, and the figures of the other functions, are devnet's
own model, chosen so that each function's storage writes and logs are
charged exactly and the rest stays in the same range as the transfer.
Storage is kept in the state layers (devnet.trc20_storage), so both views
and every block see their own balances.
"""

from __future__ import annotations

from typing import Any

from devnet.evm_abi import (
    CallData,
    encode_address,
    encode_bool,
    encode_string,
    encode_uint,
    event_topic,
    evm_address,
    selector,
)
from devnet.ledger import StateView
from devnet.trc20_abi import Function, event_entry
from devnet.trc20_storage import TokenStorage
from devnet.vm import Call, Execution, Revert

__all__ = [
    "TETHER",
    "USDT_ADDRESS",
    "TetherToken",
    "TokenStorage",
    "log_energy",
    "sstore_energy",
]

USDT_ADDRESS = bytes.fromhex("41a614f803b6fd780986a42c78ec9c7f77e6ded13c")
MAX_UINT = 2**256 - 1
_ZERO20 = bytes(20)

TRANSFER_TOPIC = event_topic("Transfer(address,address,uint256)")
APPROVAL_TOPIC = event_topic("Approval(address,address,uint256)")
ADDED_BLACKLIST_TOPIC = event_topic("AddedBlackList(address)")
REMOVED_BLACKLIST_TOPIC = event_topic("RemovedBlackList(address)")


def sstore_energy(old: int, new: int) -> int:
    """EnergyCost.getSstoreCost: SET 20,000 (zero slot made non-zero), else 5,000."""
    return 20_000 if old == 0 and new != 0 else 5_000


def log_energy(topic_count: int, data_bytes: int) -> int:
    """EnergyCost.getLogCost: 375 + 375 per topic + 8 per byte of data."""
    return 375 + 375 * topic_count + 8 * data_bytes


_A, _U = "address", "uint256"
_EVENTS: tuple[dict[str, Any], ...] = (
    event_entry("Transfer", (True, "from", _A), (True, "to", _A), (False, "value", _U)),
    event_entry("Approval", (True, "owner", _A), (True, "spender", _A), (False, "value", _U)),
    event_entry("AddedBlackList", (True, "_user", _A)),
    event_entry("RemovedBlackList", (True, "_user", _A)),
)

# The energy left after a transfer's stores and log: the 2,894 of 14,650 - 2 x 5,000 - 1,756.
TRANSFER_CHECKS_ENERGY = 1_364  # calcFee, require(_to != 0), require(_value <= balance)
RETURN_ENERGY = 794  # after the log: return from the call chain
OWNER_RETURN_ENERGY = 563
NONPAYABLE_REVERT_ENERGY = 115  # CALLVALUE check of a non-payable function
NO_SUCH_FUNCTION_ENERGY = 421  # the selector matched nothing and there is no fallback


class TetherToken:
    """The USDT contract's code and metadata (a `devnet.vm.NativeContract`)."""

    name = "TetherToken"
    # The mainnet contract's settings (Polygant/OpenCEX-backend cryptocoins/coins/usdt).
    consume_user_resource_percent = 30
    origin_energy_limit = 10_000_000
    token_name, token_symbol, token_decimals = "Tether USD", "USDT", 6

    def __init__(self, address: bytes) -> None:
        self.address = address
        self.functions = {selector(f.signature): f for f in _FUNCTIONS}

    def storage(self, state: StateView) -> TokenStorage:
        return TokenStorage(self.address, state)

    def abi_entries(self) -> list[dict[str, Any]]:
        return [f.abi_entry() for f in _FUNCTIONS] + [dict(event) for event in _EVENTS]

    def origin(self, state: StateView) -> bytes:
        return self.storage(state).origin()

    def energy_factor(self, state: StateView) -> int:
        return self.storage(state).energy_factor()

    def is_constant(self, selector_bytes: bytes) -> bool:
        function = self.functions.get(selector_bytes)
        return function is not None and function.view

    def run(self, call: Call, ex: Execution) -> bytes:
        args = CallData(call.data)
        function = self.functions.get(args.selector) if len(call.data) >= 4 else None
        if function is None:
            ex.spend(NO_SUCH_FUNCTION_ENERGY, "REVERT")
            raise Revert()
        if call.call_value_sun:
            ex.spend(NONPAYABLE_REVERT_ENERGY, "REVERT")
            raise Revert()
        ex.spend(function.entry_energy, "SLOAD")
        return function.handler(self, call, ex, args)

    # Views.
    def _name(self, call: Call, ex: Execution, args: CallData) -> bytes:
        return encode_string(self.token_name)

    def _symbol(self, call: Call, ex: Execution, args: CallData) -> bytes:
        return encode_string(self.token_symbol)

    def _decimals(self, call: Call, ex: Execution, args: CallData) -> bytes:
        return encode_uint(self.token_decimals)

    def _total_supply(self, call: Call, ex: Execution, args: CallData) -> bytes:
        return encode_uint(self.storage(ex.state).total_supply())

    def _balance_of(self, call: Call, ex: Execution, args: CallData) -> bytes:
        return encode_uint(self.storage(ex.state).balance(args.address(0)))

    def _allowance(self, call: Call, ex: Execution, args: CallData) -> bytes:
        return encode_uint(self.storage(ex.state).allowance(args.address(0), args.address(1)))

    def _is_blacklisted(self, call: Call, ex: Execution, args: CallData) -> bytes:
        return encode_bool(self.storage(ex.state).blacklisted(args.address(0)))

    def _owner(self, call: Call, ex: Execution, args: CallData) -> bytes:
        return encode_address(self.storage(ex.state).owner())

    # Transactions.
    def _store_balance(self, ex: Execution, store: TokenStorage, holder: bytes, new: int) -> None:
        ex.spend(sstore_energy(store.balance(holder), new), "SSTORE")
        store.set_balance(holder, new)

    def _move(
        self,
        ex: Execution,
        store: TokenStorage,
        source: bytes,
        to: bytes,
        value: int,
        *,
        spender: bytes = b"",
        allowed: int = MAX_UINT,
    ) -> None:
        """balances[source] -= value; balances[to] += value; allowance spent; Transfer log."""
        # Read after the first store, so a transfer to oneself nets to zero as in Solidity.
        self._store_balance(ex, store, source, store.balance(source) - value)
        self._store_balance(ex, store, to, store.balance(to) + value)
        if allowed < MAX_UINT:  # transferFrom leaves an infinite allowance alone
            ex.spend(sstore_energy(allowed, allowed - value), "SSTORE")
            store.set_allowance(source, spender, allowed - value)
        self._emit(ex, TRANSFER_TOPIC, source, to, encode_uint(value))

    def _emit(self, ex: Execution, topic: bytes, *indexed_and_data: bytes) -> None:
        *indexed, data = indexed_and_data
        topics = (topic, *(address.rjust(32, b"\0") for address in indexed))
        ex.spend(log_energy(len(topics), len(data)), f"LOG{len(topics)}")
        ex.log(evm_address(self.address), topics, data)

    def _transfer(self, call: Call, ex: Execution, args: CallData) -> bytes:
        store, sender = self.storage(ex.state), evm_address(call.caller)
        if store.blacklisted(sender):
            raise Revert()
        to, value = args.address(0), args.uint(1)
        ex.spend(TRANSFER_CHECKS_ENERGY, "SLOAD")
        if to == _ZERO20 or value > store.balance(sender):
            raise Revert()
        self._move(ex, store, sender, to, value)
        ex.spend(RETURN_ENERGY, "RETURN")
        return encode_bool(False)  # StandardTokenWithFees.transfer returns nothing

    def _transfer_from(self, call: Call, ex: Execution, args: CallData) -> bytes:
        store, spender = self.storage(ex.state), evm_address(call.caller)
        source, to, value = args.address(0), args.address(1), args.uint(2)
        if store.blacklisted(source):
            raise Revert()
        allowed = store.allowance(source, spender)
        ex.spend(TRANSFER_CHECKS_ENERGY + 234, "SLOAD")
        if to == _ZERO20 or value > store.balance(source) or value > allowed:
            raise Revert()
        self._move(ex, store, source, to, value, spender=spender, allowed=allowed)
        ex.spend(RETURN_ENERGY, "RETURN")
        return encode_bool(True)

    def _approve(self, call: Call, ex: Execution, args: CallData) -> bytes:
        store, owner = self.storage(ex.state), evm_address(call.caller)
        spender, value = args.address(0), args.uint(1)
        ex.spend(sstore_energy(store.allowance(owner, spender), value), "SSTORE")
        store.set_allowance(owner, spender, value)
        self._emit(ex, APPROVAL_TOPIC, owner, spender, encode_uint(value))
        ex.spend(RETURN_ENERGY, "RETURN")
        return encode_bool(True)

    def _set_blacklisted(self, call: Call, ex: Execution, args: CallData, listed: bool) -> bytes:
        store = self.storage(ex.state)
        if evm_address(call.caller) != store.owner():
            raise Revert()  # onlyOwner
        user = args.address(0)
        ex.spend(sstore_energy(int(store.blacklisted(user)), int(listed)), "SSTORE")
        store.set_blacklisted(user, listed)
        self._emit(ex, ADDED_BLACKLIST_TOPIC if listed else REMOVED_BLACKLIST_TOPIC, user, b"")
        ex.spend(OWNER_RETURN_ENERGY, "STOP")
        return b""

    def _add_blacklist(self, call: Call, ex: Execution, args: CallData) -> bytes:
        return self._set_blacklisted(call, ex, args, True)

    def _remove_blacklist(self, call: Call, ex: Execution, args: CallData) -> bytes:
        return self._set_blacklisted(call, ex, args, False)


_FUNCTIONS: tuple[Function, ...] = (
    Function("name", (), (("", "string"),), True, TetherToken._name, 1_082),
    Function("symbol", (), (("", "string"),), True, TetherToken._symbol, 1_082),
    Function("decimals", (), (("", "uint8"),), True, TetherToken._decimals, 318),
    Function("totalSupply", (), (("", _U),), True, TetherToken._total_supply, 449),
    Function("balanceOf", (("who", _A),), (("", _U),), True, TetherToken._balance_of, 537),
    Function("allowance", (("_owner", _A), ("_spender", _A)), (("remaining", _U),), True,
             TetherToken._allowance, 713),
    Function("isBlackListed", (("", _A),), (("", "bool"),), True, TetherToken._is_blacklisted, 514),
    Function("getBlackListStatus", (("_maker", _A),), (("", "bool"),), True,
             TetherToken._is_blacklisted, 536),
    Function("owner", (), (("", _A),), True, TetherToken._owner, 402),
    # entry: dispatch, whenNotPaused, isBlackListed[sender], deprecated (2,894 - 1,364 - 794)
    Function("transfer", (("_to", _A), ("_value", _U)), (("", "bool"),), False,
             TetherToken._transfer, 736),
    Function("transferFrom", (("_from", _A), ("_to", _A), ("_value", _U)), (("", "bool"),),
             False, TetherToken._transfer_from, 802),
    Function("approve", (("_spender", _A), ("_value", _U)), (("", "bool"),), False,
             TetherToken._approve, 650),
    Function("addBlackList", (("_evilUser", _A),), (), False, TetherToken._add_blacklist, 512),
    Function("removeBlackList", (("_clearedUser", _A),), (), False,
             TetherToken._remove_blacklist, 512),
)  # fmt: skip

TETHER = TetherToken(USDT_ADDRESS)
