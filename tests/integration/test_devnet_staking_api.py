"""The staking read servlets over HTTP: GET and POST forms, both views, java-tron's quirks.

A hand-driven chain (blocks 3 s apart) behind aiohttp's test server, so the
numbers are exact: alice has 100 TRX frozen for energy and delegates 40 of
them to bob, locked for 10 blocks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from devnet.api import create_app
from devnet.chain import Chain
from devnet.keys import address_to_base58
from devnet.stake_records import ENERGY
from tests.unit.devnet.staking_support import (
    BLOCK_MS,
    TRX,
    address,
    keys,
    make_chain,
    next_block,
    submit,
)


@pytest.fixture
def chain() -> Chain:
    chain = make_chain()
    alice, bob = keys(chain)[:2]
    submit(chain, alice, "FreezeBalanceV2Contract", frozen_balance=100 * TRX, resource=ENERGY)
    submit(
        chain,
        alice,
        "DelegateResourceContract",
        resource=ENERGY,
        balance=40 * TRX,
        receiver_address=address(bob),
        lock=True,
        lock_period=10,
    )
    submit(chain, alice, "UnfreezeBalanceV2Contract", unfreeze_balance=5 * TRX, resource=ENERGY)
    next_block(chain)
    return chain


@pytest.fixture
async def client(chain: Chain) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(create_app(chain))) as test_client:
        yield test_client


async def call(client: TestClient, method: str, path: str, **kwargs: Any) -> Any:
    response = await client.request(method, path, **kwargs)
    assert response.status == 200
    assert (await response.text()).endswith("\n")
    return await response.json()


def people(chain: Chain) -> tuple[bytes, bytes]:
    alice, bob = keys(chain)[:2]
    return address(alice), address(bob)


async def test_delegated_resource_v2_by_get_and_post_on_both_views(
    chain: Chain, client: TestClient
) -> None:
    alice, bob = people(chain)
    lock_ms = chain.block_by_number(1).timestamp_ms + 10 * 3_000  # type: ignore[union-attr]
    record = {"frozen_balance_for_energy": 40 * TRX, "expire_time_for_energy": lock_ms}

    by_get = await call(
        client,
        "GET",
        "/wallet/getdelegatedresourcev2",
        params={"fromAddress": alice.hex(), "toAddress": bob.hex()},
    )
    body = {
        "fromAddress": address_to_base58(alice),
        "toAddress": address_to_base58(bob),
        "visible": True,
    }
    by_post = await call(client, "POST", "/wallet/getdelegatedresourcev2", json=body)
    solid = await call(client, "POST", "/walletsolidity/getdelegatedresourcev2", json=body)

    assert by_get == {"delegatedResource": [{"from": alice.hex(), "to": bob.hex(), **record}]}
    assert by_post == {
        "delegatedResource": [{"from": body["fromAddress"], "to": body["toAddress"], **record}]
    }
    assert solid == {}  # two blocks of lag
    next_block(chain, 2)
    assert await call(client, "POST", "/walletsolidity/getdelegatedresourcev2", json=body) == (
        by_post
    )


async def test_account_index_v2_and_its_quirks(chain: Chain, client: TestClient) -> None:
    alice, bob = people(chain)

    by_get = await call(
        client,
        "GET",
        "/wallet/getdelegatedresourceaccountindexv2",
        params={"value": address_to_base58(bob), "visible": "true"},
    )
    by_post = await call(
        client, "POST", "/wallet/getdelegatedresourceaccountindexv2", json={"value": alice.hex()}
    )
    too_short = await call(
        client, "POST", "/wallet/getdelegatedresourceaccountindexv2", json={"value": "41"}
    )

    assert by_get == {"account": address_to_base58(bob), "fromAccounts": [address_to_base58(alice)]}
    assert by_post == {"account": alice.hex(), "toAccounts": [bob.hex()]}
    assert too_short == {}


async def test_max_size_unfreeze_count_and_withdrawable_amount(
    chain: Chain, client: TestClient
) -> None:
    alice, _ = people(chain)
    owner = {"owner_address": alice.hex()}
    unfrozen_at = chain.block_by_number(1).timestamp_ms  # type: ignore[union-attr]

    energy = await call(client, "POST", "/wallet/getcandelegatedmaxsize", json={**owner, "type": 1})
    bandwidth = await call(client, "GET", "/wallet/getcandelegatedmaxsize", params=owner)
    count = await call(
        client, "GET", "/wallet/getavailableunfreezecount", params={"ownerAddress": alice.hex()}
    )
    now = await call(client, "POST", "/wallet/getcanwithdrawunfreezeamount", json=owner)
    later = await call(
        client,
        "GET",
        "/wallet/getcanwithdrawunfreezeamount",
        params={**owner, "timestamp": str(unfrozen_at + 9_000)},
    )
    negative = await call(
        client, "POST", "/wallet/getcanwithdrawunfreezeamount", json={**owner, "timestamp": -1}
    )

    assert energy == {"max_size": 55 * TRX}  # 100 frozen - 40 delegated - 5 unfrozen
    assert bandwidth == {}  # nothing frozen for bandwidth
    assert count == {"count": 31}
    assert now == {}  # the 9 s wait is not over
    assert later == {"amount": 5 * TRX}
    assert negative == {}
    assert (
        chain.head_block.timestamp_ms
        < unfrozen_at + 9_000
        <= (chain.head_block.timestamp_ms + 3 * BLOCK_MS)
    )


async def test_list_witnesses_reads_visible_from_the_query_only(
    chain: Chain, client: TestClient
) -> None:
    witnesses = sorted(chain.genesis.witnesses, key=lambda w: w.address)

    by_post = await call(client, "POST", "/wallet/listwitnesses", json={"visible": True})
    by_get = await call(client, "GET", "/walletsolidity/listwitnesses", params={"visible": "true"})

    assert [w["address"] for w in by_post["witnesses"]] == [w.address.hex() for w in witnesses]
    assert [w["address"] for w in by_get["witnesses"]] == [
        address_to_base58(w.address) for w in witnesses
    ]
    first = by_post["witnesses"][
        [w.address for w in witnesses].index(chain.genesis.witnesses[0].address)
    ]
    assert first["url"] == chain.genesis.witnesses[0].url
    assert first["isJobs"] is True
    assert first["totalProduced"] == chain.head_block.number  # every block so far
    assert first["latestBlockNum"] == chain.head_block.number


async def test_get_reward_prints_its_own_json(chain: Chain, client: TestClient) -> None:
    alice, _ = people(chain)
    witness = chain.genesis.witnesses[0].address
    submit(
        chain,
        keys(chain)[0],
        "VoteWitnessContract",
        votes=[{"vote_address": witness, "vote_count": 10}],
    )
    next_block(chain, 3)

    response = await client.get("/wallet/getReward", params={"address": alice.hex()})
    unknown = await client.post("/wallet/getReward", json={"address": "T" + "1" * 33})
    broken = await client.get("/wallet/getReward", params={"address": "41zz"})

    assert await response.text() == f'{{"reward": {3 * 128 * TRX}}}\n'
    assert await unknown.text() == '{"reward": 0}\n'
    assert (await broken.json())["Error"].startswith("INVALID address, ")
