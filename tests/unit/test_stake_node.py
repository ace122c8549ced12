"""The Stake 2.0 and vote side of the TronNode port: the Gateway's reads against scripted
stub nodes (worker/gateway.py, worker/node_answers.py), KeystoreSigner.contract, and the
MemoryNode twin's staking (worker/memory_node.py, worker/memory_stake.py).

The stubs answer as java-tron's servlets do (JsonFormat leaves zeros out, `{}` for
nothing); the twin is driven by hand, one block at a time, 3 s apart.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from pydantic import SecretStr
from tronpy.keys import PrivateKey, Signature

import tests.unit.test_gateway as gateway_tests
from worker.errors import NodeUnavailable
from worker.gateway import NodeRejected
from worker.keystore import Keystore
from worker.memory_node import BLOCK_MS, MemoryNode
from worker.memory_stake import DAY_MS, DEFAULT_WITNESSES, TOTAL_ENERGY_LIMIT, TOTAL_NET_LIMIT
from worker.ports import ACCOUNT_RESOURCE_KEYS, BlockRef
from worker.settings import KeystoreSettings
from worker.signer import KeystoreSigner
from worker.txbuild import (
    RawTransaction,
    address_from_base58,
    address_to_base58,
    contract_of,
    decode_raw,
    encode_raw,
    reference_of,
    signed_transaction,
)

OWNER = "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8"
RECEIVER = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
WITNESS_HEX = "41" + "a614f803b6fd780986a42c78ec9c7f77e6ded13c"
TRX = 1_000_000
NPE = {"Error": "class java.lang.NullPointerException : null"}

# The scripted stub nodes of the Gateway's own tests, and their helpers.
stubs, gateways = gateway_tests.stubs, gateway_tests.gateways
clock, metrics = gateway_tests.clock, gateway_tests.metrics
closed_port_url, requests = gateway_tests.closed_port_url, gateway_tests.requests


# --- the Gateway's reads ----------------------------------------------------------------------


async def test_account_resource_posts_visible_and_fills_in_zeros(stubs, gateways) -> None:
    node = await stubs()
    answer = {
        "freeNetLimit": 600,
        "TotalNetLimit": 43_200_000_000,
        "TotalNetWeight": 500,
        "TotalTronPowerWeight": 1_500,  # not one of ours: left out
        "tronPowerLimit": 1_500,
        "EnergyLimit": 180_000_000_000,
        "TotalEnergyLimit": 180_000_000_000,
        "TotalEnergyWeight": 1_000,
        "assetNetUsed": [{"key": "1000001", "value": 0}],
    }
    node.on("/wallet/getaccountresource", answer, {})
    gateway = gateways(node.url)

    resource = await gateway.account_resource(OWNER)

    assert list(resource) == list(ACCOUNT_RESOURCE_KEYS)
    assert resource == {key: answer.get(key, 0) for key in ACCOUNT_RESOURCE_KEYS}
    assert resource["EnergyUsed"] == resource["tronPowerUsed"] == 0
    assert await gateway.account_resource(RECEIVER) == dict.fromkeys(ACCOUNT_RESOURCE_KEYS, 0)
    assert node.seen[0][1] == {"address": OWNER, "visible": True}


@pytest.mark.parametrize(("resource", "code"), [("BANDWIDTH", 0), ("ENERGY", 1)])
async def test_can_delegate_max_size_sends_the_resource_code(
    stubs, gateways, resource: str, code: int
) -> None:
    node = await stubs()
    node.on("/wallet/getcandelegatedmaxsize", {"max_size": 60 * TRX}, {})
    gateway = gateways(node.url)

    assert await gateway.can_delegate_max_size(OWNER, resource) == 60 * TRX
    assert await gateway.can_delegate_max_size(OWNER, resource) == 0  # below 1 TRX: {}
    assert node.seen[0][1] == {"owner_address": OWNER, "type": code, "visible": True}


async def test_can_delegate_max_size_refuses_an_unknown_resource_unasked(stubs, gateways) -> None:
    node = await stubs()
    with pytest.raises(ValueError, match="ENERGY or BANDWIDTH"):
        await gateways(node.url).can_delegate_max_size(OWNER, "TRON_POWER")
    assert node.seen == []


async def test_delegated_resource_lists_both_records_with_zeros(stubs, gateways) -> None:
    node = await stubs()
    unlocked = {"from": OWNER, "to": RECEIVER, "frozen_balance_for_bandwidth": 30 * TRX}
    locked = {
        "from": OWNER,
        "to": RECEIVER,
        "frozen_balance_for_energy": 40 * TRX,
        "expire_time_for_energy": 1_800_000_300_000,
    }
    node.on("/wallet/getdelegatedresourcev2", {"delegatedResource": [unlocked, locked]}, {})
    gateway = gateways(node.url)

    records = await gateway.delegated_resource(OWNER, RECEIVER)

    assert records == [
        {
            "frozen_balance_for_bandwidth": 30 * TRX,
            "frozen_balance_for_energy": 0,
            "expire_time_for_bandwidth": 0,
            "expire_time_for_energy": 0,
        },
        {
            "frozen_balance_for_bandwidth": 0,
            "frozen_balance_for_energy": 40 * TRX,
            "expire_time_for_bandwidth": 0,
            "expire_time_for_energy": 1_800_000_300_000,
        },
    ]
    assert await gateway.delegated_resource(OWNER, RECEIVER) == []
    assert node.seen[0][1] == {"fromAddress": OWNER, "toAddress": RECEIVER, "visible": True}


async def test_available_unfreeze_count_and_omitted_zero(stubs, gateways) -> None:
    node = await stubs()
    node.on("/wallet/getavailableunfreezecount", {"count": 31}, {})
    gateway = gateways(node.url)

    assert await gateway.available_unfreeze_count(OWNER) == 31
    assert await gateway.available_unfreeze_count(OWNER) == 0  # all 32 waiting, or no account
    assert node.seen[0][1] == {"owner_address": OWNER, "visible": True}


async def test_can_withdraw_unfreeze_amount_posts_the_timestamp(stubs, gateways) -> None:
    node = await stubs()
    node.on("/wallet/getcanwithdrawunfreezeamount", {"amount": 40 * TRX}, {})
    gateway = gateways(node.url)

    assert await gateway.can_withdraw_unfreeze_amount(OWNER, 1_800_000_000_000) == 40 * TRX
    assert await gateway.can_withdraw_unfreeze_amount(OWNER, 1_800_000_000_000) == 0
    assert node.seen[0][1] == {
        "owner_address": OWNER,
        "timestamp": 1_800_000_000_000,
        "visible": True,
    }


async def test_reward_reads_the_hand_printed_answer(stubs, gateways) -> None:
    node = await stubs()
    node.on("/wallet/getReward", '{"reward": 256000000}\n', '{"reward": 0}\n')
    gateway = gateways(node.url)

    assert await gateway.reward(OWNER) == 256 * TRX
    assert await gateway.reward(OWNER) == 0
    assert node.paths() == ["/wallet/getReward"] * 2  # capital R, as java-tron maps it
    assert node.seen[0][1] == {"address": OWNER}


async def test_reward_without_its_figure_is_a_bad_answer(stubs, gateways) -> None:
    node = await stubs()
    node.on("/wallet/getReward", {})
    with pytest.raises(NodeUnavailable, match="bad_response"):
        await gateways(node.url).reward(OWNER)


async def test_witnesses_come_back_as_base58_from_hex_or_base58(stubs, gateways) -> None:
    node = await stubs()
    listed = {
        "witnesses": [
            {"address": WITNESS_HEX, "voteCount": 100, "url": "https://a", "isJobs": True},
            {"address": OWNER, "url": "https://b"},  # a proxy that asks ?visible=true
        ]
    }
    node.on("/wallet/listwitnesses", listed, {})
    gateway = gateways(node.url)

    assert await gateway.witnesses() == [address_to_base58(bytes.fromhex(WITNESS_HEX)), OWNER]
    assert await gateway.witnesses() == []


@pytest.mark.parametrize(
    "answer", [{"witnesses": [{"address": "zz"}]}, {"witnesses": [{"url": "x"}]}, []]
)
async def test_witnesses_of_another_shape_are_a_bad_answer(stubs, gateways, answer: Any) -> None:
    node = await stubs()
    node.on("/wallet/listwitnesses", answer)
    with pytest.raises(NodeUnavailable, match="bad_response"):
        await gateways(node.url).witnesses()


async def test_a_refused_witness_list_is_node_trouble_not_rejected(stubs, gateways) -> None:
    node = await stubs()
    node.on("/wallet/listwitnesses", {"Error": "class org.tron.core.exception.StoreException"})
    with pytest.raises(NodeUnavailable, match="node_error"):
        await gateways(node.url).witnesses()


ADDRESS_READS = {
    "account_resource": ("/wallet/getaccountresource", lambda g: g.account_resource("x")),
    "can_delegate_max_size": (
        "/wallet/getcandelegatedmaxsize",
        lambda g: g.can_delegate_max_size("x", "ENERGY"),
    ),
    "delegated_resource": (
        "/wallet/getdelegatedresourcev2",
        lambda g: g.delegated_resource("x", RECEIVER),
    ),
    "available_unfreeze_count": (
        "/wallet/getavailableunfreezecount",
        lambda g: g.available_unfreeze_count("x"),
    ),
    "can_withdraw_unfreeze_amount": (
        "/wallet/getcanwithdrawunfreezeamount",
        lambda g: g.can_withdraw_unfreeze_amount("x", 0),
    ),
    "reward": ("/wallet/getReward", lambda g: g.reward("41zz")),
}


@pytest.mark.parametrize("method", list(ADDRESS_READS))
async def test_a_malformed_address_refused_everywhere_is_node_rejected(
    stubs, gateways, metrics, method: str
) -> None:
    first, second = await stubs(), await stubs()
    path, read = ADDRESS_READS[method]
    for stub in (first, second):
        stub.on(path, NPE)

    with pytest.raises(NodeRejected, match="NullPointerException"):
        await read(gateways(first.url, second.url))

    assert len(first.seen) == len(second.seen) == 1  # an answer: not retried
    assert requests(metrics, first.url, method, "node_error") == 1


@pytest.mark.parametrize("method", list(ADDRESS_READS))
async def test_a_refusal_next_to_an_unreachable_endpoint_is_unknown(
    stubs, gateways, method: str
) -> None:
    first = await stubs()
    path, read = ADDRESS_READS[method]
    first.on(path, NPE)
    with pytest.raises(NodeUnavailable):
        await read(gateways(first.url, closed_port_url()))


async def test_stake_reads_fail_over_like_every_read(stubs, gateways, metrics) -> None:
    first, second = await stubs(), await stubs()
    first.on("/wallet/getavailableunfreezecount", 503)
    second.on("/wallet/getavailableunfreezecount", {"count": 32})

    assert await gateways(first.url, second.url).available_unfreeze_count(OWNER) == 32
    assert requests(metrics, first.url, "available_unfreeze_count", "http_5xx") == 2


# --- KeystoreSigner.contract ------------------------------------------------------------------

KEY = PrivateKey(hashlib.sha256(b"stake node test key").digest())
HOLDER = KEY.public_key.to_base58check_address()
REFERENCE = BlockRef(1, "00000000000000010a" + "ab" * 23, 1_800_000_003_000)


@pytest.fixture
def signer_and_wallet() -> tuple[KeystoreSigner, dict[str, Any]]:
    master = "dGVzdC1vbmx5LW1hc3Rlci1rZXktMzItYnl0ZXMhISE="
    keystore = Keystore(KeystoreSettings(active_key_id="k1", master_keys={"k1": SecretStr(master)}))
    wallet = {
        "address": HOLDER,
        "encrypted_key": keystore.encrypt(bytes.fromhex(KEY.hex()), HOLDER),
    }
    return KeystoreSigner(keystore), wallet


def test_signer_builds_and_signs_any_contract_owned_by_the_wallet(signer_and_wallet) -> None:
    signer, wallet = signer_and_wallet
    fields = {"resource": 1, "balance": 5 * TRX, "receiver_address": RECEIVER, "lock": True,
              "lock_period": 100}  # fmt: skip

    signed = signer.contract(
        wallet,
        contract_type="DelegateResourceContract",
        fields=fields,
        reference=REFERENCE,
        expiration_ms=REFERENCE.timestamp_ms + 60_000,
        timestamp_ms=REFERENCE.timestamp_ms,
    )

    raw = decode_raw(bytes.fromhex(signed.raw_hex))
    assert raw.contract == contract_of(
        "DelegateResourceContract", fields | {"owner_address": HOLDER}
    )
    assert (raw.ref_block_bytes, raw.ref_block_hash) == reference_of(1, REFERENCE.id)
    assert raw.fee_limit_sun == 0 and raw.data == b""
    assert hashlib.sha256(bytes.fromhex(signed.raw_hex)).hexdigest() == signed.txid
    recovered = Signature(bytes.fromhex(signed.signature_hex)).recover_public_key_from_msg_hash(
        bytes.fromhex(signed.txid)
    )
    assert recovered.to_base58check_address() == HOLDER
    assert (
        signed.signed_hex
        == signed_transaction(
            bytes.fromhex(signed.raw_hex), [bytes.fromhex(signed.signature_hex)]
        ).hex()
    )


def test_signer_refuses_a_contract_owned_by_another(signer_and_wallet) -> None:
    signer, wallet = signer_and_wallet
    with pytest.raises(ValueError, match="is not"):
        signer.contract(
            wallet,
            contract_type="WithdrawBalanceContract",
            fields={"owner_address": OWNER},
            reference=REFERENCE,
            expiration_ms=REFERENCE.timestamp_ms + 60_000,
            timestamp_ms=REFERENCE.timestamp_ms,
        )


# --- the MemoryNode twin ----------------------------------------------------------------------

WITNESS = DEFAULT_WITNESSES[0]


@pytest.fixture
def node() -> MemoryNode:
    made = MemoryNode()
    made.accounts[OWNER] = {"address": OWNER, "balance": 1_000 * TRX}
    made.accounts[RECEIVER] = {"address": RECEIVER, "balance": 0}
    return made


_nonce = iter(range(1, 10**9))


async def send(node: MemoryNode, contract_type: str, owner: str = OWNER, **fields: Any):  # type: ignore[no-untyped-def]
    """Broadcast a stake contract of `owner` (the twin checks no signature)."""
    head = await node.head()
    block_bytes, block_hash = reference_of(head.number, head.id)
    raw = encode_raw(
        RawTransaction(
            block_bytes,
            block_hash,
            head.timestamp_ms + 60_000,
            head.timestamp_ms + next(_nonce),  # distinct txids for equal contracts
            contract_of(contract_type, {"owner_address": owner, **fields}),
        )
    )
    return await node.broadcast_hex(signed_transaction(raw, [bytes(65)]).hex())


async def landed(node: MemoryNode, contract_type: str, **fields: Any) -> dict[str, Any]:
    """Broadcast, make the next block, and return the transaction's receipt."""
    reply = await send(node, contract_type, **fields)
    assert reply.accepted, reply
    node.produce()
    receipt = next(r for r in node.blocks[-1].receipts if r["id"] == reply.txid)
    return receipt


async def test_freezing_moves_the_balance_into_frozen_v2(node: MemoryNode) -> None:
    await landed(node, "FreezeBalanceV2Contract", frozen_balance=100 * TRX, resource=1)
    await landed(node, "FreezeBalanceV2Contract", frozen_balance=50 * TRX)  # BANDWIDTH

    account = await node.account(OWNER)
    assert account is not None
    assert account["balance"] == 850 * TRX
    assert account["frozenV2"] == [
        {"amount": 50 * TRX},
        {"type": "ENERGY", "amount": 100 * TRX},
        {"type": "TRON_POWER"},
    ]
    resource = await node.account_resource(OWNER)
    assert resource["EnergyLimit"] == TOTAL_ENERGY_LIMIT  # the only staker takes it all
    assert resource["NetLimit"] == TOTAL_NET_LIMIT
    assert (resource["TotalEnergyWeight"], resource["TotalNetWeight"]) == (100, 50)
    assert (resource["tronPowerLimit"], resource["tronPowerUsed"]) == (150, 0)
    assert await node.energy_available(OWNER) == TOTAL_ENERGY_LIMIT
    node.energy[OWNER] = 7  # a test's own figure still wins
    assert await node.energy_available(OWNER) == 7


async def test_unfreezing_waits_then_withdrawing_returns_the_trx(node: MemoryNode) -> None:
    node.stake.unfreeze_delay_ms = 10 * BLOCK_MS
    await landed(node, "FreezeBalanceV2Contract", frozen_balance=100 * TRX, resource=1)

    await landed(node, "UnfreezeBalanceV2Contract", unfreeze_balance=40 * TRX, resource=1)

    expire_ms = node.blocks[-1].timestamp_ms + 10 * BLOCK_MS
    account = await node.account(OWNER)
    assert account is not None
    assert account["unfrozenV2"] == [
        {"type": "ENERGY", "unfreeze_amount": 40 * TRX, "unfreeze_expire_time": expire_ms}
    ]
    assert account["frozenV2"][1] == {"type": "ENERGY", "amount": 60 * TRX}
    assert await node.available_unfreeze_count(OWNER) == 31
    assert await node.can_withdraw_unfreeze_amount(OWNER, expire_ms - 1) == 0
    assert await node.can_withdraw_unfreeze_amount(OWNER, expire_ms) == 40 * TRX
    refused = await send(node, "WithdrawExpireUnfreezeContract")
    assert (refused.accepted, refused.code) == (False, "CONTRACT_VALIDATE_ERROR")
    assert refused.message == "Contract validate error : no unFreeze balance to withdraw "

    node.produce(10)
    assert await node.can_withdraw_unfreeze_amount(OWNER, 0) == 40 * TRX  # 0: the head's time
    receipt = await landed(node, "WithdrawExpireUnfreezeContract")

    assert receipt["withdraw_expire_amount"] == 40 * TRX
    after = await node.account(OWNER)
    assert after is not None and after["balance"] == 940 * TRX
    assert "unfrozenV2" not in after
    assert await node.available_unfreeze_count(OWNER) == 32


async def test_at_most_32_unfreezes_wait_at_once(node: MemoryNode) -> None:
    await landed(node, "FreezeBalanceV2Contract", frozen_balance=100 * TRX, resource=1)
    for _ in range(32):
        assert (
            await send(node, "UnfreezeBalanceV2Contract", unfreeze_balance=TRX, resource=1)
        ).accepted
    node.produce()
    assert await node.available_unfreeze_count(OWNER) == 0

    refused = await send(node, "UnfreezeBalanceV2Contract", unfreeze_balance=TRX, resource=1)

    assert refused.message.endswith("Invalid unfreeze operation, unfreezing times is over limit")


async def test_a_locked_delegation_moves_stake_and_refuses_an_early_undelegate(
    node: MemoryNode,
) -> None:
    await landed(node, "FreezeBalanceV2Contract", frozen_balance=100 * TRX, resource=1)
    assert await node.can_delegate_max_size(OWNER, "ENERGY") == 100 * TRX
    assert await node.can_delegate_max_size(OWNER, "BANDWIDTH") == 0

    await landed(node, "DelegateResourceContract", resource=1, balance=40 * TRX,
                 receiver_address=RECEIVER, lock=True, lock_period=100)  # fmt: skip
    await landed(node, "DelegateResourceContract", resource=1, balance=10 * TRX,
                 receiver_address=RECEIVER)  # fmt: skip

    locked_until = node.blocks[-2].timestamp_ms + 100 * 3_000
    assert await node.delegated_resource(OWNER, RECEIVER) == [
        {"frozen_balance_for_bandwidth": 0, "frozen_balance_for_energy": 10 * TRX,
         "expire_time_for_bandwidth": 0, "expire_time_for_energy": 0},
        {"frozen_balance_for_bandwidth": 0, "frozen_balance_for_energy": 40 * TRX,
         "expire_time_for_bandwidth": 0, "expire_time_for_energy": locked_until},
    ]  # fmt: skip
    assert await node.can_delegate_max_size(OWNER, "ENERGY") == 50 * TRX
    owner, receiver = await node.account(OWNER), await node.account(RECEIVER)
    assert owner is not None and receiver is not None
    assert owner["account_resource"] == {"delegated_frozenV2_balance_for_energy": 50 * TRX}
    assert receiver["account_resource"] == {
        "acquired_delegated_frozenV2_balance_for_energy": 50 * TRX
    }
    assert (await node.account_resource(OWNER))["tronPowerLimit"] == 100  # still votes
    assert (await node.account_resource(RECEIVER))["EnergyLimit"] == TOTAL_ENERGY_LIMIT // 2

    early = await send(node, "UnDelegateResourceContract", resource=1, balance=20 * TRX,
                       receiver_address=RECEIVER)  # fmt: skip
    assert early.message == (
        "Contract validate error : insufficient delegateFrozenBalance(Energy), "
        "request=20000000, unlock_balance=10000000"
    )
    await landed(node, "UnDelegateResourceContract", resource=1, balance=10 * TRX,
                 receiver_address=RECEIVER)  # fmt: skip

    assert [
        r["frozen_balance_for_energy"] for r in await node.delegated_resource(OWNER, RECEIVER)
    ] == [40 * TRX]
    assert await node.can_delegate_max_size(OWNER, "ENERGY") == 60 * TRX


async def test_an_expired_lock_can_be_undelegated(node: MemoryNode) -> None:
    await landed(node, "FreezeBalanceV2Contract", frozen_balance=10 * TRX)
    await landed(node, "DelegateResourceContract", balance=10 * TRX, receiver_address=RECEIVER,
                 lock=True, lock_period=2)  # fmt: skip
    node.produce(3)

    await landed(node, "UnDelegateResourceContract", balance=10 * TRX, receiver_address=RECEIVER)

    assert await node.delegated_resource(OWNER, RECEIVER) == []
    account = await node.account(OWNER)
    assert account is not None and account["frozenV2"][0] == {"amount": 10 * TRX}
    assert "delegated_frozenV2_balance_for_bandwidth" not in account


async def test_a_relock_may_not_end_before_the_lock_it_replaces(node: MemoryNode) -> None:
    await landed(node, "FreezeBalanceV2Contract", frozen_balance=10 * TRX, resource=1)
    await landed(node, "DelegateResourceContract", resource=1, balance=5 * TRX,
                 receiver_address=RECEIVER, lock=True, lock_period=1_000)  # fmt: skip

    shorter = await send(node, "DelegateResourceContract", resource=1, balance=TRX,
                         receiver_address=RECEIVER, lock=True, lock_period=10)  # fmt: skip

    assert "cannot be less than the remaining time" in shorter.message


async def test_votes_replace_earlier_ones_within_the_tron_power(node: MemoryNode) -> None:
    await landed(node, "FreezeBalanceV2Contract", frozen_balance=100 * TRX, resource=1)
    assert await node.witnesses() == list(DEFAULT_WITNESSES)

    await landed(node, "VoteWitnessContract",
                 votes=[{"vote_address": WITNESS, "vote_count": 60}])  # fmt: skip
    await landed(node, "VoteWitnessContract", votes=[
        {"vote_address": DEFAULT_WITNESSES[1], "vote_count": 70},
        {"vote_address": WITNESS, "vote_count": 30}])  # fmt: skip

    account = await node.account(OWNER)
    assert account is not None
    assert account["votes"] == [
        {"vote_address": DEFAULT_WITNESSES[1], "vote_count": 70},
        {"vote_address": WITNESS, "vote_count": 30},
    ]
    assert (await node.account_resource(OWNER))["tronPowerUsed"] == 100
    too_many = await send(node, "VoteWitnessContract",
                          votes=[{"vote_address": WITNESS, "vote_count": 101}])  # fmt: skip
    assert too_many.message.endswith(
        "The total number of votes[101000000] is greater than the tronPower[100000000]"
    )
    stranger = await send(node, "VoteWitnessContract",
                          votes=[{"vote_address": RECEIVER, "vote_count": 1}])  # fmt: skip
    assert stranger.message.endswith(f"Witness[{address_from_base58(RECEIVER).hex()}] not exists")


async def test_unfreezing_below_the_votes_cast_shrinks_them(node: MemoryNode) -> None:
    await landed(node, "FreezeBalanceV2Contract", frozen_balance=10 * TRX, resource=1)
    await landed(node, "VoteWitnessContract", votes=[
        {"vote_address": WITNESS, "vote_count": 9},
        {"vote_address": DEFAULT_WITNESSES[1], "vote_count": 1}])  # fmt: skip

    await landed(node, "UnfreezeBalanceV2Contract", unfreeze_balance=5 * TRX, resource=1)

    account = await node.account(OWNER)
    assert account is not None  # 9 * 5 / 10 = 4.5 -> 4, and 0.5 -> 0 goes
    assert account["votes"] == [{"vote_address": WITNESS, "vote_count": 4}]


async def test_claiming_pays_the_reward_once_a_day(node: MemoryNode) -> None:
    refused = await send(node, "WithdrawBalanceContract")
    assert refused.message.endswith("witnessAccount does not have any reward")
    node.stake.rewards[OWNER] = 256 * TRX
    assert await node.reward(OWNER) == 256 * TRX

    receipt = await landed(node, "WithdrawBalanceContract")

    assert receipt["withdraw_amount"] == 256 * TRX
    assert await node.reward(OWNER) == 0
    account = await node.account(OWNER)
    assert account is not None
    assert account["balance"] == 1_256 * TRX
    assert account["latest_withdraw_time"] == node.blocks[-1].timestamp_ms
    node.stake.rewards[OWNER] = TRX
    again = await send(node, "WithdrawBalanceContract")
    assert again.message.endswith(
        f"The last withdraw time is {account['latest_withdraw_time']}, less than 24 hours"
    )
    node.produce(DAY_MS // BLOCK_MS)
    assert (await send(node, "WithdrawBalanceContract")).accepted


async def test_refusals_carry_java_trons_code_and_nothing_is_pending(node: MemoryNode) -> None:
    reply = await send(node, "FreezeBalanceV2Contract", frozen_balance=2_000 * TRX)

    assert (reply.accepted, reply.code) == (False, "CONTRACT_VALIDATE_ERROR")
    assert reply.message == (
        "Contract validate error : frozenBalance must be less than or equal to accountBalance"
    )
    assert node.pending == {}
    stranger = await send(node, "FreezeBalanceV2Contract", owner=HOLDER, frozen_balance=TRX)
    assert stranger.message.endswith(f"Account[{address_from_base58(HOLDER).hex()}] not exists")


async def test_a_transaction_no_longer_valid_at_its_block_is_left_out(node: MemoryNode) -> None:
    await landed(node, "FreezeBalanceV2Contract", frozen_balance=10 * TRX, resource=1)
    first = await send(node, "UnfreezeBalanceV2Contract", unfreeze_balance=10 * TRX, resource=1)
    second = await send(node, "UnfreezeBalanceV2Contract", unfreeze_balance=10 * TRX, resource=1)
    assert first.accepted and second.accepted  # each valid on its own

    node.produce()

    assert first.txid in node.included() and second.txid not in node.included()
    account = await node.account(OWNER)
    assert account is not None and len(account["unfrozenV2"]) == 1


async def test_a_failed_transaction_has_no_effect(node: MemoryNode) -> None:
    node.fail_next = "OUT_OF_TIME"
    await landed(node, "FreezeBalanceV2Contract", frozen_balance=10 * TRX)

    account = await node.account(OWNER)
    assert account == {"address": OWNER, "balance": 1_000 * TRX}


async def test_an_unknown_account_reads_as_zeros(node: MemoryNode) -> None:
    assert await node.account_resource(HOLDER) == dict.fromkeys(ACCOUNT_RESOURCE_KEYS, 0)
    assert await node.available_unfreeze_count(HOLDER) == 0
    assert await node.can_withdraw_unfreeze_amount(HOLDER, 0) == 0
    assert await node.can_delegate_max_size(HOLDER, "ENERGY") == 0
    assert await node.delegated_resource(HOLDER, OWNER) == []
    assert await node.reward(HOLDER) == 0


async def test_stake_reads_are_counted_and_fail_when_unavailable(node: MemoryNode) -> None:
    await node.account_resource(OWNER)
    await node.witnesses()
    assert node.calls["account_resource"] == node.calls["witnesses"] == 1

    node.unavailable = True
    for read in (
        node.account_resource(OWNER),
        node.can_delegate_max_size(OWNER, "ENERGY"),
        node.delegated_resource(OWNER, RECEIVER),
        node.available_unfreeze_count(OWNER),
        node.can_withdraw_unfreeze_amount(OWNER, 0),
        node.reward(OWNER),
        node.witnesses(),
    ):
        with pytest.raises(NodeUnavailable):
            await read
