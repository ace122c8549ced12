"""The fault middleware: carries out devnet.faults' decisions on the java-tron API.

Faults touch only `/wallet/*` and `/walletsolidity/*`; `/devnet/*` always
answers, so a test can switch off what it switched on. Order, as a client
would live it: the blackhole holds the request, then the latency, then a
timeout (held, then cut) or a 5xx; only a request that got through reaches
the broadcast faults (drop, lost response) or the tamper fault, which act
around the real handlers, so those handlers know nothing of faults.
"""

from __future__ import annotations

import asyncio
import json
from http import HTTPStatus
from typing import Any

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from devnet.broadcast import BROADCAST_ENDPOINTS, BroadcastEndpoint
from devnet.chain import Chain
from devnet.errors import TransactionRejected
from devnet.faults import NO_FAULTS, FaultConfig, FaultInjector, RequestAction
from devnet.faults_tamper import tamper_transaction
from devnet.http import JavaError, json_response, read_post_params
from devnet.producer import BlockProducer
from devnet.transactions import (
    Transaction,
    TransactionParseError,
    parse_transaction,
    render_transaction,
)

__all__ = ["FAULTS", "FaultController", "fault_middleware"]

log = structlog.get_logger(__name__)

_API_PREFIXES = ("/wallet/", "/walletsolidity/")
# They answer with a transaction too, but nobody signs it.
_NOT_BUILDERS = frozenset({"triggerconstantcontract", "estimateenergy"})


class FaultController:
    """The injector in force plus its side effects: the producer, held requests, shutdown."""

    def __init__(
        self,
        chain: Chain,
        producer: BlockProducer,
        config: FaultConfig = NO_FAULTS,
        injector: FaultInjector | None = None,
    ) -> None:
        self.chain = chain
        self.injector = injector or FaultInjector()
        self._producer = producer
        self._closing = False
        self._wake = asyncio.Event()
        self.configure(config)

    @property
    def config(self) -> FaultConfig:
        return self.injector.config

    def configure(self, config: FaultConfig) -> None:
        """Put config in force; paused/running applies at once, held requests re-check."""
        previous = self.injector.config
        self.injector.configure(config)
        if config.blocks == "paused":
            self._producer.pause()
        else:
            self._producer.resume()
        self._notify()
        if config != previous or config != NO_FAULTS:
            faults = config.model_dump(mode="json", exclude_defaults=True)
            log.info("faults configured", faults=faults)

    def release(self) -> None:
        """Devnet is stopping: every held request is cut now, so shutdown does not wait."""
        self._closing = True
        self._notify()

    def _notify(self) -> None:
        # Swap before setting, so a waiter that loops waits for the next change.
        event, self._wake = self._wake, asyncio.Event()
        event.set()

    async def hold_while_blackholed(self, path: str) -> bool:
        """Wait while the blackhole covers path; False when devnet is stopping."""
        while self.injector.blackholed(path) and not self._closing:
            await self._wake.wait()
        return not self._closing

    async def sleep(self, seconds: float) -> bool:
        """Sleep, cut short only by shutdown; False when devnet is stopping."""
        try:
            async with asyncio.timeout(seconds):
                while not self._closing:
                    await self._wake.wait()
        except TimeoutError:
            pass
        return not self._closing


FAULTS = web.AppKey("devnet_faults", FaultController)


def _cut(request: web.Request) -> web.StreamResponse:
    """Close the connection without an answer (the response returned is never written)."""
    if request.transport is not None:
        request.transport.abort()
    return web.Response()


def _error_response(config: FaultConfig) -> web.Response:
    try:
        reason = HTTPStatus(config.error_status).phrase
    except ValueError:  # a 5xx without a standard name
        reason = "Server Error"
    if config.error_body == "text":
        return web.Response(status=config.error_status, text=f"{reason}\n")
    response = json_response({"Error": f"{reason} (devnet fault injection)"})
    response.set_status(config.error_status)
    return response


def _json_body(response: web.StreamResponse) -> Any:
    if not isinstance(response, web.Response) or response.status != 200 or response.text is None:
        return None
    try:
        return json.loads(response.text)
    except ValueError:
        return None


async def _posted_transaction(
    request: web.Request, endpoint: BroadcastEndpoint
) -> tuple[Transaction, bool] | None:
    try:
        return await endpoint.read(request)
    except JavaError:
        return None  # the real handler gives java-tron's answer


async def _broadcast(
    request: web.Request, handler: Handler, faults: FaultController, endpoint: BroadcastEndpoint
) -> web.StreamResponse:
    if faults.config.drop_broadcast is not None:
        posted = await _posted_transaction(request, endpoint)
        if posted is not None:
            tx, visible = posted
            try:
                faults.chain.broadcast(tx, dry_run=True)
            except TransactionRejected:
                pass  # refused anyway: the real handler says why
            else:
                if faults.injector.take_drop_broadcast():
                    log.info("fault: broadcast accepted and dropped", txid=tx.txid.hex())
                    return json_response(endpoint.reply(tx, None, visible))
    response = await handler(request)
    if faults.config.lost_response is None:
        return response
    body = _json_body(response)
    if isinstance(body, dict) and body.get("result") is True:
        lost = faults.injector.take_lost_response()
        if lost is not None:
            log.info("fault: broadcast answer lost", txid=body.get("txid"), mode=lost.mode)
            if lost.mode == "disconnect":
                return _cut(request)
            return web.Response(status=500, text="Internal Server Error\n")
    return response


def _built_transaction(payload: Any) -> dict[str, Any] | None:
    """The unsigned transaction a builder endpoint answered with, at the top or nested."""
    if not isinstance(payload, dict):
        return None
    candidate = payload if "raw_data" in payload else payload.get("transaction")
    if isinstance(candidate, dict) and "raw_data_hex" in candidate and "signature" not in candidate:
        return candidate
    return None


async def _tampered(
    request: web.Request, response: web.StreamResponse, faults: FaultController
) -> web.StreamResponse:
    tamper = faults.config.tamper
    if tamper is None:
        return response
    payload = _json_body(response)
    built = _built_transaction(payload)
    if built is None:
        return response
    visible = (await read_post_params(request)).visible  # the handler parsed it already
    try:
        tx = parse_transaction(built, visible)
    except TransactionParseError:
        return response
    if tx.raw_bytes.hex() != built["raw_data_hex"]:
        log.warning("fault: cannot tamper, devnet does not re-encode this transaction")
        return response
    changed = tamper_transaction(tx, tamper)
    if changed is None or faults.injector.take_tamper() is None:
        return response
    log.info("fault: built transaction tampered", txid=tx.txid.hex(), tampered=changed.txid.hex())
    built.update(render_transaction(changed, visible))
    if isinstance(payload.get("txid"), str):
        payload["txid"] = changed.txid.hex()
    return json_response(payload)


@web.middleware
async def fault_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Apply the faults in force to java-tron API requests; /devnet/* passes untouched."""
    path = request.path
    if not path.startswith(_API_PREFIXES):
        return await handler(request)
    faults = request.app[FAULTS]
    if not await faults.hold_while_blackholed(path):
        return _cut(request)
    plan = faults.injector.plan_request(path)
    if plan.delay_s and not await faults.sleep(plan.delay_s):
        return _cut(request)
    if plan.action is RequestAction.TIMEOUT:
        log.debug("fault: request held, then cut", path=path)
        await faults.sleep(faults.config.timeout_s)
        return _cut(request)
    if plan.action is RequestAction.ERROR:
        log.debug("fault: request answered with an error", path=path)
        return _error_response(faults.config)
    endpoint = BROADCAST_ENDPOINTS.get(path)
    if endpoint is not None:
        return await _broadcast(request, handler, faults, endpoint)
    response = await handler(request)
    if request.method == "POST" and path.rsplit("/", 1)[-1] not in _NOT_BUILDERS:
        return await _tampered(request, response, faults)
    return response
