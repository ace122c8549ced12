"""worker/cli.py: the `tron-worker` subcommands as a user runs them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from tests.support import ROOT


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def test_check_settings_ok_and_bad() -> None:
    assert _run("check-settings").stdout.strip() == "settings ok"
    bad = _run("check-settings", TRON_WORKER_WORKER__MAX_CONCURRENCY="0")
    assert bad.returncode == 2
    assert bad.stderr.startswith("settings error: worker.max_concurrency = '0' (from environment")


def test_devnet_subcommand_serves_and_stops_on_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "worker", "devnet", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("devnet ready on http://127.0.0.1:")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        process.kill()
        process.wait()
