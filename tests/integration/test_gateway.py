"""worker/gateway.py against devnet: an in-process one (no stack needed) and, marked
integration, the project stack's.

Blocks come every 50 ms; waits use the producer's new-block event, never fixed sleeps.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr

from devnet.builders import build_contract, sign, transfer
from devnet.keys import address_to_base58
from devnet.producer import wall_clock_ms
from devnet.server import Devnet, DevnetConfig
from devnet.stake_records import ENERGY
from devnet.transactions import RawData, Transaction
from worker.gateway import Gateway, NodeRejected, endpoint_names
from worker.metrics import Metrics
from worker.settings import Settings, TronSettings

INTERVAL_S = 0.05
LAG = 3
WAIT_S = 10.0
TRX = 1_000_000
USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
TRANSFER = "a9059cbb"  # transfer(address,uint256)
BALANCE_OF = "70a08231"  # balanceOf(address)


def tron_settings(*endpoints: str, **overrides: Any) -> TronSettings:
    return TronSettings(
        **{
            "endpoints": list(endpoints),
            "network": "devnet",
            "request_timeout_s": 2.0,
            "request_attempts": 2,
            "retry_backoff_s": 0.0,
            "circuit_failure_threshold": 3,
            "circuit_reset_s": 30.0,
            "api_key_header": "TRON-PRO-API-KEY",
            "api_key": SecretStr("test-key"),
            **overrides,
        }
    )


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
async def devnet() -> AsyncIterator[Devnet]:
    config = DevnetConfig(port=0, block_interval_s=INTERVAL_S, solidify_lag_blocks=LAG)
    async with Devnet(config) as running:
        await running.producer.wait_for_number(LAG + 2, WAIT_S)
        yield running


@pytest.fixture
async def gateway(devnet: Devnet) -> AsyncIterator[Gateway]:
    async with Gateway(tron_settings(devnet.url), Metrics()) as made:
        yield made


def _signed_transfer(devnet: Devnet, amount_sun: int = TRX) -> Transaction:
    sender, receiver = devnet.genesis.accounts[0], devnet.genesis.accounts[1]
    assert sender.private_key is not None
    head = devnet.chain.head_block
    return transfer(
        sender.private_key, receiver.address, amount_sun, head.block_id, wall_clock_ms()
    )


async def test_head_and_solid_head_are_devnets(devnet: Devnet, gateway: Gateway) -> None:
    devnet.producer.pause()
    head = devnet.chain.head_block
    solid = devnet.chain.solid_block

    got_head, got_solid = await gateway.head(), await gateway.solid_head()

    assert (got_head.number, got_head.id) == (head.number, head.block_id.hex())
    assert got_head.timestamp_ms == head.timestamp_ms
    assert (got_solid.number, got_solid.id) == (solid.number, solid.block_id.hex())
    assert got_solid.number == got_head.number - LAG


async def test_account_of_a_funded_and_an_unknown_address(devnet: Devnet, gateway: Gateway) -> None:
    funded = devnet.genesis.accounts[0]
    account = await gateway.account(address_to_base58(funded.address))
    assert account is not None
    assert account["address"] == address_to_base58(funded.address)  # visible: base58
    assert account["balance"] == funded.balance_sun

    unknown = address_to_base58(b"\x41" + bytes(range(20)))
    assert await gateway.account(unknown) is None


async def test_malformed_address_is_rejected_not_retried(gateway: Gateway) -> None:
    with pytest.raises(NodeRejected):
        await gateway.account("not-an-address")


async def test_chain_parameters_are_the_genesis_ones(devnet: Devnet, gateway: Gateway) -> None:
    assert await gateway.chain_parameters() == dict(devnet.genesis.chain_parameters)


async def test_block_past_the_solid_head_is_none(devnet: Devnet, gateway: Gateway) -> None:
    assert await gateway.solid_block(devnet.chain.solid_number + 1000) is None


async def test_failover_from_a_dead_endpoint_to_devnet(devnet: Devnet) -> None:
    metrics = Metrics()
    dead = closed_port_url()
    async with Gateway(tron_settings(dead, devnet.url), metrics) as gateway:
        assert (await gateway.head()).number >= LAG + 2
    name = endpoint_names([dead])[0]
    labels = {"endpoint": name, "method": "head", "outcome": "connection_error"}
    assert metrics.registry.get_sample_value("tron_worker_node_requests_total", labels) == 2


async def test_solid_block_with_a_transfer_and_its_receipt(
    devnet: Devnet, gateway: Gateway
) -> None:
    tx = _signed_transfer(devnet)
    devnet.chain.broadcast(tx)
    await devnet.producer.wait_for_number(devnet.chain.head_block.number + 1, WAIT_S)
    number = (
        next(
            block.number
            for block in reversed([devnet.chain.block_by_number(n) for n in range(1, 1000)][:0])
        )
        if False
        else _block_holding(devnet, tx)
    )
    await devnet.producer.wait_for_number(number + LAG, WAIT_S)

    block = await gateway.solid_block(number)

    assert block is not None and block.number == number
    assert [t["txID"] for t in block.transactions] == [tx.txid.hex()]
    assert [r["id"] for r in block.receipts] == [tx.txid.hex()]
    assert block.parent_id == devnet.chain.block_by_number(number - 1).block_id.hex()


def _block_holding(devnet: Devnet, tx: Transaction) -> int:
    for number in range(devnet.chain.head_block.number, 0, -1):
        block = devnet.chain.block_by_number(number)
        assert block is not None
        if any(item.transaction.txid == tx.txid for item in block.transactions):
            return number
    raise AssertionError("transaction not in any block")


async def test_broadcast_hex_accepted_then_duplicate_then_refused(
    devnet: Devnet, gateway: Gateway
) -> None:
    tx = _signed_transfer(devnet)

    first = await gateway.broadcast_hex(tx.wire_bytes.hex())
    again = await gateway.broadcast_hex(tx.wire_bytes.hex())
    forged = _signed_transfer(devnet, amount_sun=2 * TRX)
    tampered = forged.wire_bytes[:-1] + bytes([forged.wire_bytes[-1] ^ 1])
    refused = await gateway.broadcast_hex(tampered.hex())

    assert (first.accepted, first.code, first.txid) == (True, "SUCCESS", tx.txid.hex())
    assert again.accepted and again.code == "DUP_TRANSACTION_ERROR"
    assert not refused.accepted and refused.code == "SIGERROR"
    assert refused.message and all(ch.isprintable() for ch in refused.message)


# --- what a USDT transfer needs -------------------------------------------------------------


def _word(address: bytes) -> str:
    """An ABI address argument: the 20 bytes after the 0x41 prefix, left-padded to 32."""
    return address[1:].rjust(32, b"\0").hex()


def _usdt_transfer(to: bytes, amount: int) -> str:
    return TRANSFER + _word(to) + amount.to_bytes(32, "big").hex()


async def test_estimate_energy_of_a_usdt_transfer(devnet: Devnet, gateway: Gateway) -> None:
    sender, receiver = devnet.genesis.accounts[0], devnet.genesis.accounts[1]

    energy = await gateway.estimate_energy(
        address_to_base58(sender.address), USDT, _usdt_transfer(receiver.address, 7)
    )

    # 14,650 used to a holder; java-tron's fee-limit search rounds up by < 1 TRX of energy.
    assert 14_650 <= energy < 14_650 + TRX // devnet.genesis.chain_parameters["getEnergyFee"]


async def test_a_transfer_beyond_the_balance_is_rejected(devnet: Devnet, gateway: Gateway) -> None:
    sender, receiver = devnet.genesis.accounts[0], devnet.genesis.accounts[1]
    data = _usdt_transfer(receiver.address, 10**20)
    owner = address_to_base58(sender.address)

    with pytest.raises(NodeRejected, match="REVERT opcode executed"):
        await gateway.estimate_energy(owner, USDT, data)
    with pytest.raises(NodeRejected, match="REVERT opcode executed"):
        await gateway.constant_call(owner, USDT, data)


async def test_constant_call_balance_of_a_funded_account(devnet: Devnet, gateway: Gateway) -> None:
    holder = devnet.genesis.accounts[0]
    assert devnet.genesis.usdt is not None
    funded = dict(devnet.genesis.usdt.balances)[holder.address]

    output = await gateway.constant_call(
        address_to_base58(holder.address), USDT, BALANCE_OF + _word(holder.address)
    )

    assert int.from_bytes(output, "big") == funded == 10**12


async def test_energy_available_before_and_after_staking(devnet: Devnet, gateway: Gateway) -> None:
    account = devnet.genesis.accounts[2]
    assert account.private_key is not None
    owner = address_to_base58(account.address)
    assert await gateway.energy_available(owner) == 0  # nothing staked: no Energy* keys

    head = devnet.chain.head_block
    value = {"owner_address": account.address, "frozen_balance": 1_000 * TRX, "resource": ENERGY}
    raw = RawData(
        contracts=(build_contract("FreezeBalanceV2Contract", value),),
        ref_block_bytes=head.block_id[6:8],
        ref_block_hash=head.block_id[8:16],
        expiration_ms=head.timestamp_ms + 60_000,
        timestamp_ms=wall_clock_ms(),
    )
    reply = await gateway.broadcast_hex(sign(raw, account.private_key).wire_bytes.hex())
    assert reply.accepted
    await devnet.producer.wait_for_number(devnet.chain.head_block.number + 2, WAIT_S)

    assert await gateway.energy_available(owner) > 0


async def test_energy_available_of_a_malformed_address_is_rejected(gateway: Gateway) -> None:
    with pytest.raises(NodeRejected):
        await gateway.energy_available("not-an-address")


@pytest.mark.integration
async def test_stack_devnet_answers_through_the_gateway(
    settings: Settings, devnet_url: str
) -> None:
    async with Gateway(settings.tron, Metrics()) as gateway:
        head, solid = await gateway.head(), await gateway.solid_head()
        assert solid.number <= head.number
        assert await gateway.solid_block(solid.number + 10_000) is None
        parameters = await gateway.chain_parameters()
        assert parameters["getMaintenanceTimeInterval"] > 0
