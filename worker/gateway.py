"""TRON nodes behind one port (ports.TronNode): failover, timeouts, retries, circuit breakers.

A call walks the endpoints in order, skipping those whose circuit is open. On each
it makes up to `tron.request_attempts` tries (tenacity) while the failure is
transient, then fails over to the next. Requests go over one shared aiohttp session
that holds our API-key header (aiohttp, not tronpy's httpx provider: a third of the CPU
per request, measured by bench/). Every answer is classified once, in `_fetch`
(transport, HTTP status) and the parsers of worker.node_answers (java-tron's JSON); the
table of what each answer means for retries, failover and breakers is in that module.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import aiohttp
import structlog
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from worker.circuit import CircuitBreaker, CircuitState
from worker.errors import NodeUnavailable, PermanentError
from worker.metrics import Metrics
from worker.node_answers import (
    BROADCAST_ERROR_CODE,
    PARSERS,
    RESEND_CODES,
    Failed,
    call_body,
    parse_block,
    parse_broadcast,
    parse_energy_used,
    parse_estimate,
    parse_receipts,
    parsed,
)
from worker.ports import BlockRef, BroadcastReply, SolidBlock
from worker.settings import TronSettings

__all__ = ["BROADCAST_ERROR_CODE", "RESEND_CODES", "Gateway", "NodeRejected", "endpoint_names"]

log = structlog.get_logger()

T = TypeVar("T")

# Outcomes that are an answer about the caller's input, not node trouble.
_REFUSALS = frozenset({"node_error", "reverted"})
PARAMETERS_FRESH_S = 60.0  # how long chain parameters read from a node are used


class NodeRejected(PermanentError):
    """Every endpoint refused a read that carries the caller's input: a malformed address,
    or a contract call that is invalid or would revert. Retrying cannot help."""

    code = "NODE_REJECTED"


@dataclass(frozen=True)
class _Endpoint:
    name: str
    full: str  # base URL, ending in "/"
    solidity: str
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
        self._headers = headers
        self._session: aiohttp.ClientSession | None = None  # made in the running loop
        self._parameters: tuple[float, dict[str, int]] | None = None  # (read at, values)
        names = endpoint_names(settings.endpoints)
        self._endpoints = [
            _Endpoint(name, full + "/", solid + "/", self._breaker(name))
            for name, full, solid in zip(
                names, settings.endpoints, settings.solidity_endpoints, strict=True
            )
        ]

    @property
    def endpoints(self) -> list[str]:
        """The endpoints' names, in failover order."""
        return [endpoint.name for endpoint in self._endpoints]

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

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
        """The chain's parameters, kept PARAMETERS_FRESH_S: they change only by a committee
        proposal, at a maintenance period (every 6 h on mainnet), and what reads them (fee
        estimates, activation fees) carries a margin; a transfer need not ask every time."""
        kept = self._parameters
        if kept is not None and self._clock() - kept[0] < PARAMETERS_FRESH_S:
            return dict(kept[1])
        path = "wallet/getchainparameters"
        read = await self._call(
            "chain_parameters", partial(self._read, "chain_parameters", path, {})
        )
        self._parameters = (self._clock(), dict(read))
        return read

    async def solid_block(self, number: int) -> SolidBlock | None:
        return await self._call("solid_block", partial(self._solid_block, number))

    async def estimate_energy(self, owner: str, contract: str, data_hex: str) -> int:
        estimate = partial(self._estimate_energy, call_body(owner, contract, data_hex))
        return await self._call("estimate_energy", estimate, rejectable=True)

    async def constant_call(self, owner: str, contract: str, data_hex: str) -> bytes:
        body = call_body(owner, contract, data_hex)
        read = partial(self._read, "constant_call", "wallet/triggerconstantcontract", body)
        return await self._call("constant_call", read, rejectable=True)

    async def energy_available(self, address: str) -> int:
        params = {"address": address, "visible": True}
        read = partial(self._read, "energy_available", "wallet/getaccountresource", params)
        return await self._call("energy_available", read, rejectable=True)

    async def broadcast_hex(self, transaction_hex: str) -> BroadcastReply:
        return await self._call("broadcast_hex", partial(self._broadcast, transaction_hex))

    # Stake 2.0 and votes. Each servlet parses its own request message, so each has its
    # own parameter names (api/api.proto); `visible` makes them take base58 addresses.

    async def account_resource(self, address: str) -> dict[str, int]:
        params = {"address": address, "visible": True}
        return await self._address_read("account_resource", "getaccountresource", params)

    async def can_delegate_max_size(self, owner: str, resource: str) -> int:
        params = {"owner_address": owner, "type": _resource_code(resource), "visible": True}
        return await self._address_read("can_delegate_max_size", "getcandelegatedmaxsize", params)

    async def delegated_resource(self, owner: str, receiver: str) -> list[dict[str, int]]:
        params = {"fromAddress": owner, "toAddress": receiver, "visible": True}
        return await self._address_read("delegated_resource", "getdelegatedresourcev2", params)

    async def available_unfreeze_count(self, owner: str) -> int:
        params = {"owner_address": owner, "visible": True}
        method, servlet = "available_unfreeze_count", "getavailableunfreezecount"
        return await self._address_read(method, servlet, params)

    async def can_withdraw_unfreeze_amount(self, owner: str, timestamp_ms: int) -> int:
        params = {"owner_address": owner, "timestamp": timestamp_ms, "visible": True}
        method, servlet = "can_withdraw_unfreeze_amount", "getcanwithdrawunfreezeamount"
        return await self._address_read(method, servlet, params)

    async def reward(self, address: str) -> int:
        # GetRewardServlet reads `address` alone: hex when it starts with 41, else base58.
        return await self._address_read("reward", "getReward", {"address": address})

    async def witnesses(self) -> list[str]:
        read = partial(self._read, "witnesses", "wallet/listwitnesses", {})
        return await self._call("witnesses", read)

    async def _address_read(self, method: str, servlet: str, params: dict[str, Any]) -> Any:
        read = partial(self._read, method, "wallet/" + servlet, params)
        return await self._call(method, read, rejectable=True)

    # --- one endpoint --------------------------------------------------------------------------

    async def _read(self, method: str, path: str, params: dict[str, Any], ep: _Endpoint) -> Any:
        return await self._post(ep, method, path, params, PARSERS[method])

    async def _solid_block(self, number: int, ep: _Endpoint) -> SolidBlock | None:
        """Block and receipts from one endpoint: a failure of either redoes both (tenacity
        retries this whole function), so the two never come from different nodes."""
        num = {"num": number}
        path = "walletsolidity/getblockbynum"
        block = await self._post(ep, "solid_block", path, num, partial(parse_block, number))
        if block is None:
            return None
        receipts = await self._post(
            ep,
            "solid_block_receipts",
            "walletsolidity/gettransactioninfobyblocknum",
            num,
            partial(parse_receipts, block["transactions"]),
        )
        return SolidBlock(**block, receipts=receipts, endpoint=ep.name)

    async def _estimate_energy(self, body: dict[str, Any], ep: _Endpoint) -> int:
        """estimateenergy's energy_required; on a node that has it switched off, the
        energy_used of the same call run as a constant call, from the same endpoint."""
        path = "wallet/estimateenergy"
        try:
            return await self._post(ep, "estimate_energy", path, body, parse_estimate)
        except Failed as failed:
            if failed.outcome != "estimate_off":
                raise
        path = "wallet/triggerconstantcontract"
        return await self._post(ep, "estimate_energy_fallback", path, body, parse_energy_used)

    async def _broadcast(self, transaction_hex: str, ep: _Endpoint) -> BroadcastReply:
        params = {"transaction": transaction_hex}
        parse = partial(parse_broadcast, ep.name)
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
            raise Failed("circuit_open", retry=False, breaker_failure=False)
        base = ep.solidity if path.startswith("walletsolidity/") else ep.full
        started_s = self._clock()
        verdict: bool | None = None  # did the endpoint work; None: no verdict (cancelled)
        outcome = "unfinished"
        try:
            result = parsed(parse, await self._fetch(base, path, params))
            verdict = True
            refused = isinstance(result, BroadcastReply) and not result.accepted
            outcome = "refused" if refused else "ok"
            return result
        except Failed as failed:
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

    async def _fetch(self, base: str, path: str, params: dict[str, Any]) -> Any:
        """The JSON of one answer; transport and HTTP-status failures become Failed."""
        if self._session is None:
            self._session = aiohttp.ClientSession(headers=self._headers)
        try:
            async with asyncio.timeout(self._settings.request_timeout_s):
                async with self._session.post(
                    base + path, json=params, allow_redirects=False
                ) as response:
                    status = response.status
                    body = await response.read()
        except TimeoutError as exc:
            raise Failed("timeout") from exc
        except (aiohttp.ClientConnectionError, OSError) as exc:
            raise Failed("connection_error", type(exc).__name__) from exc
        except aiohttp.ClientError as exc:  # a malformed answer (payload, headers)
            raise Failed("bad_response", type(exc).__name__) from exc
        if status == 429:
            raise Failed("http_429", "429")
        if status >= 500:
            raise Failed("http_5xx", str(status))
        if status >= 300:
            # 401/403 (key), 404 (path not served), 3xx: this endpoint, not a passing fault.
            raise Failed(f"http_{status // 100}xx", str(status), retry=False)
        try:
            return json.loads(body)
        except ValueError as exc:  # not JSON, not UTF-8
            raise Failed("bad_response", type(exc).__name__) from exc

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
        failures: list[tuple[str, Failed]] = []
        for ep in self._endpoints:
            retrying = AsyncRetrying(
                retry=retry_if_exception(lambda exc: isinstance(exc, Failed) and exc.retry),
                stop=stop_after_attempt(self._settings.request_attempts),
                wait=wait_exponential(multiplier=self._settings.retry_backoff_s),
                sleep=self._sleep,
                reraise=True,
            )
            try:
                return await retrying(attempt, ep)
            except Failed as failed:
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


def _resource_code(resource: str) -> int:
    """common.proto ResourceCode: the number getcandelegatedmaxsize's `type` takes."""
    codes = {"BANDWIDTH": 0, "ENERGY": 1}
    if resource not in codes:
        raise ValueError(f"resource must be ENERGY or BANDWIDTH, not {resource!r}")
    return codes[resource]


def _give_up(method: str, failures: list[tuple[str, Failed]], rejectable: bool) -> Any:
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
