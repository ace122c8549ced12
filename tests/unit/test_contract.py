"""docs/contract/ (schemas/asyncapi.py): fresh and derived from the code. Its validation by
the official AsyncAPI parser is tests/integration/test_contract_validation.py."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

from schemas.asyncapi import asyncapi_document, main
from schemas.asyncapi import generate as _generate
from schemas.commands import COMMAND_TYPES
from schemas.events import EVENT_TYPES, FAMILY_STATES
from tests.support import ROOT
from worker.settings import load_settings
from worker.topology import build_topology

CONTRACT = ROOT / "docs" / "contract"
VALIDATOR = ROOT / "tools" / "asyncapi"
REGENERATE = ".venv/bin/python -m schemas.asyncapi"


@functools.cache
def generate() -> dict[str, str]:
    return _generate()


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None


@functools.cache
def _document() -> dict[str, Any]:
    return yaml.safe_load(generate()["asyncapi.yaml"])


def test_checked_in_contract_is_what_the_code_generates() -> None:
    files = generate()
    stale = sorted(name for name, text in files.items() if _read(CONTRACT / name) != text)
    on_disk = {f"schemas/{p.name}" for p in (CONTRACT / "schemas").glob("*.json")}
    extra = sorted(on_disk - set(files))
    assert not stale and not extra, (
        f"docs/contract/ is stale: changed {stale}, no longer generated {extra}; "
        f"regenerate with `{REGENERATE}`"
    )


def test_every_command_is_a_message_with_its_routing_key_and_schema() -> None:
    document, files = _document(), generate()
    channel = document["channels"]["commands"]
    assert set(channel["messages"]) == set(COMMAND_TYPES)
    assert channel["parameters"]["command_type"]["enum"] == list(COMMAND_TYPES)
    for command_type in COMMAND_TYPES:
        message = document["components"]["messages"][f"command.{command_type}"]
        assert message["bindings"]["amqp"]["x-routing-key"] == f"command.{command_type}"
        assert message["contentType"] == "application/json"
        assert message["bindings"]["amqp"]["x-properties"]["delivery_mode"] == 2
        assert message["payload"]["$ref"] == f"./schemas/command.{command_type}.json"
        assert f"schemas/command.{command_type}.json" in files
        operation = document["operations"][f"receive.{command_type}"]
        assert operation["action"] == "receive"
        assert operation["bindings"]["amqp"]["ack"] is True
    headers = document["components"]["schemas"]["commandHeaders"]["properties"]
    assert headers["x-signature"]["pattern"] == "^[0-9a-f]{64}$"
    assert set(headers) == {"x-key-id", "x-signature"}


def test_every_event_is_a_message_with_its_routing_key_and_schema() -> None:
    document, files = _document(), generate()
    channel = document["channels"]["events"]
    assert set(channel["messages"]) == set(EVENT_TYPES)
    for event_type in EVENT_TYPES:
        message = document["components"]["messages"][f"event.{event_type}"]
        assert message["bindings"]["amqp"]["x-routing-key"] == event_type
        assert message["payload"]["$ref"] == f"./schemas/event.{event_type}.json"
        assert f"schemas/event.{event_type}.json" in files
    for family, states in FAMILY_STATES.items():
        operation = document["operations"][f"send.{family}.events"]
        assert operation["bindings"]["amqp"] == {
            "deliveryMode": 2,
            "mandatory": True,
            "bindingVersion": "0.3.0",
        }
        assert [m["$ref"].rpartition("/")[2] for m in operation["messages"]] == [
            f"{family}.{state}" for state in states
        ]


def test_channels_follow_the_topology() -> None:
    document = _document()
    topology = build_topology(load_settings(environ={}).amqp)
    for key, exchange in (("commands", topology.commands), ("events", topology.events)):
        binding = document["channels"][key]["bindings"]["amqp"]
        assert binding["is"] == "routingKey"
        assert binding["exchange"]["name"] == exchange.name
        assert binding["exchange"]["type"] == "topic"
        assert binding["exchange"]["durable"] is True
    alternate = document["channels"]["events"]["bindings"]["amqp"]["x-arguments"]
    assert alternate == {"alternate-exchange": topology.unrouted.name}
    queues = {
        channel["address"]: channel
        for channel in document["channels"].values()
        if channel["bindings"]["amqp"]["is"] == "queue"
    }
    assert set(queues) == {queue.name for queue in topology.queues}
    for queue in topology.queues:
        binding = queues[queue.name]["bindings"]["amqp"]
        assert binding["is"] == "queue" and binding["queue"]["durable"] is True
        assert binding["x-arguments"] == queue.arguments
        assert [(b["exchange"], b["routingKey"]) for b in binding["x-bindings"]] == list(
            queue.bindings
        )
    wallet = queues[topology.work_queues["wallet"].name]
    assert set(wallet["messages"]) == {"wallet.create"}


def test_document_follows_the_namespace_and_the_broker_url() -> None:
    topology = build_topology(load_settings(environ={"TRON_WORKER_AMQP__NAMESPACE": "acme"}).amqp)
    document = asyncapi_document(
        topology, version="9.9.9", server_url="amqps://user@broker.example:5671/payments"
    )
    assert document["info"]["version"] == "9.9.9"
    assert document["servers"]["embedded"]["host"] == "broker.example:5671"
    assert document["servers"]["embedded"]["protocol"] == "amqps"
    assert document["servers"]["embedded"]["pathname"] == "/payments"
    exchange = document["channels"]["commands"]["bindings"]["amqp"]["exchange"]
    assert exchange["name"] == "acme.commands"
    assert "queue.acme.wallet.dead" in document["channels"]


def test_check_reports_missing_changed_and_removed_files(tmp_path: Path, capsys) -> None:
    assert main(["--check", "--out", str(tmp_path)]) == 1
    assert main(["--out", str(tmp_path)]) == 0
    assert main(["--check", "--out", str(tmp_path)]) == 0
    gone = tmp_path / "schemas" / "event.wallet.vanished.json"
    gone.write_text("{}\n")
    (tmp_path / "asyncapi.yaml").write_text("asyncapi: 3.0.0\n")
    assert main(["--check", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "asyncapi.yaml" in err and "event.wallet.vanished.json" in err
    assert main(["--out", str(tmp_path)]) == 0
    assert not gone.exists()
    assert main(["--check", "--out", str(tmp_path)]) == 0
