"""worker/client/ without a network: arguments to payload, the envelope, its
signature (checked by the worker's own Authenticator), local validation, and the
--wait bookkeeping."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr

from schemas.commands import parse_command
from schemas.types import parse_timestamp
from worker import client as cli_client
from worker.auth import Authenticator
from worker.client import (
    CliError,
    build_envelope,
    choose_key,
    encode,
    parse_fields,
    parse_value,
    sign,
)
from worker.client import args as client_args
from worker.client import dlq as client_dlq
from worker.client import submit as client_submit
from worker.client import text as client_text
from worker.settings import load_settings

WALLET = "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8"
TO = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("5", 5),
        ("1000000000000000000000", 10**21),
        ("-3", -3),
        ("true", True),
        ("false", False),
        ('["a", "b"]', ["a", "b"]),
        ('{"to": "T1", "amount": 5}', {"to": "T1", "amount": 5}),
        ('"123"', "123"),  # a quoted JSON string forces text
        ("hot", "hot"),
        (WALLET, WALLET),
        ("NaN", "NaN"),  # JSON's constants are not numbers here
        ("1.5", 1.5),  # a float stays a float: the payload's validation refuses it
        ("", ""),
    ],
)
def test_a_value_is_json_when_it_parses_else_text(text: str, value: Any) -> None:
    assert parse_value(text) == value


def test_fields_take_dashes_to_underscores_equals_signs_and_bare_flags() -> None:
    fields = parse_fields(
        ["--amount-sun", "5", "--to=T1", "--lock", "--memo", "-x y", "--resource", "ENERGY"]
    )
    assert fields == {
        "amount_sun": 5,
        "to": "T1",
        "lock": True,
        "memo": "-x y",
        "resource": "ENERGY",
    }


def test_recipients_as_json_make_a_valid_payout() -> None:
    recipients = f'[{{"to": "{TO}", "amount": 5, "reference": "r1"}}]'
    fields = parse_fields(["--asset", "TRX", "--recipients", recipients])
    command = parse_command(encode(build_envelope("payout.create", fields)))
    assert command.payload.recipients[0].amount == 5  # type: ignore[attr-defined]
    assert command.payload.recipients[0].reference == "r1"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "tokens",
    [["stray"], ["--to", "a", "--to", "b"], ["--", "x"], ["--=5"]],
)
def test_bad_field_arguments_are_usage_errors(tokens: list[str]) -> None:
    with pytest.raises(CliError) as caught:
        parse_fields(tokens)
    assert caught.value.code == 2


def test_the_envelope_gets_fresh_ids_version_and_time() -> None:
    fields = {"wallet": WALLET, "to": TO, "amount_sun": 1_000_000}
    first = build_envelope("transfer.trx", fields, now=NOW)
    second = build_envelope("transfer.trx", fields, now=NOW)
    assert first["command_id"] != second["command_id"]
    assert first["idempotency_key"] != second["idempotency_key"]
    assert first["idempotency_key"].startswith("cli-")
    uuid.UUID(first["command_id"])
    assert first["schema_version"] == 1 and first["type"] == "transfer.trx"
    assert parse_timestamp(first["issued_at"]) == NOW
    assert first["payload"] == fields
    command = parse_command(encode(first))  # the worker's own parser accepts it
    assert command.routing_key == "command.transfer.trx"


def test_a_given_idempotency_key_is_kept() -> None:
    envelope = build_envelope("wallet.create", {"count": 1}, idempotency_key="order-42")
    assert envelope["idempotency_key"] == "order-42"


def test_a_payload_file_is_overridden_by_fields() -> None:
    file_data = {"wallet": WALLET, "to": TO, "amount_sun": 1, "memo": "rent"}
    envelope = build_envelope("transfer.trx", {"amount_sun": 7}, file_data=file_data)
    assert envelope["payload"] == {**file_data, "amount_sun": 7}


def test_a_whole_envelope_file_keeps_its_ids_and_times() -> None:
    whole = {
        "command_id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
        "idempotency_key": "from-file",
        "type": "wallet.create",
        "schema_version": 1,
        "issued_at": "2026-03-01T11:00:00Z",
        "expires_at": "2026-03-01T13:00:00Z",
        "payload": {"count": 2},
    }
    envelope = build_envelope("wallet.create", {"purpose": "hot"}, file_data=whole)
    assert envelope == {**whole, "payload": {"count": 2, "purpose": "hot"}}
    override = build_envelope("wallet.create", {}, file_data=whole, idempotency_key="k2")
    assert override["idempotency_key"] == "k2"


@pytest.mark.parametrize(
    "file_data",
    [
        [1, 2],
        "text",
        {"type": "transfer.trx", "payload": {}},  # another type than the command line's
        {"type": "wallet.create", "payload": [1]},
    ],
)
def test_a_bad_file_is_a_usage_error(file_data: Any) -> None:
    with pytest.raises(CliError) as caught:
        build_envelope("wallet.create", {}, file_data=file_data)
    assert caught.value.code == 2


def test_the_signature_is_what_the_worker_checks() -> None:
    body = encode(build_envelope("wallet.create", {"count": 1}))
    authenticator = Authenticator(required=True, keys={"pub-1": b"s3cret"}, skew_s=300)
    delivery = _Delivery(body, {"x-key-id": "pub-1", "x-signature": sign(body, b"s3cret")})
    envelope = parse_command(body).envelope
    assert authenticator.authenticate(delivery, envelope).key_id == "pub-1"
    assert sign(body, b"s3cret") == sign(bytes(body), b"s3cret")  # deterministic
    assert sign(body + b" ", b"s3cret") != sign(body, b"s3cret")  # over the exact bytes


def test_the_key_is_the_flag_or_the_only_configured_one() -> None:
    amqp = load_settings().amqp
    off = amqp.model_copy(update={"require_signature": False, "hmac_keys": {}})
    assert choose_key(off, None) is None
    one = amqp.model_copy(update={"require_signature": True, "hmac_keys": {"a": SecretStr("x")}})
    assert choose_key(one, None) == ("a", b"x")
    two = one.model_copy(update={"hmac_keys": {"a": SecretStr("x"), "b": SecretStr("y")}})
    assert choose_key(two, "b") == ("b", b"y")
    for settings, key in (
        (two, None),
        (two, "c"),
        (one.model_copy(update={"hmac_keys": {}}), None),
    ):
        with pytest.raises(CliError) as caught:
            choose_key(settings, key)
        assert caught.value.code == 2
    # Signing when asked even though the worker does not require it.
    assert choose_key(off.model_copy(update={"hmac_keys": {"a": SecretStr("x")}}), "a") == (
        "a",
        b"x",
    )


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No broker (reaching for one would fail with exit 1), and no global logging set up."""
    monkeypatch.setenv("TRON_WORKER_AMQP__URL", "amqp://guest@127.0.0.1:1/")
    monkeypatch.setattr("worker.logs.configure_logging", lambda *args, **kwargs: None)


def test_an_invalid_command_is_refused_before_any_connection(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = cli_client.main(
        ["submit", "transfer.trx", "--wallet", WALLET, "--to", WALLET, "--amount-sun", "1.5"]
    )
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith("not sent: invalid payload\n")
    assert "payload.amount_sun: amount must be an integer" in err
    assert "payload.to: cannot send to itself" in err


def test_an_invalid_command_in_json_lists_its_field_errors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli_client.main(["submit", "wallet.create", "--count", "0", "--json"]) == 2
    reply = json.loads(capsys.readouterr().out)
    assert reply["ok"] is False
    assert [e["field"] for e in reply["errors"]] == ["payload.count"]


def test_an_unknown_type_or_a_stray_word_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli_client.main(["submit", "wallet.destroy"]) == 2
    assert "unknown command type 'wallet.destroy'" in capsys.readouterr().err
    assert cli_client.main(["submit", "wallet.create", "oops"]) == 2
    with pytest.raises(SystemExit) as caught:  # argparse: extra words elsewhere
        cli_client.main(["status", "k", "--nope"])
    assert caught.value.code == 2


def test_replay_needs_an_id_or_all() -> None:
    args = client_args._parser().parse_args(["dlq", "replay"])
    with pytest.raises(CliError) as caught:
        asyncio.run(client_dlq._dlq(args, load_settings()))
    assert caught.value.code == 2


def test_wait_ends_on_the_terminal_event_and_counts_each_event_once() -> None:
    envelope = build_envelope("transfer.trx", {"wallet": WALLET, "to": TO, "amount_sun": 5})
    watch = client_submit._Watch(envelope, envelope["command_id"])
    accepted = _event(envelope, "transfer.accepted", {}, event_id="e-1")
    broadcast = _event(envelope, "transfer.broadcast", {"txid": "ab" * 32, "attempt": 1})
    assert watch.see(accepted) is None and watch.see(broadcast) is None
    assert watch.see(accepted) is None  # a re-publication
    assert watch.progress() == "transfer.trx: sent -> accepted -> broadcast abababababab…"
    confirmed = _event(envelope, "transfer.confirmed", {"block_number": 9, "fee_sun": 1_100_000})
    assert watch.see(confirmed) == 0
    assert watch.progress().endswith("confirmed in block 9, fee 1.1 TRX")
    for kind, code in (("transfer.rejected", 1), ("transfer.failed", 1), ("wallet.created", 0)):
        assert client_submit._Watch(envelope, "m").see(_event(envelope, kind, {})) == code
    assert client_submit._Watch(envelope, "m").see(_event(envelope, "x.needs_attention", {})) == 3


def test_wait_counts_payout_lines() -> None:
    recipients = [{"to": TO, "amount": 1, "reference": f"r{i}"} for i in range(3)]
    envelope = build_envelope("payout.create", {"asset": "TRX", "recipients": recipients})
    watch = client_submit._Watch(envelope, envelope["command_id"])
    for kind in ("item.broadcast", "item.broadcast", "item.confirmed", "item.failed"):
        assert watch.see(_event(envelope, f"payout.{kind}", {})) is None
    assert watch.progress().endswith("3 line(s): 2 broadcast, 1 confirmed, 1 failed")
    assert watch.see(_event(envelope, "payout.completed", {})) == 0


def test_wait_matches_by_key_or_by_message_id_header() -> None:
    envelope = build_envelope("wallet.create", {"count": 1})
    watch = client_submit._Watch(envelope, "message-1")
    ours = _Message(json.dumps(_event(envelope, "wallet.created", {})).encode())
    assert watch.ours(ours) is not None
    anonymous = {**_event(envelope, "wallet.rejected", {}), "idempotency_key": None}
    body = json.dumps(anonymous).encode()
    assert watch.ours(_Message(body, {"x-command-message-id": b"message-1"})) is not None
    assert watch.ours(_Message(body, {"x-command-message-id": "message-2"})) is None
    other = {**_event(envelope, "wallet.created", {}), "idempotency_key": "someone-else"}
    assert watch.ours(_Message(json.dumps(other).encode())) is None
    assert watch.ours(_Message(b"not json")) is None


def test_text_from_publishers_is_escaped() -> None:
    assert client_text._safe("a\x1b[31mb\u2028c") == "a\\x1b[31mb\\u2028c"
    assert client_text._safe("x\ny", keep_newlines=True) == "x\ny"
    assert client_text._safe("x\ny") == "x\\ny"


@pytest.mark.parametrize(
    ("sun", "text"),
    [(0, "0 TRX"), (1, "0.000001 TRX"), (1_100_000, "1.1 TRX"), (12_345_000_000, "12,345 TRX")],
)
def test_sun_as_trx_uses_integers(sun: int, text: str) -> None:
    assert client_text._trx(sun) == text
    assert client_text._trx(None) == "?"


def _event(
    envelope: dict[str, Any], kind: str, payload: dict[str, Any], event_id: str | None = None
) -> dict[str, Any]:
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "type": kind,
        "idempotency_key": envelope["idempotency_key"],
        "payload": payload,
    }


@dataclass
class _Delivery:
    body: bytes
    headers: dict[str, Any]
    message_id: str | None = None
    correlation_id: str | None = None
    routing_key: str | None = None
    content_type: str | None = "application/json"

    async def ack(self) -> None:
        pass

    async def nack(self, *, requeue: bool = True) -> None:
        pass


@dataclass
class _Message:
    body: bytes
    headers: dict[str, Any] = field(default_factory=dict)


def test_tron_worker_hands_the_client_subcommands_over(capsys: pytest.CaptureFixture[str]) -> None:
    from worker.cli import _parser, main

    assert all(name in _parser().format_help() for name in ("submit", "events", "dlq"))
    assert main(["submit", "wallet.create", "--count", "101"]) == 2
    assert "payload.count" in capsys.readouterr().err
