"""Signature checks against account permissions, as TransactionCapsule does them.

The txid (sha256 of raw bytes) is what is signed. Each signature must recover
to a key of the permission the contract names (Permission_id, default 0 =
owner); weights add up and must reach the threshold. Messages are java-tron's:
the broadcast reply prefixes them with "Validate signature error: ".
"""

from __future__ import annotations

from dataclasses import dataclass

from devnet.accounts import ACTIVE, Permission, default_active_permission, default_owner_permission
from devnet.keys import SignatureError, address_to_base58, recover_address
from devnet.ledger import StateView
from devnet.transactions import Contract, Transaction

__all__ = [
    "DEFAULT_TOTAL_SIGN_NUM",
    "ApprovedList",
    "PermissionDenied",
    "SignWeight",
    "SignatureCheckError",
    "SignatureFormatError",
    "WeightCheck",
    "approved_list",
    "check_weight",
    "owner_address",
    "sign_weight",
    "validate_signatures",
]

# DynamicPropertiesStore TOTAL_SIGN_NUM default.
DEFAULT_TOTAL_SIGN_NUM = 5
SIGNATURE_LENGTH = 65


class SignatureCheckError(Exception):
    """ValidateSignatureException: the transaction's signatures are not acceptable."""


class PermissionDenied(Exception):
    """PermissionException: a key or permission problem (also a SIGERROR on broadcast)."""


class SignatureFormatError(Exception):
    """SignatureFormatException: a signature shorter than 65 bytes."""


def owner_address(contract: Contract) -> bytes:
    """TransactionCapsule.getOwner: the contract's owner_address field."""
    owner = contract.value.get("owner_address", b"")
    assert isinstance(owner, bytes)
    return owner


@dataclass(frozen=True, slots=True)
class WeightCheck:
    """What checkWeight found: the summed weight and the approving addresses."""

    weight: int
    approved: tuple[bytes, ...]


def check_weight(permission: Permission, signatures: tuple[bytes, ...], txid: bytes) -> WeightCheck:
    """TransactionCapsule.checkWeight: recover every signer and add up its weight.

    Raises:
        PermissionDenied: too many signatures, an outsider's key, a key used twice.
        SignatureFormatError: a signature shorter than 65 bytes.
        SignatureError: a signature no key can be recovered from.
    """
    if len(signatures) > len(permission.keys):
        raise PermissionDenied(
            f"Signature count is {len(signatures)} more than key counts of permission : "
            f"{len(permission.keys)}"
        )
    weight, approved = 0, []
    for signature in signatures:
        if len(signature) < SIGNATURE_LENGTH:
            raise SignatureFormatError(f"Signature size is {len(signature)}")
        address = recover_address(txid, signature)
        key_weight = permission.weight_of(address)
        if key_weight == 0:
            raise PermissionDenied(
                f"{signature.hex()} is signed by {address_to_base58(address)} "
                "but it is not contained of permission."
            )
        if address in approved:
            raise PermissionDenied(f"{address_to_base58(address)} has signed twice!")
        approved.append(address)
        weight += key_weight
    return WeightCheck(weight, tuple(approved))


def _permission_for(contract: Contract, state: StateView) -> Permission | None:
    owner = owner_address(contract)
    account = state.account(owner)
    if account is not None:
        return account.permission_by_id(contract.permission_id)
    if contract.permission_id == 0:
        return default_owner_permission(owner)
    if contract.permission_id == 2:
        return default_active_permission(owner)
    return None


def _check_permission(contract: Contract, permission: Permission) -> None:
    if contract.permission_id != 0:
        if permission.type != ACTIVE:
            raise PermissionDenied("Permission type is error")
        if len(permission.operations) != 32:
            raise PermissionDenied(f"operations size must 32, actual: {len(permission.operations)}")
        if not permission.allows(contract.type_number):
            raise PermissionDenied("Permission denied")


def validate_signatures(
    tx: Transaction, state: StateView, total_sign_num: int = DEFAULT_TOTAL_SIGN_NUM
) -> None:
    """TransactionCapsule.validatePubSignature for the first contract.

    Raises:
        SignatureCheckError: with java-tron's ValidateSignatureException message.
    """
    contract = tx.contract
    if not tx.signatures or contract is None:
        raise SignatureCheckError("miss sig or contract")
    if len(tx.signatures) > total_sign_num:
        raise SignatureCheckError("too many signatures")
    try:
        permission = _permission_for(contract, state)
        if permission is None:
            raise PermissionDenied("permission isn't exit")
        _check_permission(contract, permission)
        checked = check_weight(permission, tx.signatures, tx.txid)
    except (PermissionDenied, SignatureFormatError, SignatureError) as exc:
        raise SignatureCheckError(str(exc)) from None
    if checked.weight < permission.threshold:
        raise SignatureCheckError("sig error")


@dataclass(frozen=True, slots=True)
class SignWeight:
    """TransactionSignWeight: the permission in force, who signed, and the verdict."""

    permission: Permission | None
    approved: tuple[bytes, ...] = ()
    weight: int = 0
    code: str = "ENOUGH_PERMISSION"
    message: str = ""


def _weigh(contract: Contract, tx: Transaction, state: StateView) -> SignWeight:
    account = state.account(owner_address(contract))
    if account is None:
        raise PermissionDenied("Account does not exist!")
    permission = account.permission_by_id(contract.permission_id)
    if permission is None:
        raise PermissionDenied("Permission for this, does not exist!")
    if contract.permission_id != 0:
        if permission.type != ACTIVE:
            raise PermissionDenied("Permission type is wrong!")
        if len(permission.operations) != 32:
            raise PermissionDenied(f"operations size must 32, actual: {len(permission.operations)}")
        if not permission.allows(contract.type_number):
            raise PermissionDenied("Permission denied!")
    try:
        checked = check_weight(permission, tx.signatures, tx.txid) if tx.signatures else None
    except SignatureFormatError as exc:
        return SignWeight(permission, code="SIGNATURE_FORMAT_ERROR", message=str(exc))
    except SignatureError as exc:
        return SignWeight(permission, code="COMPUTE_ADDRESS_ERROR", message=str(exc))
    except PermissionDenied as exc:
        return SignWeight(permission, code="PERMISSION_ERROR", message=str(exc))
    weight, approved = (checked.weight, checked.approved) if checked else (0, ())
    code = "ENOUGH_PERMISSION" if weight >= permission.threshold else "NOT_ENOUGH_PERMISSION"
    return SignWeight(permission, approved, weight, code)


def sign_weight(tx: Transaction, state: StateView) -> SignWeight:
    """TransactionUtil.getTransactionSignWeight: what /wallet/getsignweight reports."""
    contract = tx.contract
    if contract is None:
        return SignWeight(
            None, code="OTHER_ERROR", message="Invalid transaction: no valid contract"
        )
    try:
        return _weigh(contract, tx, state)
    except PermissionDenied as exc:
        return SignWeight(None, code="PERMISSION_ERROR", message=str(exc))


@dataclass(frozen=True, slots=True)
class ApprovedList:
    """TransactionApprovedList: who signed (any key, permission or not) and the verdict."""

    approved: tuple[bytes, ...] = ()
    code: str = "SUCCESS"
    message: str = ""


def approved_list(tx: Transaction, state: StateView) -> ApprovedList:
    """Wallet.getTransactionApprovedList: recover every signer; no weights, no permissions."""
    contract = tx.contract
    if contract is None:
        return ApprovedList(code="OTHER_ERROR", message="Invalid transaction: no valid contract")
    if state.account(owner_address(contract)) is None:
        # Caught as any Exception there: getClass() + " : " + getMessage().
        message = "class org.tron.core.exception.PermissionException : Account does not exist!"
        return ApprovedList(code="OTHER_ERROR", message=message)
    signers = []
    for signature in tx.signatures:
        if len(signature) < SIGNATURE_LENGTH:
            return ApprovedList(
                code="SIGNATURE_FORMAT_ERROR", message=f"Signature size is {len(signature)}"
            )
        try:
            signers.append(recover_address(tx.txid, signature))
        except SignatureError as exc:
            return ApprovedList(code="COMPUTE_ADDRESS_ERROR", message=str(exc))
    return ApprovedList(tuple(signers))
