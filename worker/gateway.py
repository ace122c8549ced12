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
    broadcast: result true               -        -              success  accepted, SUCCESS
    broadcast: DUP_TRANSACTION_ERROR     -        -              success  accepted, code kept
    broadcast: SERVER_BUSY, NO_CONNECTION,
      NOT_ENOUGH_EFFECTIVE_CONNECTION,
      BLOCK_UNSOLIDIFIED                 no       yes            success  last reply, not accepted
    broadcast: any other code            -        -              success  not accepted
    broadcast: 200 {"Error": ...}        -        -              success  not accepted, PARSE_ERROR

(*) java-tron's servlets answer {"Error": "class <exception> : <message>"} for any
exception. For `account(address)` that is mostly a malformed address, so when every
endpoint refused, NodeRejected (permanent). The other reads carry no caller input,
so there it is node trouble: NodeUnavailable, as when any endpoint failed otherwise.
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


class NodeRejected(PermanentError):
    """Every endpoint answered `account(address)` with java-tron's {"Error": ...}: the
    address is malformed, so retrying cannot help."""

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
    refused = all(failed.outcome == "node_error" for _, failed in failures)
    if rejectable and failures and refused:
        raise NodeRejected(f"TRON node refused {method}: {failures[-1][1].detail}")
    summary = ", ".join(f"{name} {failed.outcome}" for name, failed in failures)
    raise NodeUnavailable(f"no TRON endpoint answered {method} ({summary})")


# --- answers ------------------------------------------------------------------------------------


def _parsed(parse: Callable[[Any], T], data: Any) -> T:
    try:
        return parse(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
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


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "head": _parse_block_ref,
    "solid_head": _parse_block_ref,
    "account": _parse_account,
    "chain_parameters": _parse_chain_parameters,
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
