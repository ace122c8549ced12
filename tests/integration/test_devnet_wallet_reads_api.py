"""The reads devnet serves for TronWeb, wallets and explorers, over HTTP, as java-tron answers.

getblockbylimitnext, getblockbylatestnum, gettransactioncountbyblocknum,
getbandwidthprices, getenergyprices, listnodes, listproposals and
getapprovedlist. A hand-driven chain (blocks 3 s apart, solidified two
blocks behind the head) behind aiohttp's test server, so answers are exact:
block 2 holds two transfers, block 3 one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from devnet import builders
from devnet.api import create_app
from devnet.chain import Chain
from devnet.keys import address_to_base58
from devnet.transactions import RawData, Transaction, render_transaction
from tests.unit.devnet.staking_support import TRX, address, keys, make_chain, next_block, submit

HEAD = 6
SOLID = HEAD - 2
NULL_NUMBER = "class java.lang.NumberFormatException : null"


@pytest.fixture
def chain() -> Chain:
    chain = make_chain()  # block 1
    alice, bob, carol = keys(chain)[:3]
    submit(chain, alice, "TransferContract", to_address=address(bob), amount=1 * TRX)
    submit(chain, bob, "TransferContract", to_address=address(carol), amount=2 * TRX)
    next_block(chain)  # block 2
    submit(chain, carol, "TransferContract", to_address=address(alice), amount=3 * TRX)
    next_block(chain, HEAD - 2)  # blocks 3 .. HEAD
    assert chain.head_block.number == HEAD
    return chain


@pytest.fixture
async def client(chain: Chain) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(create_app(chain))) as test_client:
        yield test_client


async def call(client: TestClient, method: str, path: str, **kwargs: Any) -> Any:
    response = await client.request(method, path, **kwargs)
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    text = await response.text()
    assert text.endswith("\n")
    return await response.json()


def numbers(answer: dict[str, Any]) -> list[int]:
    return [block["block_header"]["raw_data"].get("number", 0) for block in answer["block"]]


async def test_limit_next_lists_blocks_from_start_to_before_end(
    client: TestClient, chain: Chain
) -> None:
    posted = await call(
        client, "POST", "/wallet/getblockbylimitnext", json={"startNum": 1, "endNum": 4}
    )
    queried = await call(client, "GET", "/wallet/getblockbylimitnext?startNum=1&endNum=4")

    assert posted == queried
    assert numbers(posted) == [1, 2, 3]
    assert [block["blockID"] for block in posted["block"]] == [
        chain.block_by_number(n).block_id.hex()  # type: ignore[union-attr]
        for n in (1, 2, 3)
    ]
    assert [len(block.get("transactions", [])) for block in posted["block"]] == [0, 2, 1]


async def test_limit_next_stops_at_each_views_newest_block(client: TestClient) -> None:
    head = await call(client, "GET", "/wallet/getblockbylimitnext?startNum=0&endNum=100")
    solid = await call(client, "GET", "/walletsolidity/getblockbylimitnext?startNum=0&endNum=100")
    past = await call(client, "GET", "/wallet/getblockbylimitnext?startNum=50&endNum=60")

    assert numbers(head) == list(range(HEAD + 1))
    assert numbers(solid) == list(range(SOLID + 1))
    assert past == {"block": []}  # in bounds, nothing found: the array is still there


@pytest.mark.parametrize(
    ("start", "end"),
    [(0, 0), (3, 3), (4, 3), (0, 101), (-5, -1), (-(2**63), 1)],
)
async def test_limit_next_out_of_bounds_is_an_empty_object(
    client: TestClient, start: int, end: int
) -> None:
    # (-2**63, 1): end - start overflows a Java long to a negative limit.
    answer = await call(
        client, "POST", "/wallet/getblockbylimitnext", json={"startNum": start, "endNum": end}
    )
    assert answer == {}


async def test_limit_next_with_a_negative_start_finds_nothing(client: TestClient) -> None:
    answer = await call(client, "GET", "/wallet/getblockbylimitnext?startNum=-2&endNum=3")
    assert answer == {"block": []}


async def test_limit_next_visible_prints_base58_witnesses(client: TestClient, chain: Chain) -> None:
    answer = await call(
        client,
        "POST",
        "/wallet/getblockbylimitnext",
        json={"startNum": 1, "endNum": 2, "visible": True},
    )
    witness = chain.block_by_number(1).header.witness_address  # type: ignore[union-attr]
    raw = answer["block"][0]["block_header"]["raw_data"]
    assert raw["witness_address"] == address_to_base58(witness)


async def test_latest_num_gives_the_newest_blocks_oldest_first(client: TestClient) -> None:
    posted = await call(client, "POST", "/wallet/getblockbylatestnum", json={"num": 3})
    queried = await call(client, "GET", "/wallet/getblockbylatestnum?num=3")
    solid = await call(client, "GET", "/walletsolidity/getblockbylatestnum?num=3")
    everything = await call(client, "GET", "/wallet/getblockbylatestnum?num=99")

    assert posted == queried
    assert numbers(posted) == [HEAD - 2, HEAD - 1, HEAD]
    assert numbers(solid) == [SOLID - 2, SOLID - 1, SOLID]
    assert numbers(everything) == list(range(HEAD + 1))  # genesis included


@pytest.mark.parametrize("num", [0, -1, 100])
async def test_latest_num_out_of_bounds_is_an_empty_object(client: TestClient, num: int) -> None:
    assert await call(client, "POST", "/wallet/getblockbylatestnum", json={"num": num}) == {}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/wallet/getblockbylimitnext?startNum=1", NULL_NUMBER),
        ("/wallet/getblockbylatestnum", NULL_NUMBER),
        ("/wallet/gettransactioncountbyblocknum", NULL_NUMBER),
        (
            "/wallet/getblockbylatestnum?num=x",
            'class java.lang.NumberFormatException : For input string: "x"',
        ),
    ],
)
async def test_get_needs_its_numbers(client: TestClient, path: str, expected: str) -> None:
    assert await call(client, "GET", path) == {"Error": expected}


async def test_post_numbers_must_be_json_integers(client: TestClient) -> None:
    answer = await call(client, "POST", "/wallet/getblockbylatestnum", json={"num": "3"})
    assert answer == {
        "Error": "class org.tron.core.services.http.JsonFormat$ParseException : "
        'Couldn\'t parse integer: For input string: "3"'
    }


async def test_transaction_count_is_printed_by_hand(client: TestClient) -> None:
    response = await client.get("/wallet/gettransactioncountbyblocknum?num=2")
    assert await response.text() == '{"count": 2}\n'
    counts = {
        (prefix, num): (
            await call(client, "POST", f"{prefix}/gettransactioncountbyblocknum", json={"num": num})
        )["count"]
        for prefix in ("/wallet", "/walletsolidity")
        for num in (1, 3, HEAD, 99, -1)
    }
    assert counts == {
        ("/wallet", 1): 0,
        ("/wallet", 3): 1,
        ("/wallet", HEAD): 0,
        ("/wallet", 99): 0,
        ("/wallet", -1): 0,
        ("/walletsolidity", 1): 0,
        ("/walletsolidity", 3): 1,
        ("/walletsolidity", HEAD): 0,  # not solidified yet: no such block there
        ("/walletsolidity", 99): 0,
        ("/walletsolidity", -1): 0,
    }


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("prefix", ["/wallet", "/walletsolidity"])
async def test_prices_are_the_genesis_fees_since_time_zero(
    client: TestClient, method: str, prefix: str
) -> None:
    bandwidth = await call(client, method, f"{prefix}/getbandwidthprices")
    energy = await call(client, method, f"{prefix}/getenergyprices")
    assert (bandwidth, energy) == ({"prices": "0:1000"}, {"prices": "0:100"})


async def test_prices_follow_a_genesis_that_changes_the_fees() -> None:
    chain = make_chain(getTransactionFee=10, getEnergyFee=420)
    async with TestClient(TestServer(create_app(chain))) as client:
        assert await call(client, "GET", "/wallet/getbandwidthprices") == {"prices": "0:10"}
        assert await call(client, "GET", "/wallet/getenergyprices") == {"prices": "0:420"}


@pytest.mark.parametrize("path", ["/wallet/listnodes", "/wallet/listproposals"])
async def test_no_peers_and_no_proposals(client: TestClient, path: str) -> None:
    assert await call(client, "GET", path) == {}
    assert await call(client, "POST", path, json={"visible": True}) == {}


def _transfer(chain: Chain, owner: bytes, *signers: bytes) -> Transaction:
    head = chain.head_block
    raw = RawData(
        contracts=(
            builders.build_contract(
                "TransferContract",
                {"owner_address": owner, "to_address": address(keys(chain)[3]), "amount": 5},
            ),
        ),
        ref_block_bytes=head.block_id[6:8],
        ref_block_hash=head.block_id[8:16],
        expiration_ms=head.timestamp_ms + 60_000,
        timestamp_ms=head.timestamp_ms,
    )
    return builders.sign(raw, *signers)


async def test_approved_list_recovers_every_signer(client: TestClient, chain: Chain) -> None:
    alice, bob = keys(chain)[:2]
    # bob holds no key of alice's permissions: getapprovedlist lists him all the same.
    tx = _transfer(chain, address(alice), alice, bob)

    answer = await call(
        client, "POST", "/wallet/getapprovedlist", json=render_transaction(tx, False)
    )
    visible = await call(
        client,
        "POST",
        "/wallet/getapprovedlist",
        json={**render_transaction(tx, True), "visible": True},
    )

    assert answer == {
        "approved_list": [address(alice).hex(), address(bob).hex()],
        "result": {},
        "transaction": {
            "result": {"result": True},
            "txid": tx.txid.hex(),
            "transaction": render_transaction(tx, False),
        },
    }
    assert visible["approved_list"] == [
        address_to_base58(address(alice)),
        address_to_base58(address(bob)),
    ]


async def test_approved_list_of_unsigned_and_unknown_owners(
    client: TestClient, chain: Chain
) -> None:
    alice = keys(chain)[0]
    unsigned = _transfer(chain, address(alice))
    stranger = _transfer(chain, b"\x41" + b"\x07" * 20, alice)

    unsigned_answer = await call(
        client, "POST", "/wallet/getapprovedlist", json=render_transaction(unsigned, False)
    )
    stranger_answer = await call(
        client, "POST", "/wallet/getapprovedlist", json=render_transaction(stranger, False)
    )

    assert "approved_list" not in unsigned_answer
    assert unsigned_answer["result"] == {}
    assert stranger_answer["result"] == {
        "code": "OTHER_ERROR",
        "message": "class org.tron.core.exception.PermissionException : Account does not exist!",
    }
    assert "approved_list" not in stranger_answer


async def test_approved_list_refuses_a_short_signature(client: TestClient, chain: Chain) -> None:
    alice = keys(chain)[0]
    body = render_transaction(_transfer(chain, address(alice), alice), False)
    body["signature"] = [body["signature"][0][:100]]

    answer = await call(client, "POST", "/wallet/getapprovedlist", json=body)

    assert answer["result"] == {"code": "SIGNATURE_FORMAT_ERROR", "message": "Signature size is 50"}
