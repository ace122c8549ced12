"""devnet/render.py: java-tron's JSON for blocks, chain parameters and node info."""

from __future__ import annotations

from devnet.chain import Chain
from devnet.genesis import build_genesis
from devnet.keys import address_to_base58
from devnet.render import (
    NodeSettings,
    block_ref,
    render_block,
    render_chain_parameters,
    render_node_info,
)

START_MS = 1_800_000_000_000


def make_chain(blocks: int, lag: int = 2) -> Chain:
    chain = Chain(build_genesis(), solidify_lag_blocks=lag)
    for n in range(blocks):
        chain.produce_block(START_MS + 3000 * n, chain.genesis.witnesses[0])
    return chain


def test_block_json_has_java_tron_keys_and_no_transactions_key_when_empty() -> None:
    block = make_chain(blocks=1).head_block

    rendered = render_block(block, visible=False)

    assert list(rendered) == ["blockID", "block_header"]
    assert list(rendered["block_header"]) == ["raw_data", "witness_signature"]
    assert list(rendered["block_header"]["raw_data"]) == [
        "number", "txTrieRoot", "witness_address", "parentHash", "version", "timestamp",
    ]  # fmt: skip
    raw = rendered["block_header"]["raw_data"]
    assert rendered["blockID"] == block.block_id.hex()
    assert raw["witness_address"] == block.header.witness_address.hex()
    assert raw["timestamp"] == START_MS
    assert raw["txTrieRoot"] == "00" * 32
    assert len(bytes.fromhex(rendered["block_header"]["witness_signature"])) == 65


def test_visible_renders_the_witness_address_in_base58() -> None:
    block = make_chain(blocks=1).head_block

    raw = render_block(block, visible=True)["block_header"]["raw_data"]

    assert raw["witness_address"] == address_to_base58(block.header.witness_address)
    assert raw["parentHash"] == block.header.parent_hash.hex()  # hashes stay hex


def test_genesis_block_omits_default_fields_like_java_tron() -> None:
    rendered = render_block(make_chain(blocks=0).head_block, visible=False)

    raw = rendered["block_header"]["raw_data"]
    assert set(raw) == {"txTrieRoot", "witness_address", "parentHash"}
    assert "witness_signature" not in rendered["block_header"]
    assert rendered["blockID"].startswith("0" * 16)


def test_chain_parameters_omit_value_when_zero() -> None:
    rendered = render_chain_parameters({"getEnergyFee": 100, "getAllowPBFT": 0, "x": -1})

    assert rendered == {
        "chainParameter": [
            {"key": "getEnergyFee", "value": 100},
            {"key": "getAllowPBFT"},
            {"key": "x", "value": -1},
        ]
    }


def test_node_info_block_strings_are_what_tronpy_parses() -> None:
    chain = make_chain(blocks=5, lag=2)

    info = render_node_info(chain, NodeSettings())

    assert info["block"] == f"Num:5,ID:{chain.head_block.block_id.hex()}"
    assert (
        info["solidityBlock"]
        == block_ref(chain.solid_block)
        == (f"Num:3,ID:{chain.solid_block.block_id.hex()}")
    )
    assert info["beginSyncNum"] == 3
    assert list(info) == sorted(info)  # fastjson writes NodeInfo's fields alphabetically
    for key in ("currentConnectCount", "activeConnectCount", "passiveConnectCount"):
        assert info[key] == 0
    assert info["configNodeInfo"]["codeVersion"] == "4.8.0"
    assert info["machineInfo"]["cpuCount"] >= 1
