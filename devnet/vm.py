"""Running a call on a contract devnet emulates natively: energy meter, revert, result.

devnet has no TVM. A native contract is Python code that does what the
deployed bytecode does and charges energy in steps (`Execution.spend`) whose
costs add up to what java-tron's VM charges for the same path. The rules
around it are java-tron's (VM.play, Program, VMActuator.execute):
- a step that does not fit in what is left of the energy limit fails the call
  with OUT_OF_ENERGY and the whole limit is spent (Program.spendAllEnergy);
- a REVERT keeps the energy spent so far, discards state changes and logs,
  and returns the revert data; resMessage is "REVERT opcode executed";
- with a dynamic-energy factor above 1.0 each step also pays a penalty of
  energy x factor / 10000 - energy, counted in the energy used;
- state changes happen on a scratch view that the caller keeps only when the
  call succeeds (the VM's root repository is committed only then).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from devnet.ledger import StateView
from devnet.vm_result import ContractLog

__all__ = [
    "DYNAMIC_ENERGY_FACTOR_DECIMAL",
    "REVERT_MESSAGE",
    "Call",
    "Execution",
    "NativeContract",
    "OutOfEnergy",
    "Revert",
    "RunResult",
    "run_call",
]

# Constant.DYNAMIC_ENERGY_FACTOR_DECIMAL: energy factors are in units of 1/10000.
DYNAMIC_ENERGY_FACTOR_DECIMAL = 10_000
REVERT_MESSAGE = "REVERT opcode executed"


@dataclass(frozen=True, slots=True)
class Call:
    """One message call: who calls (21 bytes), which contract (21 bytes), data and TRX sent."""

    caller: bytes
    contract: bytes
    data: bytes
    call_value_sun: int = 0


class Revert(Exception):
    """The contract executed REVERT with this data (empty for a bare `require`)."""

    def __init__(self, data: bytes = b"") -> None:
        super().__init__(REVERT_MESSAGE)
        self.data = data


class OutOfEnergy(Exception):
    """A step needed more energy than the limit had left (Program.OutOfEnergyException)."""


@dataclass(slots=True)
class Execution:
    """The energy meter, scratch state and logs of one call (java-tron's ProgramResult)."""

    state: StateView
    energy_limit: int
    energy_factor: int = 0  # the contract's dynamic-energy factor, 1/10000 above 1.0
    energy_used: int = 0
    energy_penalty: int = 0
    logs: list[ContractLog] = field(default_factory=list)

    def spend(self, energy: int, op_name: str) -> None:
        """Charge one step, as Program.spendEnergy / spendEnergyWithPenalty charge one op.

        Raises:
            OutOfEnergy: with java-tron's message; the caller spends the whole limit.
        """
        left = self.energy_limit - self.energy_used
        if self.energy_factor > 0:
            factor = DYNAMIC_ENERGY_FACTOR_DECIMAL + self.energy_factor
            penalty = max(energy * factor // DYNAMIC_ENERGY_FACTOR_DECIMAL - energy, 0)
            if left < energy + penalty:
                raise OutOfEnergy(
                    f"Not enough energy for '{op_name}' operation executing: "
                    f"curInvokeEnergyLimit[{self.energy_limit}], curOpEnergy[{energy}], "
                    f"penaltyEnergy[{penalty}], usedEnergy[{self.energy_used}]"
                )
            self.energy_used += energy + penalty
            self.energy_penalty += penalty
            return
        if left < energy:
            raise OutOfEnergy(
                f"Not enough energy for '{op_name}' operation executing: "
                f"curInvokeEnergyLimit[{self.energy_limit}], curOpEnergy[{energy}], "
                f"usedEnergy[{self.energy_used}]"
            )
        self.energy_used += energy

    def log(self, address20: bytes, topics: tuple[bytes, ...], data: bytes) -> None:
        """LOGn: kept only if the call succeeds."""
        self.logs.append(ContractLog(address20, topics, data))


class NativeContract(Protocol):
    """A deployed contract devnet runs as Python: its SmartContract fields and its code."""

    name: str
    consume_user_resource_percent: int
    origin_energy_limit: int

    def abi_entries(self) -> list[dict[str, Any]]:
        """SmartContract.ABI entries as message values (see devnet.render_contracts)."""
        ...

    def origin(self, state: StateView) -> bytes:
        """SmartContract.origin_address: the deployer, who shares the energy bill."""
        ...

    def energy_factor(self, state: StateView) -> int:
        """ContractState.energy_factor (dynamic energy model), 0 when not raised."""
        ...

    def is_constant(self, selector: bytes) -> bool:
        """Whether the ABI marks the function view/pure (Wallet.isConstant)."""
        ...

    def run(self, call: Call, ex: Execution) -> bytes:
        """Execute call, charging ex; return the return data.

        Raises:
            Revert: the code reverts.
            OutOfEnergy: a step does not fit in the energy limit.
        """
        ...


@dataclass(frozen=True, slots=True)
class RunResult:
    """ProgramResult after VMActuator.execute: status, data, logs, energy and scratch state."""

    contract_ret: str
    result: bytes
    logs: tuple[ContractLog, ...]
    energy_used: int
    energy_penalty: int
    runtime_error: str
    scratch: StateView

    @property
    def succeeded(self) -> bool:
        return self.contract_ret == "SUCCESS"


def _send_call_value(call: Call, state: StateView) -> None:
    """MUtil.transfer of the call's TRX to the contract (validated before; undone on failure)."""
    caller = state.account(call.caller)
    assert caller is not None
    state.put_account(caller.evolve(balance_sun=caller.balance_sun - call.call_value_sun))
    target = state.account(call.contract)
    assert target is not None
    state.put_account(target.evolve(balance_sun=target.balance_sun + call.call_value_sun))


def run_call(
    contract: NativeContract, call: Call, state: StateView, energy_limit: int
) -> RunResult:
    """Run call on a scratch view over state; absorb `scratch.top` to keep a success."""
    ex = Execution(state.child(), energy_limit, contract.energy_factor(state))
    if call.call_value_sun:
        _send_call_value(call, ex.state)
    try:
        returned = contract.run(call, ex)
    except Revert as revert:
        return RunResult(
            "REVERT", revert.data, (), ex.energy_used, ex.energy_penalty, REVERT_MESSAGE, ex.state
        )
    except OutOfEnergy as exc:
        # Program.spendAllEnergy: a failed op costs everything that was left.
        return RunResult(
            "OUT_OF_ENERGY", b"", (), energy_limit, ex.energy_penalty, str(exc), ex.state
        )
    return RunResult(
        "SUCCESS", returned, tuple(ex.logs), ex.energy_used, ex.energy_penalty, "", ex.state
    )
