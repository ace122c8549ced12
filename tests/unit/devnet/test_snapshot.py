"""devnet/snapshot.py: the codec, the state file, and a chain that carries on after a restart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devnet import builders
from devnet.accounts import Account, Key, Permission, new_account
from devnet.api_admin import credit_trx
from devnet.chain import Chain, View
from devnet.errors import DuplicateTransaction
from devnet.genesis import GenesisConfig, build_genesis
from devnet.keys import address_from_private_key
from devnet.ledger import Layer, TxInfo
from devnet.snapshot import SnapshotCodec, SnapshotError, load_state, save_state
from devnet.stake_records import DelegatedResource, StakeState, UnfreezeV2, Vote
from devnet.transactions import RawData
from devnet.trc20 import TETHER, USDT_ADDRESS

START_MS = 1_800_000_000_000
INTERVAL_MS = 3000
TRX = 1_000_000
FRESH = bytes.fromhex("41" + "33" * 20)


def make_chain(lag: int = 2, config: GenesisConfig | None = None) -> Chain:
    chain = Chain(build_genesis(config), solidify_lag_blocks=lag)
    chain.produce_block(START_MS, chain.genesis.witnesses[0])
    return chain


def next_block(chain: Chain) -> None:
    slot = chain.head_block.timestamp_ms + INTERVAL_MS
    chain.produce_block(slot, chain.genesis.witnesses[slot // INTERVAL_MS % 3])


def key(chain: Chain, n: int) -> bytes:
    private_key = chain.genesis.accounts[n].private_key
    assert private_key is not None
    return private_key


def send(chain: Chain, n: int, to: bytes, amount: int, memo: bytes = b"") -> bytes:
    tx = builders.transfer(
        key(chain, n), to, amount, chain.head_block.block_id, chain.head_block.timestamp_ms,
        memo=memo,
    )  # fmt: skip
    chain.broadcast(tx)
    return tx.txid


def busy_chain() -> tuple[Chain, list[bytes]]:
    """Nine blocks of transfers (an activation, a memo, USDT), a faucet credit, two pending."""
    chain = make_chain()
    txids = []
    for n in range(7):
        to = FRESH if n == 2 else address_from_private_key(key(chain, (n + 1) % 4))
        txids.append(send(chain, n % 4, to, (n + 1) * TRX, memo=b"m" if n == 3 else b""))
        next_block(chain)
    txids.append(send_usdt(chain, 1, FRESH, 77))
    next_block(chain)
    credit_trx(chain, FRESH, 5 * TRX)
    txids.append(send(chain, 0, FRESH, 2))
    txids.append(send(chain, 1, FRESH, 3))
    return chain, txids


def send_usdt(chain: Chain, n: int, to: bytes, amount: int) -> bytes:
    call = bytes.fromhex("a9059cbb") + to[1:].rjust(32, b"\0") + amount.to_bytes(32, "big")
    value = {"owner_address": address_from_private_key(key(chain, n)),
             "contract_address": USDT_ADDRESS, "data": call}  # fmt: skip
    head = chain.head_block
    raw = RawData(
        contracts=(builders.build_contract("TriggerSmartContract", value),),
        ref_block_bytes=head.block_id[6:8], ref_block_hash=head.block_id[8:16],
        expiration_ms=head.timestamp_ms + 60_000, timestamp_ms=head.timestamp_ms,
        fee_limit_sun=100 * TRX,
    )  # fmt: skip
    tx = builders.sign(raw, key(chain, n))
    chain.broadcast(tx)
    return tx.txid


def restored(chain: Chain, path: Path) -> Chain:
    save_state(path, {"chain": chain})
    fresh = Chain(chain.genesis, solidify_lag_blocks=chain.solidify_lag_blocks)
    assert load_state(path, {"chain": fresh})
    return fresh


def test_values_round_trip_through_the_codec() -> None:
    address = bytes.fromhex("41" + "aa" * 20)
    account = new_account(address, START_MS, balance_sun=2**62).evolve(
        account_name=b"name",
        active_permissions=(Permission(2, 2, "active", 2, (Key(address, 1), Key(FRESH, 1))),),
        stake=StakeState(
            frozen_v2_energy_sun=5, unfrozen_v2=(UnfreezeV2(1, 7, START_MS),),
            votes=(Vote(FRESH, 3),), delegated_resources=(DelegatedResource(FRESH, True, 1, 2),),
        ),
    )  # fmt: skip
    layer = Layer(accounts={address: account}, properties={"DEVNET_TRC20:x:balance": 2**255})
    info = TxInfo(fee_sun=1, contract_result=(b"\x01" * 32,))
    codec = SnapshotCodec()

    encoded = json.loads(json.dumps(codec.encode(layer)))

    assert codec.decode(Layer, encoded) == layer
    assert codec.decode(Account, codec.encode(account)) == account
    assert codec.decode(TxInfo, codec.encode(info)) == info
    assert codec.decode(Account | None, None) is None


def test_the_codec_refuses_what_does_not_fit() -> None:
    codec = SnapshotCodec()
    with pytest.raises(SnapshotError, match="has no fields"):
        codec.decode(TxInfo, {"fee_sun": 1, "gas": 2})
    with pytest.raises(SnapshotError, match="expected int"):
        codec.decode(TxInfo, {"fee_sun": "1"})
    with pytest.raises(SnapshotError, match="cannot snapshot"):
        codec.encode(object())


def test_a_restored_chain_has_the_same_blocks_state_and_pending(tmp_path: Path) -> None:
    chain, txids = busy_chain()

    copy = restored(chain, tmp_path / "state.json")

    assert copy.head_block == chain.head_block and copy.solid_number == chain.solid_number
    for number in range(chain.head_block.number + 1):
        block = chain.block_by_number(number)
        assert block is not None and copy.block_by_id(block.block_id) == block
    for view in View:
        for account in [*chain.genesis.accounts, FRESH]:
            address = account if isinstance(account, bytes) else account.address
            assert copy.account(address, view) == chain.account(address, view)
        for txid in txids:
            assert copy.transaction(txid, view) == chain.transaction(txid, view)
    assert copy.pending_count == chain.pending_count == 2
    assert copy.account(FRESH) is not None
    usdt_info = copy.transaction(txids[7], View.HEAD)
    assert usdt_info is not None and usdt_info.info is not None and usdt_info.info.vm is not None
    assert usdt_info.info.vm.logs and usdt_info.info.vm.contract_ret == "SUCCESS"
    assert TETHER.storage(copy.state()).balance(FRESH[1:]) == 77


def test_a_restored_chain_makes_the_same_next_blocks(tmp_path: Path) -> None:
    chain, _ = busy_chain()
    copy = restored(chain, tmp_path / "state.json")

    for each in (chain, copy):
        next_block(each)
        send(each, 2, FRESH, 11)
        next_block(each)

    assert copy.head_block == chain.head_block
    assert copy.head_block.transactions and copy.pending_count == 0
    assert copy.account(FRESH) == chain.account(FRESH)


def test_a_transaction_already_in_the_state_is_still_a_duplicate(tmp_path: Path) -> None:
    chain = make_chain()
    tx = builders.transfer(key(chain, 0), FRESH, TRX, chain.head_block.block_id, START_MS)
    chain.broadcast(tx)
    next_block(chain)

    copy = restored(chain, tmp_path / "state.json")

    with pytest.raises(DuplicateTransaction, match="dup trans"):
        copy.broadcast(tx)


def test_a_shorter_lag_on_restart_solidifies_at_once(tmp_path: Path) -> None:
    chain, txids = busy_chain()
    path = tmp_path / "state.json"
    save_state(path, {"chain": chain})

    copy = Chain(chain.genesis, solidify_lag_blocks=0)
    load_state(path, {"chain": copy})

    assert copy.solid_number == copy.head_block.number
    assert copy.transaction(txids[6], View.SOLID) is not None


def test_saving_writes_atomically_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    chain, _ = busy_chain()
    path = tmp_path / "state.json"
    save_state(path, {"chain": chain})
    before = path.read_bytes()

    class Broken:
        def to_snapshot(self, codec: SnapshotCodec) -> dict[str, Any]:
            return {"value": codec.encode(object())}

        def from_snapshot(self, data: Any, codec: SnapshotCodec) -> None:
            raise AssertionError

    with pytest.raises(SnapshotError):
        save_state(path, {"chain": chain, "broken": Broken()})

    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]
    assert json.loads(before)["format"] == "lucid-devnet-state"


def test_a_missing_file_loads_nothing(tmp_path: Path) -> None:
    chain = make_chain()

    assert not load_state(tmp_path / "absent.json", {"chain": chain})
    assert chain.head_block.number == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "is not JSON"),
        ('{"format": "other"}', "is not a devnet state file"),
        ('{"format": "lucid-devnet-state", "version": 99}', "state format version 99"),
        (
            '{"format": "lucid-devnet-state", "version": 1, "components": {"ghost": {}}}',
            "unknown components \\['ghost'\\]",
        ),
    ],
)
def test_a_bad_file_is_an_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "state.json"
    path.write_text(content)

    with pytest.raises(SnapshotError, match=message):
        load_state(path, {"chain": make_chain()})


def test_a_file_from_another_genesis_is_refused(tmp_path: Path) -> None:
    chain, _ = busy_chain()
    path = tmp_path / "state.json"
    save_state(path, {"chain": chain})
    other = Chain(build_genesis(GenesisConfig(timestamp_ms=START_MS - 1)), solidify_lag_blocks=2)

    with pytest.raises(SnapshotError, match="another genesis"):
        load_state(path, {"chain": other})


def test_a_tampered_transaction_table_is_refused(tmp_path: Path) -> None:
    chain, txids = busy_chain()
    path = tmp_path / "state.json"
    save_state(path, {"chain": chain})
    document = json.loads(path.read_text())
    stored = document["transactions"][txids[0].hex()]
    stored["raw_data"]["contract"][0]["parameter"]["value"]["amount"] += 1
    path.write_text(json.dumps(document))

    with pytest.raises(SnapshotError, match="loads with another txid"):
        load_state(path, {"chain": Chain(chain.genesis, solidify_lag_blocks=2)})
