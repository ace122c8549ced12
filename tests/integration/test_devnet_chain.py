"""devnet against unmodified tronpy AsyncTron: blocks advance, ids agree, the solid view lags.

The devnet runs in-process on a free port with 50 ms blocks; waits are on the
producer's new-block event (with timeouts), never fixed sleeps. Consistency
checks pause production first so the head cannot move between two reads.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
import time
from collections.abc import AsyncIterator

import pytest
from tronpy import AsyncTron
from tronpy.exceptions import BlockNotFound
from tronpy.providers.async_http import AsyncHTTPProvider

from devnet.server import Devnet, DevnetConfig

INTERVAL_S = 0.05
LAG = 4
WAIT_S = 10.0

READY_LINE = re.compile(
    r"^devnet ready on (http://127\.0\.0\.1:\d+) \(block interval 0\.05 s, solidify lag 2\)$"
)


@pytest.fixture
async def devnet() -> AsyncIterator[Devnet]:
    config = DevnetConfig(port=0, block_interval_s=INTERVAL_S, solidify_lag_blocks=LAG)
    async with Devnet(config) as running:
        yield running


async def test_latest_block_number_advances(devnet: Devnet, tron: AsyncTron) -> None:
    first = await tron.get_latest_block_number()

    await devnet.producer.wait_for_number(first + 3, WAIT_S)

    assert await tron.get_latest_block_number() >= first + 3


async def test_latest_block_follows_the_wall_clock(devnet: Devnet, tron: AsyncTron) -> None:
    await devnet.producer.wait_for_number(1, WAIT_S)

    block = await tron.get_latest_block()

    timestamp_ms = block["block_header"]["raw_data"]["timestamp"]
    assert abs(timestamp_ms - time.time() * 1000) < 5_000
    assert timestamp_ms % round(INTERVAL_S * 1000) == 0
    assert "transactions" not in block


async def test_ids_agree_between_getblockbynum_getblockbyid_and_nodeinfo(
    devnet: Devnet, tron: AsyncTron
) -> None:
    await devnet.producer.wait_for_number(LAG + 3, WAIT_S)
    devnet.producer.pause()

    head_number = await tron.get_latest_block_number()
    head_id = await tron.get_latest_block_id()
    by_number = [await tron.get_block(n) for n in range(head_number + 1)]

    assert by_number[-1]["blockID"] == head_id
    assert (await tron.get_latest_block())["blockID"] == head_id
    for number, block in enumerate(by_number):
        assert block["blockID"][:16] == f"{number:016x}"
        assert await tron.get_block(block["blockID"]) == block
        if number:
            parent_hash = block["block_header"]["raw_data"]["parentHash"]
            assert parent_hash == by_number[number - 1]["blockID"]


async def test_solidified_view_lags_by_the_configured_blocks(
    devnet: Devnet, tron: AsyncTron
) -> None:
    await devnet.producer.wait_for_number(LAG + 2, WAIT_S)
    devnet.producer.pause()
    head_number = await tron.get_latest_block_number()

    solid_number = await tron.get_latest_solid_block_number()
    solid_id = await tron.get_latest_solid_block_id()
    solid_block = await tron.get_latest_solid_block()

    assert solid_number == head_number - LAG
    assert solid_block["blockID"] == solid_id == (await tron.get_block(solid_number))["blockID"]
    provider = tron.provider
    hidden = await provider.make_request("walletsolidity/getblockbynum", {"num": head_number})
    assert hidden == {}
    shown = await provider.make_request("walletsolidity/getblockbyid", {"value": solid_id})
    assert shown["blockID"] == solid_id


async def test_unknown_block_raises_block_not_found(tron: AsyncTron) -> None:
    with pytest.raises(BlockNotFound):
        await tron.get_block(10**9)
    with pytest.raises(BlockNotFound):
        await tron.get_block("00" * 32)


async def test_node_info_and_chain_parameters(tron: AsyncTron) -> None:
    info = await tron.get_node_info()
    parameters = {p["key"]: p.get("value", 0) for p in await tron.get_chain_parameters()}

    for key in ("beginSyncNum", "block", "solidityBlock", "currentConnectCount",
                "activeConnectCount", "configNodeInfo", "machineInfo"):  # fmt: skip
        assert key in info
    assert parameters["getTransactionFee"] == 1_000
    assert parameters["getEnergyFee"] == 100
    assert parameters["getFreeNetLimit"] == 600
    assert parameters["getCreateAccountFee"] == 100_000
    assert parameters["getCreateNewAccountFeeInSystemContract"] == 1_000_000
    assert parameters["getUnfreezeDelayDays"] == 14
    assert parameters["getMaxFeeLimit"] == 15_000_000_000


async def _read_line(stream: asyncio.StreamReader) -> str:
    return (await asyncio.wait_for(stream.readline(), WAIT_S)).decode().rstrip("\n")


async def test_cli_prints_one_ready_line_serves_and_exits_zero_on_sigterm() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "devnet", "--port", "0", "--block-interval-s", "0.05",
        "--solidify-lag", "2",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        match = READY_LINE.match(await _read_line(process.stdout))
        assert match, "no ready line"
        async with AsyncTron(provider=AsyncHTTPProvider(match.group(1))) as tron:
            assert await tron.get_latest_block_number() >= 0
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), WAIT_S) == 0
        assert await process.stdout.read() == b""  # nothing after the ready line
        assert process.stderr is not None
        logs = [json.loads(line) for line in (await process.stderr.read()).splitlines()]
        accounts = [entry for entry in logs if entry["event"] == "test account"]
        assert [len(entry["private_key"]) for entry in accounts] == [64] * 4
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
