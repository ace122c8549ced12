"""Bad input below the body: AMQP properties that the client library cannot even decode.

RabbitMQ passes `message_id` (an AMQP shortstr) through as bytes, without checking
that it is UTF-8; aio-pika's codec (pamqp) decodes it as UTF-8 when the frame arrives,
before any of the worker's code runs.
"""

from __future__ import annotations

import json

import aio_pika
import pytest
from pamqp import common, encode

from tests.badinput.harness import Corpus, Delivery, dumps, envelope

pytestmark = pytest.mark.integration

NOT_UTF8_XFAIL = (
    "a message_id that is not UTF-8 makes pamqp raise UnicodeDecodeError while reading "
    "the frame ('Could not unmarshal ContentHeader frame'), so aio-pika drops the "
    "worker's whole connection; the robust connection reconnects every "
    "amqp.reconnect_interval_s, is handed the same delivery again and drops again. "
    "No family is served until the broker's x-delivery-limit dead-letters it (~20 s "
    "with the defaults; meanwhile a valid command waits), no rejected event is ever "
    "published, the worker exits 1 on SIGTERM during the loop, and any aio-pika reader "
    "of the .dead queue then chokes on it the same way"
)


def _shortstr_as_bytes(value: str) -> bytes:
    """pamqp's shortstr encoder, but surrogate escapes become the raw bytes they stand for."""
    raw = value.encode("utf-8", "surrogateescape")
    return common.Struct.byte.pack(len(raw)) + raw


async def _publish_with_binary_message_id(corpus: Corpus, body: bytes) -> None:
    original = encode.METHODS["shortstr"]
    encode.METHODS["shortstr"] = _shortstr_as_bytes
    try:
        await corpus.commands.publish(
            aio_pika.Message(body, message_id="bin-\udcff\udcfe", correlation_id="corr-binary"),
            "command.wallet.create",
        )
    finally:
        encode.METHODS["shortstr"] = original


@pytest.mark.xfail(strict=True, reason=NOT_UTF8_XFAIL)
async def test_a_message_id_that_is_not_utf8_is_poison_not_an_outage(servers, tmp_path) -> None:  # type: ignore[no-untyped-def]
    async with Corpus(
        amqp_url=servers.amqp_url,
        mongo_url=servers.mongo_url,
        log_dir=tmp_path,
        env={},
        watch_dead=False,  # this test's own aio-pika reader would choke on the dead letter
    ) as corpus:
        await _publish_with_binary_message_id(corpus, b"{not json")
        good = Delivery(
            dumps(envelope("wallet.create", {"count": 1})),
            "command.wallet.create",
            correlation_id="corr-good",
        )
        await corpus.publish(good)
        await corpus.until_final(["corr-good", "corr-binary"], timeout_s=12)
        served = corpus.seen.get("corr-good")
        assert served is not None, "a valid command waited behind the bad message id"
        assert [m.routing_key for m in served.events] == ["wallet.created"]
        refused = corpus.seen.get("corr-binary")
        assert refused is not None, "no event about the bad delivery"
        [event] = refused.events
        assert event.routing_key == "wallet.rejected"
        assert json.loads(event.body)["payload"]["code"] == "POISON"
