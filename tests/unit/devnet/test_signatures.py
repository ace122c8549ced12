"""devnet/signatures.py: recovery as java-tron's ECKey does it, weights and getsignweight."""

from __future__ import annotations

import pytest

from devnet import builders
from devnet.accounts import Account, Key, Permission, default_owner_permission
from devnet.chain import Chain
from devnet.genesis import build_genesis
from devnet.keys import SignatureError, address_from_private_key, recover_address, sign_digest
from devnet.ledger import Layer, StateView
from devnet.signatures import PermissionDenied, check_weight, sign_weight

KEY_A, KEY_B = bytes.fromhex("aa" * 32), bytes.fromhex("bb" * 32)
A, B = address_from_private_key(KEY_A), address_from_private_key(KEY_B)
DIGEST = bytes(range(32))


@pytest.mark.parametrize("offset", [0, 27, 31])
def test_recovery_accepts_v_as_0_1_or_27_28_or_compressed_31_32(offset: int) -> None:
    signature = sign_digest(KEY_A, DIGEST)
    tweaked = signature[:64] + bytes([signature[64] + offset])

    assert recover_address(DIGEST, tweaked) == A


@pytest.mark.parametrize(("v", "message"), [(35, "Header byte out of range: 35"),
                                            (200, "Header byte out of range: -29")])  # fmt: skip
def test_recovery_rejects_header_bytes_out_of_range(v: int, message: str) -> None:
    signature = sign_digest(KEY_A, DIGEST)[:64] + bytes([v])

    with pytest.raises(SignatureError, match=message):
        recover_address(DIGEST, signature)


def test_weights_add_up_and_strangers_and_repeats_are_refused() -> None:
    two_of_two = Permission(2, 2, "active", 2, (Key(A, 1), Key(B, 1)), bytes(32))
    sig_a, sig_b = sign_digest(KEY_A, DIGEST), sign_digest(KEY_B, DIGEST)

    checked = check_weight(two_of_two, (sig_a, sig_b), DIGEST)
    assert (checked.weight, checked.approved) == (2, (A, B))
    with pytest.raises(PermissionDenied, match="has signed twice!"):
        check_weight(two_of_two, (sig_a, sig_a), DIGEST)
    with pytest.raises(PermissionDenied, match=r"but it is not contained of permission\.$"):
        check_weight(default_owner_permission(A), (sig_b,), DIGEST)


def _state_with(*accounts: Account) -> StateView:
    layer = Layer()
    for account in accounts:
        layer.accounts[account.address] = account
    return StateView((layer,))


def test_sign_weight_before_and_after_signing() -> None:
    chain = Chain(build_genesis(), solidify_lag_blocks=0)
    key = next(a.private_key for a in chain.genesis.accounts if a.private_key)
    owner = address_from_private_key(key)
    raw = builders.transfer(key, B, 1, chain.head_block.block_id, 1_000).raw
    state = chain.state()

    unsigned = sign_weight(builders.sign(raw), state)
    signed = sign_weight(builders.sign(raw, key), state)

    assert unsigned.code == "NOT_ENOUGH_PERMISSION" and unsigned.weight == 0
    assert unsigned.permission == default_owner_permission(owner)
    assert (signed.code, signed.weight, signed.approved) == ("ENOUGH_PERMISSION", 1, (owner,))


def test_sign_weight_of_an_unknown_account_or_a_missing_permission() -> None:
    raw = builders.transfer(KEY_A, B, 1, Chain(build_genesis(), 0).head_block.block_id, 1_000).raw
    wrong_id = builders.sign(
        type(raw)(contracts=(builders.build_contract("TransferContract",
                                                     raw.contracts[0].value, permission_id=7),)),
    )  # fmt: skip

    unknown = sign_weight(builders.sign(raw), _state_with())
    missing = sign_weight(wrong_id, _state_with(Account(A)))

    assert (unknown.code, unknown.message) == ("PERMISSION_ERROR", "Account does not exist!")
    assert unknown.permission is None
    assert missing.message == "Permission for this, does not exist!"
