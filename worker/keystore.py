"""Envelope encryption of TRON private keys, and the only place a key is used to sign.

Each wallet's private key is sealed with AES-256-GCM under its own random data
key (DEK); the DEK is sealed with AES-256-GCM under a master key (KEK) named by
an id, so `tron-worker keys rotate` re-wraps DEKs without touching ciphertexts.
Associated data binds a ciphertext to its wallet's address and a wrapped DEK to
its KEK id and address: a record copied onto another wallet does not decrypt.

Plaintext keys live only in memory, inside `SecretBytes`/`SigningKey`, whose
repr and str are redacted. Errors never carry key material and never chain the
foreign exception (it is dropped before raising, so `__context__` is empty).
Python cannot reliably wipe memory; keys are kept for as short a time as the
caller allows.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import AsyncIterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from tronpy.keys import PrivateKey, to_base58check_address, to_raw_address

from worker.errors import PermanentError
from worker.settings import KeystoreSettings

__all__ = [
    "RECORD_VERSION",
    "GeneratedWallet",
    "Keystore",
    "KeystoreError",
    "NewWallet",
    "RotationReport",
    "SecretBytes",
    "SigningKey",
    "generate_master_key",
    "rotate_wallet_keys",
]

log = structlog.get_logger()

RECORD_VERSION = 1
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
MASTER_KEYS_ENV = "TRON_WORKER_KEYSTORE__MASTER_KEYS"
_KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_RECORD_FIELDS = ("wrapped_dek", "dek_nonce", "nonce", "ciphertext")
_SEALED_BYTES = KEY_BYTES + TAG_BYTES


class KeystoreError(PermanentError):
    """A master key, record or key that cannot be used; the message never holds key material."""

    code = "KEYSTORE"


class SecretBytes:
    """Key bytes that print as `<redacted>`; `reveal()` is the one deliberate way out."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        self._value = bytes(value)

    def reveal(self) -> bytes:
        return self._value

    def __len__(self) -> int:
        return len(self._value)

    def __repr__(self) -> str:
        return "<redacted>"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("SecretBytes cannot be pickled")


class SigningKey:
    """A private key proven to derive `address`; it signs 32-byte transaction hashes."""

    __slots__ = ("_key", "address")

    def __init__(self, key: SecretBytes, address: str) -> None:
        self._key = key
        self.address = address

    def sign_digest(self, digest: bytes) -> bytes:
        """65-byte r‖s‖v recoverable secp256k1 signature of a 32-byte hash (TRON's format).

        Raises:
            KeystoreError: digest is not 32 bytes.
        """
        if len(digest) != 32:
            raise KeystoreError(f"a digest to sign must be 32 bytes, got {len(digest)}")
        return PrivateKey(self._key.reveal()).sign_msg_hash(digest).to_bytes()

    def __repr__(self) -> str:
        return f"<SigningKey {self.address} <redacted>>"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("SigningKey cannot be pickled")


class GeneratedWallet(NamedTuple):
    address: str
    public_key_hex: str  # 64 bytes, uncompressed x‖y without the 0x04 prefix (tronpy's form)
    private_key: SecretBytes


class NewWallet(NamedTuple):
    address: str
    public_key_hex: str
    encrypted_key: dict[str, Any]


def generate_master_key() -> str:
    """A fresh master key as base64 of 32 random bytes, the form MASTER_KEYS expects."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")


class Keystore:
    """Seals and opens wallet keys under the configured master keys."""

    def __init__(self, settings: KeystoreSettings) -> None:
        """Decode and check every master key.

        Raises:
            KeystoreError: a key is not base64 of 32 bytes, an id is malformed, or the
                active id has no key. The message names the id, never the key.
        """
        self._keks = {
            kek_id: _decode_master_key(kek_id, value.get_secret_value())
            for kek_id, value in settings.master_keys.items()
        }
        self.active_key_id = settings.active_key_id
        if self.active_key_id not in self._keks:
            present = ", ".join(sorted(self._keks)) or "none"
            raise KeystoreError(
                f"keystore error: active master key id {self.active_key_id!r} has no key in "
                f"{MASTER_KEYS_ENV} (ids present: {present})"
            )

    def __repr__(self) -> str:
        return f"<Keystore active={self.active_key_id!r} ids={sorted(self._keks)!r}>"

    def generate_wallet(self) -> GeneratedWallet:
        """A new random key pair; prefer `create_wallet`, which never exposes the key."""
        key = PrivateKey.random()
        wallet = GeneratedWallet(
            address=key.public_key.to_base58check_address(),
            public_key_hex=key.public_key.hex(),
            private_key=SecretBytes(key.to_bytes()),
        )
        return wallet

    def create_wallet(self) -> NewWallet:
        """A new key pair with the private key already sealed for storage."""
        address, public_key_hex, private_key = self.generate_wallet()
        return NewWallet(address, public_key_hex, self.encrypt(private_key, address))

    def encrypt(self, private_key: bytes | SecretBytes, address: str) -> dict[str, Any]:
        """Seal a 32-byte private key for the wallet at `address` under the active KEK."""
        raw = private_key.reveal() if isinstance(private_key, SecretBytes) else private_key
        if len(raw) != KEY_BYTES:
            raise KeystoreError(f"a private key must be {KEY_BYTES} bytes, got {len(raw)}")
        address_bytes = _address_bytes(address)
        dek = os.urandom(KEY_BYTES)
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = AESGCM(dek).encrypt(nonce, raw, _key_aad(address_bytes))
        return {
            "version": RECORD_VERSION,
            "kek_id": self.active_key_id,
            **self._wrap_dek(dek, address_bytes),
            "nonce": _b64(nonce),
            "ciphertext": _b64(ciphertext),
        }

    def decrypt(self, record: Mapping[str, Any], address: str) -> SecretBytes:
        """Open a record; prefer `unlock`, which also proves the key is the wallet's.

        Raises:
            KeystoreError: malformed record, unknown KEK id, or failed authentication
                (tampered, moved to another address, or wrong master key).
        """
        address_bytes = _address_bytes(address)
        fields = _parse_record(record)
        dek = self._unwrap_dek(str(record["kek_id"]), fields, address_bytes, address)
        return SecretBytes(
            _open(dek, fields["nonce"], fields["ciphertext"], _key_aad(address_bytes), address)
        )

    def unlock(self, record: Mapping[str, Any], address: str) -> SigningKey:
        """Decrypt and check that the key derives `address`; only then can it sign.

        Raises:
            KeystoreError: as `decrypt`, or the key does not derive the wallet's address.
        """
        key = self.decrypt(record, address)
        address_bytes = _address_bytes(address)
        if _derive_address(key) != address_bytes:
            raise KeystoreError(f"key does not derive its wallet's address ({address})")
        return SigningKey(key, to_base58check_address(address_bytes))

    def rewrap(self, record: Mapping[str, Any], address: str) -> dict[str, Any] | None:
        """The record with its DEK wrapped under the active KEK; None if it already is.

        The DEK, nonce and ciphertext are unchanged; the ciphertext is authenticated
        first so a damaged record is reported rather than carried forward.
        """
        fields = _parse_record(record)
        if record["kek_id"] == self.active_key_id:
            return None
        address_bytes = _address_bytes(address)
        dek = self._unwrap_dek(str(record["kek_id"]), fields, address_bytes, address)
        _open(dek, fields["nonce"], fields["ciphertext"], _key_aad(address_bytes), address)
        return {
            "version": RECORD_VERSION,
            "kek_id": self.active_key_id,
            **self._wrap_dek(dek, address_bytes),
            "nonce": record["nonce"],
            "ciphertext": record["ciphertext"],
        }

    def _wrap_dek(self, dek: bytes, address_bytes: bytes) -> dict[str, str]:
        kek = self._keks[self.active_key_id]
        dek_nonce = os.urandom(NONCE_BYTES)
        aad = _dek_aad(self.active_key_id, address_bytes)
        wrapped = AESGCM(kek.reveal()).encrypt(dek_nonce, dek, aad)
        return {"wrapped_dek": _b64(wrapped), "dek_nonce": _b64(dek_nonce)}

    def _unwrap_dek(
        self, kek_id: str, fields: dict[str, bytes], address_bytes: bytes, address: str
    ) -> bytes:
        kek = self._keks.get(kek_id)
        if kek is None:
            raise KeystoreError(
                f"encrypted key of {address} is wrapped by master key id {kek_id[:64]!r}, "
                f"which is not configured in {MASTER_KEYS_ENV}"
            )
        return _open(
            kek.reveal(),
            fields["dek_nonce"],
            fields["wrapped_dek"],
            _dek_aad(kek_id, address_bytes),
            address,
        )


def _decode_master_key(kek_id: str, value: str) -> SecretBytes:
    where = f"master key id {kek_id[:64]!r} in {MASTER_KEYS_ENV}"
    if not _KEY_ID.match(kek_id):
        raise KeystoreError(f"keystore error: {where} is not a valid id ({_KEY_ID.pattern})")
    try:
        raw: bytes | None = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = None  # raised below, outside this block, so nothing chains to the decode error
    if raw is None:
        raise KeystoreError(f"keystore error: {where}: the key is not valid base64")
    if len(raw) != KEY_BYTES:
        raise KeystoreError(
            f"keystore error: {where}: the key must decode to {KEY_BYTES} bytes, got {len(raw)}"
        )
    return SecretBytes(raw)


def _parse_record(record: Mapping[str, Any]) -> dict[str, bytes]:
    if not isinstance(record, Mapping):
        raise KeystoreError("encrypted key record is not a mapping")
    if record.get("version") != RECORD_VERSION:
        raise KeystoreError(
            f"encrypted key record version {record.get('version')!r:.20} "
            f"is not supported (expected {RECORD_VERSION})"
        )
    if not isinstance(record.get("kek_id"), str):
        raise KeystoreError("encrypted key record has no kek_id")
    fields: dict[str, bytes] = {}
    for name in _RECORD_FIELDS:
        value = record.get(name)
        decoded: bytes | None = None
        if isinstance(value, str):
            try:
                decoded = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                decoded = None
        if decoded is None:
            raise KeystoreError(f"encrypted key record field {name} is missing or not base64")
        fields[name] = decoded
    expected = {
        "wrapped_dek": _SEALED_BYTES,
        "dek_nonce": NONCE_BYTES,
        "nonce": NONCE_BYTES,
        "ciphertext": _SEALED_BYTES,
    }
    for name, size in expected.items():
        if len(fields[name]) != size:
            raise KeystoreError(f"encrypted key record field {name} must be {size} bytes")
    return fields


def _open(key: bytes, nonce: bytes, sealed: bytes, aad: bytes, address: str) -> bytes:
    try:
        plain: bytes | None = AESGCM(key).decrypt(nonce, sealed, aad)
    except InvalidTag:
        plain = None  # raised below, outside this block, so nothing chains to InvalidTag
    if plain is None:
        raise KeystoreError(
            f"encrypted key of {address} failed authentication "
            "(tampered, moved from another wallet, or wrong master key)"
        )
    return plain


def _address_bytes(address: str) -> bytes:
    """The 21-byte address (0x41 prefix); base58 and hex forms of one address agree."""
    raw: bytes | None
    try:
        raw = to_raw_address(address)
    except Exception:  # tronpy raises BadAddress, ValueError or IndexError for bad input
        raw = None
    if raw is None or len(raw) != 21 or raw[0] != 0x41:
        raise KeystoreError(f"{str(address)[:64]!r} is not a TRON address")
    return raw


def _derive_address(key: SecretBytes) -> bytes | None:
    try:
        derived = PrivateKey(key.reveal()).public_key.to_base58check_address()
    except Exception:  # BadKey: zero or out-of-range scalar
        return None
    return to_raw_address(derived)


def _key_aad(address_bytes: bytes) -> bytes:
    return b"tron-worker/private-key/v1\x00" + address_bytes


def _dek_aad(kek_id: str, address_bytes: bytes) -> bytes:
    # Ids match _KEY_ID, so the NUL separator keeps (id, address) pairs unambiguous.
    return b"tron-worker/data-key/v1\x00" + kek_id.encode() + b"\x00" + address_bytes


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# --- rotation: `tron-worker keys rotate` ---------------------------------------------------


class WalletCollection(Protocol):
    """The part of PyMongo's AsyncCollection that rotation uses."""

    def find(
        self, filter: Mapping[str, Any], projection: Mapping[str, Any]
    ) -> AsyncIterable[Any]: ...

    async def update_one(self, filter: Mapping[str, Any], update: Mapping[str, Any]) -> Any: ...


@dataclass(frozen=True)
class RotationReport:
    rewrapped: int
    already_active: int
    failed: int


async def rotate_wallet_keys(collection: WalletCollection, keystore: Keystore) -> RotationReport:
    """Re-wrap every wallet's data key under the active master key.

    The operator's rotate command is the only writer of `encrypted_key` after a wallet is
    created, so a conditional update (on the old kek id) is safe here. Running it again
    after a failure is harmless: current records are counted, not rewritten.
    """
    rewrapped = already_active = failed = 0
    cursor = collection.find({}, {"address": 1, "encrypted_key": 1})
    async for doc in cursor:
        wallet_id, address, record = doc.get("_id"), doc.get("address"), doc.get("encrypted_key")
        try:
            if not isinstance(address, str) or not isinstance(record, Mapping):
                raise KeystoreError("wallet document has no address or encrypted_key")
            new = keystore.rewrap(record, address)
        except KeystoreError as exc:
            failed += 1
            log.warning("data key not rotated", wallet_id=str(wallet_id), error=str(exc))
            continue
        if new is None:
            already_active += 1
            continue
        result = await collection.update_one(
            {"_id": wallet_id, "encrypted_key.kek_id": record["kek_id"]},
            {"$set": {"encrypted_key": new}},
        )
        if result.matched_count == 1:
            rewrapped += 1
        else:
            failed += 1
            log.warning(
                "data key not rotated",
                wallet_id=str(wallet_id),
                error="wallet changed during rotation; run the rotation again",
            )
    return RotationReport(rewrapped, already_active, failed)
