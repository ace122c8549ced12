"""ABI entries of a native contract: functions with their code, events, and the JSON of both.

`abi_entry` prints SmartContract.ABI.Entry as java-tron's JsonFormat does:
fields in number order (constant, name, inputs, outputs, type,
stateMutability), `false` and empty values left out, enum names as in
Tron.proto ("Function", "View", "Nonpayable", "Event"), which tronpy reads
case-insensitively.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from devnet.evm_abi import CallData
from devnet.vm import Call, Execution

__all__ = ["Function", "Handler", "event_entry"]

# The function's code: (contract, call, execution, arguments) -> return data.
Handler = Callable[[Any, Call, Execution, CallData], bytes]


@dataclass(frozen=True, slots=True)
class Function:
    """One ABI function: name, (name, type) inputs and outputs, mutability, code, entry cost."""

    name: str
    inputs: tuple[tuple[str, str], ...]
    outputs: tuple[tuple[str, str], ...]
    view: bool
    handler: Handler
    entry_energy: int  # dispatch and checks before the first storage write or return

    @property
    def signature(self) -> str:
        return f"{self.name}({','.join(kind for _, kind in self.inputs)})"

    def abi_entry(self) -> dict[str, Any]:
        """SmartContract.ABI.Entry as JsonFormat prints it: false and empty fields left out."""
        entry: dict[str, Any] = {"constant": True} if self.view else {}
        entry["name"] = self.name
        if self.inputs:
            entry["inputs"] = [_param(False, n, t) for n, t in self.inputs]
        if self.outputs:
            entry["outputs"] = [_param(False, n, t) for n, t in self.outputs]
        entry["type"] = "Function"
        entry["stateMutability"] = "View" if self.view else "Nonpayable"
        return entry


def _param(indexed: bool, name: str, kind: str) -> dict[str, Any]:
    """ABI.Entry.Param (indexed 1, name 2, type 3), defaults left out."""
    param: dict[str, Any] = {"indexed": True} if indexed else {}
    if name:
        param["name"] = name
    param["type"] = kind
    return param


def event_entry(name: str, *inputs: tuple[bool, str, str]) -> dict[str, Any]:
    """An Event entry from (indexed, name, type) inputs."""
    return {"name": name, "inputs": [_param(*arg) for arg in inputs], "type": "Event"}
