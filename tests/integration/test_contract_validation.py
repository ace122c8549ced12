"""docs/contract/asyncapi.yaml validated by the official `@asyncapi/parser` (pinned in
tools/asyncapi/package.json, installed with `npm ci` on first use; without node and npm
this skips on a developer's machine and fails under CI=true)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from schemas.commands import COMMAND_TYPES
from schemas.events import EVENT_TYPES
from tests.support import ROOT, npm_ci
from worker.settings import load_settings
from worker.topology import build_topology

CONTRACT = ROOT / "docs" / "contract"
VALIDATOR = ROOT / "tools" / "asyncapi"


# ----------------------------------------------------------------------------- the validator


def validate(path: Path) -> tuple[int, dict[str, Any]]:
    npm_ci(VALIDATOR, "to validate docs/contract/asyncapi.yaml")
    done = subprocess.run(
        ["node", "validate.mjs", str(path)],
        cwd=VALIDATOR,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode in (0, 1), f"validate.mjs could not run:\n{done.stderr}"
    return done.returncode, json.loads(done.stdout)


def test_asyncapi_parser_finds_no_errors_and_no_warnings() -> None:
    status, report = validate(CONTRACT / "asyncapi.yaml")
    pinned = json.loads((VALIDATOR / "package.json").read_text())["dependencies"]
    assert report["validator"] == f"@asyncapi/parser@{pinned['@asyncapi/parser']}"
    assert report["errors"] == [], report
    assert report["warnings"] == [], report
    assert status == 0
    topology = build_topology(load_settings(environ={}).amqp)
    assert report["asyncapi"] == "3.0.0"
    assert report["channels"] == 2 + len(topology.queues)
    assert report["messages"] == len(COMMAND_TYPES) + len(EVENT_TYPES) + 1  # + dead letter


def test_asyncapi_parser_catches_a_broken_contract(tmp_path: Path) -> None:
    """The validation is not vacuous: a dangling payload $ref and a bad payload schema fail."""
    broken = tmp_path / "contract"
    shutil.copytree(CONTRACT, broken)
    document = broken / "asyncapi.yaml"
    document.write_text(
        document.read_text().replace(
            "./schemas/command.wallet.create.json", "./schemas/command.wallet.missing.json"
        )
    )
    schema_path = broken / "schemas" / "event.wallet.created.json"
    schema = json.loads(schema_path.read_text())
    schema["properties"]["seq"]["type"] = "whole number"
    schema_path.write_text(json.dumps(schema))
    status, report = validate(document)
    assert status == 1
    codes = {error["code"] for error in report["errors"]}
    assert "invalid-ref" in codes
    assert any(error["path"] == "properties/seq/type" for error in report["errors"]), report
