"""Local build and sign: the worker encodes each transaction itself (worker/txbuild.py),
signs sha256 of *its* bytes with the wallet's own key, and never signs what a node built.

The key is unlocked per signature and must derive the wallet's address before it
signs anything (worker/keystore.py); it never leaves this function.
"""

from __future__ import annotations

from typing import Any

from handlers.ports import SignedTx
from worker.keystore import Keystore
from worker.ports import BlockRef
from worker.txbuild import (
    Contract,
    RawTransaction,
    address_from_base58,
    contract_of,
    encode_raw,
    reference_of,
    signed_transaction,
    transfer,
    txid_of,
)

__all__ = ["KeystoreSigner"]


class KeystoreSigner:
    """handlers.ports.Signer over the keystore and the local encoder."""

    def __init__(self, keystore: Keystore) -> None:
        self._keystore = keystore

    def transfer(
        self,
        wallet: dict[str, Any],
        *,
        to: str,
        amount_sun: int,
        memo: bytes,
        reference: BlockRef,
        expiration_ms: int,
        timestamp_ms: int,
    ) -> SignedTx:
        ref_block_bytes, ref_block_hash = reference_of(reference.number, reference.id)
        raw = RawTransaction(
            ref_block_bytes=ref_block_bytes,
            ref_block_hash=ref_block_hash,
            expiration_ms=expiration_ms,
            timestamp_ms=timestamp_ms,
            contract=transfer(
                address_from_base58(wallet["address"]), address_from_base58(to), amount_sun
            ),
            data=memo,
        )
        return self._sign(wallet, encode_raw(raw))

    def trigger(
        self,
        wallet: dict[str, Any],
        *,
        contract: str,
        data_hex: str,
        fee_limit_sun: int,
        reference: BlockRef,
        expiration_ms: int,
        timestamp_ms: int,
    ) -> SignedTx:
        ref_block_bytes, ref_block_hash = reference_of(reference.number, reference.id)
        call = Contract(
            "TriggerSmartContract",
            {
                "owner_address": address_from_base58(wallet["address"]),
                "contract_address": address_from_base58(contract),
                "data": bytes.fromhex(data_hex),
            },
        )
        raw = RawTransaction(
            ref_block_bytes=ref_block_bytes,
            ref_block_hash=ref_block_hash,
            expiration_ms=expiration_ms,
            timestamp_ms=timestamp_ms,
            contract=call,
            fee_limit_sun=fee_limit_sun,
        )
        return self._sign(wallet, encode_raw(raw))

    def contract(
        self,
        wallet: dict[str, Any],
        *,
        contract_type: str,
        fields: dict[str, Any],
        reference: BlockRef,
        expiration_ms: int,
        timestamp_ms: int,
    ) -> SignedTx:
        """Any contract of worker.txbuild.CONTRACT_TYPES, owned by the wallet (an
        `owner_address` in `fields` must be the wallet's; absent, it is filled in).

        Raises:
            ValueError: unknown type or field, a malformed address, a value of the wrong
                type, or an owner other than the wallet.
        """
        owner = wallet["address"]
        if fields.get("owner_address", owner) != owner:
            raise ValueError(f"owner_address {fields['owner_address']!r} is not {owner}")
        ref_block_bytes, ref_block_hash = reference_of(reference.number, reference.id)
        raw = RawTransaction(
            ref_block_bytes=ref_block_bytes,
            ref_block_hash=ref_block_hash,
            expiration_ms=expiration_ms,
            timestamp_ms=timestamp_ms,
            contract=contract_of(contract_type, {**fields, "owner_address": owner}),
        )
        return self._sign(wallet, encode_raw(raw))

    def _sign(self, wallet: dict[str, Any], raw_bytes: bytes) -> SignedTx:
        txid = txid_of(raw_bytes)
        key = self._keystore.unlock(wallet["encrypted_key"], wallet["address"])
        signature = key.sign_digest(bytes.fromhex(txid))
        signed = signed_transaction(raw_bytes, [signature])
        return SignedTx(txid, raw_bytes.hex(), signed.hex(), signature.hex())
