"""worker/gateway.py against scripted aiohttp stubs on 127.0.0.1 (in-process, no external
server): failover, retries, circuit breakers, the classification table, the API key.

Breakers run on a fake clock; the only real wait is the slow-endpoint test's 0.1 s timeout.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import SecretStr, ValidationError
from structlog.testing import capture_logs

from worker.errors import NodeUnavailable, TransientError
from worker.gateway import PARAMETERS_FRESH_S, Gateway, NodeRejected, endpoint_names
from worker.metrics import Metrics
from worker.node_answers import _plain
from worker.ports import BroadcastReply
from worker.settings import TronSettings

API_KEY = "k-5e3f-not-for-logs"
THRESHOLD = 2
RESET_S = 30.0
BLOCK_ID = "00000000000000" + "0a" + "ab" * 24
PARENT_ID = "00000000000000" + "09" + "cd" * 24
NOW_BLOCK = {
    "blockID": BLOCK_ID,
    "block_header": {"raw_data": {"number": 10, "parentHash": PARENT_ID, "timestamp": 1234}},
}
HANG = object()  # a reply that never comes (until the test ends)


@dataclass
class Stub:
    """A node that answers each path from a script (the last reply repeats); 404 elsewhere."""

    script: dict[str, list[Any]] = field(default_factory=dict)
    seen: list[tuple[str, Any, dict[str, str]]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    def on(self, path: str, *replies: Any) -> None:
        self.script[path] = list(replies)

    def paths(self) -> list[str]:
        return [path for path, _, _ in self.seen]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json() if request.can_read_body else None
        self.seen.append((request.path, body, dict(request.headers)))
        replies = self.script.get(request.path.removeprefix("/trongrid"))
        if not replies:
            return web.Response(status=404, text="Not Found")
        reply = replies.pop(0) if len(replies) > 1 else replies[0]
        if reply is HANG:
            await self.release.wait()
            return web.json_response({})
        if isinstance(reply, int):
            return web.Response(status=reply, text="<html>node trouble</html>")
        if isinstance(reply, str):
            return web.Response(status=200, text=reply)
        return web.json_response(reply)


class Clock:
    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


@pytest.fixture
async def stubs() -> AsyncIterator[Callable[[], Awaitable[Stub]]]:
    servers: list[tuple[Stub, TestServer]] = []

    async def make() -> Stub:
        stub = Stub()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", stub.handle)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        stub.url = str(server.make_url("")).rstrip("/")
        servers.append((stub, server))
        return stub

    yield make
    for stub, server in servers:
        stub.release.set()
        await server.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
async def gateways(clock: Clock, metrics: Metrics) -> AsyncIterator[Callable[..., Gateway]]:
    made: list[Gateway] = []

    def make(*urls: str, solidity: list[str] | None = None, **overrides: Any) -> Gateway:
        settings = TronSettings(
            **{
                "endpoints": list(urls),
                "solidity_endpoints": solidity or [],
                "network": "devnet",
                "request_timeout_s": 2.0,
                "request_attempts": 2,
                "retry_backoff_s": 0.0,
                "circuit_failure_threshold": THRESHOLD,
                "circuit_reset_s": RESET_S,
                "api_key_header": "TRON-PRO-API-KEY",
                "api_key": SecretStr(API_KEY),
                **overrides,
            }
        )
        gateway = Gateway(settings, metrics, clock=clock)
        made.append(gateway)
        return gateway

    yield make
    for gateway in made:
        await gateway.aclose()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"  # nothing listens once closed


def requests(metrics: Metrics, url: str, method: str, outcome: str) -> float:
    labels = {"endpoint": endpoint_names([url])[0], "method": method, "outcome": outcome}
    return metrics.registry.get_sample_value("tron_worker_node_requests_total", labels) or 0.0


def circuit_open(metrics: Metrics, url: str) -> float | None:
    labels = {"endpoint": endpoint_names([url])[0]}
    return metrics.registry.get_sample_value("tron_worker_node_circuit_open", labels)


# --- failover and retries ------------------------------------------------------------------


async def test_primary_down_second_endpoint_answers(stubs, gateways, metrics) -> None:
    down = closed_port_url()
    second = await stubs()
    second.on("/wallet/getnowblock", NOW_BLOCK)

    ref = await gateways(down, second.url).head()

    assert (ref.number, ref.id, ref.timestamp_ms) == (10, BLOCK_ID, 1234)
    assert requests(metrics, down, "head", "connection_error") == 2  # request_attempts
    assert requests(metrics, second.url, "head", "ok") == 1


async def test_5xx_is_retried_then_fails_over(stubs, gateways, metrics) -> None:
    first, second = await stubs(), await stubs()
    first.on("/wallet/getnowblock", 503)
    second.on("/wallet/getnowblock", NOW_BLOCK)

    assert (await gateways(first.url, second.url).head()).number == 10

    assert first.paths() == ["/wallet/getnowblock"] * 2
    assert requests(metrics, first.url, "head", "http_5xx") == 2


async def test_5xx_then_success_stays_on_the_first_endpoint(stubs, gateways) -> None:
    first, second = await stubs(), await stubs()
    first.on("/wallet/getnowblock", 502, NOW_BLOCK)

    assert (await gateways(first.url, second.url).head()).number == 10
    assert second.seen == []


async def test_slow_endpoint_times_out_and_second_answers(stubs, gateways, metrics) -> None:
    slow, second = await stubs(), await stubs()
    slow.on("/wallet/getnowblock", HANG)
    second.on("/wallet/getnowblock", NOW_BLOCK)
    gateway = gateways(slow.url, second.url, request_timeout_s=0.1, request_attempts=1)

    assert (await gateway.head()).number == 10
    assert requests(metrics, slow.url, "head", "timeout") == 1


async def test_429_is_retried_on_the_same_endpoint(stubs, gateways, metrics) -> None:
    first, second = await stubs(), await stubs()
    first.on("/wallet/getnowblock", 429, NOW_BLOCK)

    assert (await gateways(first.url, second.url).head()).number == 10

    assert requests(metrics, first.url, "head", "http_429") == 1
    assert requests(metrics, first.url, "head", "ok") == 1
    assert second.seen == []


async def test_other_http_status_fails_over_without_retry(stubs, gateways, metrics) -> None:
    first, second = await stubs(), await stubs()
    first.on("/wallet/getnowblock", 403)
    second.on("/wallet/getnowblock", NOW_BLOCK)

    assert (await gateways(first.url, second.url).head()).number == 10
    assert len(first.seen) == 1
    assert requests(metrics, first.url, "head", "http_4xx") == 1


async def test_non_json_answer_is_transient(stubs, gateways, metrics) -> None:
    first, second = await stubs(), await stubs()
    first.on("/wallet/getnowblock", "<html>captive portal</html>")
    second.on("/wallet/getnowblock", {"unexpected": "shape"})

    with pytest.raises(NodeUnavailable) as caught:
        await gateways(first.url, second.url).head()

    assert requests(metrics, first.url, "head", "bad_response") == 2
    assert requests(metrics, second.url, "head", "bad_response") == 2
    assert isinstance(caught.value, TransientError)
    assert endpoint_names([first.url])[0] in str(caught.value)


async def test_all_endpoints_down_is_node_unavailable(gateways) -> None:
    with pytest.raises(NodeUnavailable, match="connection_error"):
        await gateways(closed_port_url(), closed_port_url()).chain_parameters()


# --- circuit breakers ----------------------------------------------------------------------


async def test_circuit_opens_skips_the_endpoint_and_recovers_after_cool_down(
    stubs, gateways, metrics, clock
) -> None:
    first, second = await stubs(), await stubs()
    first.on("/wallet/getnowblock", 500)
    second.on("/wallet/getnowblock", NOW_BLOCK)
    gateway = gateways(first.url, second.url)
    assert circuit_open(metrics, first.url) == 0

    await gateway.head()  # two failed tries = THRESHOLD: open
    assert circuit_open(metrics, first.url) == 1
    assert circuit_open(metrics, second.url) == 0

    first.on("/wallet/getnowblock", NOW_BLOCK)  # healthy again, but nobody asks yet
    clock.now_s += RESET_S - 1
    await gateway.head()
    assert len(first.seen) == 2
    assert requests(metrics, first.url, "head", "circuit_open") == 1

    clock.now_s += 1  # cool-down over: the next call probes the first endpoint
    await gateway.head()
    assert len(first.seen) == 3
    assert circuit_open(metrics, first.url) == 0
    assert len(second.seen) == 2


async def test_failed_probe_keeps_the_circuit_open(stubs, gateways, metrics, clock) -> None:
    first, second = await stubs(), await stubs()
    first.on("/wallet/getnowblock", 500)
    second.on("/wallet/getnowblock", NOW_BLOCK)
    gateway = gateways(first.url, second.url)
    await gateway.head()

    clock.now_s += RESET_S
    await gateway.head()

    assert len(first.seen) == 3  # one probe, no retry through a reopened circuit
    assert circuit_open(metrics, first.url) == 1


async def test_all_circuits_open_is_node_unavailable_without_requests(
    stubs, gateways, metrics
) -> None:
    first = await stubs()
    first.on("/wallet/getnowblock", 500)
    gateway = gateways(first.url)
    with pytest.raises(NodeUnavailable):
        await gateway.head()

    with pytest.raises(NodeUnavailable, match="circuit_open"):
        await gateway.head()
    assert len(first.seen) == 2


# --- API key -------------------------------------------------------------------------------


async def test_api_key_header_goes_to_any_host_and_never_to_logs(stubs, gateways) -> None:
    first, second = await stubs(), await stubs()
    first.on("/wallet/getnowblock", 503)
    second.on("/wallet/getnowblock", NOW_BLOCK)

    with capture_logs() as logs:
        await gateways(first.url, second.url).head()

    for stub in (first, second):
        assert all(headers.get("TRON-PRO-API-KEY") == API_KEY for _, _, headers in stub.seen)
    assert logs, "the failover is logged"
    assert API_KEY not in repr(logs)


async def test_our_key_wins_over_tronpys_trongrid_keys(stubs, gateways) -> None:
    """tronpy adds a key of its own on any URL containing "trongrid"; ours must win."""
    node = await stubs()
    node.on("/wallet/getnowblock", NOW_BLOCK)

    await gateways(node.url + "/trongrid").head()

    assert node.paths() == ["/trongrid/wallet/getnowblock"]
    assert node.seen[0][2]["TRON-PRO-API-KEY"] == API_KEY


async def test_no_key_header_without_a_key(stubs, gateways) -> None:
    node = await stubs()
    node.on("/wallet/getnowblock", NOW_BLOCK)
    await gateways(node.url, api_key=None).head()
    assert "TRON-PRO-API-KEY" not in node.seen[0][2]


# --- reads ---------------------------------------------------------------------------------


async def test_solidity_requests_go_to_the_solidity_url(stubs, gateways) -> None:
    full, solidity = await stubs(), await stubs()
    full.on("/wallet/getnowblock", NOW_BLOCK)
    solidity.on("/walletsolidity/getnowblock", NOW_BLOCK)
    gateway = gateways(full.url, solidity=[solidity.url])

    await gateway.head()
    await gateway.solid_head()

    assert full.paths() == ["/wallet/getnowblock"]
    assert solidity.paths() == ["/walletsolidity/getnowblock"]


async def test_account_posts_visible_address_and_maps_empty_to_none(stubs, gateways) -> None:
    node = await stubs()
    node.on("/wallet/getaccount", {"address": "TX", "balance": 5}, {})
    gateway = gateways(node.url)

    assert await gateway.account("TX") == {"address": "TX", "balance": 5}
    assert await gateway.account("TY") is None
    assert node.seen[0][1] == {"address": "TX", "visible": True}


async def test_chain_parameters_fill_in_omitted_zero_values(stubs, gateways) -> None:
    node = await stubs()
    node.on(
        "/wallet/getchainparameters",
        {"chainParameter": [{"key": "getEnergyFee", "value": 210}, {"key": "getAllowX"}]},
    )
    assert await gateways(node.url).chain_parameters() == {"getEnergyFee": 210, "getAllowX": 0}


async def test_chain_parameters_are_read_once_a_minute(stubs, gateways, clock) -> None:
    node = await stubs()
    node.on("/wallet/getchainparameters", {"chainParameter": [{"key": "getEnergyFee", "value": 1}]})
    gateway = gateways(node.url)
    first = await gateway.chain_parameters()
    first["getEnergyFee"] = 999  # a caller's copy: the kept values stay as read
    clock.now_s += PARAMETERS_FRESH_S - 1
    assert await gateway.chain_parameters() == {"getEnergyFee": 1}
    assert node.paths().count("/wallet/getchainparameters") == 1
    clock.now_s += 1
    await gateway.chain_parameters()
    assert node.paths().count("/wallet/getchainparameters") == 2


async def test_read_refused_by_every_endpoint_is_node_rejected(stubs, gateways, metrics) -> None:
    first, second = await stubs(), await stubs()
    for stub in (first, second):
        stub.on("/wallet/getaccount", {"Error": "class java.lang.NullPointerException : null"})
    gateway = gateways(first.url, second.url)

    with pytest.raises(NodeRejected, match="NullPointerException"):
        await gateway.account("not-an-address")

    assert len(first.seen) == len(second.seen) == 1  # refusals are not retried
    assert requests(metrics, first.url, "account", "node_error") == 1
    assert circuit_open(metrics, first.url) == 0  # a node that answers is a working node


async def test_refusal_of_a_read_without_input_is_node_trouble(stubs, gateways) -> None:
    node = await stubs()
    node.on("/wallet/getnowblock", {"Error": "class org.tron.core.exception.StoreException"})
    with pytest.raises(NodeUnavailable, match="node_error"):
        await gateways(node.url).head()


async def test_read_refused_by_one_endpoint_fails_over(stubs, gateways) -> None:
    first, second = await stubs(), await stubs()
    first.on("/wallet/getnowblock", {"Error": "class org.tron.core.exception.StoreException"})
    second.on("/wallet/getnowblock", NOW_BLOCK)
    assert (await gateways(first.url, second.url).head()).number == 10


async def test_refusal_and_unreachable_endpoint_is_still_unknown(stubs, gateways) -> None:
    first = await stubs()
    first.on("/wallet/getaccount", {"Error": "class java.lang.NullPointerException : null"})
    with pytest.raises(NodeUnavailable):
        await gateways(first.url, closed_port_url()).account("TX")


# --- solid blocks --------------------------------------------------------------------------

TX_A = {"txID": "aa" * 32, "raw_data": {}}
TX_B = {"txID": "bb" * 32, "raw_data": {}}


def solid(number: int, *transactions: dict[str, Any]) -> dict[str, Any]:
    raw = {"number": number, "parentHash": PARENT_ID, "timestamp": 3000 * number}
    block: dict[str, Any] = {
        "blockID": f"{number:016x}" + "ef" * 24,
        "block_header": {"raw_data": raw},
    }
    if transactions:
        block["transactions"] = list(transactions)
    return block


def receipt(tx: dict[str, Any]) -> dict[str, Any]:
    return {"id": tx["txID"], "blockNumber": 7, "receipt": {"net_usage": 268}}


BLOCK_PATH = "/walletsolidity/getblockbynum"
RECEIPTS_PATH = "/walletsolidity/gettransactioninfobyblocknum"


async def test_solid_block_maps_block_and_receipts(stubs, gateways) -> None:
    node = await stubs()
    node.on(BLOCK_PATH, solid(7, TX_A, TX_B))
    node.on(RECEIPTS_PATH, [receipt(TX_A), receipt(TX_B)])

    block = await gateways(node.url).solid_block(7)

    assert block is not None
    assert (block.number, block.id, block.parent_id) == (7, solid(7)["blockID"], PARENT_ID)
    assert block.timestamp_ms == 21000
    assert [tx["txID"] for tx in block.transactions] == [TX_A["txID"], TX_B["txID"]]
    assert block.receipts == [receipt(TX_A), receipt(TX_B)]
    assert block.endpoint == endpoint_names([node.url])[0]
    assert [body for _, body, _ in node.seen] == [{"num": 7}, {"num": 7}]


async def test_empty_solid_block_has_no_transactions(stubs, gateways) -> None:
    node = await stubs()
    node.on(BLOCK_PATH, solid(8))
    node.on(RECEIPTS_PATH, [])
    block = await gateways(node.url).solid_block(8)
    assert block is not None and block.transactions == [] and block.receipts == []


async def test_block_past_the_solid_head_is_none(stubs, gateways) -> None:
    node = await stubs()
    node.on(BLOCK_PATH, {})
    assert await gateways(node.url).solid_block(9) is None
    assert node.paths() == [BLOCK_PATH]


async def test_missing_receipts_redo_the_pair_on_the_same_endpoint(
    stubs, gateways, metrics
) -> None:
    first, second = await stubs(), await stubs()
    first.on(BLOCK_PATH, solid(7, TX_A))
    first.on(RECEIPTS_PATH, [], [receipt(TX_A)])  # not indexed yet, then complete

    block = await gateways(first.url, second.url).solid_block(7)

    assert block is not None and block.receipts == [receipt(TX_A)]
    assert first.paths() == [BLOCK_PATH, RECEIPTS_PATH, BLOCK_PATH, RECEIPTS_PATH]
    assert second.seen == []
    assert requests(metrics, first.url, "solid_block_receipts", "incomplete") == 1


async def test_receipts_failing_moves_both_requests_to_the_next_endpoint(stubs, gateways) -> None:
    first, second = await stubs(), await stubs()
    first.on(BLOCK_PATH, solid(7, TX_A))
    first.on(RECEIPTS_PATH, 503)
    second.on(BLOCK_PATH, solid(7, TX_A))
    second.on(RECEIPTS_PATH, [receipt(TX_A)])

    block = await gateways(first.url, second.url, circuit_failure_threshold=5).solid_block(7)

    assert block is not None and block.endpoint == endpoint_names([second.url])[0]
    assert second.paths() == [BLOCK_PATH, RECEIPTS_PATH]


async def test_a_different_block_than_asked_is_a_bad_answer(stubs, gateways) -> None:
    node = await stubs()
    node.on(BLOCK_PATH, solid(6))
    with pytest.raises(NodeUnavailable, match="bad_response"):
        await gateways(node.url).solid_block(7)


# --- broadcast -----------------------------------------------------------------------------

BROADCAST_PATH = "/wallet/broadcasthex"
TXID = "cc" * 32


async def _broadcast(gateway: Gateway) -> BroadcastReply:
    return await gateway.broadcast_hex("0a02beef")


async def test_broadcast_accepted(stubs, gateways) -> None:
    node = await stubs()
    node.on(BROADCAST_PATH, {"result": True, "code": "SUCCESS", "message": "", "txid": TXID})

    reply = await _broadcast(gateways(node.url))

    assert reply == BroadcastReply(True, "SUCCESS", "", TXID, endpoint_names([node.url])[0])
    assert node.seen[0][1] == {"transaction": "0a02beef"}


async def test_broadcast_duplicate_counts_as_accepted(stubs, gateways) -> None:
    node = await stubs()
    message = "Transaction is already in the pending pool"
    node.on(BROADCAST_PATH, {"code": "DUP_TRANSACTION_ERROR", "message": message, "txid": TXID})

    reply = await _broadcast(gateways(node.url))

    assert (reply.accepted, reply.code, reply.message) == (True, "DUP_TRANSACTION_ERROR", message)


async def test_broadcast_refusal_is_a_value_with_a_plain_text_message(
    stubs, gateways, metrics
) -> None:
    node, second = await stubs(), await stubs()
    text = "Validate signature error: miss sig or contract"
    node.on(BROADCAST_PATH, {"code": "SIGERROR", "message": text.encode().hex(), "txid": TXID})

    reply = await _broadcast(gateways(node.url, second.url))

    assert (reply.accepted, reply.code, reply.message, reply.txid) == (
        False,
        "SIGERROR",
        text,
        TXID,
    )
    assert second.seen == []  # a refusal is an answer: no failover
    assert requests(metrics, node.url, "broadcast_hex", "refused") == 1


async def test_broadcast_busy_goes_to_the_next_endpoint(stubs, gateways, metrics) -> None:
    first, second = await stubs(), await stubs()
    first.on(BROADCAST_PATH, {"code": "SERVER_BUSY", "message": "", "txid": TXID})
    second.on(BROADCAST_PATH, {"result": True, "code": "SUCCESS", "txid": TXID})

    reply = await _broadcast(gateways(first.url, second.url))

    assert reply.accepted and reply.endpoint == endpoint_names([second.url])[0]
    assert len(first.seen) == 1  # busy is not retried on the same endpoint
    assert requests(metrics, first.url, "broadcast_hex", "busy") == 1
    assert circuit_open(metrics, first.url) == 0


async def test_broadcast_busy_everywhere_returns_the_last_reply(stubs, gateways) -> None:
    first, second = await stubs(), await stubs()
    first.on(BROADCAST_PATH, {"code": "SERVER_BUSY", "txid": TXID})
    second.on(BROADCAST_PATH, {"code": "NOT_ENOUGH_EFFECTIVE_CONNECTION", "txid": TXID})

    reply = await _broadcast(gateways(first.url, second.url))

    assert (reply.accepted, reply.code) == (False, "NOT_ENOUGH_EFFECTIVE_CONNECTION")
    assert reply.endpoint == endpoint_names([second.url])[0]


async def test_broadcast_busy_and_unreachable_returns_the_busy_reply(stubs, gateways) -> None:
    first = await stubs()
    first.on(BROADCAST_PATH, {"code": "BLOCK_UNSOLIDIFIED", "txid": TXID})
    reply = await _broadcast(gateways(first.url, closed_port_url()))
    assert (reply.accepted, reply.code) == (False, "BLOCK_UNSOLIDIFIED")


async def test_broadcast_node_error_is_a_parse_error_reply(stubs, gateways) -> None:
    node = await stubs()
    error = "class com.google.protobuf.InvalidProtocolBufferException : While parsing..."
    node.on(BROADCAST_PATH, {"Error": error})

    reply = await _broadcast(gateways(node.url))

    assert reply == BroadcastReply(False, "PARSE_ERROR", error, None, reply.endpoint)


async def test_broadcast_5xx_retries_fails_over_then_node_unavailable(stubs, gateways) -> None:
    first, second = await stubs(), await stubs()
    first.on(BROADCAST_PATH, 500)
    second.on(BROADCAST_PATH, 504)

    with pytest.raises(NodeUnavailable, match="broadcast_hex"):
        await _broadcast(gateways(first.url, second.url, circuit_failure_threshold=5))

    assert len(first.seen) == len(second.seen) == 2


async def test_broadcast_reply_without_result_or_code_is_a_bad_answer(stubs, gateways) -> None:
    node = await stubs()
    node.on(BROADCAST_PATH, {"txid": TXID})
    with pytest.raises(NodeUnavailable, match="bad_response"):
        await _broadcast(gateways(node.url))


# --- contract calls and energy ------------------------------------------------------------

ESTIMATE_PATH = "/wallet/estimateenergy"
CONSTANT_PATH = "/wallet/triggerconstantcontract"
RESOURCE_PATH = "/wallet/getaccountresource"
OWNER = "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8"
USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
CALL_DATA = "a9059cbb" + "00" * 12 + "11" * 20 + f"{7:064x}"
CALL_BODY = {"owner_address": OWNER, "contract_address": USDT, "data": CALL_DATA, "visible": True}
REVERTED = "REVERT opcode executed"


def constant_reply(output: str, energy_used: int = 14_650, message: str = "") -> dict[str, Any]:
    """triggerconstantcontract's TransactionExtention (visible): a revert still has
    result.result true; it shows in the message and the transaction's ret."""
    result: dict[str, Any] = {"result": True, **({"message": message} if message else {})}
    ret = [{"ret": "FAILED"}] if message else [{}]
    return {
        "result": result,
        "constant_result": [output],
        "energy_used": energy_used,
        "transaction": {"ret": ret, "txID": TXID, "visible": True},
    }


def refusal(code: str, message: str) -> dict[str, Any]:
    return {"result": {"code": code, "message": message}}


def error_string(reason: str) -> str:
    """Solidity's Error(string) revert data."""
    text = reason.encode()
    padded = text.ljust(-(-len(text) // 32) * 32, b"\0")
    return "08c379a0" + f"{32:064x}" + f"{len(text):064x}" + padded.hex()


async def test_estimate_energy_posts_the_call_and_reads_energy_required(stubs, gateways) -> None:
    node = await stubs()
    node.on(ESTIMATE_PATH, {"result": {"result": True}, "energy_required": 21_975})

    assert await gateways(node.url).estimate_energy(OWNER, USDT, CALL_DATA) == 21_975
    assert node.seen[0][1] == CALL_BODY


@pytest.mark.parametrize("hex_message", [False, True])
async def test_estimate_energy_switched_off_falls_back_to_a_constant_call(
    stubs, gateways, metrics, hex_message: bool
) -> None:
    node, second = await stubs(), await stubs()
    text = "this node does not support estimate energy"
    node.on(
        ESTIMATE_PATH,
        refusal("CONTRACT_VALIDATE_ERROR", text.encode().hex() if hex_message else text),
    )
    node.on(CONSTANT_PATH, constant_reply("00" * 32, energy_used=14_650))

    assert await gateways(node.url, second.url).estimate_energy(OWNER, USDT, CALL_DATA) == 14_650

    assert node.paths() == [ESTIMATE_PATH, CONSTANT_PATH]
    assert [body for _, body, _ in node.seen] == [CALL_BODY, CALL_BODY]
    assert second.seen == []
    assert requests(metrics, node.url, "estimate_energy", "estimate_off") == 1
    assert requests(metrics, node.url, "estimate_energy_fallback", "ok") == 1
    assert circuit_open(metrics, node.url) == 0


async def test_estimate_fallback_that_reverts_is_node_rejected(stubs, gateways) -> None:
    node = await stubs()
    node.on(
        ESTIMATE_PATH,
        refusal("CONTRACT_VALIDATE_ERROR", "this node does not support estimate energy"),
    )
    node.on(CONSTANT_PATH, constant_reply("", energy_used=2_100, message=REVERTED))
    with pytest.raises(NodeRejected, match=REVERTED):
        await gateways(node.url).estimate_energy(OWNER, USDT, CALL_DATA)


async def test_estimate_of_a_reverting_call_is_node_rejected_everywhere(
    stubs, gateways, metrics
) -> None:
    first, second = await stubs(), await stubs()
    for stub in (first, second):
        stub.on(ESTIMATE_PATH, refusal("CONTRACT_EXE_ERROR", REVERTED.encode().hex()))

    with pytest.raises(NodeRejected, match=f"estimate_energy: {REVERTED}$"):
        await gateways(first.url, second.url).estimate_energy(OWNER, USDT, CALL_DATA)

    assert len(first.seen) == len(second.seen) == 1  # an answer: not retried
    assert requests(metrics, first.url, "estimate_energy", "reverted") == 1
    assert circuit_open(metrics, first.url) == 0


async def test_a_revert_and_an_unreachable_endpoint_is_still_unknown(stubs, gateways) -> None:
    node = await stubs()
    node.on(ESTIMATE_PATH, refusal("CONTRACT_EXE_ERROR", REVERTED))
    with pytest.raises(NodeUnavailable):
        await gateways(node.url, closed_port_url()).estimate_energy(OWNER, USDT, CALL_DATA)


async def test_invalid_call_is_node_rejected_with_the_code(stubs, gateways) -> None:
    node = await stubs()
    node.on(ESTIMATE_PATH, refusal("CONTRACT_VALIDATE_ERROR", "Smart contract is not exist."))
    with pytest.raises(NodeRejected, match="CONTRACT_VALIDATE_ERROR: Smart contract is not exist"):
        await gateways(node.url).estimate_energy(OWNER, OWNER, CALL_DATA)


async def test_node_without_constant_calls_fails_over_and_is_node_trouble(stubs, gateways) -> None:
    first, second = await stubs(), await stubs()
    text = "this node does not support constant, so estimate energy cannot work"
    first.on(ESTIMATE_PATH, refusal("CONTRACT_VALIDATE_ERROR", text))
    second.on(ESTIMATE_PATH, {"result": {"result": True}, "energy_required": 30_000})
    gateway = gateways(first.url, second.url)

    assert await gateway.estimate_energy(OWNER, USDT, CALL_DATA) == 30_000
    with pytest.raises(NodeUnavailable, match="unsupported"):
        await gateways(first.url).estimate_energy(OWNER, USDT, CALL_DATA)


async def test_vm_out_of_time_is_retried_as_node_load(stubs, gateways, metrics) -> None:
    node = await stubs()
    text = "class org.tron.core.vm.program.Program$OutOfTimeException : CPU timeout for 'PUSH1'"
    node.on(CONSTANT_PATH, refusal("OTHER_ERROR", text), constant_reply("00" * 31 + "01"))

    assert await gateways(node.url).constant_call(OWNER, USDT, CALL_DATA) == bytes(31) + b"\x01"
    assert requests(metrics, node.url, "constant_call", "vm_timeout") == 1


async def test_constant_call_returns_the_output_bytes(stubs, gateways) -> None:
    node = await stubs()
    balance = 10**12
    node.on(CONSTANT_PATH, constant_reply(f"{balance:064x}", energy_used=537))

    output = await gateways(node.url).constant_call(OWNER, USDT, CALL_DATA)

    assert int.from_bytes(output, "big") == balance and len(output) == 32
    assert node.seen[0][1] == CALL_BODY


async def test_constant_call_revert_carries_the_decoded_reason(stubs, gateways) -> None:
    node = await stubs()
    reason = "SafeMath: subtraction overflow"
    node.on(CONSTANT_PATH, constant_reply(error_string(reason), message=REVERTED.encode().hex()))

    with pytest.raises(NodeRejected) as caught:
        await gateways(node.url).constant_call(OWNER, USDT, CALL_DATA)

    assert str(caught.value) == f"TRON node refused constant_call: {REVERTED}: {reason}"


async def test_constant_call_failed_ret_without_a_message_is_rejected(stubs, gateways) -> None:
    node = await stubs()
    reply = constant_reply("")
    reply["transaction"]["ret"] = [{"ret": "FAILED"}]
    node.on(CONSTANT_PATH, reply)
    with pytest.raises(NodeRejected, match="FAILED"):
        await gateways(node.url).constant_call(OWNER, USDT, CALL_DATA)


@pytest.mark.parametrize(
    "reply",
    [{"result": {"result": True}}, {"result": {"result": True}, "constant_result": []}, {}],
)
async def test_constant_call_without_an_output_is_a_bad_answer(
    stubs, gateways, reply: dict[str, Any]
) -> None:
    node = await stubs()
    node.on(CONSTANT_PATH, reply)
    with pytest.raises(NodeUnavailable, match="bad_response"):
        await gateways(node.url).constant_call(OWNER, USDT, CALL_DATA)


@pytest.mark.parametrize(
    ("resource", "available"),
    [
        ({"freeNetLimit": 600, "EnergyUsed": 1_000, "EnergyLimit": 65_000}, 64_000),
        ({"freeNetLimit": 600, "EnergyLimit": 65_000}, 65_000),
        ({"freeNetLimit": 600, "TotalEnergyLimit": 180_000_000_000}, 0),
        ({"EnergyUsed": 70_000, "EnergyLimit": 65_000}, 0),  # limit cut after unstaking
        ({}, 0),  # no such account
    ],
)
async def test_energy_available_is_limit_minus_used(
    stubs, gateways, resource: dict[str, int], available: int
) -> None:
    node = await stubs()
    node.on(RESOURCE_PATH, resource)
    assert await gateways(node.url).energy_available(OWNER) == available
    assert node.seen[0][1] == {"address": OWNER, "visible": True}


async def test_energy_available_of_a_malformed_address_is_rejected(stubs, gateways) -> None:
    node = await stubs()
    node.on(RESOURCE_PATH, {"Error": "class java.lang.NullPointerException : null"})
    with pytest.raises(NodeRejected, match="NullPointerException"):
        await gateways(node.url).energy_available("not-an-address")


# --- pure parts ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "plain"),
    [
        ("", ""),
        ("Contract validate error : balance is not sufficient", None),
        ("636f6e7472616374206572726f72", "contract error"),
        ("deadbeef", None),  # hex, but not text: kept as is
        ("abc", None),
        (42, "42"),
    ],
)
def test_plain_decodes_hex_encoded_text_only(message: Any, plain: str | None) -> None:
    assert _plain(message) == (plain if plain is not None else message)


def test_endpoint_names_drop_credentials_paths_and_repeat_safely() -> None:
    urls = [
        "https://user@api.example.com/secret-token",
        "http://10.0.0.5:8090",
        "https://api.example.com?apikey=x",
        "http://[::1]:8090/",
    ]
    assert endpoint_names(urls) == [
        "https://api.example.com",
        "http://10.0.0.5:8090",
        "https://api.example.com#2",
        "http://[::1]:8090",
    ]


def _tron_settings(**overrides: Any) -> TronSettings:
    return TronSettings(
        **{
            "endpoints": ["http://a:8090", "http://b:8090/"],
            "network": "devnet",
            "request_timeout_s": 1.0,
            "request_attempts": 2,
            "retry_backoff_s": 0.2,
            "circuit_failure_threshold": 5,
            "circuit_reset_s": 30.0,
            "api_key_header": "TRON-PRO-API-KEY",
            **overrides,
        }
    )


def test_solidity_endpoints_default_to_the_full_node_urls() -> None:
    assert _tron_settings().solidity_endpoints == ["http://a:8090", "http://b:8090"]


def test_solidity_endpoints_pair_up_with_endpoints() -> None:
    settings = _tron_settings(solidity_endpoints=["http://a:8091/", "http://b:8091"])
    assert settings.solidity_endpoints == ["http://a:8091", "http://b:8091"]
    with pytest.raises(ValidationError, match=r"one entry per tron\.endpoints entry"):
        _tron_settings(solidity_endpoints=["http://a:8091"])
    with pytest.raises(ValidationError, match="must not contain a password"):
        _tron_settings(solidity_endpoints=["http://a:8091", "http://u:pw@b:8091"])


def test_the_genesis_block_parses_although_protobuf_json_omits_its_zeros() -> None:
    """A fresh chain's solidified head is genesis: no number, no timestamp in its JSON."""
    from worker.node_answers import _parse_block_ref

    genesis = {
        "blockID": "00000000000000006f1cfa1f9ac9163fc3b5fa04ca6944d66aab05d9b76672e0",
        "block_header": {"raw_data": {"txTrieRoot": "00" * 32, "parentHash": "ab" * 32}},
    }
    ref = _parse_block_ref(genesis)
    assert (ref.number, ref.timestamp_ms) == (0, 0)
