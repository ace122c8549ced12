"""The seven Stake 2.0 and vote contracts end to end against an in-process devnet: built
and signed locally (worker/txbuild.py, KeystoreSigner.contract), broadcast as hex through
the Gateway, executed by devnet; then devnet's own state, and every new Gateway read
against devnet's figures.

devnet's txid is sha256 of the raw bytes it decodes and re-encodes as protobuf-java
would, so `reply.txid == signed.txid` says our bytes are canonical; the contract devnet
decoded from them (its parsed value) must be the one we meant. Genesis shortens the
unfreeze wait; 50 ms blocks; waits use the producer's new-block event, never sleeps.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr

from devnet.delegation import can_delegated_max_size, delegated_records
from devnet.genesis import GenesisConfig, build_genesis
from devnet.governance import query_reward
from devnet.keys import address_to_base58
from devnet.ledger import TxRecord
from devnet.producer import wall_clock_ms
from devnet.render_accounts import render_account_resource
from devnet.server import Devnet, DevnetConfig
from devnet.stake_records import BANDWIDTH, ENERGY
from devnet.staking import UNFREEZE_MAX_TIMES
from devnet.staking_config import StakingConfig
from worker.gateway import Gateway, NodeRejected
from worker.keystore import Keystore
from worker.metrics import Metrics
from worker.ports import ACCOUNT_RESOURCE_KEYS
from worker.settings import KeystoreSettings, TronSettings
from worker.signer import KeystoreSigner
from worker.txbuild import address_from_base58

INTERVAL_S = 0.05
LAG = 2
WAIT_S = 10.0
TRX = 1_000_000
UNFREEZE_DELAY_MS = 300
LOCK_BLOCKS = 100
MASTER_KEY = "dGVzdC1vbmx5LW1hc3Rlci1rZXktMzItYnl0ZXMhISE="


@pytest.fixture
async def devnet() -> AsyncIterator[Devnet]:
    genesis = build_genesis(
        GenesisConfig(staking=StakingConfig(unfreeze_delay_ms=UNFREEZE_DELAY_MS))
    )
    config = DevnetConfig(port=0, block_interval_s=INTERVAL_S, solidify_lag_blocks=LAG)
    async with Devnet(config, genesis=genesis) as running:
        await running.producer.wait_for_number(2, WAIT_S)
        yield running


@pytest.fixture
async def gateway(devnet: Devnet) -> AsyncIterator[Gateway]:
    settings = TronSettings(
        endpoints=[devnet.url],
        network="devnet",
        request_timeout_s=2.0,
        request_attempts=2,
        retry_backoff_s=0.0,
        circuit_failure_threshold=3,
        circuit_reset_s=30.0,
        api_key_header="TRON-PRO-API-KEY",
    )
    async with Gateway(settings, Metrics()) as made:
        yield made


class Staker:
    """A genesis account as a worker wallet: signs locally, broadcasts through the Gateway."""

    def __init__(self, devnet: Devnet, gateway: Gateway, keystore: Keystore, n: int) -> None:
        spec = devnet.genesis.accounts[n]
        assert spec.private_key is not None
        self.devnet, self.gateway, self.signer = devnet, gateway, KeystoreSigner(keystore)
        self.raw_address = spec.address
        self.address = address_to_base58(spec.address)
        self.wallet = {
            "address": self.address,
            "encrypted_key": keystore.encrypt(spec.private_key, self.address),
        }

    async def run(self, contract_type: str, **fields: Any) -> TxRecord:
        """Build, sign, broadcast; wait until a block holds it; devnet's record of it."""
        head = await self.gateway.head()
        signed = self.signer.contract(
            self.wallet,
            contract_type=contract_type,
            fields=fields,
            reference=head,
            expiration_ms=head.timestamp_ms + 60_000,
            timestamp_ms=wall_clock_ms(),
        )
        reply = await self.gateway.broadcast_hex(signed.signed_hex)
        assert (reply.accepted, reply.code) == (True, "SUCCESS"), reply
        assert reply.txid == signed.txid, "devnet re-encoded other bytes: not canonical"
        record = await _included(self.devnet, signed.txid)
        assert record.contract_ret == "SUCCESS", record
        [contract] = record.transaction.raw.contracts
        assert contract.type_name == contract_type
        assert contract.value == _as_devnet_value(fields | {"owner_address": self.address})
        return record

    def account(self):  # type: ignore[no-untyped-def]
        account = self.devnet.chain.account(self.raw_address)
        assert account is not None
        return account


@pytest.fixture
def stakers(devnet: Devnet, gateway: Gateway) -> list[Staker]:
    keystore = Keystore(
        KeystoreSettings(active_key_id="k1", master_keys={"k1": SecretStr(MASTER_KEY)})
    )
    return [Staker(devnet, gateway, keystore, n) for n in range(3)]


def _as_devnet_value(fields: dict[str, Any]) -> dict[str, Any]:
    """Our plain fields as devnet's parsed value: address bytes, bools, zeros left out."""
    value: dict[str, Any] = {}
    for name, item in fields.items():
        if name == "votes":
            item = [_as_devnet_value(vote) for vote in item]
        elif name.endswith("_address"):
            item = address_from_base58(item)
        elif name in ("lock", "support"):
            item = bool(item)
        if item:
            value[name] = item
    return value


async def _included(devnet: Devnet, txid: str) -> TxRecord:
    for _ in range(100):
        record = devnet.chain.transaction(bytes.fromhex(txid))
        if record is not None and record.block_number:
            return record
        await devnet.producer.wait_for_number(devnet.chain.head_block.number + 1, WAIT_S)
    raise AssertionError(f"{txid} never included")


def _executed_at_ms(devnet: Devnet, record: TxRecord) -> int:
    """The head a transaction executed on: the block before the one that carries it."""
    assert record.block_number is not None
    block = devnet.chain.block_by_number(record.block_number - 1)
    assert block is not None
    return block.timestamp_ms


def _fee(record: TxRecord) -> int:
    assert record.info is not None
    return record.info.fee_sun


async def _resource_figures(devnet: Devnet, staker: Staker) -> dict[str, int]:
    """getaccountresource as devnet computes it now, zeros filled in as the Gateway does."""
    chain = devnet.chain
    rendered = render_account_resource(staker.account(), chain.context(), chain.state())
    return {key: rendered.get(key, 0) for key in ACCOUNT_RESOURCE_KEYS}


async def test_freeze_both_resources(devnet: Devnet, gateway: Gateway, stakers) -> None:
    alice = stakers[0]
    before = alice.account().balance_sun

    energy = await alice.run("FreezeBalanceV2Contract", frozen_balance=1_000 * TRX, resource=1)
    bandwidth = await alice.run("FreezeBalanceV2Contract", frozen_balance=500 * TRX, resource=0)

    account = alice.account()
    assert account.stake.frozen_v2_energy_sun == 1_000 * TRX
    assert account.frozen_v2_bandwidth_sun == 500 * TRX
    assert account.balance_sun == before - 1_500 * TRX - _fee(energy) - _fee(bandwidth)
    devnet.producer.pause()  # the figures below move with every block
    resource = await gateway.account_resource(alice.address)
    assert resource == await _resource_figures(devnet, alice)
    assert (resource["tronPowerLimit"], resource["TotalEnergyWeight"]) == (1_500, 1_000)
    assert resource["EnergyLimit"] == resource["TotalEnergyLimit"] > 0  # the only staker
    chain = devnet.chain
    for name, code in (("ENERGY", ENERGY), ("BANDWIDTH", BANDWIDTH)):
        expected = can_delegated_max_size(alice.account(), code, chain.context(), chain.state())
        assert await gateway.can_delegate_max_size(alice.address, name) == expected
    assert await gateway.can_delegate_max_size(alice.address, "ENERGY") == 1_000 * TRX


async def test_unfreeze_waits_then_withdraw_expire_unfreeze(
    devnet: Devnet, gateway: Gateway, stakers
) -> None:
    alice = stakers[1]
    await alice.run("FreezeBalanceV2Contract", frozen_balance=100 * TRX, resource=1)

    unfrozen = await alice.run("UnfreezeBalanceV2Contract", unfreeze_balance=40 * TRX, resource=1)

    expire_ms = _executed_at_ms(devnet, unfrozen) + UNFREEZE_DELAY_MS
    [entry] = alice.account().stake.unfrozen_v2
    assert (entry.type, entry.unfreeze_amount, entry.unfreeze_expire_time_ms) == (
        ENERGY,
        40 * TRX,
        expire_ms,
    )
    assert alice.account().stake.frozen_v2_energy_sun == 60 * TRX
    assert await gateway.available_unfreeze_count(alice.address) == UNFREEZE_MAX_TIMES - 1
    assert await gateway.can_withdraw_unfreeze_amount(alice.address, expire_ms - 1) == 0
    assert await gateway.can_withdraw_unfreeze_amount(alice.address, expire_ms) == 40 * TRX

    while devnet.chain.head_block.timestamp_ms < expire_ms:
        await devnet.producer.wait_for_number(devnet.chain.head_block.number + 1, WAIT_S)
    assert await gateway.can_withdraw_unfreeze_amount(alice.address, 0) == 40 * TRX  # at head
    before = alice.account().balance_sun
    withdrawn = await alice.run("WithdrawExpireUnfreezeContract")

    assert withdrawn.info is not None and withdrawn.info.withdraw_expire_amount_sun == 40 * TRX
    assert alice.account().balance_sun == before + 40 * TRX - _fee(withdrawn)
    assert alice.account().stake.unfrozen_v2 == ()
    assert await gateway.can_withdraw_unfreeze_amount(alice.address, 0) == 0
    assert await gateway.available_unfreeze_count(alice.address) == UNFREEZE_MAX_TIMES


async def test_delegate_with_a_lock_then_undelegate_the_unlocked_part(
    devnet: Devnet, gateway: Gateway, stakers
) -> None:
    alice, bob = stakers[0], stakers[2]
    await alice.run("FreezeBalanceV2Contract", frozen_balance=100 * TRX, resource=1)
    await alice.run("FreezeBalanceV2Contract", frozen_balance=50 * TRX)  # BANDWIDTH

    locked = await alice.run(
        "DelegateResourceContract", resource=1, balance=40 * TRX,
        receiver_address=bob.address, lock=True, lock_period=LOCK_BLOCKS,
    )  # fmt: skip
    await alice.run(
        "DelegateResourceContract", resource=1, balance=10 * TRX, receiver_address=bob.address,
        lock=False, lock_period=0,
    )  # fmt: skip
    await alice.run(
        "DelegateResourceContract", resource=0, balance=20 * TRX, receiver_address=bob.address
    )

    lock_ends_ms = _executed_at_ms(devnet, locked) + LOCK_BLOCKS * 3_000
    records = delegated_records(alice.account(), bob.raw_address)
    assert [
        (r.lock, r.frozen_balance_for_energy, r.expire_time_for_energy_ms) for r in records
    ] == [
        (False, 10 * TRX, 0),
        (True, 40 * TRX, lock_ends_ms),
    ]
    assert bob.account().stake.acquired_delegated_v2_energy_sun == 50 * TRX
    assert bob.account().acquired_delegated_v2_bandwidth_sun == 20 * TRX
    assert await gateway.delegated_resource(alice.address, bob.address) == [
        {"frozen_balance_for_bandwidth": 20 * TRX, "frozen_balance_for_energy": 10 * TRX,
         "expire_time_for_bandwidth": 0, "expire_time_for_energy": 0},
        {"frozen_balance_for_bandwidth": 0, "frozen_balance_for_energy": 40 * TRX,
         "expire_time_for_bandwidth": 0, "expire_time_for_energy": lock_ends_ms},
    ]  # fmt: skip
    assert await gateway.can_delegate_max_size(alice.address, "ENERGY") == 50 * TRX
    assert await gateway.delegated_resource(bob.address, alice.address) == []

    await alice.run(
        "UnDelegateResourceContract", resource=1, balance=10 * TRX, receiver_address=bob.address
    )
    await alice.run(
        "UnDelegateResourceContract", resource=0, balance=20 * TRX, receiver_address=bob.address
    )

    assert alice.account().stake.delegated_frozen_v2_energy_sun == 40 * TRX
    assert alice.account().stake.delegated_frozen_v2_bandwidth_sun == 0
    assert bob.account().stake.acquired_delegated_v2_energy_sun == 40 * TRX
    assert await gateway.delegated_resource(alice.address, bob.address) == [
        {"frozen_balance_for_bandwidth": 0, "frozen_balance_for_energy": 40 * TRX,
         "expire_time_for_bandwidth": 0, "expire_time_for_energy": lock_ends_ms},
    ]  # fmt: skip
    assert await gateway.can_delegate_max_size(alice.address, "ENERGY") == 60 * TRX


async def test_vote_then_claim_the_reward(devnet: Devnet, gateway: Gateway, stakers) -> None:
    alice = stakers[2]
    listed = sorted(devnet.genesis.witnesses, key=lambda w: w.address)
    witnesses = await gateway.witnesses()
    assert witnesses == [address_to_base58(w.address) for w in listed]
    await alice.run("FreezeBalanceV2Contract", frozen_balance=100 * TRX, resource=1)
    assert await gateway.reward(alice.address) == 0

    voted = await alice.run(
        "VoteWitnessContract",
        votes=[
            {"vote_address": witnesses[0], "vote_count": 60},
            {"vote_address": witnesses[-1], "vote_count": 40},
        ],
        support=False,
    )

    votes = alice.account().stake.votes
    assert [(address_to_base58(v.vote_address), v.vote_count) for v in votes] == [
        (witnesses[0], 60),
        (witnesses[-1], 40),
    ]
    assert (await gateway.account_resource(alice.address))["tronPowerUsed"] == 100
    assert voted.block_number is not None
    await devnet.producer.wait_for_number(voted.block_number + 2, WAIT_S)
    devnet.producer.pause()
    chain = devnet.chain
    pending = query_reward(alice.account(), chain.context(), chain.state())
    assert pending > 0
    assert await gateway.reward(alice.address) == pending
    devnet.producer.resume()

    before = alice.account().balance_sun
    claimed = await alice.run("WithdrawBalanceContract")

    assert claimed.info is not None and claimed.info.withdraw_amount_sun >= pending
    assert alice.account().balance_sun == (
        before + claimed.info.withdraw_amount_sun - _fee(claimed)
    )
    assert alice.account().stake.latest_withdraw_time_ms == _executed_at_ms(devnet, claimed)
    devnet.producer.pause()
    assert await gateway.reward(alice.address) == query_reward(
        alice.account(), chain.context(), chain.state()
    )


async def test_reads_of_an_unknown_account_and_a_malformed_address(gateway: Gateway) -> None:
    stranger = address_to_base58(b"\x41" + bytes(range(20)))
    assert await gateway.account_resource(stranger) == dict.fromkeys(ACCOUNT_RESOURCE_KEYS, 0)
    assert await gateway.available_unfreeze_count(stranger) == 0
    assert await gateway.can_withdraw_unfreeze_amount(stranger, 0) == 0
    assert await gateway.can_delegate_max_size(stranger, "ENERGY") == 0
    assert await gateway.delegated_resource(stranger, stranger) == []
    assert await gateway.reward(stranger) == 0

    for read in (
        gateway.account_resource("not-an-address"),
        gateway.available_unfreeze_count("not-an-address"),
        gateway.delegated_resource("not-an-address", stranger),
    ):
        with pytest.raises(NodeRejected):
            await read
    assert await gateway.reward("not-an-address") == 0  # java-tron's answer, not an error
