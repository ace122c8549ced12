"""devnet/messages.py and transaction parsing: java-tron's JsonFormat rules, quirks included."""

from __future__ import annotations

from typing import Any

import pytest

from devnet.contracts import CONTRACT_TYPES
from devnet.keys import address_to_base58
from devnet.messages import MessageParseError, encode_message, parse_message, print_message
from devnet.transactions import TransactionParseError, parse_transaction

TRANSFER = CONTRACT_TYPES["TransferContract"].spec
DELEGATE = CONTRACT_TYPES["DelegateResourceContract"].spec
VOTE = CONTRACT_TYPES["VoteWitnessContract"].spec
OWNER_HEX = "4105cc125604448afeb6867eb688efb7e80411d57a"
OWNER = bytes.fromhex(OWNER_HEX)


def test_hex_accepts_0x_and_odd_length_like_bytearray_from_hex_string() -> None:
    parsed = parse_message(
        TRANSFER, {"owner_address": "0x" + OWNER_HEX, "to_address": "abc"}, False
    )

    assert parsed == {"owner_address": OWNER, "to_address": bytes.fromhex("0abc")}


def test_visible_reads_addresses_as_base58check() -> None:
    parsed = parse_message(TRANSFER, {"owner_address": address_to_base58(OWNER)}, True)

    assert parsed["owner_address"] == OWNER


@pytest.mark.parametrize(
    ("values", "visible"),
    [
        ({"amount": "5"}, False),  # a quoted number is no int64 for JsonFormat
        ({"amount": 1.5}, False),
        ({"amount": True}, False),
        ({"amount": 2**63}, False),
        ({"to_address": "zz"}, False),
        ({"to_address": OWNER_HEX}, True),  # hex where base58 is expected
        ({"to_address": address_to_base58(OWNER)[:-1] + "1"}, True),  # bad checksum
    ],
)
def test_values_java_tron_cannot_parse(values: dict[str, Any], visible: bool) -> None:
    with pytest.raises(MessageParseError):
        parse_message(TRANSFER, values, visible)


def test_enums_by_name_number_and_capitalised_lowercase() -> None:
    assert parse_message(DELEGATE, {"resource": "ENERGY"}, False) == {"resource": 1}
    assert parse_message(DELEGATE, {"resource": 1}, False) == {"resource": 1}
    with pytest.raises(MessageParseError):
        parse_message(DELEGATE, {"resource": "energy"}, False)  # becomes "Energy": unknown


def test_null_and_unknown_keys_are_ignored_and_single_values_fill_repeated_fields() -> None:
    vote = {"vote_address": OWNER_HEX, "vote_count": 3}

    parsed = parse_message(VOTE, {"owner_address": None, "extra": 1, "votes": vote}, False)

    assert parsed == {"votes": [{"vote_address": OWNER, "vote_count": 3}]}


def test_defaults_are_left_out_of_bytes_and_json() -> None:
    values = {"owner_address": OWNER, "resource": 0, "balance": 0, "lock": False}

    assert encode_message(DELEGATE, values) == b"\x0a\x15" + OWNER
    assert print_message(DELEGATE, values, visible=False) == {"owner_address": OWNER_HEX}


def _transfer_json(value: dict[str, Any], contract_type: str = "TransferContract") -> dict:
    return {
        "raw_data": {
            "contract": [
                {
                    "parameter": {
                        "value": value,
                        "type_url": f"type.googleapis.com/protocol.{contract_type}",
                    },
                    "type": contract_type,
                }
            ],
            "expiration": 1,
        }
    }


@pytest.mark.parametrize(
    "body",
    [
        _transfer_json({"amount": "5"}),
        _transfer_json({"amount": 5}, contract_type="NoSuchContract"),
        _transfer_json({"amount": 5}, contract_type="AccountPermissionUpdateContract"),
    ],
)
def test_an_unparsable_contract_is_dropped_not_an_error(body: dict) -> None:
    tx = parse_transaction(body, visible=False)

    assert tx.raw.contracts == ()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"raw_data": {}},
        {"raw_data": {"contract": [], "expiration": "soon"}},
        _transfer_json({"amount": 5}) | {"signature": ["zz"]},
    ],
)
def test_a_malformed_envelope_is_a_parse_error(body: dict) -> None:
    with pytest.raises(TransactionParseError):
        parse_transaction(body, visible=False)


def test_type_url_is_taken_verbatim_from_the_client() -> None:
    body = _transfer_json({"amount": 5})
    del body["raw_data"]["contract"][0]["parameter"]["type_url"]

    tx = parse_transaction(body, visible=False)

    assert tx.raw.contracts[0].type_url == ""
    assert b"type.googleapis.com" not in tx.raw_bytes
