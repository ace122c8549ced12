"""worker/keystore.py: envelope encryption, address binding, signing, rotation, redaction."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import pickle
import traceback
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace
from typing import Any

import base58
import coincurve
import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs
from tronpy.keys import PrivateKey

from worker import cli
from worker.errors import PermanentError
from worker.keystore import (
    Keystore,
    KeystoreError,
    RotationReport,
    SecretBytes,
    generate_master_key,
    rotate_wallet_keys,
)
from worker.settings import KeystoreSettings

MASTER = {kek_id: generate_master_key() for kek_id in ("old", "new", "other")}


def _keystore(active: str, *ids: str) -> Keystore:
    keys = {kek_id: SecretStr(MASTER[kek_id]) for kek_id in ids or (active,)}
    return Keystore(KeystoreSettings(active_key_id=active, master_keys=keys))


def _key_pair() -> tuple[bytes, str]:
    key = PrivateKey.random()
    return key.to_bytes(), key.public_key.to_base58check_address()


def _flip(record: dict[str, Any], field: str) -> dict[str, Any]:
    raw = bytearray(base64.b64decode(record[field]))
    raw[0] ^= 0x01
    return {**record, field: base64.b64encode(bytes(raw)).decode()}


@pytest.fixture
def keystore() -> Keystore:
    return _keystore("new", "old", "new")


def test_round_trip_gives_the_key_back_from_a_json_friendly_record(keystore: Keystore) -> None:
    private_key, address = _key_pair()
    record = keystore.encrypt(private_key, address)
    assert json.loads(json.dumps(record)) == record
    assert set(record) == {"version", "kek_id", "wrapped_dek", "dek_nonce", "nonce", "ciphertext"}
    assert (record["version"], record["kek_id"]) == (1, "new")
    assert keystore.decrypt(record, address).reveal() == private_key
    # The hex form of the same address names the same wallet.
    assert keystore.decrypt(record, "41" + _hex_address(address)).reveal() == private_key


def _hex_address(address: str) -> str:
    return base58.b58decode_check(address)[1:].hex()


def test_the_same_key_encrypts_differently_each_time(keystore: Keystore) -> None:
    private_key, address = _key_pair()
    first, second = keystore.encrypt(private_key, address), keystore.encrypt(private_key, address)
    for field in ("wrapped_dek", "dek_nonce", "nonce", "ciphertext"):
        assert first[field] != second[field]


@pytest.mark.parametrize("field", ["ciphertext", "nonce", "wrapped_dek", "dek_nonce"])
def test_a_tampered_field_fails_authentication(keystore: Keystore, field: str) -> None:
    private_key, address = _key_pair()
    record = _flip(keystore.encrypt(private_key, address), field)
    with pytest.raises(KeystoreError, match="failed authentication"):
        keystore.decrypt(record, address)


def test_a_kek_id_swapped_for_another_configured_id_fails(keystore: Keystore) -> None:
    private_key, address = _key_pair()
    record = {**keystore.encrypt(private_key, address), "kek_id": "old"}
    with pytest.raises(KeystoreError, match="failed authentication"):
        keystore.decrypt(record, address)


def test_a_record_moved_to_another_wallet_does_not_decrypt(keystore: Keystore) -> None:
    private_key, address = _key_pair()
    _, other_address = _key_pair()
    record = keystore.encrypt(private_key, address)
    with pytest.raises(KeystoreError, match=f"encrypted key of {other_address} failed"):
        keystore.decrypt(record, other_address)
    with pytest.raises(KeystoreError, match="failed authentication"):
        keystore.unlock(record, other_address)


def test_an_unknown_kek_id_is_named(keystore: Keystore) -> None:
    private_key, address = _key_pair()
    record = {**keystore.encrypt(private_key, address), "kek_id": "retired-2023"}
    with pytest.raises(KeystoreError, match=r"master key id 'retired-2023'.*not configured"):
        keystore.decrypt(record, address)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": 2}, "version 2 is not supported"),
        ({"kek_id": None}, "no kek_id"),
        ({"nonce": "not base64!"}, "field nonce is missing or not base64"),
        ({"ciphertext": base64.b64encode(b"short").decode()}, "field ciphertext must be 48 bytes"),
    ],
)
def test_a_malformed_record_is_refused(
    keystore: Keystore, change: dict[str, Any], message: str
) -> None:
    private_key, address = _key_pair()
    record = {**keystore.encrypt(private_key, address), **change}
    with pytest.raises(KeystoreError, match=message):
        keystore.decrypt(record, address)


def test_a_bad_address_is_refused(keystore: Keystore) -> None:
    private_key, _ = _key_pair()
    with pytest.raises(KeystoreError, match="is not a TRON address"):
        keystore.encrypt(private_key, "Tnot-an-address")


@pytest.mark.parametrize(
    ("active", "keys", "message"),
    [
        ("k1", {"k1": "%%%not-base64%%%"}, "master key id 'k1' .*: the key is not valid base64"),
        ("k1", {"k1": base64.b64encode(os.urandom(16)).decode()}, "'k1' .* got 16"),
        (
            "k2",
            {"k1": generate_master_key()},
            "active master key id 'k2' has no key .*ids present: k1",
        ),
        ("k1", {"k1": generate_master_key(), "bad id!": generate_master_key()}, "not a valid id"),
        ("k1", {}, "active master key id 'k1' has no key .*ids present: none"),
    ],
)
def test_a_bad_master_key_stops_construction_with_one_line(
    active: str, keys: dict[str, str], message: str
) -> None:
    settings = KeystoreSettings(
        active_key_id=active, master_keys={k: SecretStr(v) for k, v in keys.items()}
    )
    with pytest.raises(KeystoreError, match=message) as caught:
        Keystore(settings)
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith("keystore error: ")
    assert isinstance(caught.value, PermanentError)
    for value in keys.values():
        assert value not in text


def test_unlock_refuses_a_key_that_does_not_derive_the_address(
    keystore: Keystore, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_a, _ = _key_pair()
    _, address_b = _key_pair()
    signed: list[bytes] = []
    monkeypatch.setattr(PrivateKey, "sign_msg_hash", lambda _self, digest: signed.append(digest))
    record = keystore.encrypt(key_a, address_b)  # A's key stored under B's address
    assert keystore.decrypt(record, address_b).reveal() == key_a
    with pytest.raises(KeystoreError, match="key does not derive its wallet's address"):
        keystore.unlock(record, address_b)
    assert signed == []


def test_sign_digest_recovers_to_the_wallets_public_key(keystore: Keystore) -> None:
    wallet = keystore.create_wallet()
    signer = keystore.unlock(wallet.encrypted_key, wallet.address)
    digest = hashlib.sha256(b"raw transaction bytes").digest()
    signature = signer.sign_digest(digest)
    assert len(signature) == 65 and signature[64] in (0, 1)
    recovered = coincurve.PublicKey.from_signature_and_message(signature, digest, hasher=None)
    assert recovered.format(compressed=False)[1:].hex() == wallet.public_key_hex
    with pytest.raises(KeystoreError, match="must be 32 bytes"):
        signer.sign_digest(digest[:31])


def test_generate_wallet_returns_a_matching_key_pair(keystore: Keystore) -> None:
    address, public_key_hex, private_key = keystore.generate_wallet()
    key = PrivateKey(private_key.reveal())
    assert key.public_key.to_base58check_address() == address
    assert key.public_key.hex() == public_key_hex and len(public_key_hex) == 128
    assert isinstance(private_key, SecretBytes) and len(private_key) == 32


def test_rewrap_moves_the_data_key_to_the_active_kek_only() -> None:
    private_key, address = _key_pair()
    record = _keystore("old").encrypt(private_key, address)
    rotated = _keystore("new", "old", "new").rewrap(record, address)
    assert rotated is not None
    assert rotated["kek_id"] == "new"
    assert (rotated["nonce"], rotated["ciphertext"]) == (record["nonce"], record["ciphertext"])
    assert rotated["wrapped_dek"] != record["wrapped_dek"]
    # The same ciphertext still authenticates, so the data key is unchanged; the old KEK is
    # no longer needed.
    assert _keystore("new").decrypt(rotated, address).reveal() == private_key
    assert _keystore("new", "old", "new").rewrap(rotated, address) is None


def test_rewrap_refuses_a_damaged_record() -> None:
    private_key, address = _key_pair()
    record = _flip(_keystore("old").encrypt(private_key, address), "ciphertext")
    with pytest.raises(KeystoreError, match="failed authentication"):
        _keystore("new", "old", "new").rewrap(record, address)


class FakeWallets:
    """The two AsyncCollection methods rotation uses, over a dict of documents."""

    def __init__(self, docs: list[dict[str, Any]], *, changes_underneath: bool = False) -> None:
        self.docs = {doc["_id"]: copy.deepcopy(doc) for doc in docs}
        self.filters: list[dict[str, Any]] = []
        self.changes_underneath = changes_underneath

    def find(self, filter: dict[str, Any], projection: dict[str, Any]) -> AsyncIterator[Any]:
        assert filter == {} and projection == {"address": 1, "encrypted_key": 1}
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[dict[str, Any]]:
        for doc in list(self.docs.values()):
            yield copy.deepcopy(doc)

    async def update_one(self, filter: dict[str, Any], update: dict[str, Any]) -> Any:
        self.filters.append(filter)
        doc = self.docs.get(filter["_id"])
        matched = (
            not self.changes_underneath
            and doc is not None
            and doc["encrypted_key"]["kek_id"] == filter["encrypted_key.kek_id"]
        )
        if matched:
            assert doc is not None
            doc.update(copy.deepcopy(update["$set"]))
        return SimpleNamespace(matched_count=int(matched))


def _wallet_docs(keystore: Keystore, count: int, prefix: str) -> list[dict[str, Any]]:
    docs = []
    for i in range(count):
        wallet = keystore.create_wallet()
        docs.append(
            {
                "_id": f"{prefix}:{i}",
                "address": wallet.address,
                "encrypted_key": wallet.encrypted_key,
            }
        )
    return docs


async def test_rotate_wallet_keys_rewraps_old_records_and_counts_the_rest() -> None:
    old_docs = _wallet_docs(_keystore("old"), 2, "c1")
    current = _wallet_docs(_keystore("new"), 1, "c2")
    damaged = _wallet_docs(_keystore("old"), 1, "c3")
    damaged[0]["encrypted_key"] = _flip(damaged[0]["encrypted_key"], "wrapped_dek")
    broken = [{"_id": "c4:0", "address": old_docs[0]["address"]}]
    wallets = FakeWallets(old_docs + current + damaged + broken)
    rotating = _keystore("new", "old", "new")

    with capture_logs() as logs:
        report = await rotate_wallet_keys(wallets, rotating)
    assert report == RotationReport(rewrapped=2, already_active=1, failed=2)
    assert {entry["wallet_id"] for entry in logs} == {"c3:0", "c4:0"}
    assert wallets.filters == [
        {"_id": "c1:0", "encrypted_key.kek_id": "old"},
        {"_id": "c1:1", "encrypted_key.kek_id": "old"},
    ]
    only_new = _keystore("new")
    for doc in old_docs:
        stored = wallets.docs[doc["_id"]]["encrypted_key"]
        assert stored["kek_id"] == "new"
        assert stored["ciphertext"] == doc["encrypted_key"]["ciphertext"]
        only_new.unlock(stored, doc["address"])

    again = await rotate_wallet_keys(wallets, rotating)
    assert again == RotationReport(rewrapped=0, already_active=3, failed=2)


async def test_rotate_wallet_keys_counts_a_record_changed_underneath_as_failed() -> None:
    wallets = FakeWallets(_wallet_docs(_keystore("old"), 1, "c1"), changes_underneath=True)
    report = await rotate_wallet_keys(wallets, _keystore("new", "old", "new"))
    assert report == RotationReport(rewrapped=0, already_active=0, failed=1)


def test_keys_generate_master_key_prints_a_usable_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["keys", "generate-master-key"]) == 0
    printed = capsys.readouterr().out.strip()
    assert len(base64.b64decode(printed, validate=True)) == 32
    Keystore(KeystoreSettings(active_key_id="k", master_keys={"k": SecretStr(printed)}))


def test_keys_rotate_with_a_bad_master_key_exits_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRON_WORKER_KEYSTORE__ACTIVE_KEY_ID", "k1")
    monkeypatch.setenv("TRON_WORKER_KEYSTORE__MASTER_KEYS", json.dumps({"k1": "c2hvcnQ="}))
    assert cli.main(["keys", "rotate"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "'k1'" in captured.err and "got 5" in captured.err
    assert "c2hvcnQ=" not in captured.err


def test_keys_rotate_prints_one_summary_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    wallets = FakeWallets(_wallet_docs(_keystore("old"), 2, "c1"))
    closed: list[bool] = []

    class FakeClient:
        def __getitem__(self, name: str) -> dict[str, Any]:
            assert name == "tron_worker_test"
            return {"wallets": wallets}

        async def close(self) -> None:
            closed.append(True)

    monkeypatch.setenv("TRON_WORKER_MONGO__DATABASE", "tron_worker_test")
    monkeypatch.setenv("TRON_WORKER_KEYSTORE__ACTIVE_KEY_ID", "new")
    monkeypatch.setenv(
        "TRON_WORKER_KEYSTORE__MASTER_KEYS", json.dumps({k: MASTER[k] for k in ("old", "new")})
    )
    monkeypatch.setattr("worker.database.make_client", lambda _settings: FakeClient())
    monkeypatch.setattr("worker.logs.configure_logging", lambda *_args: None)
    assert cli.main(["keys", "rotate"]) == 0
    assert capsys.readouterr().out == "rotated 2 data keys to new; 0 already current; 0 failed\n"
    assert closed == [True]


def _exception_chain(exc: BaseException | None) -> Iterator[BaseException]:
    while exc is not None:
        yield exc
        exc = exc.__cause__ or exc.__context__


async def test_no_secret_reaches_a_repr_str_error_or_log(keystore: Keystore) -> None:
    private_key, address = _key_pair()
    _, other_address = _key_pair()
    secrets = [MASTER["old"], MASTER["new"], private_key.hex()]
    secrets += [base64.b64decode(MASTER[k]).hex() for k in ("old", "new")]

    record = keystore.encrypt(private_key, address)
    opened = keystore.decrypt(record, address)
    signer = keystore.unlock(record, address)
    generated = keystore.generate_wallet()
    secrets.append(generated.private_key.reveal().hex())
    objects: list[Any] = [keystore, record, opened, signer, generated, keystore.create_wallet()]

    errors: list[BaseException] = []
    attempts: list[Any] = [
        lambda: keystore.decrypt(_flip(record, "ciphertext"), address),
        lambda: keystore.decrypt(_flip(record, "wrapped_dek"), address),
        lambda: keystore.decrypt({**record, "kek_id": "gone"}, address),
        lambda: keystore.decrypt(record, other_address),
        lambda: keystore.unlock(keystore.encrypt(private_key, other_address), other_address),
        lambda: keystore.encrypt(private_key, "not an address"),
        lambda: signer.sign_digest(b"short"),
        lambda: Keystore(
            KeystoreSettings(
                active_key_id="new", master_keys={"new": SecretStr(MASTER["new"][:20])}
            )
        ),
        lambda: Keystore(
            KeystoreSettings(active_key_id="x", master_keys={"new": SecretStr(MASTER["new"])})
        ),
    ]
    for attempt in attempts:
        with pytest.raises(KeystoreError) as caught:
            attempt()
        assert caught.value.__cause__ is None and caught.value.__context__ is None
        errors.append(caught.value)

    wallets = FakeWallets(
        [{"_id": "w", "address": address, "encrypted_key": _flip(record, "ciphertext")}]
    )
    with capture_logs() as logs:
        await rotate_wallet_keys(wallets, _keystore("other", "new", "other"))

    texts = [repr(obj) for obj in objects] + [str(obj) for obj in objects]
    texts += [repr(signer), str(opened), f"{opened}", repr(logs)]
    for error in errors:
        texts += [repr(e) for e in _exception_chain(error)]
        texts += [str(e) for e in _exception_chain(error)]
        texts.append("".join(traceback.format_exception(error)))
    for text in texts:
        for secret in secrets:
            assert secret not in text
    with pytest.raises(TypeError):
        pickle.dumps(opened)
