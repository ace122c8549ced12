"""AsyncAPI 3.0 for the message contract, derived from the code, never from a list kept by hand.

Command types and payload models (schemas.commands, schemas.payloads), event types and
their payload models (schemas.events), their JSON Schema (schemas.export) and the broker
topology (worker.topology) make docs/contract/: `asyncapi.yaml`, whose message payloads
`$ref` the JSON Schema files next to it in `schemas/`.

    python -m schemas.asyncapi            # rewrite docs/contract/
    python -m schemas.asyncapi --check    # exit 1 if docs/contract/ is stale

`asyncapi_document` and `contract_files` are pure. `main` is the only part with I/O: it
reads settings.toml (never the environment, so a developer's overrides cannot leak into
the checked-in contract) and the installed package's version, and writes the files.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from schemas.commands import COMMAND_TYPES, SCHEMA_VERSION, family_of
from schemas.events import EVENT_TYPES, FAMILY_STATES, STATE_PAYLOADS
from schemas.export import json_schemas
from schemas.payloads import PAYLOADS

if TYPE_CHECKING:
    from worker.topology import QueueSpec, Topology

__all__ = ["ASYNCAPI_VERSION", "asyncapi_document", "contract_files", "main"]

ASYNCAPI_VERSION = "3.0.0"
AMQP_BINDING = "0.3.0"
SCHEMA_DIR = "schemas"  # the JSON Schema files, relative to asyncapi.yaml
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "docs" / "contract"
PACKAGE = "lucid-tron-worker"
DEAD_LETTER = "deadLetter"
# worker.broker.declare_topology declares every exchange and queue durable, never
# auto-deleted; every message it publishes is persistent JSON.
_EXCHANGE = {"durable": True, "autoDelete": False, "vhost": "/"}
_QUEUE = {"durable": True, "exclusive": False, "autoDelete": False, "vhost": "/"}
_PROPERTIES = {"content_type": "application/json", "delivery_mode": 2}


def asyncapi_document(topology: Topology, *, version: str, server_url: str) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the worker (it receives commands, it sends events).

    Args:
        topology: `worker.topology.build_topology` of the settings to describe.
        version: `info.version`, the package's version.
        server_url: the broker URL (`amqp.url`, no password) the `embedded` server names.
    """
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {"title": PACKAGE, "version": version, "description": _overview(topology)},
        "defaultContentType": "application/json",
        "servers": {"embedded": _server(server_url)},
        "channels": _channels(topology),
        "operations": _operations(topology),
        "components": _components(topology),
    }


def contract_files(topology: Topology, *, version: str, server_url: str) -> dict[str, str]:
    """Relative path -> text of every file in docs/contract/ this module owns."""
    files = {
        "asyncapi.yaml": _yaml(asyncapi_document(topology, version=version, server_url=server_url))
    }
    for name, schema in json_schemas().items():
        # The bytes `tron-worker schema --out docs/contract/schemas` writes, too.
        files[f"{SCHEMA_DIR}/{name}"] = (
            json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        )
    return files


# ----------------------------------------------------------------------------- channels


def _channels(topology: Topology) -> dict[str, Any]:
    commands, events = topology.commands, topology.events
    channels: dict[str, Any] = {
        "commands": {
            "address": "command.{command_type}",
            "title": f"{commands.name} ({commands.type} exchange)",
            "description": (
                f"Publishers send commands to the `{commands.name}` exchange with routing key "
                "`command.<type>`; the worker's queue for the type's family is bound with "
                "`command.<family>.*`. Publish persistent, with publisher confirms and "
                "`mandatory`: the exchange has no alternate exchange, so a command whose "
                "routing key no queue is bound to (a typo, a family this deployment does not "
                "run) is returned to a `mandatory` publisher and silently dropped otherwise."
            ),
            "parameters": {
                "command_type": {
                    "description": "The envelope's `type`.",
                    "enum": list(COMMAND_TYPES),
                    "location": "$message.payload#/type",
                }
            },
            "messages": {t: _ref(f"#/components/messages/command.{t}") for t in COMMAND_TYPES},
            "bindings": {"amqp": _exchange_binding(commands.name, commands.type, {})},
        },
        "events": {
            "address": "{event_type}",
            "title": f"{events.name} ({events.type} exchange)",
            "description": (
                f"The worker publishes every event to the `{events.name}` exchange with "
                "routing key `<family>.<state>`, the event's `type`. Subscribers bind their "
                f"own queues (e.g. `wallet.#`). Events nobody is bound for go to the "
                f"alternate exchange `{events.arguments.get('alternate-exchange')}`."
            ),
            "parameters": {
                "event_type": {
                    "description": "The event's `type`, `<family>.<state>`.",
                    "enum": list(EVENT_TYPES),
                    "location": "$message.payload#/type",
                }
            },
            "messages": {t: _ref(f"#/components/messages/event.{t}") for t in EVENT_TYPES},
            "bindings": {"amqp": _exchange_binding(events.name, events.type, events.arguments)},
        },
    }
    for queue in topology.queues:
        channels[f"queue.{queue.name}"] = _queue_channel(topology, queue)
    return channels


def _queue_channel(topology: Topology, queue: QueueSpec) -> dict[str, Any]:
    family, role = _queue_role(topology, queue.name)
    if role == "unrouted":
        messages = {t: _ref(f"#/components/messages/event.{t}") for t in EVENT_TYPES}
        what = "Every event no subscriber's binding matched (the events exchange's alternate)."
    elif role == "dead":
        messages = {DEAD_LETTER: _ref(f"#/components/messages/{DEAD_LETTER}")}
        what = (
            f"Dead letters of `{family}` deliveries: poison and unauthenticated bodies, "
            "deliveries past the delivery limit, retries exhausted. Kept for operators; "
            "never consumed by the worker."
        )
    else:
        messages = {t: _ref(f"#/components/messages/command.{t}") for t in _types_of(family)}
        what = (
            f"The worker consumes `{family}` commands here (manual acks)."
            if role == "work"
            else "A delayed-retry tier: the worker republishes a delivery here through the "
            "default exchange; on expiry it is dead-lettered back to its work queue."
        )
    bound = ", ".join(f"`{ex}` with `{key}`" if key else f"`{ex}`" for ex, key in queue.bindings)
    return {
        "address": queue.name,
        "title": f"{queue.name} (queue)",
        "description": what + (f" Bound to {bound}." if bound else ""),
        "messages": messages,
        "bindings": {
            "amqp": {
                "is": "queue",
                "queue": {"name": queue.name, **_QUEUE},
                "x-arguments": dict(queue.arguments),
                "x-bindings": [{"exchange": ex, "routingKey": key} for ex, key in queue.bindings],
                "bindingVersion": AMQP_BINDING,
            }
        },
    }


def _queue_role(topology: Topology, name: str) -> tuple[str | None, str]:
    """(family, role) of a queue: work, retry, dead or unrouted."""
    if name == topology.unrouted.name:
        return None, "unrouted"
    for family, queue in topology.work_queues.items():
        if name == queue.name:
            return family, "work"
        if name == f"{queue.name}.dead":
            return family, "dead"
        if name in {retry for _, retry in topology.retry_queues.get(family, ())}:
            return family, "retry"
    raise ValueError(f"queue {name!r} has no known role in the topology")


def _exchange_binding(name: str, kind: str, arguments: dict[str, Any]) -> dict[str, Any]:
    binding: dict[str, Any] = {
        "is": "routingKey",
        "exchange": {"name": name, "type": kind, **_EXCHANGE},
    }
    if arguments:
        binding["x-arguments"] = dict(arguments)
    binding["bindingVersion"] = AMQP_BINDING
    return binding


# ----------------------------------------------------------------------------- operations


def _operations(topology: Topology) -> dict[str, Any]:
    operations: dict[str, Any] = {}
    for command_type in COMMAND_TYPES:
        family = family_of(command_type)
        queue = topology.work_queues.get(family)
        where = f"from `{queue.name}`" if queue else "(no queue for this family is configured)"
        operations[f"receive.{command_type}"] = {
            "action": "receive",
            "channel": _ref("#/channels/commands"),
            "title": f"Handle {command_type}",
            "summary": _first_line(PAYLOADS[command_type].__doc__),
            "description": (
                f"Publish with routing key `command.{command_type}`; the worker consumes it "
                f"{where} and answers with events of the `{family}` family: "
                + ", ".join(f"`{family}.{state}`" for state in FAMILY_STATES[family])
                + "."
            ),
            "messages": [_ref(f"#/channels/commands/messages/{command_type}")],
            "bindings": {"amqp": {"ack": True, "deliveryMode": 2, "bindingVersion": AMQP_BINDING}},
            "tags": [{"name": family}],
        }
    for family, states in FAMILY_STATES.items():
        operations[f"send.{family}.events"] = {
            "action": "send",
            "channel": _ref("#/channels/events"),
            "title": f"Announce {family} events",
            "description": (
                f"Persistent, `mandatory`, with publisher confirms; at least once: "
                f"deduplicate on `event_id`. Subscribe with `{family}.#`."
            ),
            "messages": [_ref(f"#/channels/events/messages/{family}.{s}") for s in states],
            "bindings": {
                "amqp": {"deliveryMode": 2, "mandatory": True, "bindingVersion": AMQP_BINDING}
            },
            "tags": [{"name": family}],
        }
    for family, queue in topology.work_queues.items():
        dead = f"{queue.name}.dead"
        operations[f"send.{family}.dead_letters"] = {
            "action": "send",
            "channel": _ref(f"#/channels/queue.{dead}"),
            "title": f"Dead-letter {family} deliveries",
            "description": (
                f"Through `{topology.dead_letters.name}` ({topology.dead_letters.type}) with "
                f"routing key `{dead}`."
            ),
            "messages": [_ref(f"#/channels/queue.{dead}/messages/{DEAD_LETTER}")],
            "bindings": {
                "amqp": {"deliveryMode": 2, "mandatory": True, "bindingVersion": AMQP_BINDING}
            },
            "tags": [{"name": family}],
        }
    return operations


# ----------------------------------------------------------------------------- components


def _components(topology: Topology) -> dict[str, Any]:
    messages: dict[str, Any] = {}
    for command_type in COMMAND_TYPES:
        messages[f"command.{command_type}"] = _command_message(command_type)
    for event_type in EVENT_TYPES:
        messages[f"event.{event_type}"] = _event_message(event_type)
    messages[DEAD_LETTER] = {
        "name": DEAD_LETTER,
        "title": "Dead letter",
        "summary": "A delivery the worker parked: its body and properties, byte for byte.",
        "headers": _ref("#/components/schemas/deadLetterHeaders"),
        "payload": {"description": "The original body; poison may not even be JSON."},
    }
    return {
        "schemas": {
            "commandHeaders": _command_headers(),
            "eventHeaders": _event_headers(),
            "deadLetterHeaders": _dead_letter_headers(),
        },
        "messages": messages,
        "correlationIds": {
            "commandId": {
                "description": (
                    "The command's `command_id`. Events also carry the command's AMQP "
                    "`correlation_id` (its `message_id` when it had none) as their "
                    "`correlation_id`: the only link for a rejection that cannot name the "
                    "command (an unauthenticated one has `command_id: null`)."
                ),
                "location": "$message.payload#/command_id",
            }
        },
        "securitySchemes": {
            "brokerLogin": {
                "type": "userPassword",
                "description": (
                    "The broker's own login: the user in `amqp.url`, the password from "
                    "TRON_WORKER_AMQP__PASSWORD. Commands are authenticated separately, by "
                    "their x-key-id / x-signature headers."
                ),
            }
        },
    }


def _command_message(command_type: str) -> dict[str, Any]:
    family = family_of(command_type)
    return {
        "name": command_type,
        "title": f"{command_type} command",
        "summary": _first_line(PAYLOADS[command_type].__doc__),
        "description": (
            f"Routing key `command.{command_type}`. Envelope `schema_version` "
            f"{SCHEMA_VERSION}; the payload is checked against its model only after the "
            "envelope parsed and authenticated."
        ),
        "contentType": "application/json",
        "headers": _ref("#/components/schemas/commandHeaders"),
        "payload": _ref(f"./{SCHEMA_DIR}/command.{command_type}.json"),
        "correlationId": _ref("#/components/correlationIds/commandId"),
        "bindings": {"amqp": _message_binding(f"command.{command_type}")},
        "tags": [{"name": family}, {"name": "command"}],
    }


def _event_message(event_type: str) -> dict[str, Any]:
    family, _, state = event_type.partition(".")
    return {
        "name": event_type,
        "title": f"{event_type} event",
        "summary": _first_line(STATE_PAYLOADS[state].__doc__),
        "description": (
            f"Routing key `{event_type}`. AMQP `message_id` is the `event_id` (the same on "
            "every re-publication); deduplicate on it."
        ),
        "contentType": "application/json",
        "headers": _ref("#/components/schemas/eventHeaders"),
        "payload": _ref(f"./{SCHEMA_DIR}/event.{event_type}.json"),
        "correlationId": _ref("#/components/correlationIds/commandId"),
        "bindings": {"amqp": _message_binding(event_type)},
        "tags": [{"name": family}, {"name": "event"}],
    }


def _message_binding(routing_key: str) -> dict[str, Any]:
    return {
        "x-routing-key": routing_key,
        "x-properties": dict(_PROPERTIES),
        "bindingVersion": AMQP_BINDING,
    }


def _command_headers() -> dict[str, Any]:
    from worker.auth import _HEX_SHA256, _KEY_ID

    return {
        "type": "object",
        "description": (
            "Required when the worker runs with `amqp.require_signature = true`: without "
            "them, or with a wrong signature, the delivery is dead-lettered and answered "
            "with an UNAUTHENTICATED `<family>.rejected` that names no command."
        ),
        "properties": {
            "x-key-id": {
                "type": "string",
                "pattern": _KEY_ID.pattern,
                "description": "The publisher's key id (TRON_WORKER_AMQP__HMAC_KEYS); "
                "idempotency keys are scoped per key id.",
            },
            "x-signature": {
                "type": "string",
                "pattern": _HEX_SHA256.pattern,
                "description": "Lowercase hex HMAC-SHA256, under the key id's secret (its "
                "UTF-8 bytes), of the exact body bytes as published.",
            },
        },
    }


def _event_headers() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "x-command-id": {
                "type": "string",
                "format": "uuid",
                "description": "The command's `command_id` (events of a claimed command).",
            },
            "x-command-message-id": {
                "type": "string",
                "description": "The command delivery's AMQP `message_id` (rejections "
                "published before a claim, when the delivery had one).",
            },
        },
    }


def _dead_letter_headers() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "The original headers (x-key-id, x-signature, ...) plus these; "
        "broker dead letters (delivery limit) carry RabbitMQ's `x-death` instead.",
        "properties": {
            "x-dead-letter-reason": {
                "type": "string",
                "description": "Why the worker parked it: e.g. `poison`, `unauthenticated`, "
                "`permanent`, `retries-exhausted`.",
            },
            "x-dead-letter-detail": {"type": "string", "maxLength": 500},
            "x-original-routing-key": {"type": "string"},
        },
    }


# ----------------------------------------------------------------------------- helpers


def _overview(topology: Topology) -> str:
    families = ", ".join(f"`{family}`" for family in topology.work_queues)
    return (
        "A TRON payments worker: publishers send JSON commands, the worker executes each "
        "exactly once in effect and reports every outcome as an event.\n\n"
        f"* Commands: exchange `{topology.commands.name}`, routing key `command.<type>`, "
        f"one work queue per family ({families}).\n"
        f"* Events: exchange `{topology.events.name}`, routing key `<family>.<state>`.\n"
        "* Operations are the worker's: it *receives* commands and *sends* events; a "
        "publisher does the opposite.\n"
        "* Payloads are the JSON Schema (2020-12) files in `schemas/`, generated from the "
        "pydantic models; names, arguments and bindings come from the worker's topology "
        "for the default settings (namespace `" + _namespace(topology) + "`; every name "
        "starts with `amqp.namespace`).\n\n"
        "Generated by `python -m schemas.asyncapi`; see README.md next to this file."
    )


def _namespace(topology: Topology) -> str:
    return topology.commands.name.removesuffix(".commands")


def _server(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    port = parts.port or (5671 if parts.scheme == "amqps" else 5672)
    server: dict[str, Any] = {
        "host": f"{parts.hostname}:{port}",
        "protocol": parts.scheme,
        "protocolVersion": "0.9.1",
        "description": "The embedded default broker (settings.toml `amqp.url`); "
        "deployments set TRON_WORKER_AMQP__URL.",
        "security": [_ref("#/components/securitySchemes/brokerLogin")],
    }
    if parts.path not in ("", "/"):
        server["pathname"] = parts.path
    return server


def _types_of(family: str | None) -> list[str]:
    return [t for t in COMMAND_TYPES if family_of(t) == family]


def _ref(target: str) -> dict[str, str]:
    return {"$ref": target}


def _first_line(doc: str | None) -> str:
    return " ".join((doc or "").strip().split("\n\n")[0].split())


def _yaml(document: dict[str, Any]) -> str:
    import yaml  # a dev dependency: only the generator needs it

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    header = "# Generated by `python -m schemas.asyncapi` from schemas/ and worker/topology.py.\n"
    header += "# Do not edit: tests/unit/test_contract.py fails when this file is stale.\n"
    return header + yaml.dump(
        document, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=4096
    )


# ----------------------------------------------------------------------------- entry point


def generate() -> dict[str, str]:
    """contract_files() for settings.toml alone (no environment) and the installed version."""
    from importlib.metadata import version

    from worker.settings import load_settings
    from worker.topology import build_topology

    amqp = load_settings(environ={}).amqp
    return contract_files(build_topology(amqp), version=version(PACKAGE), server_url=amqp.url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m schemas.asyncapi", description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="default: docs/contract")
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 if stale")
    args = parser.parse_args(argv)
    files = generate()
    stale = sorted(name for name, text in files.items() if _read(args.out / name) != text) + sorted(
        name for name in _json_files(args.out) if name not in files
    )
    if args.check:
        for name in stale:
            print(f"stale: {args.out / name}", file=sys.stderr)
        if stale:
            print("regenerate with: python -m schemas.asyncapi", file=sys.stderr)
        return 1 if stale else 0
    for name, text in files.items():
        path = args.out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for name in _json_files(args.out):
        if name not in files:  # a command or event type that no longer exists
            (args.out / name).unlink()
    print(f"wrote {len(files)} files to {args.out} ({len(stale)} changed)")
    return 0


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def _json_files(out: Path) -> list[str]:
    directory = out / SCHEMA_DIR
    if not directory.is_dir():
        return []
    return sorted(f"{SCHEMA_DIR}/{path.name}" for path in directory.glob("*.json"))


if __name__ == "__main__":
    sys.exit(main())
