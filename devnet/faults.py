"""Fault injection for chaos tests: what to break (a pydantic config) and when (decisions).

Pure: no clock, no sockets. `FaultInjector` turns the config into decisions
drawn from an injected RNG, so a seeded run breaks the same requests every
time; `devnet.faults_middleware` carries them out. The JSON a test posts to
`/devnet/faults` is `FaultConfig`:

    {"seed": 7, "latency_ms": 200, "jitter_ms": 50,
     "error_rate": 0.1, "error_status": 503, "error_body": "json",
     "timeout_rate": 0.05, "timeout_s": 30,
     "drop_broadcast": {"next": 1}, "lost_response": {"rate": 0.5, "mode": "disconnect"},
     "tamper": {"to": "T...", "amount_delta": 1},
     "blocks": "paused", "blackhole": false, "paths": ["broadcasttransaction"]}

Every key is optional and a posted config replaces the whole one in force,
so `{}` means no faults and running blocks. A trigger (`drop_broadcast`,
`lost_response`, `tamper`) fires for every event when given as `{}`, with
probability `rate`, or for the next `next` events only (counted down; 0 is
spent); a bare number is a rate. Rates draw from `random.Random(seed)`,
restarted whenever a config is put in force; without a seed, runs differ.
"""

from __future__ import annotations

import argparse
import enum
import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from devnet.keys import parse_address

__all__ = [
    "NO_FAULTS",
    "FaultConfig",
    "FaultConfigError",
    "FaultInjector",
    "LostResponse",
    "RequestAction",
    "RequestPlan",
    "Tamper",
    "Trigger",
    "add_fault_arguments",
    "fault_config_from_args",
    "parse_fault_config",
]

_INT64_MAX = 2**63 - 1


class FaultConfigError(ValueError):
    """A fault config that does not validate; the message names each bad key."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Trigger(_Model):
    """When a per-event fault fires: the next `next` events if set, else with probability rate."""

    rate: float = Field(default=1.0, ge=0, le=1)
    next: int | None = Field(default=None, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _bare_rate(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return {"rate": value}
        return value


class LostResponse(Trigger):
    """The broadcast is accepted, but the client gets a 500 (`error`) or a cut connection."""

    mode: Literal["error", "disconnect"] = "error"


class Tamper(Trigger):
    """Node-built transactions pay `to` instead, and/or `amount_delta` more (may be negative)."""

    to: str | None = None
    amount_delta: int = Field(default=0, ge=-_INT64_MAX, le=_INT64_MAX)

    @field_validator("to")
    @classmethod
    def _valid_address(cls, value: str | None) -> str | None:
        if value is not None:
            parse_address(value)  # ValueError -> a validation error naming `tamper.to`
        return value

    @model_validator(mode="after")
    def _changes_something(self) -> Tamper:
        if self.to is None and self.amount_delta == 0:
            raise ValueError("give `to`, a non-zero `amount_delta`, or both")
        return self

    @property
    def to_address(self) -> bytes | None:
        return parse_address(self.to) if self.to is not None else None


class FaultConfig(_Model):
    """Everything devnet can break; the defaults break nothing."""

    seed: int | None = None
    latency_ms: int = Field(default=0, ge=0, le=600_000)
    jitter_ms: int = Field(default=0, ge=0, le=600_000)
    error_rate: float = Field(default=0.0, ge=0, le=1)
    error_status: int = Field(default=503, ge=500, le=599)
    error_body: Literal["json", "text"] = "json"
    timeout_rate: float = Field(default=0.0, ge=0, le=1)
    timeout_s: float = Field(default=30.0, gt=0, le=3600)
    drop_broadcast: Trigger | None = None
    lost_response: LostResponse | None = None
    tamper: Tamper | None = None
    blocks: Literal["running", "paused"] = "running"
    blackhole: bool = False
    # Limits latency, errors, timeouts and the blackhole to these endpoints
    # (a name such as "broadcasttransaction", or a full path); empty means all.
    paths: tuple[str, ...] = ()

    def applies_to(self, path: str) -> bool:
        """Whether request-level faults apply to this API path."""
        if not self.paths:
            return True
        return path in self.paths or path.rsplit("/", 1)[-1] in self.paths


NO_FAULTS = FaultConfig()


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "config"
        message = "unknown key" if item["type"] == "extra_forbidden" else item["msg"]
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def parse_fault_config(data: Any) -> FaultConfig:
    """Validate a JSON value as a FaultConfig.

    Raises:
        FaultConfigError: with one `key: problem` per error, unknown keys included.
    """
    if not isinstance(data, Mapping):
        raise FaultConfigError("the fault config must be a JSON object")
    try:
        return FaultConfig.model_validate(dict(data))
    except ValidationError as exc:
        raise FaultConfigError(_describe(exc)) from None


class RequestAction(enum.Enum):
    """What happens to an API request after its latency."""

    PASS = "pass"
    ERROR = "error"  # answer error_status at once
    TIMEOUT = "timeout"  # hold timeout_s, then close without an answer


@dataclass(frozen=True, slots=True)
class RequestPlan:
    delay_s: float
    action: RequestAction


_PASS = RequestPlan(0.0, RequestAction.PASS)


class FaultInjector:
    """The config in force and its decisions; `next` counters count down in the config itself."""

    def __init__(
        self,
        config: FaultConfig = NO_FAULTS,
        rng_factory: Callable[[int | None], random.Random] = random.Random,
    ) -> None:
        self._rng_factory = rng_factory
        self.configure(config)

    @property
    def config(self) -> FaultConfig:
        """The config in force, with `next` counters as they stand now."""
        return self._config

    def configure(self, config: FaultConfig) -> None:
        """Replace the whole config; a seed restarts the RNG, so the run is reproducible."""
        self._config = config
        self._rng = self._rng_factory(config.seed)

    def _chance(self, rate: float) -> bool:
        # Certain outcomes draw nothing, so adding a rate-1 fault keeps a seeded sequence.
        if rate <= 0:
            return False
        return rate >= 1 or self._rng.random() < rate

    def blackholed(self, path: str) -> bool:
        return self._config.blackhole and self._config.applies_to(path)

    def plan_request(self, path: str) -> RequestPlan:
        """Latency, then at most one of timeout or error, for one API request."""
        config = self._config
        if not config.applies_to(path):
            return _PASS
        delay_ms = config.latency_ms
        if config.jitter_ms:
            delay_ms += self._rng.randint(0, config.jitter_ms)
        if self._chance(config.timeout_rate):
            action = RequestAction.TIMEOUT
        elif self._chance(config.error_rate):
            action = RequestAction.ERROR
        else:
            action = RequestAction.PASS
        return RequestPlan(delay_ms / 1000, action)

    def _fire(self, name: Literal["drop_broadcast", "lost_response", "tamper"]) -> bool:
        trigger: Trigger | None = getattr(self._config, name)
        if trigger is None:
            return False
        if trigger.next is None:
            return self._chance(trigger.rate)
        if trigger.next == 0:
            return False
        spent = trigger.model_copy(update={"next": trigger.next - 1})
        self._config = self._config.model_copy(update={name: spent})
        return True

    def take_drop_broadcast(self) -> bool:
        """Whether this accepted broadcast is answered `result: true` and then forgotten."""
        return self._fire("drop_broadcast")

    def take_lost_response(self) -> LostResponse | None:
        """The lost-response fault to apply to this accepted broadcast, if it fires."""
        fault = self._config.lost_response
        return fault if self._fire("lost_response") else None

    def take_tamper(self) -> Tamper | None:
        """The tamper fault to apply to this node-built transaction, if it fires."""
        fault = self._config.tamper
        return fault if self._fire("tamper") else None


def _comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


# `python -m devnet` flags: (flag, dotted key in FaultConfig, type, metavar, help).
_FLAGS: tuple[tuple[str, str, Callable[[str], Any], str, str], ...] = (
    ("--fault-seed", "seed", int, "N", "RNG seed, for reproducible rates"),
    ("--fault-latency-ms", "latency_ms", int, "MS", "added latency per API request"),
    ("--fault-jitter-ms", "jitter_ms", int, "MS", "extra random latency, 0..MS"),
    ("--fault-5xx-rate", "error_rate", float, "RATE", "share of API requests answered 5xx"),
    ("--fault-5xx-status", "error_status", int, "CODE", "the 5xx status (default 503)"),
    ("--fault-timeout-rate", "timeout_rate", float, "RATE", "share of requests held, then cut"),
    ("--fault-timeout-s", "timeout_s", float, "S", "how long a timed-out request is held"),
    ("--fault-drop-broadcast-rate", "drop_broadcast.rate", float, "RATE", "accept, never land"),
    ("--fault-drop-broadcast-next", "drop_broadcast.next", int, "N", "drop the next N"),
    ("--fault-lost-response-rate", "lost_response.rate", float, "RATE", "land, answer an error"),
    ("--fault-lost-response-next", "lost_response.next", int, "N", "lose the next N answers"),
    ("--fault-lost-response-mode", "lost_response.mode", str, "MODE", "error or disconnect"),
    ("--fault-tamper-to", "tamper.to", str, "ADDRESS", "built transactions pay ADDRESS"),
    ("--fault-tamper-amount-delta", "tamper.amount_delta", int, "N", "... and N more"),
    ("--fault-paths", "paths", _comma_list, "A,B", "limit request faults to these endpoints"),
)


def add_fault_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the fault flags; `--faults JSON` gives a whole config, other flags override it."""
    group = parser.add_argument_group("fault injection (see also POST /devnet/faults)")
    group.add_argument("--faults", metavar="JSON", help="a whole fault config as JSON")
    for flag, key, kind, metavar, text in _FLAGS:
        group.add_argument(flag, type=kind, dest=f"fault:{key}", metavar=metavar, help=text)
    group.add_argument("--fault-blocks-paused", action="store_true", help="start paused")
    group.add_argument("--fault-blackhole", action="store_true", help="answer no API request")


def fault_config_from_args(args: argparse.Namespace) -> FaultConfig:
    """The FaultConfig the parsed flags describe.

    Raises:
        FaultConfigError: the JSON does not parse or the result does not validate.
    """
    data: dict[str, Any] = {}
    if args.faults:
        try:
            data = json.loads(args.faults)
        except ValueError as exc:
            raise FaultConfigError(f"--faults is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise FaultConfigError("--faults must be a JSON object")
    for _, key, *_ in _FLAGS:
        value = getattr(args, f"fault:{key}")
        if value is not None:
            *parents, leaf = key.split(".")
            target = data
            for parent in parents:
                target = target.setdefault(parent, {})
            target[leaf] = value
    if args.fault_blocks_paused:
        data["blocks"] = "paused"
    if args.fault_blackhole:
        data["blackhole"] = True
    return parse_fault_config(data)
