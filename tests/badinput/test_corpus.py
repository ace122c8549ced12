"""Bad input against the real stack, signatures off: each case's exact outcome, then a
valid command that still completes.

One worker (RabbitMQ, FerretDB, the stack's devnet) takes the whole corpus at once;
see tests/badinput/harness.py for how outcomes are matched to cases.

What the worker does, in short (schemas/commands.py, worker/pipeline.py):
- a body that is no envelope (not UTF-8 JSON, not an object, a bad envelope field:
  unknown type or schema_version, bad idempotency key...) is *poison*: a copy goes to
  `<ns>.<family>.dead` (reason `poison`), a `<family>.rejected` POISON event that names
  no command is published, and the delivery is acked;
- a valid envelope with a bad payload is `<family>.rejected` INVALID_COMMAND naming the
  field, with no dead letter;
- a valid command the handler refuses after its claim gets `accepted`, then `rejected`
  with the specific code (UNKNOWN_WALLET, UNKNOWN_TOKEN...).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from datetime import timedelta
from typing import Any

import aio_pika
import pytest
from aio_pika.exceptions import DeliveryError, PublishError

from schemas.types import MAX_INT64, base58check_decode, base58check_encode
from tests.badinput.harness import (
    CREATED,
    DROP,
    Case,
    Context,
    Corpus,
    Delivery,
    Expect,
    Run,
    case,
    check,
    dumps,
    envelope,
    invalid,
    now_text,
    poison,
    refused,
    run_corpus,
    to_json,
)
from tests.support import delete_namespace
from worker.broker import declare_topology
from worker.settings import load_settings
from worker.topology import build_topology

pytestmark = pytest.mark.integration


def address(seed: str) -> str:
    """A well-formed TRON address nobody manages."""
    return base58check_encode(b"\x41" + hashlib.sha256(seed.encode()).digest()[:20])


def hex_of(base58: str) -> str:
    return base58check_decode(base58).hex()


ALICE, BOB, CAROL = address("alice"), address("bob"), address("carol")
BAD_CHECKSUM = ALICE[:-1] + ("2" if ALICE[-1] != "2" else "3")


def command(command_type: str, base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """An envelope whose payload is `base` with `changes` (DROP removes a field)."""
    payload = {**base, **changes}
    return envelope(command_type, {k: v for k, v in payload.items() if v is not DROP})


def wallet(**changes: Any) -> dict[str, Any]:
    return command("wallet.create", {"count": 1}, changes)


def trx(**changes: Any) -> dict[str, Any]:
    return command("transfer.trx", {"wallet": ALICE, "to": BOB, "amount_sun": 1_000}, changes)


def trc20(**changes: Any) -> dict[str, Any]:
    base = {"wallet": ALICE, "to": BOB, "token": "USDT", "amount": 1_000}
    return command("transfer.trc20", base, changes)


def line(to: str, amount: Any = 1_000, reference: str = "r-0") -> dict[str, Any]:
    return {"to": to, "amount": amount, "reference": reference}


def payout(**changes: Any) -> dict[str, Any]:
    return command("payout.create", {"asset": "TRX", "recipients": [line(BOB)]}, changes)


def freeze(**changes: Any) -> dict[str, Any]:
    base = {"wallet": ALICE, "amount_sun": 1_000_000, "resource": "ENERGY"}
    return command("stake.freeze", base, changes)


def delegate(**changes: Any) -> dict[str, Any]:
    base = {"wallet": ALICE, "receiver": BOB, "amount_sun": 1_000_000, "resource": "ENERGY"}
    return command("stake.delegate", base, changes)


def vote(votes: list[dict[str, Any]]) -> dict[str, Any]:
    return command("stake.vote", {"wallet": ALICE, "votes": votes}, {})


def with_envelope(**fields: Any) -> dict[str, Any]:
    return envelope("wallet.create", {"count": 1}, **fields)


def raw_wallet_with(payload_text: str) -> bytes:
    """A valid envelope around a payload written as raw JSON text."""
    head = dumps(wallet())[: -len(b"}")]
    start = head.rindex(b'"payload"')
    return head[:start] + b'"payload": ' + payload_text.encode() + b"}"


def deep_payload(depth: int) -> bytes:
    return raw_wallet_with('{"a": ' * depth + "1" + "}" * depth)


def padded(size: int) -> bytes:
    """A JSON object of exactly `size` bytes."""
    body = b'{"pad": "' + b"a" * size + b'"}'
    return body[: size - 2] + b'"}'


def managed(command: dict[str, Any], *path: str) -> Any:
    """`command` with the managed wallet at payload[path...] (the context knows it)."""

    def build(ctx: Context) -> dict[str, Any]:
        data = json.loads(json.dumps(command))
        target = data["payload"]
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = ctx.managed
        return data

    return build


W, T, P, S = "wallet", "transfer", "payout", "stake"

OVERFLOW_XFAIL = (
    "issued_at this close to datetime's range raises OverflowError in "
    "schemas.commands.parse_envelope (expiry default issued_at + 24 h), not NotAnEnvelope: "
    "the pipeline logs 'command handling crashed' and defers the delivery to its retry "
    "tiers (4 retries over 5+30+300+300 s), then dead-letters it `retries-exhausted` "
    "with no event at all, instead of dead-lettering it as poison with a POISON "
    "rejection at once"
)
OBSERVE_XFAIL = (
    "issued_at whose UTC conversion leaves datetime's range raises OverflowError in "
    "worker.health._issued_at (DeliveryAges.observe_body), which the consumer calls "
    "before the pipeline and which 'must not raise': aiormq logs 'Consumer callback "
    "failed' and the delivery is never settled (no event, no dead letter, it stays "
    "unacked and holds a prefetch slot until the connection closes)"
)
HUGE_INT_XFAIL = (
    "a JSON integer of more than 4300 digits is valid JSON, but json.loads refuses it "
    "(Python's int max_str_digits) with a ValueError, so the worker dead-letters it as "
    "poison saying 'body is not JSON: ValueError' instead of rejecting the amount "
    "INVALID_COMMAND like 2**256"
)


CASES: list[Case] = [
    # --- the body is not JSON, not UTF-8, not an object ---------------------------------
    case("not-json", W, raw=b"{not json", expect=poison(W, "body is not JSON")),
    case("plain-text", W, raw=b"pay bob 5 trx", expect=poison(W, "body is not JSON")),
    case("not-utf8", W, raw=b'{"type": "\xff\xfe"}', expect=poison(W, "not UTF-8")),
    case(
        "latin1-json",
        W,
        raw=to_json(wallet(labels=["caf\u00e9"]), ensure_ascii=False).encode("latin-1"),
        expect=poison(W, "body is not UTF-8 text"),
    ),
    case(
        "utf16-json",
        W,
        raw=to_json(wallet()).encode("utf-16"),
        expect=poison(W, "body is not UTF-8 text"),
    ),
    case(
        "utf8-bom",
        W,
        raw=b"\xef\xbb\xbf" + dumps(wallet()),
        expect=poison(W, "body is not JSON: Unexpected UTF-8 BOM"),
    ),
    case("empty-body", W, raw=b"", expect=poison(W, "Expecting value at line 1 column 1")),
    case("whitespace-body", W, raw=b" \r\n\t ", expect=poison(W, "body is not JSON")),
    case(
        "body-2mb",
        W,
        raw=padded(2 * 1024 * 1024),
        expect=poison(W, "body is 2097152 bytes; at most 262144 are accepted"),
    ),
    case(
        "body-256k-plus-1",
        W,
        raw=padded(256 * 1024 + 1),
        expect=poison(W, "body is 262145 bytes"),
    ),
    case("json-array", W, [wallet()], poison(W, "body is a JSON array, not an object")),
    case("json-string", W, raw=b'"wallet.create"', expect=poison(W, "a JSON string")),
    case("json-number", W, raw=b"42", expect=poison(W, "a JSON number")),
    case("json-null", W, raw=b"null", expect=poison(W, "a JSON null")),
    case("json-bool", W, raw=b"true", expect=poison(W, "a JSON boolean")),
    case(
        "deeply-nested-array",
        W,
        raw=b"[" * 100_000 + b"]" * 100_000,
        expect=poison(W, "body is not JSON: nested too deeply"),
    ),
    case(
        "deeply-nested-payload",
        W,
        raw=deep_payload(20_000),
        expect=poison(W, "body is not JSON: nested too deeply"),
    ),
    case(
        "nested-payload-500",
        W,
        raw=deep_payload(500),
        expect=invalid(W, "payload.a", "unknown field"),
    ),
    case(
        "duplicate-key",
        W,
        raw=dumps(wallet())[:-1] + b', "type": "wallet.create"}',
        expect=poison(W, "duplicate key 'type'"),
    ),
    case(
        "nan-literal",
        W,
        raw=raw_wallet_with('{"count": NaN}'),
        expect=poison(W, "NaN is not a JSON number"),
    ),
    case(
        "infinity-literal",
        W,
        raw=raw_wallet_with('{"count": -Infinity}'),
        expect=poison(W, "-Infinity is not a JSON number"),
    ),
    case(
        "trailing-garbage",
        W,
        raw=dumps(wallet()) + b" {}",
        expect=poison(W, "body is not JSON: Extra data"),
    ),
    # --- envelope fields: missing, extra, wrong types ------------------------------------
    case("empty-object", W, {}, poison(W, "command_id: required field is missing")),
    *[
        case(
            f"missing-{name.replace('_', '-')}",
            W,
            with_envelope(**{name: DROP}),
            poison(W, f"{name}: required field is missing"),
        )
        for name in (
            "command_id",
            "idempotency_key",
            "type",
            "schema_version",
            "issued_at",
            "payload",
        )
    ],
    case("extra-envelope-field", W, with_envelope(priority=9), poison(W, "priority: unknown")),
    case("command-id-int", W, with_envelope(command_id=7), poison(W, "command_id must be a UUID")),
    case(
        "command-id-not-uuid",
        W,
        with_envelope(command_id="not-a-uuid"),
        poison(W, "command_id must be a UUID"),
    ),
    case(
        "command-id-without-hyphens",
        W,
        with_envelope(command_id="1b4e28ba2fa111d2883f0016d3cca427"),
        poison(W, "command_id must be a UUID"),
    ),
    case(
        "schema-version-2",
        W,
        with_envelope(schema_version=2),
        poison(W, "unsupported schema_version 2 (this worker understands 1)"),
    ),
    case(
        "schema-version-string",
        W,
        with_envelope(schema_version="1"),
        poison(W, "schema_version must be the integer 1"),
    ),
    case(
        "schema-version-float",
        W,
        with_envelope(schema_version=1.0),
        poison(W, "schema_version must be the integer 1"),
    ),
    case(
        "schema-version-bool",
        W,
        with_envelope(schema_version=True),
        poison(W, "schema_version must be the integer 1"),
    ),
    case(
        "unknown-command-type",
        W,
        envelope("wallet.destroy", {}),
        poison(W, "unknown command type 'wallet.destroy'"),
        routing_key="command.wallet.destroy",
    ),
    case("command-type-empty", W, with_envelope(type=""), poison(W, "unknown command type")),
    case(
        "command-type-number",
        W,
        with_envelope(type=42),
        poison(W, "type must be a string naming a command"),
    ),
    case(
        "command-type-on-another-queue",
        W,
        trx(),
        invalid(W, "type", "does not belong on the wallet queue"),
        routing_key="command.wallet.create",
    ),
    case(
        "issued-at-naive",
        W,
        with_envelope(issued_at="2026-01-01T00:00:00"),
        poison(W, "issued_at: timestamp must be RFC 3339 with a timezone"),
    ),
    case(
        "issued-at-epoch-number",
        W,
        with_envelope(issued_at=1_767_225_600),
        poison(W, "issued_at: timestamp must be an RFC 3339 string, got integer"),
    ),
    case(
        "issued-at-impossible-date",
        W,
        with_envelope(issued_at="2026-02-30T00:00:00Z"),
        poison(W, "issued_at: timestamp is not a valid date and time"),
    ),
    case(
        "expires-before-issued",
        W,
        with_envelope(expires_at="2020-01-01T00:00:00Z"),
        poison(W, "expires_at must be after issued_at"),
    ),
    case(
        "expires-in-8-days",
        W,
        lambda ctx: with_envelope(expires_at=now_text(timedelta(days=8))),
        poison(W, "expires_at must be at most 7 days after issued_at"),
    ),
    case(
        "issued-at-year-9999",
        W,
        with_envelope(issued_at="9999-12-31T23:00:00Z"),
        poison(W, "issued_at"),
    ),
    case(
        "issued-at-before-year-1-utc",
        W,
        with_envelope(issued_at="0001-01-01T00:00:00+00:01"),
        poison(W, "issued_at"),
    ),
    case(
        "expired-long-ago",
        W,
        with_envelope(issued_at="2026-01-01T00:00:00Z"),
        Expect(("wallet.rejected",), "EXPIRED", says="the command expired at 2026-01-02"),
    ),
    case(
        "expires-at-an-hour-ago",
        W,
        lambda ctx: with_envelope(
            issued_at=now_text(-timedelta(hours=2)), expires_at=now_text(-timedelta(hours=1))
        ),
        Expect(("wallet.rejected",), "EXPIRED", says="the command expired at"),
    ),
    # --- idempotency keys ------------------------------------------------------------------
    case(
        "idempotency-key-empty",
        W,
        with_envelope(idempotency_key=""),
        poison(W, "idempotency_key must be 1 to 255 characters, got 0"),
    ),
    case(
        "idempotency-key-256",
        W,
        with_envelope(idempotency_key="k" * 256),
        poison(W, "idempotency_key must be 1 to 255 characters, got 256"),
    ),
    case(
        "idempotency-key-nul",
        W,
        with_envelope(idempotency_key="key\u0000\u0001"),
        poison(W, "idempotency_key must be printable ASCII"),
    ),
    case(
        "idempotency-key-crlf",
        W,
        with_envelope(idempotency_key="key\r\nx-key-id: admin"),
        poison(W, "idempotency_key must be printable ASCII"),
    ),
    case(
        "idempotency-key-non-ascii",
        W,
        with_envelope(idempotency_key="\u043a\u043b\u044e\u0447"),
        poison(W, "idempotency_key must be printable ASCII"),
    ),
    case(
        "idempotency-key-lone-surrogate",
        W,
        with_envelope(idempotency_key="\ud800"),
        poison(W, "idempotency_key"),
    ),
    case(
        "idempotency-key-number",
        W,
        with_envelope(idempotency_key=12345),
        poison(W, "idempotency_key must be a string, got integer"),
    ),
    case(
        "idempotency-key-reused-with-another-payload",
        W,
        lambda ctx: wallet(count=2) | {"idempotency_key": ctx.claimed_key},
        Expect(("wallet.rejected",), "IDEMPOTENCY_CONFLICT", says="idempotency key already used"),
    ),
    # --- payloads: shapes and types ----------------------------------------------------------
    case("payload-array", W, with_envelope(payload=[]), invalid(W, "payload", "JSON object")),
    case("payload-null", W, with_envelope(payload=None), invalid(W, "payload", "JSON object")),
    case("wallet-count-zero", W, wallet(count=0), invalid(W, "payload.count", "between 1 and")),
    case("wallet-count-101", W, wallet(count=101), invalid(W, "payload.count", "1 and 100")),
    case("wallet-count-string", W, wallet(count="5"), invalid(W, "payload.count", "got string")),
    case("wallet-count-float", W, wallet(count=2.0), invalid(W, "payload.count", "got number")),
    case("wallet-count-bool", W, wallet(count=True), invalid(W, "payload.count", "got boolean")),
    case(
        "wallet-labels-mismatch",
        W,
        wallet(count=2, labels=["only-one"]),
        invalid(W, "payload.labels", "one label per wallet: 1 for 2"),
    ),
    case(
        "wallet-label-newline",
        W,
        wallet(labels=["a\nb"]),
        invalid(W, "payload.labels.0", "control or unprintable"),
    ),
    case("wallet-purpose-unknown", W, wallet(purpose="cold"), invalid(W, "payload.purpose")),
    case(
        "wallet-extra-field",
        W,
        wallet(private_key="00" * 32),
        invalid(W, "payload.private_key", "unknown field"),
    ),
    case(
        "wallet-purpose-wrong-case",
        W,
        wallet(purpose="HOT"),
        invalid(W, "payload.purpose"),
    ),
    # --- amounts ---------------------------------------------------------------------------
    case("trx-missing-amount", T, trx(amount_sun=DROP), invalid(T, "payload.amount_sun")),
    case("trx-missing-to", T, trx(to=DROP), invalid(T, "payload.to", "required field")),
    case("trx-extra-field", T, trx(fee_limit=10), invalid(T, "payload.fee_limit", "unknown")),
    case("trx-amount-float", T, trx(amount_sun=1.5), invalid(T, "payload.amount_sun", "float")),
    case(
        "trx-amount-integral-float",
        T,
        trx(amount_sun=1000.0),
        invalid(T, "payload.amount_sun", "never a float"),
    ),
    case(
        "trx-amount-json-exponent",
        T,
        raw=dumps(trx(amount_sun=0)).replace(b'"amount_sun": 0', b'"amount_sun": 1e6'),
        expect=invalid(T, "payload.amount_sun", "never a float"),
    ),
    case(
        "trx-amount-exponent-string",
        T,
        trx(amount_sun="1e6"),
        invalid(T, "payload.amount_sun", "only the digits 0-9"),
    ),
    case(
        "trx-amount-decimal-string",
        T,
        trx(amount_sun="1.5"),
        invalid(T, "payload.amount_sun", "only the digits 0-9"),
    ),
    case(
        "trx-amount-negative",
        T,
        trx(amount_sun=-1),
        invalid(T, "payload.amount_sun", "must not be negative"),
    ),
    case(
        "trx-amount-negative-string",
        T,
        trx(amount_sun="-1"),
        invalid(T, "payload.amount_sun", "only the digits 0-9"),
    ),
    case("trx-amount-zero", T, trx(amount_sun=0), invalid(T, "payload.amount_sun", "at least 1")),
    case(
        "trx-amount-zero-string",
        T,
        trx(amount_sun="000"),
        invalid(T, "payload.amount_sun", "at least 1"),
    ),
    case(
        "trx-amount-2p63",
        T,
        trx(amount_sun=2**63),
        invalid(T, "payload.amount_sun", f"at most {MAX_INT64}"),
    ),
    case(
        "trx-amount-2p63-string",
        T,
        trx(amount_sun=str(2**63)),
        invalid(T, "payload.amount_sun", f"at most {MAX_INT64}"),
    ),
    case(
        "trx-amount-2p256",
        T,
        trx(amount_sun=2**256),
        invalid(T, "payload.amount_sun", f"at most {MAX_INT64}"),
    ),
    case(
        "trx-amount-2p256-string",
        T,
        trx(amount_sun=str(2**256)),
        invalid(T, "payload.amount_sun", f"at most {MAX_INT64}"),
    ),
    case(
        "trx-amount-bool",
        T,
        trx(amount_sun=True),
        invalid(T, "payload.amount_sun", "not a boolean"),
    ),
    case("trx-amount-null", T, trx(amount_sun=None), invalid(T, "payload.amount_sun", "null")),
    case(
        "trx-amount-arabic-digits",
        T,
        trx(amount_sun="\u0661\u0662\u0663"),
        invalid(T, "payload.amount_sun", "only the digits 0-9"),
    ),
    case(
        "trx-amount-5000-digits",
        T,
        raw=dumps(trx(amount_sun=0)).replace(b'"amount_sun": 0', b'"amount_sun": 1' + b"0" * 5000),
        expect=invalid(T, "payload.amount_sun", f"at most {MAX_INT64}"),
    ),
    # --- memos, self-transfers -------------------------------------------------------------
    case("trx-memo-201-bytes", T, trx(memo="m" * 201), invalid(T, "payload.memo", "got 201")),
    case(
        "trx-memo-201-utf8-bytes",
        T,
        trx(memo="\u20ac" * 67),
        invalid(T, "payload.memo", "at most 200 bytes of UTF-8, got 201"),
    ),
    case("trx-memo-number", T, trx(memo=7), invalid(T, "payload.memo", "got integer")),
    case(
        "trx-memo-lone-surrogate",
        T,
        trx(memo="\udc80"),
        invalid(T, "payload.memo", "lone surrogate"),
    ),
    case("trx-self-transfer", T, trx(to=ALICE), invalid(T, "payload.to", "cannot send to itself")),
    case(
        "trx-self-transfer-hex",
        T,
        trx(to=hex_of(ALICE)),
        invalid(T, "payload.to", "cannot send to itself"),
    ),
    # --- addresses -------------------------------------------------------------------------
    case("addr-bad-checksum", T, trx(to=BAD_CHECKSUM), invalid(T, "payload.to", "bad checksum")),
    case(
        "addr-bad-base58-char",
        T,
        trx(to="T" + "0" * 33),
        invalid(T, "payload.to", "invalid base58 character '0'"),
    ),
    case(
        "addr-hex-too-short",
        T,
        trx(to=hex_of(BOB)[:-2]),
        invalid(T, "payload.to", "wrong length (40 characters"),
    ),
    case(
        "addr-hex-too-long",
        T,
        trx(to=hex_of(BOB) + "00"),
        invalid(T, "payload.to", "wrong length (44 characters"),
    ),
    case(
        "addr-hex-wrong-version",
        T,
        trx(to="42" + hex_of(BOB)[2:]),
        invalid(T, "payload.to", "wrong version byte"),
    ),
    case(
        "addr-bitcoin",
        T,
        trx(to="1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),
        invalid(T, "payload.to", "wrong version byte (expected 0x41)"),
    ),
    case(
        "addr-bitcoin-bech32",
        T,
        trx(to="bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"),
        invalid(T, "payload.to", "wrong length (42 characters"),
    ),
    case(
        "addr-ethereum",
        T,
        trx(to="0x742d35Cc6634C0532925a3b844Bc454e4438f44e"),
        invalid(T, "payload.to", "not a TRON address: wrong length (42 characters"),
    ),
    case(
        "addr-ethereum-bare-hex",
        T,
        trx(to="742d35Cc6634C0532925a3b844Bc454e4438f44e"),
        invalid(T, "payload.to", "wrong length (40 characters"),
    ),
    case(
        "addr-with-whitespace",
        T,
        trx(to=f" {BOB}"),
        invalid(T, "payload.to", "wrong length (35 characters"),
    ),
    case("addr-empty", T, trx(to=""), invalid(T, "payload.to", "wrong length (0 characters")),
    case("addr-number", T, trx(to=41), invalid(T, "payload.to", "expected a string, got integer")),
    case(
        "wallet-addr-bad-checksum",
        T,
        trx(wallet=BAD_CHECKSUM),
        invalid(T, "payload.wallet", "bad checksum"),
    ),
    # --- tokens ----------------------------------------------------------------------------
    case("trc20-token-trx", T, trc20(token="TRX"), invalid(T, "payload.token", "use transfer.trx")),
    case(
        "trc20-token-lowercase",
        T,
        trc20(token="usdt"),
        invalid(T, "payload.token", "token must be a symbol"),
    ),
    case(
        "trc20-amount-exponent-string",
        T,
        trc20(amount="1E3"),
        invalid(T, "payload.amount", "only the digits 0-9"),
    ),
    case(
        "trc20-unknown-token",
        T,
        managed(trc20(token="DOGE"), "wallet"),
        refused(T, "UNKNOWN_TOKEN", "token DOGE is not allowed (allowed: USDT)"),
    ),
    case(
        "trc20-unknown-token-contract",
        T,
        managed(trc20(token=CAROL), "wallet"),
        refused(T, "UNKNOWN_TOKEN", f"token {CAROL} is not allowed"),
    ),
    case(
        "payout-unknown-token",
        P,
        payout(asset="DOGE"),
        refused(P, "UNKNOWN_TOKEN", "token DOGE is not allowed"),
    ),
    # --- payouts ---------------------------------------------------------------------------
    case(
        "payout-101-recipients",
        P,
        payout(recipients=[line(BOB, reference=f"r-{i}") for i in range(101)]),
        invalid(P, "payload.recipients", "must have at most 100 items, got 101"),
    ),
    case(
        "payout-no-recipients",
        P,
        payout(recipients=[]),
        invalid(P, "payload.recipients", "must have at least 1 item, got 0"),
    ),
    case(
        "payout-duplicate-recipients",
        P,
        payout(recipients=[line(BOB), line(BOB)]),
        invalid(P, "payload.recipients", "duplicate reference in recipients 0 and 1"),
    ),
    case(
        "payout-same-recipient-two-references",
        P,
        payout(recipients=[line(BOB, reference="a"), line(BOB, reference="b")]),
        refused(P, "INSUFFICIENT_FUNDS", "no hot wallet holds enough"),
    ),
    case(
        "payout-total-above-int64",
        P,
        payout(recipients=[line(BOB, 2**62, "a"), line(CAROL, 2**62, "b")]),
        invalid(P, "payload.recipients", f"total of all amounts must be at most {MAX_INT64}"),
    ),
    case(
        "payout-source-is-recipient",
        P,
        payout(source_wallet=BOB),
        invalid(P, "payload.source_wallet", "cannot send to itself (recipients 0)"),
    ),
    case(
        "payout-reference-empty",
        P,
        payout(recipients=[line(BOB, reference="")]),
        invalid(P, "payload.recipients.0.reference", "1 to 128 characters, got 0"),
    ),
    case(
        "payout-line-amount-float",
        P,
        payout(recipients=[line(BOB, amount=0.5)]),
        invalid(P, "payload.recipients.0.amount", "never a float"),
    ),
    case(
        "payout-unmanaged-source",
        P,
        payout(source_wallet=ALICE),
        refused(P, "UNKNOWN_WALLET", f"{ALICE} is not a wallet this worker manages"),
    ),
    case(
        "approve-unknown-payout",
        P,
        envelope(
            "payout.approve", {"command_id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "reason": "ok"}
        ),
        Expect(("payout.rejected",), "UNKNOWN_COMMAND", says="has awaited approval", claimed=True),
    ),
    case(
        "approve-empty-reason",
        P,
        envelope(
            "payout.approve", {"command_id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "reason": ""}
        ),
        invalid(P, "payload.reason"),
    ),
    # --- stake -----------------------------------------------------------------------------
    case("stake-resource-cpu", S, freeze(resource="CPU"), invalid(S, "payload.resource")),
    case(
        "stake-amount-2p256",
        S,
        freeze(amount_sun=2**256),
        invalid(S, "payload.amount_sun", f"at most {MAX_INT64}"),
    ),
    case(
        "stake-delegate-to-itself",
        S,
        delegate(receiver=ALICE),
        invalid(S, "payload.receiver", "cannot delegate to itself"),
    ),
    case(
        "stake-lock-period-without-lock",
        S,
        delegate(lock_period_blocks=100),
        invalid(S, "payload.lock_period_blocks", "needs lock: true"),
    ),
    case("stake-lock-string", S, delegate(lock="true"), invalid(S, "payload.lock")),
    case(
        "stake-31-votes",
        S,
        vote([{"witness": address(f"w{i}"), "count": 1} for i in range(31)]),
        invalid(S, "payload.votes", "must have at most 30 items, got 31"),
    ),
    case(
        "stake-duplicate-witness",
        S,
        vote([{"witness": BOB, "count": 1}, {"witness": hex_of(BOB), "count": 2}]),
        invalid(S, "payload.votes", "duplicate witness in votes 0 and 1"),
    ),
    # --- unmanaged wallets, and a managed one that cannot pay ---------------------------------
    case(
        "trx-unmanaged-wallet",
        T,
        trx(),
        refused(T, "UNKNOWN_WALLET", f"{ALICE} is not a wallet this worker manages"),
    ),
    case(
        "trc20-unmanaged-wallet",
        T,
        trc20(),
        refused(T, "UNKNOWN_WALLET", f"{ALICE} is not a wallet this worker manages"),
    ),
    case(
        "stake-unmanaged-wallet",
        S,
        freeze(),
        refused(S, "UNKNOWN_WALLET", f"{ALICE} is not a wallet this worker manages"),
    ),
    case(
        "trx-max-int64-from-empty-wallet",
        T,
        managed(trx(amount_sun=MAX_INT64), "wallet"),
        refused(T, "INSUFFICIENT_BALANCE", "holds 0 sun of TRX"),
    ),
    # --- headers a publisher should not be able to abuse ----------------------------------------
    case(
        "forged-dead-letter-headers",
        W,
        raw=b"{not json",
        headers={"x-dead-letter-reason": "retries-exhausted", "x-dead-letter-detail": "fine"},
        expect=poison(W, "body is not JSON"),
    ),
    case(
        "crlf-in-message-id",
        W,
        wallet(),
        CREATED,
        message_id="m-crlf\r\nx-key-id: admin\r\n",
        correlation_id=None,
    ),
    case(
        "crlf-in-correlation-id",
        W,
        raw=b"{not json",
        correlation_id="c-crlf\r\nx-dead-letter-reason: fine",
        expect=poison(W, "body is not JSON"),
    ),
    case(
        "message-id-255-bytes",
        W,
        wallet(),
        CREATED,
        message_id="m" * 255,
        correlation_id=None,
    ),
    case(
        "huge-header-value",
        W,
        wallet(),
        CREATED,
        headers={"x-note": "n" * 60_000, "x-attempt": 99},
    ),
]


async def _setup(corpus: Corpus) -> None:
    """A managed (unfunded) hot wallet, and an idempotency key claimed by a wallet.create."""
    key = "bad-input-claimed-key"
    first = wallet()
    first["payload"]["purpose"] = "hot"
    made = await corpus.send_and_wait(
        Delivery(dumps(first), "command.wallet.create", correlation_id="setup-wallet")
    )
    [created] = [m for m in made.events if m.routing_key == "wallet.created"]
    corpus.ctx.managed = json.loads(created.body)["payload"]["addresses"][0]
    claim = wallet() | {"idempotency_key": key}
    done = await corpus.send_and_wait(
        Delivery(dumps(claim), "command.wallet.create", correlation_id="setup-claim")
    )
    assert [m.routing_key for m in done.events] == ["wallet.created"]
    corpus.ctx.claimed_key = key


def _after(ctx: Context) -> list[Delivery]:
    return [Delivery(dumps(wallet()), "command.wallet.create", correlation_id="after-valid")]


@pytest.fixture(scope="module")
def run(servers, tmp_path_factory) -> Run:  # type: ignore[no-untyped-def]
    return asyncio.run(
        run_corpus(
            CASES,
            amqp_url=servers.amqp_url,
            mongo_url=servers.mongo_url,
            log_dir=tmp_path_factory.mktemp("badinput"),
            setup=_setup,
            after=_after,
        )
    )


def _params(cases: list[Case]) -> list[Any]:
    return [
        pytest.param(
            c,
            id=c.id,
            marks=[pytest.mark.xfail(strict=True, reason=c.xfail)] if c.xfail else [],
        )
        for c in cases
    ]


@pytest.mark.parametrize("bad", _params(CASES))
def test_bad_input(run: Run, bad: Case) -> None:
    check(run, bad)


def test_the_worker_keeps_serving_after_the_corpus(run: Run) -> None:
    [after] = run.after.values()
    assert [m.routing_key for m in after.events] == ["wallet.created"], run.output[-3000:]
    assert run.exit_code == 0, "a clean SIGTERM shutdown after the corpus"
    assert "delivery crashed" not in run.output
    assert run.stray == set(), "every event and dead letter is about a delivery sent"


def test_only_authentic_valid_commands_are_claimed(run: Run) -> None:
    """Poison, invalid payloads, expired commands and key conflicts store nothing; only
    the commands a handler ran (or refused after its claim) are in the database."""
    setup, after = 2, 1
    assert run.claimed == sum(c.expect.claimed for c in CASES) + setup + after


async def test_an_unroutable_command_is_returned_to_a_mandatory_publisher(servers) -> None:  # type: ignore[no-untyped-def]
    """A routing key no family is bound to never reaches a worker: with `mandatory`, the
    broker returns it to its publisher (there is no alternate exchange for commands)."""
    namespace = f"test-{uuid.uuid4().hex[:10]}"
    connection = await aio_pika.connect_robust(servers.amqp_url)
    try:
        channel = await connection.channel(on_return_raises=True)
        settings = load_settings(environ={"TRON_WORKER_AMQP__NAMESPACE": namespace})
        await declare_topology(channel, build_topology(settings.amqp))
        commands = await channel.get_exchange(f"{namespace}.commands")
        body = dumps(envelope("refund.create", {}))
        with pytest.raises((PublishError, DeliveryError)):
            await commands.publish(aio_pika.Message(body), "command.refund.create", mandatory=True)
    finally:
        await delete_namespace(connection, namespace)
        await connection.close()
