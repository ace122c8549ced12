"""Why a transaction is refused, as java-tron's exceptions and broadcast codes say it.

    TransactionRejected          code / reply (Wallet.broadcastTransaction)
    ├── SignatureInvalid         SIGERROR / "Validate signature error: <detail>"
    ├── ContractValidateError    CONTRACT_VALIDATE_ERROR / "Contract validate error : <detail>"
    ├── ContractExecuteError     CONTRACT_EXE_ERROR / "Contract execute error : <detail>"
    ├── ResourceInsufficient     BANDWITH_ERROR / "Account resource insufficient error."
    ├── DuplicateTransaction     DUP_TRANSACTION_ERROR / "Dup transaction."
    ├── TaposError               TAPOS_ERROR / "Tapos check error."
    ├── TooBigTransaction        TOO_BIG_TRANSACTION_ERROR / "<detail>"
    ├── TransactionExpired       TRANSACTION_EXPIRATION_ERROR / "Transaction expired"
    └── OtherError               OTHER_ERROR / "Error: <detail>"

`detail` is the java exception's own message (what java-tron logs); `reply`
is the text the broadcast answer carries, hex-encoded unless `visible`.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "ContractExecuteError",
    "ContractValidateError",
    "DuplicateTransaction",
    "OtherError",
    "ResourceInsufficient",
    "SignatureInvalid",
    "TaposError",
    "TooBigTransaction",
    "TransactionExpired",
    "TransactionRejected",
]


class TransactionRejected(Exception):
    """A transaction java-tron refuses; `code` and `reply` are its broadcast answer."""

    code: ClassVar[str] = "OTHER_ERROR"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail)
        self.detail = detail

    @property
    def reply(self) -> str:
        return f"Error: {self.detail}"


class SignatureInvalid(TransactionRejected):
    code = "SIGERROR"

    @property
    def reply(self) -> str:
        return f"Validate signature error: {self.detail}"


class ContractValidateError(TransactionRejected):
    code = "CONTRACT_VALIDATE_ERROR"

    @property
    def reply(self) -> str:
        return f"Contract validate error : {self.detail}"


class ContractExecuteError(TransactionRejected):
    code = "CONTRACT_EXE_ERROR"

    @property
    def reply(self) -> str:
        return f"Contract execute error : {self.detail}"


class ResourceInsufficient(TransactionRejected):
    code = "BANDWITH_ERROR"  # sic: java-tron's spelling

    @property
    def reply(self) -> str:
        return "Account resource insufficient error."


class DuplicateTransaction(TransactionRejected):
    code = "DUP_TRANSACTION_ERROR"

    @property
    def reply(self) -> str:
        return "Dup transaction."


class TaposError(TransactionRejected):
    code = "TAPOS_ERROR"

    @property
    def reply(self) -> str:
        return "Tapos check error."


class TooBigTransaction(TransactionRejected):
    code = "TOO_BIG_TRANSACTION_ERROR"

    @property
    def reply(self) -> str:
        return self.detail


class TransactionExpired(TransactionRejected):
    code = "TRANSACTION_EXPIRATION_ERROR"

    @property
    def reply(self) -> str:
        return "Transaction expired"


class OtherError(TransactionRejected):
    code = "OTHER_ERROR"
