"""devnet/faults.py: the fault config, its validation and decisions from a seeded RNG."""

from __future__ import annotations

import random

import pytest

from devnet.__main__ import build_parser
from devnet.faults import (
    NO_FAULTS,
    FaultConfigError,
    FaultInjector,
    RequestAction,
    RequestPlan,
    fault_config_from_args,
    parse_fault_config,
)

ALICE = "TPL66VK2gCXNCD7EJg9pgJRfqcRazjhUZY"
BROADCAST = "/wallet/broadcasttransaction"


class CountingRandom(random.Random):
    """A Random that counts its draws, to show certain outcomes draw nothing."""

    draws = 0

    def random(self) -> float:
        self.draws += 1
        return super().random()


def injector(**config: object) -> FaultInjector:
    return FaultInjector(parse_fault_config(config))


def actions(faults: FaultInjector, n: int) -> list[RequestAction]:
    return [faults.plan_request("/wallet/getaccount").action for _ in range(n)]


def test_an_empty_config_breaks_nothing() -> None:
    faults = injector()

    assert faults.config == NO_FAULTS
    assert faults.plan_request(BROADCAST) == RequestPlan(0.0, RequestAction.PASS)
    assert not faults.blackholed(BROADCAST)
    assert not faults.take_drop_broadcast()
    assert faults.take_lost_response() is None
    assert faults.take_tamper() is None


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"bogus": 1}, "bogus: unknown key"),
        ({"tamper": {"to": ALICE, "bogus": 1}}, "tamper.bogus: unknown key"),
        ({"error_rate": 1.5}, "error_rate: Input should be less than or equal to 1"),
        ({"error_status": 404}, "error_status: Input should be greater than or equal to 500"),
        ({"latency_ms": -1}, "latency_ms: Input should be greater than or equal to 0"),
        ({"drop_broadcast": {"next": -1}}, "drop_broadcast.next: Input should be greater"),
        ({"blocks": "stopped"}, "blocks: Input should be 'running' or 'paused'"),
        ({"lost_response": {"mode": "maybe"}}, "lost_response.mode: Input should be"),
        ({"tamper": {"to": "Tnot-an-address"}}, "tamper.to: Value error, invalid base58"),
        ({"tamper": {}}, "tamper: Value error, give `to`, a non-zero `amount_delta`, or both"),
    ],
)
def test_invalid_configs_name_the_key(config: dict[str, object], message: str) -> None:
    with pytest.raises(FaultConfigError) as raised:
        parse_fault_config(config)
    assert str(raised.value).startswith(message)


def test_a_config_must_be_an_object() -> None:
    with pytest.raises(FaultConfigError, match="must be a JSON object"):
        parse_fault_config([1])


def test_a_bare_number_is_a_rate_and_an_empty_trigger_always_fires() -> None:
    config = parse_fault_config({"drop_broadcast": 0.25, "lost_response": {}})

    assert config.drop_broadcast is not None and config.drop_broadcast.rate == 0.25
    assert config.lost_response is not None and config.lost_response.rate == 1.0
    assert config.lost_response.mode == "error"


def test_a_seeded_rate_gives_the_same_decisions_every_run() -> None:
    first = actions(injector(seed=7, error_rate=0.3), 400)
    second = actions(injector(seed=7, error_rate=0.3), 400)
    other_seed = actions(injector(seed=8, error_rate=0.3), 400)

    assert first == second
    assert first != other_seed
    assert 80 < first.count(RequestAction.ERROR) < 160


def test_configuring_again_with_the_seed_restarts_the_sequence() -> None:
    faults = injector(seed=3, error_rate=0.5)
    first = actions(faults, 50)

    faults.configure(faults.config)

    assert actions(faults, 50) == first


def test_certain_outcomes_draw_nothing_from_the_rng() -> None:
    rng = CountingRandom(1)
    faults = FaultInjector(parse_fault_config({"error_rate": 1.0}), rng_factory=lambda _: rng)

    assert actions(faults, 5) == [RequestAction.ERROR] * 5
    faults.configure(parse_fault_config({"error_rate": 0.0, "timeout_rate": 0}))
    assert actions(faults, 5) == [RequestAction.PASS] * 5
    assert rng.draws == 0


def test_timeout_wins_over_error_and_latency_comes_with_either() -> None:
    faults = injector(latency_ms=200, timeout_rate=1, error_rate=1)

    assert faults.plan_request(BROADCAST) == RequestPlan(0.2, RequestAction.TIMEOUT)


def test_jitter_adds_up_to_its_bound_reproducibly() -> None:
    delays = [injector(seed=5, latency_ms=100, jitter_ms=50).plan_request(BROADCAST).delay_s]
    faults = injector(seed=5, latency_ms=100, jitter_ms=50)
    delays += [faults.plan_request(BROADCAST).delay_s for _ in range(200)]

    assert delays[0] == delays[1]
    assert all(0.1 <= delay <= 0.15 for delay in delays)
    assert len(set(delays)) > 10


def test_paths_limit_request_faults_by_name_or_full_path() -> None:
    faults = injector(error_rate=1, blackhole=True, paths=["broadcasttransaction", "/wallet/x"])

    assert faults.plan_request(BROADCAST).action is RequestAction.ERROR
    assert faults.plan_request("/wallet/x").action is RequestAction.ERROR
    assert faults.plan_request("/walletsolidity/x").action is RequestAction.PASS
    assert faults.plan_request("/wallet/getaccount").action is RequestAction.PASS
    assert faults.blackholed(BROADCAST) and not faults.blackholed("/wallet/getaccount")


def test_next_n_fires_n_times_and_the_config_shows_what_is_left() -> None:
    faults = injector(drop_broadcast={"next": 2}, lost_response={"next": 1, "mode": "disconnect"})

    assert [faults.take_drop_broadcast() for _ in range(3)] == [True, True, False]
    lost = faults.take_lost_response()
    assert lost is not None and lost.mode == "disconnect"
    assert faults.take_lost_response() is None
    assert faults.config.drop_broadcast is not None and faults.config.drop_broadcast.next == 0
    assert faults.config.model_dump(mode="json")["lost_response"]["next"] == 0


def test_next_overrides_the_rate() -> None:
    faults = injector(drop_broadcast={"next": 1, "rate": 0})

    assert [faults.take_drop_broadcast() for _ in range(2)] == [True, False]


def test_a_rate_trigger_is_reproducible() -> None:
    runs = [injector(seed=11, tamper={"to": ALICE, "rate": 0.5}) for _ in range(2)]
    decisions = [[faults.take_tamper() is not None for _ in range(100)] for faults in runs]

    assert decisions[0] == decisions[1]
    assert 30 < sum(decisions[0]) < 70


def test_the_config_round_trips_through_json() -> None:
    config = parse_fault_config(
        {
            "seed": 1, "latency_ms": 5, "tamper": {"to": ALICE, "amount_delta": -3},
            "blocks": "paused", "paths": ["getaccount"],
        }
    )  # fmt: skip

    assert parse_fault_config(config.model_dump(mode="json")) == config
    assert config.model_dump(mode="json", exclude_defaults=True) == {
        "seed": 1, "latency_ms": 5, "tamper": {"to": ALICE, "amount_delta": -3},
        "blocks": "paused", "paths": ["getaccount"],
    }  # fmt: skip


def test_cli_flags_build_the_same_config() -> None:
    args = build_parser().parse_args(
        [
            "--faults", '{"latency_ms": 1, "tamper": {"to": "' + ALICE + '"}}',
            "--fault-latency-ms", "200", "--fault-5xx-rate", "0.1", "--fault-seed", "4",
            "--fault-drop-broadcast-next", "2", "--fault-lost-response-mode", "disconnect",
            "--fault-tamper-amount-delta", "1", "--fault-paths", "getaccount, gettransactionbyid",
            "--fault-blocks-paused", "--fault-blackhole",
        ]
    )  # fmt: skip

    assert fault_config_from_args(args) == parse_fault_config(
        {
            "latency_ms": 200, "error_rate": 0.1, "seed": 4, "drop_broadcast": {"next": 2},
            "lost_response": {"mode": "disconnect"},
            "tamper": {"to": ALICE, "amount_delta": 1},
            "paths": ["getaccount", "gettransactionbyid"], "blocks": "paused", "blackhole": True,
        }
    )  # fmt: skip


def test_no_fault_flags_means_no_faults() -> None:
    assert fault_config_from_args(build_parser().parse_args([])) == NO_FAULTS


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--faults", "{"], "--faults is not JSON"),
        (["--faults", "[]"], "--faults must be a JSON object"),
        (["--fault-5xx-rate", "2"], "error_rate: Input should be less than or equal to 1"),
    ],
)
def test_bad_fault_flags_are_errors(argv: list[str], message: str) -> None:
    with pytest.raises(FaultConfigError, match=message):
        fault_config_from_args(build_parser().parse_args(argv))
