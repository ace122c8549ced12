"""java-tron's answers turned into values or classified failures (no I/O; worker.gateway sends).

Every answer is classified once, from the HTTP status (Gateway._fetch) and java-tron's
JSON (`Error`, `result`, `code`: the parsers here), never from tronpy's exception classes.
A failure is a `Failed` whose flags tell the Gateway what to do next:

    answer                               retried  next endpoint  breaker  when all fail
    timeout, connection error, 5xx, 429  yes      yes            failure  NodeUnavailable
    other HTTP status (401, 404, ...)    no       yes            failure  NodeUnavailable
    not JSON, or not the expected shape  yes      yes            failure  NodeUnavailable
    solid block missing receipts         yes      yes            failure  NodeUnavailable
    circuit open                         no       yes            -        NodeUnavailable
    read: 200 {"Error": ...}             no       yes            success  see (*)
    call: Return not ok, or the VM
      failed (revert, FAILED ret)        no       yes            success  see (*)
    call: VM CPU timeout (OutOfTime)     yes      yes            success  NodeUnavailable
    call: node serves no constant calls  no       yes            success  NodeUnavailable
    estimateenergy switched off          -        -              success  triggerconstantcontract
    broadcast: result true               -        -              success  accepted, SUCCESS
    broadcast: DUP_TRANSACTION_ERROR     -        -              success  accepted, code kept
    broadcast: SERVER_BUSY, NO_CONNECTION,
      NOT_ENOUGH_EFFECTIVE_CONNECTION,
      BLOCK_UNSOLIDIFIED                 no       yes            success  last reply, not accepted
    broadcast: any other code            -        -              success  not accepted
    broadcast: 200 {"Error": ...}        -        -              success  not accepted, PARSE_ERROR

(*) java-tron's servlets answer {"Error": "class <exception> : <message>"} for any
exception. For the reads of an address (`account`, `energy_available` and the Stake 2.0
reads but `witnesses`) that is mostly a malformed address, so when every endpoint
refused, NodeRejected (permanent). The trigger servlets
(estimateenergy, triggerconstantcontract) never answer {"Error"}: they put a Return in
the reply, `{"result": {"code": ..., "message": ...}}`, and a constant call that ran but
reverted has `result.result` true with `transaction.ret[0].ret` FAILED. Either is about
the call, so when every endpoint refused it, NodeRejected with the node's text. The
other reads carry no caller input, so there a refusal is node trouble: NodeUnavailable,
as when any endpoint failed otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from worker.ports import ACCOUNT_RESOURCE_KEYS, DELEGATION_KEYS, BlockRef, BroadcastReply
from worker.txbuild import address_from_base58, address_to_base58

__all__ = [
    "BROADCAST_ERROR_CODE",
    "DUP_CODE",
    "PARSERS",
    "RESEND_CODES",
    "Failed",
    "call_body",
    "parse_block",
    "parse_broadcast",
    "parse_energy_used",
    "parse_estimate",
    "parse_receipts",
    "parsed",
]

T = TypeVar("T")

# java-tron's "not accepted now: send the same bytes again, elsewhere if need be".
RESEND_CODES = frozenset(
    {"SERVER_BUSY", "NO_CONNECTION", "NOT_ENOUGH_EFFECTIVE_CONNECTION", "BLOCK_UNSOLIDIFIED"}
)
DUP_CODE = "DUP_TRANSACTION_ERROR"
# Our code for a broadcast the node could not even read (HTTP 200 {"Error": ...}):
# java-tron answers so when the hex, the protobuf or the request JSON does not parse.
BROADCAST_ERROR_CODE = "PARSE_ERROR"
_HEX_TEXT = re.compile(r"(?:[0-9a-fA-F]{2})+")
_BLOCK_ID = re.compile(r"[0-9a-f]{64}")
# Wallet.estimateEnergy's ContractValidateException when vm.estimateEnergy is false (the
# default), and callConstantContract's when vm.supportConstant is: a node's configuration.
_NO_ESTIMATE = "this node does not support estimate energy"
_NO_CONSTANT = "this node does not support constant"
_ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Solidity's Error(string) revert data


class Failed(Exception):
    """One endpoint did not serve one request; `outcome` is the metric label."""

    def __init__(
        self,
        outcome: str,
        detail: str = "",
        *,
        retry: bool = True,
        breaker_failure: bool = True,
        reply: Any = None,
    ) -> None:
        super().__init__(f"{outcome} {detail}".strip())
        self.outcome = outcome
        self.detail = detail
        self.retry = retry  # transient: try the same endpoint again
        self.breaker_failure = breaker_failure  # False: the node did answer
        self.reply = reply  # a value to return if no endpoint does better


def parsed(parse: Callable[[Any], T], data: Any) -> T:
    """`parse(data)`; an answer of unexpected shape is a transient bad_response."""
    try:
        return parse(data)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise Failed("bad_response", f"unexpected shape ({type(exc).__name__})") from exc


def _checked(data: Any) -> dict[str, Any]:
    """A read's JSON object; java-tron's {"Error": ...} is a refusal from a working node."""
    if not isinstance(data, dict):
        raise TypeError("not a JSON object")
    if "Error" in data:
        detail = str(data["Error"])[:300]
        raise Failed("node_error", detail, retry=False, breaker_failure=False)
    return data


def _parse_block_ref(data: Any) -> BlockRef:
    """getnowblock's answer as a BlockRef; a head must exist, so `{}` is a bad shape."""
    block = parse_block(None, data)
    if block is None:
        raise ValueError("no block")
    return BlockRef(block["number"], block["id"], block["timestamp_ms"])


def parse_block(number: int | None, data: Any) -> dict[str, Any] | None:
    """A block's fields as SolidBlock names them; None for java-tron's `{}` (no such block)."""
    data = _checked(data)
    if not data:
        return None
    raw = data["block_header"]["raw_data"]
    # Protobuf JSON leaves out default values: the genesis block has no number and no
    # timestamp (both 0), and a fresh chain's solidified head is the genesis block.
    block = {
        "number": int(raw.get("number", 0)),
        "id": data["blockID"],
        "parent_id": raw.get("parentHash", "0" * 64),
        "timestamp_ms": int(raw.get("timestamp", 0)),
        "transactions": list(data.get("transactions", [])),
    }
    if not _BLOCK_ID.fullmatch(block["id"]) or (number is not None and block["number"] != number):
        raise ValueError("not the block asked for")
    return block


def parse_receipts(transactions: list[dict[str, Any]], data: Any) -> list[dict[str, Any]]:
    """gettransactioninfobyblocknum's list, which must cover every transaction."""
    # java-tron answers `[]` for a block it has not indexed yet too, so a gap is transient.
    if isinstance(data, dict):
        _checked(data)
    if not isinstance(data, list):
        raise TypeError("not a JSON list")
    have = {receipt.get("id") for receipt in data}
    missing = [tx["txID"] for tx in transactions if tx["txID"] not in have]
    if missing:
        raise Failed("incomplete", f"{len(missing)} of {len(transactions)} receipts missing")
    return data


def _parse_account(data: Any) -> dict[str, Any] | None:
    """getaccount's account; None for `{}` (an address the chain has never seen)."""
    return _checked(data) or None


def _parse_chain_parameters(data: Any) -> dict[str, int]:
    """getchainparameters' list as a name -> value mapping."""
    # A zero value has no `value` key (protobuf JSON leaves defaults out).
    entries = _checked(data)["chainParameter"]
    return {entry["key"]: int(entry.get("value", 0)) for entry in entries}


def _parse_energy_available(data: Any) -> int:
    """getaccountresource's energy left to the account now (limit minus used, at least 0)."""
    # An account without energy (or no account: `{}`) has neither key.
    resource = _checked(data)
    return max(0, int(resource.get("EnergyLimit", 0)) - int(resource.get("EnergyUsed", 0)))


# --- Stake 2.0 and votes: JsonFormat prints of api.proto replies, zero fields left out ----


def _parse_account_resource(data: Any) -> dict[str, int]:
    """getaccountresource's figures, 0 for each one left out (all of them for `{}`)."""
    resource = _checked(data)
    return {key: int(resource.get(key, 0)) for key in ACCOUNT_RESOURCE_KEYS}


def _int_reply(key: str) -> Callable[[Any], int]:
    """The parser of a one-number reply (max_size, count, amount): `{}` when it is 0."""

    def parse(data: Any) -> int:
        return int(_checked(data).get(key, 0))

    return parse


def _parse_delegated_resource(data: Any) -> list[dict[str, int]]:
    """getdelegatedresourcev2's records (`{}`: none), their figures with zeros filled in."""
    records = _checked(data).get("delegatedResource", [])
    if not isinstance(records, list):
        raise TypeError("delegatedResource is not a list")
    return [{key: int(record.get(key, 0)) for key in DELEGATION_KEYS} for record in records]


def _parse_reward(data: Any) -> int:
    """getReward's `{"reward": n}` (printed by hand, so never left out)."""
    return int(_checked(data)["reward"])


def _parse_witnesses(data: Any) -> list[str]:
    """listwitnesses' addresses as base58. The servlet reads `visible` from the query only,
    so a POST gets them as hex (`41…`); base58 (a proxy that adds ?visible) is kept."""
    witnesses = _checked(data).get("witnesses", [])
    if not isinstance(witnesses, list):
        raise TypeError("witnesses is not a list")
    return [_base58(str(witness["address"])) for witness in witnesses]


def _base58(address: str) -> str:
    """A java-tron address, hex `41…` or base58, as base58; ValueError if it is neither."""
    if address.startswith("T"):
        address_from_base58(address)
        return address
    return address_to_base58(bytes.fromhex(address))


def call_body(owner: str, contract: str, data_hex: str) -> dict[str, Any]:
    """A trigger servlet's request (estimateenergy, triggerconstantcontract)."""
    # `data` is honoured next to contract_address since java-tron GreatVoyage-v4.7.2;
    # before, these servlets wanted function_selector.
    return {
        "owner_address": owner,
        "contract_address": contract,
        "data": data_hex,
        "visible": True,
    }


def _call_reply(data: Any) -> dict[str, Any]:
    """A trigger servlet's answer whose call ran and succeeded; else raises its refusal."""
    # The answer is a TransactionExtention (triggerconstantcontract) or an
    # EstimateEnergyMessage (estimateenergy); both carry a Return in `result`.
    reply = _checked(data)
    ret = reply["result"]
    message = _plain(ret.get("message", ""))
    if ret.get("result") is not True:
        raise _refusal(str(ret.get("code", "")), message)
    results = reply.get("transaction", {}).get("ret") or [{}]
    if results[0].get("ret") == "FAILED" or message:
        output = (reply.get("constant_result") or [""])[0]
        raise _reverted(message, bytes.fromhex(output))
    return reply


def _refusal(code: str, message: str) -> Failed:
    """The failure a trigger servlet's not-ok Return stands for, by its code and message."""
    detail = f"{code}: {message}"[:300]
    if message.startswith(_NO_ESTIMATE):
        return Failed("estimate_off", detail, retry=False, breaker_failure=False)
    if message.startswith(_NO_CONSTANT):
        return Failed("unsupported", detail, retry=False, breaker_failure=False)
    if "OutOfTimeException" in message:  # the node's VM ran out of CPU time: its load
        return Failed("vm_timeout", detail, breaker_failure=False)
    if code == "CONTRACT_EXE_ERROR":  # estimateenergy: the call failed in the VM
        return _reverted(message, b"")
    return Failed("node_error", detail, retry=False, breaker_failure=False)


def _reverted(message: str, output: bytes) -> Failed:
    """A call that failed in the VM: a refusal, with the node's text and the revert reason."""
    reason = _revert_reason(output)
    detail = f"{message}: {reason}" if message and reason else message or reason or "FAILED"
    return Failed("reverted", detail[:300], retry=False, breaker_failure=False)


def _revert_reason(output: bytes) -> str:
    """The text of Solidity's Error(string) revert data; "" for any other output."""
    if output[:4] != _ERROR_SELECTOR:
        return ""
    args = output[4:]
    offset = int.from_bytes(args[:32], "big")
    length = int.from_bytes(args[offset : offset + 32], "big")
    text = args[offset + 32 : offset + 32 + length]
    if len(text) != length:
        return ""
    return text.decode("utf-8", "replace")


def parse_estimate(data: Any) -> int:
    """estimateenergy's energy_required."""
    return int(_call_reply(data)["energy_required"])


def parse_energy_used(data: Any) -> int:
    """triggerconstantcontract's energy_used: the estimate where estimateenergy is off."""
    return int(_call_reply(data).get("energy_used", 0))


def _parse_constant_call(data: Any) -> bytes:
    """triggerconstantcontract's return data."""
    return bytes.fromhex(_call_reply(data)["constant_result"][0])


# The parser of each plain read, by Gateway method name.
PARSERS: dict[str, Callable[[Any], Any]] = {
    "head": _parse_block_ref,
    "solid_head": _parse_block_ref,
    "account": _parse_account,
    "chain_parameters": _parse_chain_parameters,
    "energy_available": _parse_energy_available,
    "constant_call": _parse_constant_call,
    "account_resource": _parse_account_resource,
    "can_delegate_max_size": _int_reply("max_size"),
    "delegated_resource": _parse_delegated_resource,
    "available_unfreeze_count": _int_reply("count"),
    "can_withdraw_unfreeze_amount": _int_reply("amount"),
    "reward": _parse_reward,
    "witnesses": _parse_witnesses,
}


def parse_broadcast(endpoint: str, data: Any) -> BroadcastReply:
    """Map java-tron's broadcast answer; a resend code fails over, keeping the reply."""
    if not isinstance(data, dict):
        raise TypeError("not a JSON object")
    txid = data.get("txid") if isinstance(data.get("txid"), str) else None
    if "Error" in data:
        return BroadcastReply(False, BROADCAST_ERROR_CODE, _plain(data["Error"]), txid, endpoint)
    message = _plain(data.get("message", ""))
    if data.get("result") is True:
        return BroadcastReply(True, "SUCCESS", message, txid, endpoint)
    code = data.get("code")
    if not isinstance(code, str) or not code:
        raise ValueError("neither result nor code")
    reply = BroadcastReply(code == DUP_CODE, code, message, txid, endpoint)
    if code in RESEND_CODES:
        raise Failed("busy", code, retry=False, breaker_failure=False, reply=reply)
    return reply


def _plain(message: Any) -> str:
    """Plain text: broadcasttransaction hex-encodes its message (protobuf bytes as JSON)."""
    if not isinstance(message, str):
        return str(message)
    if _HEX_TEXT.fullmatch(message):
        try:
            decoded = bytes.fromhex(message).decode("utf-8")
        except UnicodeDecodeError:
            return message
        if decoded.isprintable():
            return decoded
    return message
