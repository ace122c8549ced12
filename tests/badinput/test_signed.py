"""Bad signatures and header tampering against a worker that requires signatures.

amqp.require_signature=true with two publisher keys (TRON_WORKER_AMQP__HMAC_KEYS).
What the worker does (worker/auth.py, worker/pipeline.py):
- the body is parsed first: poison is poison (reason `poison`) whether signed or not;
- then authenticated: a missing, unknown, malformed or wrong signature dead-letters the
  delivery (reason `unauthenticated`) and publishes an UNAUTHENTICATED rejection that
  names no command;
- an authentic command whose key nobody claimed yet and whose issued_at is outside the
  skew window is rejected UNAUTHENTICATED *without* a dead letter (the rejection names
  it), unless it has expired (EXPIRED wins);
- idempotency keys are scoped per key id.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from tests.badinput.harness import (
    CREATED,
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
    run_corpus,
    sign,
    unauthenticated,
)

pytestmark = pytest.mark.integration

SECRETS = {
    "billing": "billing-hmac-secret-7f3a9c0d1e2b4a68",
    "audit": "audit-hmac-secret-5b1e8d2c6a4f9e07",
}
W = "wallet"
CLAIMED_KEY = "signed-claimed-key"


def wallet(**fields: Any) -> dict[str, Any]:
    return envelope("wallet.create", {"count": 1}, **fields)


def signed(key_id: str = "billing", secret_of: str | None = None) -> Callable[[bytes], dict]:
    """Headers signing the body with `secret_of`'s secret (default: the key id's own)."""

    def headers(body: bytes) -> dict[str, Any]:
        return {"x-key-id": key_id, "x-signature": sign(body, SECRETS[secret_of or key_id])}

    return headers


def tampered(change: Callable[[bytes, str], dict[str, Any]]) -> Callable[[bytes], dict]:
    """Headers made by `change(body, correct signature)`."""
    return lambda body: change(body, sign(body, SECRETS["billing"]))


MISSING = "missing x-key-id or x-signature header"
BYTE_ARRAY_XFAIL = (
    "worker.auth._text decodes a bytes header value as ASCII, but pamqp hands an AMQP "
    "byte-array field ('x', what e.g. the Java client sends for a byte[] value) over as "
    "bytearray, which _text treats as absent: a correctly signed command is dead-lettered "
    "UNAUTHENTICATED 'missing x-key-id or x-signature header', which is false"
)
MISMATCH = "x-signature does not match the body"


CASES: list[Case] = [
    # --- missing, unknown, forged, stale -----------------------------------------------------
    case("no-signature-headers", W, wallet(), unauthenticated(W, MISSING)),
    case(
        "key-id-only",
        W,
        wallet(),
        unauthenticated(W, MISSING),
        headers={"x-key-id": "billing"},
    ),
    case(
        "signature-only",
        W,
        wallet(),
        unauthenticated(W, MISSING),
        headers=tampered(lambda body, sig: {"x-signature": sig}),
    ),
    case(
        "empty-key-id-and-signature",
        W,
        wallet(),
        unauthenticated(W, MISSING),
        headers={"x-key-id": "", "x-signature": ""},
    ),
    case(
        "unknown-key-id",
        W,
        wallet(),
        unauthenticated(W, "unknown x-key-id"),
        headers=tampered(lambda body, sig: {"x-key-id": "treasury", "x-signature": sig}),
    ),
    case(
        "forged-signature",
        W,
        wallet(),
        unauthenticated(W, MISMATCH),
        headers={"x-key-id": "billing", "x-signature": "0" * 64},
    ),
    case(
        "signature-of-another-body",
        W,
        wallet(),
        unauthenticated(W, MISMATCH),
        headers={"x-key-id": "billing", "x-signature": sign(b"{}", SECRETS["billing"])},
    ),
    case(
        "signed-with-the-other-keys-secret",
        W,
        wallet(),
        unauthenticated(W, MISMATCH),
        headers=signed("billing", secret_of="audit"),
    ),
    case(
        "signature-uppercase-hex",
        W,
        wallet(),
        unauthenticated(W, MISMATCH),
        headers=tampered(lambda body, sig: {"x-key-id": "billing", "x-signature": sig.upper()}),
    ),
    case(
        "signature-with-prefix",
        W,
        wallet(),
        unauthenticated(W, MISMATCH),
        headers=tampered(lambda body, sig: {"x-key-id": "billing", "x-signature": f"sha256={sig}"}),
    ),
    case(
        "signature-base64",
        W,
        wallet(),
        unauthenticated(W, MISMATCH),
        headers=tampered(
            lambda body, sig: {
                "x-key-id": "billing",
                "x-signature": base64.b64encode(bytes.fromhex(sig)).decode(),
            }
        ),
    ),
    case(
        "signature-trailing-newline",
        W,
        wallet(),
        unauthenticated(W, MISMATCH),
        headers=tampered(lambda body, sig: {"x-key-id": "billing", "x-signature": sig + "\n"}),
    ),
    case(
        "signature-of-the-reserialised-json",
        W,
        wallet(),
        unauthenticated(W, MISMATCH),
        headers=lambda body: {
            "x-key-id": "billing",
            "x-signature": sign(
                json.dumps(json.loads(body), separators=(",", ":")).encode(), SECRETS["billing"]
            ),
        },
    ),
    case(
        "stale-issued-at",
        W,
        lambda ctx: wallet(issued_at=now_text(-timedelta(minutes=10))),
        Expect(("wallet.rejected",), "UNAUTHENTICATED", says="allowed ±300 s"),
        headers=signed(),
    ),
    case(
        "issued-at-in-the-future",
        W,
        lambda ctx: wallet(issued_at=now_text(timedelta(minutes=10))),
        Expect(("wallet.rejected",), "UNAUTHENTICATED", says="allowed ±300 s"),
        headers=signed(),
    ),
    case(
        "stale-and-expired",
        W,
        wallet(issued_at="2026-01-01T00:00:00Z"),
        Expect(("wallet.rejected",), "EXPIRED", says="the command expired at"),
        headers=signed(),
    ),
    # --- header injection ----------------------------------------------------------------
    case(
        "key-id-with-crlf",
        W,
        wallet(),
        unauthenticated(W, "unknown x-key-id"),
        headers=tampered(
            lambda body, sig: {"x-key-id": f"billing\r\nx-signature: {sig}", "x-signature": sig}
        ),
    ),
    case(
        "key-id-60kb",
        W,
        wallet(),
        unauthenticated(W, "unknown x-key-id"),
        headers=tampered(lambda body, sig: {"x-key-id": "b" * 60_000, "x-signature": sig}),
    ),
    case(
        "key-id-binary",
        W,
        wallet(),
        unauthenticated(W, MISSING),
        headers=tampered(
            lambda body, sig: {"x-key-id": bytearray(b"\xff\xfebilling"), "x-signature": sig}
        ),
    ),
    case(
        "key-id-and-signature-as-ascii-byte-arrays",
        W,
        wallet(),
        CREATED,
        headers=tampered(
            lambda body, sig: {
                "x-key-id": bytearray(b"billing"),
                "x-signature": bytearray(sig.encode()),
            }
        ),
    ),
    case(
        "key-id-number",
        W,
        wallet(),
        unauthenticated(W, MISSING),
        headers=tampered(lambda body, sig: {"x-key-id": 7, "x-signature": sig}),
    ),
    case(
        "signature-as-array",
        W,
        wallet(),
        unauthenticated(W, MISSING),
        headers=tampered(lambda body, sig: {"x-key-id": "billing", "x-signature": [sig]}),
    ),
    case(
        "signature-60kb",
        W,
        wallet(),
        unauthenticated(W, MISMATCH),
        headers={"x-key-id": "billing", "x-signature": "f" * 60_000},
    ),
    case(
        "crlf-in-message-id",
        W,
        wallet(),
        CREATED,
        headers=signed(),
        message_id="m-signed\r\nx-key-id: audit\r\n",
        correlation_id=None,
    ),
    case(
        "crlf-in-correlation-id",
        W,
        wallet(),
        CREATED,
        headers=signed(),
        correlation_id="c-signed\r\nx-signature: 00",
    ),
    case(
        "correlation-id-255-bytes",
        W,
        wallet(),
        CREATED,
        headers=signed(),
        correlation_id="c" * 255,
    ),
    # --- what comes before and after authentication -----------------------------------------
    case(
        "poison-signed",
        W,
        raw=b"{not json",
        expect=poison(W, "body is not JSON"),
        headers=signed(),
    ),
    case("poison-unsigned", W, raw=b"{not json", expect=poison(W, "body is not JSON")),
    case(
        "invalid-payload-signed",
        W,
        wallet(payload={"count": 0}),
        invalid(W, "payload.count", "between 1 and 100"),
        headers=signed(),
    ),
    case(
        "invalid-payload-unsigned",
        W,
        wallet(payload={"count": 0}),
        unauthenticated(W, MISSING),
    ),
    # --- idempotency keys are scoped per key id ------------------------------------------------
    case(
        "reused-key-same-key-id",
        W,
        wallet(idempotency_key=CLAIMED_KEY, payload={"count": 2}),
        Expect(("wallet.rejected",), "IDEMPOTENCY_CONFLICT", says="idempotency key already used"),
        headers=signed("billing"),
    ),
    case(
        "reused-key-other-key-id",
        W,
        wallet(idempotency_key=CLAIMED_KEY, payload={"count": 2}),
        CREATED,
        headers=signed("audit"),
    ),
]


async def _setup(corpus: Corpus) -> None:
    """billing claims CLAIMED_KEY."""
    body = dumps(wallet(idempotency_key=CLAIMED_KEY))
    done = await corpus.send_and_wait(
        Delivery(body, "command.wallet.create", signed()(body), correlation_id="setup-claim")
    )
    assert [m.routing_key for m in done.events] == ["wallet.created"]


def _after(ctx: Context) -> list[Delivery]:
    body = dumps(wallet())
    return [Delivery(body, "command.wallet.create", signed("audit")(body), correlation_id="after")]


@pytest.fixture(scope="module")
def run(servers, tmp_path_factory) -> Run:  # type: ignore[no-untyped-def]
    return asyncio.run(
        run_corpus(
            CASES,
            amqp_url=servers.amqp_url,
            mongo_url=servers.mongo_url,
            log_dir=tmp_path_factory.mktemp("badinput-signed"),
            env={
                "TRON_WORKER_AMQP__REQUIRE_SIGNATURE": "true",
                "TRON_WORKER_AMQP__HMAC_KEYS": json.dumps(SECRETS),
            },
            setup=_setup,
            after=_after,
        )
    )


def _params(cases: list[Case]) -> list[Any]:
    return [
        pytest.param(
            c, id=c.id, marks=[pytest.mark.xfail(strict=True, reason=c.xfail)] if c.xfail else []
        )
        for c in cases
    ]


@pytest.mark.parametrize("bad", _params(CASES))
def test_bad_signature_or_header(run: Run, bad: Case) -> None:
    check(run, bad)


def test_correlation_ids_are_carried_through_verbatim(run: Run) -> None:
    """A CR/LF in message_id or correlation_id is data, never a header boundary."""
    for case_id in ("crlf-in-message-id", "crlf-in-correlation-id"):
        sent = run.sent[case_id]
        [event] = run.seen[sent.match].events
        assert event.correlation_id == sent.match
        if sent.message_id is not None:
            assert (event.headers or {}).get("x-command-id") == json.loads(sent.body)["command_id"]


def test_the_signed_worker_keeps_serving(run: Run) -> None:
    [after] = run.after.values()
    assert [m.routing_key for m in after.events] == ["wallet.created"], run.output[-3000:]
    assert run.exit_code == 0
    assert "delivery crashed" not in run.output
    assert run.stray == set(), "every event and dead letter is about a delivery sent"


def test_only_authentic_fresh_commands_are_claimed(run: Run) -> None:
    """Nothing unauthenticated, stale, expired, invalid or conflicting is stored."""
    setup, after = 1, 1
    expected = sum(c.expect.claimed for c in CASES if c.xfail is None)
    assert run.claimed == expected + setup + after


def test_no_hmac_secret_in_events_dead_letters_or_logs(run: Run) -> None:
    captured = [run.output]
    for seen in [*run.seen.values(), *run.after.values()]:
        for message in seen.events:
            captured += [message.body.decode(), repr(message.headers)]
        for _, message in seen.dead:
            captured += [repr({k: v for k, v in (message.headers or {}).items()})]
    text = "\n".join(captured)
    assert "wallet.created" in text and "x-dead-letter-reason" in text, "captured something"
    for secret in SECRETS.values():
        assert secret not in text
