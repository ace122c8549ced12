"""schemas/types.py: amounts, addresses, text and time, validated and normalised."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated

import base58
import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from schemas.types import (
    MAX_INT64,
    Address,
    Amount,
    IdempotencyKey,
    Memo,
    PositiveAmount,
    Timestamp,
    TokenRef,
    TxId,
    base58check_decode,
    base58check_encode,
    normalise_address,
    strict_int,
)

USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
USDT_HEX = "41a614f803b6fd780986a42c78ec9c7f77e6ded13c"
USDC = "TEkxiTehnzSmSe2XqrBj4w32RUN966rdz8"
BLACK_HOLE = "T9yD14Nj9j7xAB4dbGeiX9h8unkKHxuWwb"  # hex 41 followed by zeros


class Amounts(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    any: Amount = 0
    positive: PositiveAmount = 1


class Fields(BaseModel):
    address: Address = USDT
    token: TokenRef = "USDT"
    memo: Memo = None
    key: IdempotencyKey = "k"
    at: Timestamp = datetime(2026, 1, 1, tzinfo=UTC)
    txid: TxId = "0" * 64
    small: Annotated[int, strict_int(1, 100)] = 1


def _error(model: type[BaseModel], **fields: object) -> str:
    with pytest.raises(ValidationError) as info:
        model(**fields)
    [error] = info.value.errors()
    return str(error["msg"])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0),
        (100, 100),
        ("100", 100),
        ("0", 0),
        ("007", 7),
        (MAX_INT64, MAX_INT64),
        (str(MAX_INT64), MAX_INT64),
    ],
)
def test_amount_accepts_ints_and_digit_strings_and_normalises_to_int(value, expected) -> None:
    parsed = Amounts(any=value).any
    assert parsed == expected and type(parsed) is int


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (2**63, "at most 9223372036854775807"),
        (str(2**63), "at most 9223372036854775807"),
        ("1" * 400, "at most 9223372036854775807"),
        (-1, "must not be negative"),
        (1.5, "never a float"),
        (100.0, "never a float"),
        ("1e3", "only the digits 0-9"),
        (" 1", "only the digits 0-9"),
        ("1 ", "only the digits 0-9"),
        ("-1", "only the digits 0-9"),
        ("+1", "only the digits 0-9"),
        ("1.0", "only the digits 0-9"),
        ("", "only the digits 0-9"),
        ("١٢", "only the digits 0-9"),  # Arabic-Indic digits: str.isdigit() would say yes
        (True, "not a boolean"),
        (False, "not a boolean"),
        (None, "got null"),
        ([1], "got array"),
    ],
)
def test_amount_rejections_say_why(value, message) -> None:
    assert message in _error(Amounts, any=value)


def test_positive_amount_rejects_zero_but_plain_amount_allows_it() -> None:
    assert "at least 1" in _error(Amounts, positive=0)
    assert "at least 1" in _error(Amounts, positive="000")
    assert Amounts(any=0, positive=1).positive == 1


def test_strict_int_refuses_strings_floats_and_booleans() -> None:
    assert Fields(small=100).small == 100
    for bad in ("5", 5.0, True):
        assert "must be a JSON integer" in _error(Fields, small=bad)
    assert "between 1 and 100" in _error(Fields, small=101)


def test_real_mainnet_addresses_and_hex_forms_normalise_to_base58() -> None:
    assert normalise_address(USDT) == USDT
    assert normalise_address(USDC) == USDC
    assert normalise_address(BLACK_HOLE) == BLACK_HOLE
    assert normalise_address(USDT_HEX) == USDT
    assert normalise_address(USDT_HEX.upper()) == USDT
    assert Fields(address=USDT_HEX).address == USDT
    assert normalise_address("41" + "00" * 20) == BLACK_HOLE


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (USDT[:-1] + "u", "bad checksum"),  # one character changed
        ("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6T", "bad checksum"),
        (USDT[:-1], "wrong length (33 characters"),
        (USDT + "1", "wrong length (35 characters"),
        ("0" + USDT[1:], "invalid base58 character '0'"),
        ("42" + USDT_HEX[2:], "wrong version byte"),
        (USDT_HEX[:-2], "wrong length"),
        ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "wrong version byte"),  # Bitcoin genesis
        (12345, "expected a string"),
        (None, "expected a string"),
    ],
)
def test_bad_addresses_get_a_clear_reason(value, reason) -> None:
    with pytest.raises(ValueError) as info:
        normalise_address(value)
    assert str(info.value).startswith("not a TRON address: ")
    assert reason in str(info.value)


def test_base58check_matches_an_independent_implementation() -> None:
    for i in range(50):
        payload = b"\x41" + hashlib.sha256(str(i).encode()).digest()[:20]
        encoded = base58check_encode(payload)
        assert encoded == base58.b58encode_check(payload).decode()
        assert base58check_decode(encoded) == payload
        assert normalise_address(payload.hex()) == encoded
    assert base58check_encode(b"\0\0\x01") == base58.b58encode_check(b"\0\0\x01").decode()


def test_token_is_a_symbol_shape_or_an_address() -> None:
    assert Fields(token="USDT").token == "USDT"
    assert Fields(token="BTT2").token == "BTT2"
    assert Fields(token=USDT_HEX).token == USDT
    for bad in ("usdt", "U", "TOOLONGSYMBOL", "US DT", 5):
        assert "token must be a symbol" in _error(Fields, token=bad)
    assert "bad checksum" in _error(Fields, token=USDT[:-1] + "u")


def test_memo_is_limited_to_200_utf8_bytes_and_empty_means_none() -> None:
    assert Fields(memo="a" * 200).memo == "a" * 200
    assert Fields(memo="é" * 100).memo == "é" * 100  # 200 bytes
    assert "at most 200 bytes of UTF-8, got 202" in _error(Fields, memo="é" * 101)
    assert Fields(memo="").memo is None
    assert "lone surrogate" in _error(Fields, memo="\ud800")
    assert "must be a string" in _error(Fields, memo=5)


def test_idempotency_key_is_1_to_255_printable_ascii() -> None:
    assert Fields(key=" ~" + "x" * 253).key == " ~" + "x" * 253
    assert "1 to 255 characters, got 256" in _error(Fields, key="x" * 256)
    assert "1 to 255 characters, got 0" in _error(Fields, key="")
    for bad in ("tab\there", "new\nline", "ключ", "\x7f"):
        assert "printable ASCII" in _error(Fields, key=bad)


def test_timestamps_need_rfc3339_with_a_zone_and_become_utc() -> None:
    at = Fields(at="2026-11-23T14:00:00.5+02:00").at
    assert at == datetime(2026, 11, 23, 12, 0, 0, 500000, tzinfo=UTC) and at.tzinfo is UTC
    assert Fields(at="2026-11-23t12:00:00z").at == datetime(2026, 11, 23, 12, tzinfo=UTC)
    aware = datetime(2026, 1, 1, 5, tzinfo=timezone(timedelta(hours=5)))
    assert Fields(at=aware).at == datetime(2026, 1, 1, tzinfo=UTC)
    for bad in ("2026-11-23T12:00:00", "2026-11-23", "23/11/2026 12:00Z", "1700000000"):
        assert "must be RFC 3339 with a timezone" in _error(Fields, at=bad)
    assert "not a valid date and time: month must be in 1..12" in _error(
        Fields, at="2026-13-01T00:00:00Z"
    )
    assert "naive" in _error(Fields, at=datetime(2026, 1, 1))
    assert "RFC 3339 string, got integer" in _error(Fields, at=1_700_000_000)


def test_txid_is_64_hex_and_lowercased() -> None:
    assert Fields(txid="AB" * 32).txid == "ab" * 32
    assert "64 hex digits" in _error(Fields, txid="ab" * 31)


def test_messages_never_echo_the_input() -> None:
    secret = "d1f2" * 16  # shaped like a private key pasted into the wrong field
    for field in ("address", "token", "at", "txid"):
        with pytest.raises(ValidationError) as info:
            Fields(**{field: secret + "!"})
        assert secret not in str(info.value.errors(include_input=False))
    assert secret not in _error(Amounts, any=secret)
