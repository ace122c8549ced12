"""The chaos audit in its small configuration (the full one is `make chaos`): every
fault of the full run, fewer commands and kills, the same audit from outside."""

from __future__ import annotations

import os
import random

import pytest

from tests.chaos.harness import ChaosConfig, run
from tests.support import IN_CI, ROOT

pytestmark = [pytest.mark.integration, pytest.mark.chaos]


async def test_a_small_chaos_run_loses_nothing_pays_nothing_twice_and_reconciles(tmp_path):
    if not (ROOT / ".stack" / "bin" / "ferretdb").exists() and not IN_CI:
        pytest.skip("the FerretDB binary is built by `make stack-up`")
    seed = int(os.environ.get("CHAOS_SEED") or random.randrange(1, 10**6))
    print(f"chaos seed {seed} (replay: CHAOS_SEED={seed})")
    config = ChaosConfig(seed=seed, commands=150, kills=5, publish_per_s=10.0)
    outcome = await run(config, tmp_path)
    print(outcome.table)
    report = outcome.audit
    assert report.sent == 150 and report.exactly_one == 150, (report.missing, report.attention)
    assert not report.duplicated and not report.double_spends, outcome.table
    assert not report.confirmed_not_on_chain and not report.paid_not_confirmed, outcome.table
    assert report.executed_once_on_chain == report.executed > 100, outcome.table
    assert not report.mismatched, outcome.table
    assert outcome.facts["SIGKILLs of workers (each restarted)"] == 5
    assert outcome.exit_codes and all(code == 0 for code in outcome.exit_codes), outcome.facts
    assert outcome.ok
