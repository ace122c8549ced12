"""java-tron's JSON shapes for blocks, chain parameters and node info.

java-tron prints protobuf messages with its own JsonFormat: scalar fields that
hold their default value are left out, bytes are hex, and with `visible=true`
address fields (HttpSelfFormatFieldName) become base58check. Blocks then pass
through fastjson, which adds `blockID` and adds `transactions` only when the
block has some. Key order follows what java-tron nodes return; JSON clients do
not depend on it, but it makes side-by-side comparison with a real node easy.
"""

from __future__ import annotations

import os
import platform
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from devnet.chain import Block, Chain
from devnet.keys import address_to_base58
from devnet.transactions import render_transaction

__all__ = [
    "NodeSettings",
    "block_ref",
    "render_address",
    "render_block",
    "render_chain_parameters",
    "render_node_info",
]


def render_address(address: bytes, visible: bool) -> str:
    """Print an address field: base58check when visible, else hex (java-tron escapeBytes)."""
    return address_to_base58(address) if visible else address.hex()


def render_block(block: Block, visible: bool) -> dict[str, Any]:
    """Render a block as /wallet/getnowblock and getblockbynum return it."""
    header = block.header
    raw: dict[str, Any] = {}
    if header.number:
        raw["number"] = header.number
    if header.tx_trie_root:
        raw["txTrieRoot"] = header.tx_trie_root.hex()
    if header.witness_address:
        raw["witness_address"] = render_address(header.witness_address, visible)
    if header.parent_hash:
        raw["parentHash"] = header.parent_hash.hex()
    if header.account_state_root:
        raw["accountStateRoot"] = header.account_state_root.hex()
    if header.witness_id:
        raw["witness_id"] = header.witness_id
    if header.version:
        raw["version"] = header.version
    if header.timestamp_ms:
        raw["timestamp"] = header.timestamp_ms
    block_header: dict[str, Any] = {"raw_data": raw}
    if block.witness_signature:
        block_header["witness_signature"] = block.witness_signature.hex()
    rendered: dict[str, Any] = {"blockID": block.block_id.hex(), "block_header": block_header}
    if block.transactions:
        rendered["transactions"] = [
            render_transaction(item.transaction, visible, [item.contract_ret])
            for item in block.transactions
        ]
    return rendered


def render_chain_parameters(parameters: Mapping[str, int]) -> dict[str, Any]:
    """Render /wallet/getchainparameters; a zero value has no `value` key, as in java-tron."""
    entries = [
        {"key": key, "value": value} if value else {"key": key} for key, value in parameters.items()
    ]
    return {"chainParameter": entries}


def block_ref(block: Block) -> str:
    """Format a block as BlockId.getString() does: `Num:<n>,ID:<hex>` (tronpy parses it)."""
    return f"Num:{block.number},ID:{block.block_id.hex()}"


@dataclass(frozen=True, slots=True)
class NodeSettings:
    """The `configNodeInfo` of getnodeinfo: java-tron 4.8.0 with its default config.conf."""

    code_version: str = "4.8.0"
    version_num: str = "18631"
    p2p_version: str = "11111"  # mainnet's p2p version
    listen_port: int = 18888
    max_connect_count: int = 30
    same_ip_max_connect_count: int = 2
    backup_listen_port: int = 10001
    backup_priority: int = 8
    min_participation_rate: int = 15


def _config_node_info(settings: NodeSettings) -> dict[str, Any]:
    return {
        "activeNodeSize": 0,
        "allowAdaptiveEnergy": 0,
        "allowCreationOfContracts": 0,
        "backupListenPort": settings.backup_listen_port,
        "backupMemberSize": 0,
        "backupPriority": settings.backup_priority,
        "codeVersion": settings.code_version,
        "dbVersion": 2,
        "discoverEnable": True,
        "listenPort": settings.listen_port,
        "maxConnectCount": settings.max_connect_count,
        "maxTimeRatio": 5.0,
        "minParticipationRate": settings.min_participation_rate,
        "minTimeRatio": 0.0,
        "p2pVersion": settings.p2p_version,
        "passiveNodeSize": 0,
        "sameIpMaxConnectCount": settings.same_ip_max_connect_count,
        "sendNodeSize": 0,
        "supportConstant": False,
        "versionNum": settings.version_num,
    }


def _sysconf_bytes(pages_name: str) -> int:
    try:
        return os.sysconf(pages_name) * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 0


def _machine_info() -> dict[str, Any]:
    # The JVM fields have no Python meaning; they stay zero rather than invented.
    return {
        "cpuCount": os.cpu_count() or 1,
        "cpuRate": 0.0,
        "deadLockThreadCount": 0,
        "deadLockThreadInfoList": [],
        "freeMemory": _sysconf_bytes("SC_AVPHYS_PAGES"),
        "javaVersion": f"python-{platform.python_version()} (devnet)",
        "jvmFreeMemory": 0,
        "jvmTotalMemory": 0,
        "memoryDescInfoList": [],
        "osName": f"{platform.system()} {platform.release()}",
        "processCpuRate": 0.0,
        "threadCount": threading.active_count(),
        "totalMemory": _sysconf_bytes("SC_PHYS_PAGES"),
    }


def render_node_info(chain: Chain, settings: NodeSettings) -> dict[str, Any]:
    """Render /wallet/getnodeinfo: fastjson's alphabetical keys of java-tron's NodeInfo."""
    solid = chain.solid_block
    return {
        "activeConnectCount": 0,
        # Manager.fetchSyncBeginNumber: head minus the unsolidified blocks it could revert.
        "beginSyncNum": solid.number,
        "block": block_ref(chain.head_block),
        "cheatWitnessInfoMap": {},
        "configNodeInfo": _config_node_info(settings),
        "currentConnectCount": 0,
        "machineInfo": _machine_info(),
        "passiveConnectCount": 0,
        "peerList": [],
        "solidityBlock": block_ref(solid),
        "totalFlow": 0,
    }
