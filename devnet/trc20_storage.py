"""The USDT contract's storage, kept as dynamic properties of the state layers.

Keys are `DEVNET_TRC20:<contract, 20-byte hex>:<slot>[:<key>]`, values ints,
so every view (head with pending, each block, solidified) sees its own
balances and the snapshot codec saves them with the rest of the state.
Holders are keyed by their 20-byte VM address, as the contract's mappings
are; `owner` and `origin` are stored as the integer of theirs.
"""

from __future__ import annotations

from devnet.evm_abi import evm_address, tron_address
from devnet.ledger import StateView

__all__ = ["TokenStorage"]


class TokenStorage:
    """The contract's storage slots, kept as dynamic properties of the state layers."""

    __slots__ = ("_prefix", "_state")

    def __init__(self, contract: bytes, state: StateView) -> None:
        self._prefix = f"DEVNET_TRC20:{evm_address(contract).hex()}:"
        self._state = state

    def _get(self, key: str) -> int:
        return self._state.property(self._prefix + key)

    def _put(self, key: str, value: int) -> None:
        self._state.put_property(self._prefix + key, value)

    def balance(self, holder20: bytes) -> int:
        return self._get(f"balance:{holder20.hex()}")

    def set_balance(self, holder20: bytes, value: int) -> None:
        self._put(f"balance:{holder20.hex()}", value)

    def allowance(self, owner20: bytes, spender20: bytes) -> int:
        return self._get(f"allowed:{owner20.hex()}:{spender20.hex()}")

    def set_allowance(self, owner20: bytes, spender20: bytes, value: int) -> None:
        self._put(f"allowed:{owner20.hex()}:{spender20.hex()}", value)

    def blacklisted(self, holder20: bytes) -> bool:
        return bool(self._get(f"blacklisted:{holder20.hex()}"))

    def set_blacklisted(self, holder20: bytes, value: bool) -> None:
        self._put(f"blacklisted:{holder20.hex()}", int(value))

    def mint(self, holder20: bytes, amount: int) -> None:
        """Credit amount to holder and to totalSupply (genesis; a faucet may use it too)."""
        self.set_balance(holder20, self.balance(holder20) + amount)
        self.set_total_supply(self.total_supply() + amount)

    def total_supply(self) -> int:
        return self._get("totalSupply")

    def set_total_supply(self, value: int) -> None:
        self._put("totalSupply", value)

    def owner(self) -> bytes:
        return self._get("owner").to_bytes(20, "big")

    def set_owner(self, owner20: bytes) -> None:
        self._put("owner", int.from_bytes(owner20, "big"))

    def origin(self) -> bytes:
        """SmartContract.origin_address (21 bytes): fixed when the contract is deployed."""
        return tron_address(self._get("origin").to_bytes(20, "big"))

    def set_origin(self, origin: bytes) -> None:
        self._put("origin", int.from_bytes(evm_address(origin), "big"))

    def energy_factor(self) -> int:
        return self._get("energyFactor")

    def set_energy_factor(self, value: int) -> None:
        self._put("energyFactor", value)
