"""schemas/export.py and `tron-worker schema`: stable JSON Schema for every command and event."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from schemas.commands import COMMAND_TYPES
from schemas.events import EVENT_TYPES
from schemas.export import JSON_SCHEMA_DIALECT, json_schemas
from schemas.payloads import PAYLOADS
from tests.support import ROOT
from worker.cli import main

ENVELOPE_FIELDS = {
    "command_id",
    "idempotency_key",
    "type",
    "schema_version",
    "issued_at",
    "payload",
}
EVENT_FIELDS = {
    "event_id",
    "seq",
    "type",
    "command_id",
    "idempotency_key",
    "occurred_at",
    "payload",
}


def _payload_schema(schema: dict) -> dict:
    ref = schema["properties"]["payload"]["$ref"]
    assert ref.startswith("#/$defs/")
    return schema["$defs"][ref.removeprefix("#/$defs/")]


def test_one_schema_per_command_and_event_type() -> None:
    schemas = json_schemas()
    assert set(schemas) == {f"command.{t}.json" for t in COMMAND_TYPES} | {
        f"event.{t}.json" for t in EVENT_TYPES
    }
    assert len(schemas) == 13 + 30  # needs_attention (7), payout items (9), controls (10)


def test_command_schemas_describe_the_envelope_with_that_payload() -> None:
    schemas = json_schemas()
    for command_type in COMMAND_TYPES:
        schema = schemas[f"command.{command_type}.json"]
        assert schema["$schema"] == JSON_SCHEMA_DIALECT
        assert schema["$id"] == f"command.{command_type}.json"
        assert schema["additionalProperties"] is False
        assert set(schema["required"]) == ENVELOPE_FIELDS
        assert schema["properties"]["type"]["const"] == command_type
        assert schema["properties"]["schema_version"]["const"] == 1
        payload = _payload_schema(schema)
        assert payload["title"] == PAYLOADS[command_type].__name__
        assert payload["additionalProperties"] is False
        assert set(payload["properties"]) == set(PAYLOADS[command_type].model_fields)


def test_command_schemas_accept_amount_strings_and_hex_addresses_as_inputs() -> None:
    payload = _payload_schema(json_schemas()["command.transfer.trx.json"])
    amount = payload["properties"]["amount_sun"]["anyOf"]
    assert {"type": "integer", "minimum": 1, "maximum": 2**63 - 1} in amount
    assert any(option.get("type") == "string" for option in amount)
    patterns = [option["pattern"] for option in payload["properties"]["to"]["anyOf"]]
    assert r"^41[0-9a-fA-F]{40}$" in patterns


def test_event_schemas_describe_the_normalised_output() -> None:
    schemas = json_schemas()
    for event_type in EVENT_TYPES:
        schema = schemas[f"event.{event_type}.json"]
        assert schema["$id"] == f"event.{event_type}.json"
        assert set(schema["required"]) == EVENT_FIELDS
        assert schema["properties"]["type"]["const"] == event_type
    confirmed = _payload_schema(schemas["event.payout.item.confirmed.json"])
    assert confirmed["properties"]["fee_sun"]["type"] == "integer"  # never a string on output
    rejected = _payload_schema(schemas["event.wallet.rejected.json"])
    assert rejected["properties"]["retry_safe"]["const"] is True
    assert "INVALID_COMMAND" in rejected["properties"]["code"]["enum"]
    created = _payload_schema(schemas["event.wallet.created.json"])
    assert set(created["required"]) == {"addresses", "count"}


def test_export_is_deterministic() -> None:
    first = json.dumps(json_schemas(), sort_keys=True)
    assert json.dumps(json_schemas(), sort_keys=True) == first


def _read_all(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def test_schema_command_writes_identical_files_twice(tmp_path: Path, capsys) -> None:
    first, second = tmp_path / "a", tmp_path / "b" / "nested"
    assert main(["schema", "--out", str(first)]) == 0
    assert main(["schema", "--out", str(second)]) == 0
    assert main(["schema", "--out", str(first)]) == 0  # over an existing export
    assert "wrote 43 JSON Schemas to" in capsys.readouterr().out
    written = _read_all(first)
    assert written == _read_all(second)
    assert set(written) == set(json_schemas())
    text = written["command.payout.create.json"].decode()
    assert text.endswith("}\n") and text.startswith('{\n  "$defs"')
    assert json.loads(text) == json_schemas()["command.payout.create.json"]


def test_schema_command_needs_no_settings(tmp_path: Path) -> None:
    broken = {**os.environ, "TRON_WORKER_WORKER__MAX_CONCURRENCY": "0"}
    result = subprocess.run(
        [sys.executable, "-m", "worker", "schema", "--out", str(tmp_path)],
        env=broken,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert len(list(tmp_path.glob("*.json"))) == 43


def test_schema_command_reports_an_unwritable_directory(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert main(["schema", "--out", str(blocker)]) == 1
    assert "schema: cannot write to" in capsys.readouterr().err
