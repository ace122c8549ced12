"""devnet/api.py over HTTP: java-tron's request and response conventions, quirks included.

Blocks are produced by hand (no timer), so every answer is deterministic.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from devnet.api import create_app
from devnet.chain import Chain
from devnet.genesis import build_genesis
from devnet.keys import address_to_base58

START_MS = 1_800_000_000_000
LAG = 2
HEAD = 5


@pytest.fixture
def chain() -> Chain:
    chain = Chain(build_genesis(), solidify_lag_blocks=LAG)
    for n in range(HEAD):
        chain.produce_block(START_MS + 3000 * n, chain.genesis.witnesses[n % 3])
    return chain


@pytest.fixture
async def client(chain: Chain) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(create_app(chain))) as test_client:
        yield test_client


async def _json(client: TestClient, method: str, path: str, **kwargs: object) -> dict:
    response = await client.request(method, path, **kwargs)  # type: ignore[arg-type]
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert (await response.text()).endswith("\n")
    return await response.json()


def _witness(block: dict) -> str:
    return block["block_header"]["raw_data"]["witness_address"]


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize(
    "path",
    ["getnowblock", "getblockbynum", "getblockbyid", "getnodeinfo"],
)
async def test_endpoints_answer_get_and_post_on_both_views(
    client: TestClient, method: str, path: str
) -> None:
    for prefix in ("/wallet/", "/walletsolidity/"):
        await _json(client, method, prefix + path)


async def test_getnowblock_reads_visible_from_the_query_only(
    client: TestClient, chain: Chain
) -> None:
    head = chain.head_block
    hex_witness = head.header.witness_address.hex()

    posted = await _json(client, "POST", "/wallet/getnowblock", json={"visible": True})
    queried = await _json(client, "GET", "/wallet/getnowblock?visible=true")

    assert posted["blockID"] == head.block_id.hex()
    assert _witness(posted) == hex_witness  # tronpy's body flag is ignored, as by java-tron
    assert _witness(queried) == address_to_base58(head.header.witness_address)


async def test_getblockbynum_post_body_and_get_query(client: TestClient, chain: Chain) -> None:
    block = chain.block_by_number(2)
    assert block is not None

    posted = await _json(client, "POST", "/wallet/getblockbynum", json={"num": 2, "visible": True})
    queried = await _json(client, "GET", "/wallet/getblockbynum?num=2")

    assert posted["blockID"] == queried["blockID"] == block.block_id.hex()
    assert _witness(posted) == address_to_base58(block.header.witness_address)
    assert _witness(queried) == block.header.witness_address.hex()


async def test_missing_num_means_genesis(client: TestClient, chain: Chain) -> None:
    block = await _json(client, "POST", "/wallet/getblockbynum", json={})

    assert block["blockID"] == chain.block_by_number(0).block_id.hex()  # type: ignore[union-attr]


async def test_getblockbyid_accepts_0x_and_get_query(client: TestClient, chain: Chain) -> None:
    block_id = chain.block_by_number(3).block_id.hex()  # type: ignore[union-attr]

    posted = await _json(client, "POST", "/wallet/getblockbyid", json={"value": "0x" + block_id})
    queried = await _json(client, "GET", f"/wallet/getblockbyid?value={block_id}")

    assert posted["blockID"] == queried["blockID"] == block_id


async def test_missing_blocks_are_empty_objects(client: TestClient) -> None:
    assert await _json(client, "POST", "/wallet/getblockbynum", json={"num": 99}) == {}
    assert await _json(client, "POST", "/wallet/getblockbynum", json={"num": -1}) == {}
    assert await _json(client, "POST", "/wallet/getblockbyid", json={"value": "00" * 32}) == {}
    assert await _json(client, "POST", "/wallet/getblockbyid", json={"value": "abcd"}) == {}


async def test_solidity_view_ends_at_head_minus_lag(client: TestClient, chain: Chain) -> None:
    solid = await _json(client, "POST", "/walletsolidity/getnowblock")
    newest_id = chain.head_block.block_id.hex()

    assert solid["block_header"]["raw_data"]["number"] == HEAD - LAG
    assert await _json(client, "POST", "/walletsolidity/getblockbynum", json={"num": HEAD}) == {}
    unsolid = await _json(client, "POST", "/walletsolidity/getblockbyid", json={"value": newest_id})
    assert unsolid == {}


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "expected"),
    [
        (
            "GET", "/wallet/getblockbynum?num=abc", {},
            'class java.lang.NumberFormatException : For input string: "abc"',
        ),
        (
            "POST", "/wallet/getblockbynum", {"json": {"num": "abc"}},
            "class org.tron.core.services.http.JsonFormat$ParseException : "
            'Couldn\'t parse integer: For input string: "abc"',
        ),
        (
            "POST", "/wallet/getblockbyid", {"json": {"value": "zz"}},
            "class org.tron.core.services.http.JsonFormat$ParseException : invalidate hex String",
        ),
        (
            "POST", "/wallet/getblockbynum", {"data": "{not json"},
            None,  # fastjson's message; only the class is asserted
        ),
    ],
)  # fmt: skip
async def test_bad_input_is_http_200_with_java_error(
    client: TestClient, method: str, path: str, kwargs: dict, expected: str | None
) -> None:
    answer = await _json(client, method, path, **kwargs)

    assert list(answer) == ["Error"]
    if expected is None:
        assert answer["Error"].startswith("class com.alibaba.fastjson.JSONException : ")
    else:
        assert answer["Error"] == expected


async def test_unknown_path_is_404_and_unsupported_method_405(client: TestClient) -> None:
    assert (await client.post("/wallet/nosuchendpoint", json={})).status == 404
    assert (await client.post("/walletsolidity/getchainparameters", json={})).status == 404
    assert (await client.put("/wallet/getnowblock")).status == 405


async def test_chain_parameters_are_the_genesis_values(client: TestClient, chain: Chain) -> None:
    answer = await _json(client, "POST", "/wallet/getchainparameters", json={"visible": True})

    entries = answer["chainParameter"]
    assert [entry["key"] for entry in entries] == list(chain.genesis.chain_parameters)
    assert {"key": "getAllowUpdateAccountName"} in entries  # zero: no "value" key
    assert {"key": "getEnergyFee", "value": 100} in entries


async def test_node_info_is_the_same_on_both_views(client: TestClient, chain: Chain) -> None:
    head = await _json(client, "GET", "/wallet/getnodeinfo")
    solid = await _json(client, "GET", "/walletsolidity/getnodeinfo")

    assert head["block"] == solid["block"] == f"Num:{HEAD},ID:{chain.head_block.block_id.hex()}"
    assert head["solidityBlock"].startswith(f"Num:{HEAD - LAG},ID:")
