"""JSON of smart contracts and contract calls: SmartContract, TransactionExtention, logs.

Printed as java-tron's JsonFormat prints them (fields in number order,
defaults left out, `visible` address fields in base58check), with two of its
servlet quirks:
- gettransactioninfobyid with visible=true puts the 0x41 prefix back on
  each log's 20-byte address (Util.convertLogAddressToTronAddress), so logs
  show `T...` addresses; without visible they are 20-byte hex;
- TransactionExtention logs (triggerconstantcontract) get no such fix: with
  visible=true their 20-byte address is base58check-encoded as it is.
A constant call's transaction carries `ret` as a Transaction.Result, so it
prints `[{}]` on success and `[{"ret": "FAILED"}]` when the call failed.
"""

from __future__ import annotations

from typing import Any

from devnet.evm_abi import tron_address
from devnet.messages import EnumSpec, FieldSpec, Kind, MessageSpec, print_message
from devnet.transactions import Transaction, render_transaction
from devnet.vm import NativeContract, RunResult
from devnet.vm_result import ContractLog, VmReceipt

__all__ = [
    "CONTRACT_RESULT_ENUM",
    "LOG_SPEC",
    "TRANSACTION_INFO_CODE",
    "render_contract_state",
    "render_estimate",
    "render_failure",
    "render_smart_contract",
    "render_transaction_extention",
    "vm_info_values",
]

# Transaction.Result.contractResult, every value of core/Tron.proto.
CONTRACT_RESULT_ENUM = EnumSpec({
    0: "DEFAULT", 1: "SUCCESS", 2: "REVERT", 3: "BAD_JUMP_DESTINATION", 4: "OUT_OF_MEMORY",
    5: "PRECOMPILED_CONTRACT", 6: "STACK_TOO_SMALL", 7: "STACK_TOO_LARGE",
    8: "ILLEGAL_OPERATION", 9: "STACK_OVERFLOW", 10: "OUT_OF_ENERGY", 11: "OUT_OF_TIME",
    12: "JVM_STACK_OVER_FLOW", 13: "UNKNOWN", 14: "TRANSFER_FAILED", 15: "INVALID_CODE",
})  # fmt: skip
TRANSACTION_INFO_CODE = EnumSpec({0: "SUCESS", 1: "FAILED"})  # sic, as in Tron.proto
RESPONSE_CODE = EnumSpec({
    0: "SUCCESS", 1: "SIGERROR", 2: "CONTRACT_VALIDATE_ERROR", 3: "CONTRACT_EXE_ERROR",
    4: "BANDWITH_ERROR", 5: "DUP_TRANSACTION_ERROR", 6: "TAPOS_ERROR",
    7: "TOO_BIG_TRANSACTION_ERROR", 8: "TRANSACTION_EXPIRATION_ERROR", 9: "SERVER_BUSY",
    10: "NO_CONNECTION", 11: "NOT_ENOUGH_EFFECTIVE_CONNECTION", 12: "BLOCK_UNSOLIDIFIED",
    20: "OTHER_ERROR",
})  # fmt: skip

LOG_SPEC = MessageSpec(
    "protocol.TransactionInfo.Log",
    (
        FieldSpec("address", 1, Kind.BYTES, address=True),
        FieldSpec("topics", 2, Kind.BYTES, repeated=True),
        FieldSpec("data", 3, Kind.BYTES),
    ),
)
_RETURN = MessageSpec(
    "protocol.Return",
    (
        FieldSpec("result", 1, Kind.BOOL),
        FieldSpec("code", 2, Kind.ENUM, enum=RESPONSE_CODE),
        FieldSpec("message", 3, Kind.BYTES, text=True),
    ),
)
_EXTENTION = MessageSpec(
    "protocol.TransactionExtention",
    (
        FieldSpec("constant_result", 3, Kind.BYTES, repeated=True),
        FieldSpec("result", 4, Kind.MESSAGE, message=_RETURN),
        FieldSpec("energy_used", 5, Kind.INT64),
        FieldSpec("logs", 6, Kind.MESSAGE, repeated=True, message=LOG_SPEC),
        FieldSpec("energy_penalty", 8, Kind.INT64),
    ),
)
_SMART_CONTRACT = MessageSpec(
    "protocol.SmartContract",
    (
        FieldSpec("origin_address", 1, Kind.BYTES, address=True),
        FieldSpec("contract_address", 2, Kind.BYTES, address=True),
        FieldSpec("consume_user_resource_percent", 6, Kind.INT64),
        FieldSpec("name", 7, Kind.STRING),
        FieldSpec("origin_energy_limit", 8, Kind.INT64),
    ),
)
_CONTRACT_STATE = MessageSpec(
    "protocol.ContractState",
    (
        FieldSpec("energy_usage", 1, Kind.INT64),
        FieldSpec("energy_factor", 2, Kind.INT64),
        FieldSpec("update_cycle", 3, Kind.INT64),
    ),
)


def _log_values(log: ContractLog, address: bytes) -> dict[str, Any]:
    return {"address": address, "topics": list(log.topics), "data": log.data}


def vm_info_values(vm: VmReceipt, visible: bool, receipt: dict[str, Any]) -> dict[str, Any]:
    """TransactionInfo fields of a contract call (merged over the bandwidth receipt)."""
    return {
        "contractResult": [vm.result],
        "contract_address": vm.contract_address,
        "receipt": {
            **receipt,
            "energy_usage": vm.energy_usage,
            "energy_fee": vm.energy_fee_sun,
            "origin_energy_usage": vm.origin_energy_usage,
            "energy_usage_total": vm.energy_usage_total,
            "result": CONTRACT_RESULT_ENUM.number_of(vm.contract_ret),
            "energy_penalty_total": vm.energy_penalty_total,
        },
        "log": [
            _log_values(log, tron_address(log.address) if visible else log.address)
            for log in vm.logs
        ],
        "result": 1 if vm.runtime_error else 0,
        "resMessage": vm.runtime_error.encode(),
    }


def render_smart_contract(
    native: NativeContract, address: bytes, origin: bytes, visible: bool
) -> dict[str, Any]:
    """SmartContract as getcontract prints it (no bytecode: devnet runs it natively)."""
    values = {
        "origin_address": origin,
        "contract_address": address,
        "consume_user_resource_percent": native.consume_user_resource_percent,
        "name": native.name,
        "origin_energy_limit": native.origin_energy_limit,
    }
    printed = print_message(_SMART_CONTRACT, values, visible)
    head = {key: printed.pop(key) for key in ("origin_address", "contract_address")}
    return {**head, "abi": {"entrys": native.abi_entries()}, **printed}


def render_contract_state(energy_factor: int, update_cycle: int) -> dict[str, Any]:
    values = {"energy_factor": energy_factor, "update_cycle": update_cycle}
    return print_message(_CONTRACT_STATE, values, False)


def render_failure(code: str, message: str, visible: bool) -> dict[str, Any]:
    """A TransactionExtention or EstimateEnergyMessage whose Return says what went wrong."""
    result = {"code": RESPONSE_CODE.number_of(code), "message": message.encode()}
    return {"result": print_message(_RETURN, result, visible)}


def _outcome_message(run: RunResult) -> str:
    return run.runtime_error if not run.succeeded else ""


def render_transaction_extention(
    tx: Transaction, visible: bool, run: RunResult | None = None
) -> dict[str, Any]:
    """A successful trigger servlet answer: Return, the call's result and the transaction."""
    values: dict[str, Any] = {"result": {"result": True}}
    if run is not None:
        values["result"]["message"] = _outcome_message(run).encode()
        values.update(
            constant_result=[run.result],
            energy_used=run.energy_used,
            logs=[_log_values(log, log.address) for log in run.logs],
            energy_penalty=run.energy_penalty,
        )
    out = print_message(_EXTENTION, values, visible)
    out = {"result": out.pop("result"), **out}
    transaction = render_transaction(tx, visible)
    if run is not None:
        transaction = {"ret": [{} if run.succeeded else {"ret": "FAILED"}], **transaction}
    out["transaction"] = {**transaction, "visible": visible}
    return out


def render_estimate(run: RunResult, energy_required: int, visible: bool) -> dict[str, Any]:
    """EstimateEnergyMessage: the estimate, or CONTRACT_EXE_ERROR with the call's failure."""
    if energy_required:
        return {"result": {"result": True}, "energy_required": energy_required}
    return render_failure("CONTRACT_EXE_ERROR", _outcome_message(run), visible)
