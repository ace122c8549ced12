"""TRON nodes behind one port (ports.TronNode): failover, timeouts, retries, circuit breakers.

A call walks the endpoints in order, skipping those whose circuit is open. On each
it makes up to `tron.request_attempts` tries (tenacity) while the failure is
transient, then fails over to the next. tronpy's AsyncHTTPProvider carries the
requests over one shared httpx client that holds our timeout and API-key header.
Every answer is classified once, in `_fetch` and the `_parse_*` functions, from
the HTTP status and java-tron's JSON (`Error`, `result`, `code`), never from
tronpy's exception classes:

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
exception. For `account` and `energy_available` that is mostly a malformed address, so
when every endpoint refused, NodeRejected (permanent). The trigger servlets
(estimateenergy, triggerconstantcontract) never answer {"Error"}: they put a Return in
the reply, `{"result": {"code": ..., "message": ...}}`, and a constant call that ran but
reverted has `result.result` true with `transaction.ret[0].ret` FAILED. Either is about
the call, so when every endpoint refused it, NodeRejected with the node's text. The
other reads carry no caller input, so there a refusal is node trouble: NodeUnavailable,
as when any endpoint failed otherwise.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import httpx
import structlog
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential
from tronpy.providers import AsyncHTTPProvider

from worker.circuit import CircuitBreaker, CircuitState
from worker.errors import NodeUnavailable, PermanentError
from worker.metrics import Metrics
from worker.ports import BlockRef, BroadcastReply, SolidBlock
from worker.settings import TronSettings

__all__ = ["BROADCAST_ERROR_CODE", "RESEND_CODES", "Gateway", "NodeRejected", "endpoint_names"]

log = structlog.get_logger()

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
# Outcomes that are an answer about the caller's input, not node trouble.
_REFUSALS = frozenset({"node_error", "reverted"})


class NodeRejected(PermanentError):
    """Every endpoint refused a read that carries the caller's input: a malformed address,
    or a contract call that is invalid or would revert. Retrying cannot help."""

    code = "NODE_REJECTED"


class _Failed(Exception):
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


@dataclass(frozen=True)
class _Endpoint:
    name: str
    full: AsyncHTTPProvider
    solidity: AsyncHTTPProvider
    breaker: CircuitBreaker


def endpoint_names(urls: list[str]) -> list[str]:
    """Metric and log names: scheme://host[:port] only, as a path, query or user part may
    carry a provider's token; repeats get a #2, #3 suffix."""
    names: list[str] = []
    for url in urls:
        parts = urlsplit(url)
        host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
        name = f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")
        names.append(name if name not in names else f"{name}#{names.count(name) + 1}")
    return names


class Gateway:
    """The real TronNode. Build one in the composition root; `aclose()` it at shutdown.

    Args:
        settings: the [tron] section.
        metrics: the process's metrics.
        clock: monotonic seconds, for circuit cool-downs and latencies (tests inject one).
        sleep: the wait between retries on one endpoint.
    """

    def __init__(
        self,
        settings: TronSettings,
        metrics: Metrics,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        self._sleep = sleep
        headers = {}
        if settings.api_key is not None:
            headers[settings.api_key_header] = settings.api_key.get_secret_value()
        self._client = httpx.AsyncClient(
            headers=headers, timeout=httpx.Timeout(settings.request_timeout_s)
        )
        names = endpoint_names(settings.endpoints)
        self._endpoints = [
            _Endpoint(name, self._provider(full), self._provider(solid), self._breaker(name))
            for name, full, solid in zip(
                names, settings.endpoints, settings.solidity_endpoints, strict=True
            )
        ]

    @property
    def endpoints(self) -> list[str]:
        """The endpoints' names, in failover order."""
        return [endpoint.name for endpoint in self._endpoints]

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> Gateway:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # --- TronNode ----------------------------------------------------------------------------

    async def head(self) -> BlockRef:
        return await self._call("head", partial(self._read, "head", "wallet/getnowblock", {}))

    async def solid_head(self) -> BlockRef:
        path = "walletsolidity/getnowblock"
        return await self._call("solid_head", partial(self._read, "solid_head", path, {}))

    async def account(self, address: str) -> dict[str, Any] | None:
        params = {"address": address, "visible": True}
        read = partial(self._read, "account", "wallet/getaccount", params)
        return await self._call("account", read, rejectable=True)

    async def chain_parameters(self) -> dict[str, int]:
        path = "wallet/getchainparameters"
        return await self._call(
            "chain_parameters", partial(self._read, "chain_parameters", path, {})
        )

    async def solid_block(self, number: int) -> SolidBlock | None:
        return await self._call("solid_block", partial(self._solid_block, number))

    async def estimate_energy(self, owner: str, contract: str, data_hex: str) -> int:
        estimate = partial(self._estimate_energy, _call_body(owner, contract, data_hex))
        return await self._call("estimate_energy", estimate, rejectable=True)

    async def constant_call(self, owner: str, contract: str, data_hex: str) -> bytes:
        body = _call_body(owner, contract, data_hex)
        read = partial(self._read, "constant_call", "wallet/triggerconstantcontract", body)
        return await self._call("constant_call", read, rejectable=True)

    async def energy_available(self, address: str) -> int:
        params = {"address": address, "visible": True}
        read = partial(self._read, "energy_available", "wallet/getaccountresource", params)
        return await self._call("energy_available", read, rejectable=True)

    async def broadcast_hex(self, transaction_hex: str) -> BroadcastReply:
        return await self._call("broadcast_hex", partial(self._broadcast, transaction_hex))

    # --- one endpoint --------------------------------------------------------------------------

    async def _read(self, method: str, path: str, params: dict[str, Any], ep: _Endpoint) -> Any:
        return await self._post(ep, method, path, params, _PARSERS[method])

    async def _solid_block(self, number: int, ep: _Endpoint) -> SolidBlock | None:
        """Block and receipts from one endpoint: a failure of either redoes both (tenacity
        retries this whole function), so the two never come from different nodes."""
        num = {"num": number}
        path = "walletsolidity/getblockbynum"
        block = await self._post(ep, "solid_block", path, num, partial(_parse_block, number))
        if block is None:
            return None
        receipts = await self._post(
            ep,
            "solid_block_receipts",
            "walletsolidity/gettransactioninfobyblocknum",
            num,
            partial(_parse_receipts, block["transactions"]),
        )
        return SolidBlock(**block, receipts=receipts, endpoint=ep.name)

    async def _estimate_energy(self, body: dict[str, Any], ep: _Endpoint) -> int:
        """estimateenergy's energy_required; on a node that has it switched off, the
        energy_used of the same call run as a constant call, from the same endpoint."""
        path = "wallet/estimateenergy"
        try:
            return await self._post(ep, "estimate_energy", path, body, _parse_estimate)
        except _Failed as failed:
            if failed.outcome != "estimate_off":
                raise
        path = "wallet/triggerconstantcontract"
        return await self._post(ep, "estimate_energy_fallback", path, body, _parse_energy_used)

    async def _broadcast(self, transaction_hex: str, ep: _Endpoint) -> BroadcastReply:
        params = {"transaction": transaction_hex}
        parse = partial(_parse_broadcast, ep.name)
        return await self._post(ep, "broadcast_hex", "wallet/broadcasthex", params, parse)

    async def _post(
        self,
        ep: _Endpoint,
        method: str,
        path: str,
        params: dict[str, Any],
        parse: Callable[[Any], T],
    ) -> T:
        """One request to one endpoint through its breaker, measured and classified."""
        if not ep.breaker.allow():
            self._metrics.node_requests_total.labels(ep.name, method, "circuit_open").inc()
            raise _Failed("circuit_open", retry=False, breaker_failure=False)
        provider = ep.solidity if path.startswith("walletsolidity/") else ep.full
        started_s = self._clock()
        verdict: bool | None = None  # did the endpoint work; None: no verdict (cancelled)
        outcome = "unfinished"
        try:
            result = _parsed(parse, await self._fetch(provider, path, params))
            verdict = True
            refused = isinstance(result, BroadcastReply) and not result.accepted
            outcome = "refused" if refused else "ok"
            return result
        except _Failed as failed:
            verdict = not failed.breaker_failure
            outcome = failed.outcome
            raise
        finally:
            self._metrics.node_latency_seconds.labels(ep.name, method).observe(
                max(0.0, self._clock() - started_s)
            )
            self._metrics.node_requests_total.labels(ep.name, method, outcome).inc()
            if verdict is None:
                ep.breaker.release()
            elif verdict:
                ep.breaker.record_success()
            else:
                ep.breaker.record_failure()

    async def _fetch(self, provider: AsyncHTTPProvider, path: str, params: dict[str, Any]) -> Any:
        """The JSON of one answer; transport and HTTP-status failures become _Failed."""
        try:
            async with asyncio.timeout(self._settings.request_timeout_s):
                return await provider.make_request(path, params)
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise _Failed("timeout") from exc
        except httpx.HTTPStatusError as exc:
            status = exc.response.status_code
            if status == 429:
                raise _Failed("http_429", "429") from exc
            if status >= 500:
                raise _Failed("http_5xx", str(status)) from exc
            # 401/403 (key), 404 (path not served), 3xx: this endpoint, not a passing fault.
            raise _Failed(f"http_{status // 100}xx", str(status), retry=False) from exc
        except httpx.TransportError as exc:
            raise _Failed("connection_error", type(exc).__name__) from exc
        except (httpx.RequestError, ValueError) as exc:  # bad encoding; JSONDecodeError
            raise _Failed("bad_response", type(exc).__name__) from exc

    # --- failover ------------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        attempt: Callable[[_Endpoint], Awaitable[T]],
        *,
        rejectable: bool = False,
    ) -> T:
        """Each endpoint in order, each with bounded retries, until one answers.
        rejectable: a refusal by every endpoint is NodeRejected (the caller's input)."""
        failures: list[tuple[str, _Failed]] = []
        for ep in self._endpoints:
            retrying = AsyncRetrying(
                retry=retry_if_exception(lambda exc: isinstance(exc, _Failed) and exc.retry),
                stop=stop_after_attempt(self._settings.request_attempts),
                wait=wait_exponential(multiplier=self._settings.retry_backoff_s),
                sleep=self._sleep,
                reraise=True,
            )
            try:
                return await retrying(attempt, ep)
            except _Failed as failed:
                failures.append((ep.name, failed))
                if failed.outcome != "circuit_open":
                    log.warning(
                        "tron endpoint failed",
                        endpoint=ep.name,
                        method=method,
                        outcome=failed.outcome,
                        detail=failed.detail,
                    )
        return cast(T, _give_up(method, failures, rejectable))

    def _provider(self, url: str) -> AsyncHTTPProvider:
        provider = AsyncHTTPProvider(
            url + "/", timeout=self._settings.request_timeout_s, client=self._client
        )
        # On trongrid hosts tronpy would set its own key header (shared public keys when
        # given none), overriding ours; the client's header goes to every host instead.
        provider.use_api_key = False
        return provider

    def _breaker(self, name: str) -> CircuitBreaker:
        gauge = self._metrics.node_circuit_open.labels(name)
        gauge.set(0)

        def on_change(state: CircuitState) -> None:
            gauge.set(0 if state is CircuitState.CLOSED else 1)
            if state is CircuitState.OPEN:
                log.warning("tron endpoint circuit open", endpoint=name)
            else:
                log.info("tron endpoint circuit " + state.value, endpoint=name)

        return CircuitBreaker(
            failure_threshold=self._settings.circuit_failure_threshold,
            reset_s=self._settings.circuit_reset_s,
            clock=self._clock,
            on_change=on_change,
        )


def _give_up(method: str, failures: list[tuple[str, _Failed]], rejectable: bool) -> Any:
    """After the last endpoint: a refusal worth returning, else the right exception.

    A resend reply wins even if another endpoint's outcome is unknown: either way the
    caller's next step is to send the same bytes again."""
    for _, failed in reversed(failures):
        if failed.reply is not None:
            return failed.reply
    refused = all(failed.outcome in _REFUSALS for _, failed in failures)
    if rejectable and failures and refused:
        raise NodeRejected(f"TRON node refused {method}: {failures[-1][1].detail}")
    summary = ", ".join(f"{name} {failed.outcome}" for name, failed in failures)
    raise NodeUnavailable(f"no TRON endpoint answered {method} ({summary})")


# --- answers ------------------------------------------------------------------------------------


def _parsed(parse: Callable[[Any], T], data: Any) -> T:
    try:
        return parse(data)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise _Failed("bad_response", f"unexpected shape ({type(exc).__name__})") from exc


def _checked(data: Any) -> dict[str, Any]:
    """A read's JSON object; java-tron's {"Error": ...} is a refusal from a working node."""
    if not isinstance(data, dict):
        raise TypeError("not a JSON object")
    if "Error" in data:
        detail = str(data["Error"])[:300]
        raise _Failed("node_error", detail, retry=False, breaker_failure=False)
    return data


def _parse_block_ref(data: Any) -> BlockRef:
    block = _parse_block(None, data)
    if block is None:
        raise ValueError("no block")
    return BlockRef(block["number"], block["id"], block["timestamp_ms"])


def _parse_block(number: int | None, data: Any) -> dict[str, Any] | None:
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


def _parse_receipts(transactions: list[dict[str, Any]], data: Any) -> list[dict[str, Any]]:
    """gettransactioninfobyblocknum's list, which must cover every transaction: java-tron
    answers `[]` for a block it has not indexed yet too, so a gap is transient."""
    if isinstance(data, dict):
        _checked(data)
    if not isinstance(data, list):
        raise TypeError("not a JSON list")
    have = {receipt.get("id") for receipt in data}
    missing = [tx["txID"] for tx in transactions if tx["txID"] not in have]
    if missing:
        raise _Failed("incomplete", f"{len(missing)} of {len(transactions)} receipts missing")
    return data


def _parse_account(data: Any) -> dict[str, Any] | None:
    return _checked(data) or None


def _parse_chain_parameters(data: Any) -> dict[str, int]:
    # A zero value has no `value` key (protobuf JSON leaves defaults out).
    entries = _checked(data)["chainParameter"]
    return {entry["key"]: int(entry.get("value", 0)) for entry in entries}


def _parse_energy_available(data: Any) -> int:
    # An account without energy (or no account: `{}`) has neither key.
    resource = _checked(data)
    return max(0, int(resource.get("EnergyLimit", 0)) - int(resource.get("EnergyUsed", 0)))


def _call_body(owner: str, contract: str, data_hex: str) -> dict[str, Any]:
    """A trigger servlet's request. `data` is honoured next to contract_address since
    java-tron GreatVoyage-v4.7.2; before, these servlets wanted function_selector."""
    return {
        "owner_address": owner,
        "contract_address": contract,
        "data": data_hex,
        "visible": True,
    }


def _call_reply(data: Any) -> dict[str, Any]:
    """A trigger servlet's answer (TransactionExtention, EstimateEnergyMessage) whose call
    ran and succeeded; anything else raises the refusal it is."""
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


def _refusal(code: str, message: str) -> _Failed:
    detail = f"{code}: {message}"[:300]
    if message.startswith(_NO_ESTIMATE):
        return _Failed("estimate_off", detail, retry=False, breaker_failure=False)
    if message.startswith(_NO_CONSTANT):
        return _Failed("unsupported", detail, retry=False, breaker_failure=False)
    if "OutOfTimeException" in message:  # the node's VM ran out of CPU time: its load
        return _Failed("vm_timeout", detail, breaker_failure=False)
    if code == "CONTRACT_EXE_ERROR":  # estimateenergy: the call failed in the VM
        return _reverted(message, b"")
    return _Failed("node_error", detail, retry=False, breaker_failure=False)


def _reverted(message: str, output: bytes) -> _Failed:
    reason = _revert_reason(output)
    detail = f"{message}: {reason}" if message and reason else message or reason or "FAILED"
    return _Failed("reverted", detail[:300], retry=False, breaker_failure=False)


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


def _parse_estimate(data: Any) -> int:
    return int(_call_reply(data)["energy_required"])


def _parse_energy_used(data: Any) -> int:
    return int(_call_reply(data).get("energy_used", 0))


def _parse_constant_call(data: Any) -> bytes:
    return bytes.fromhex(_call_reply(data)["constant_result"][0])


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "head": _parse_block_ref,
    "solid_head": _parse_block_ref,
    "account": _parse_account,
    "chain_parameters": _parse_chain_parameters,
    "energy_available": _parse_energy_available,
    "constant_call": _parse_constant_call,
}


def _parse_broadcast(endpoint: str, data: Any) -> BroadcastReply:
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
        raise _Failed("busy", code, retry=False, breaker_failure=False, reply=reply)
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
