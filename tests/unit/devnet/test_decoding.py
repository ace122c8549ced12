"""devnet/decoding.py: protobuf bytes parsed as protobuf-java parses them, errors included."""

from __future__ import annotations

import pytest

from devnet.contracts import CONTRACT_TYPES
from devnet.decoding import WireFormatError, decode_message
from devnet.messages import EnumSpec, FieldSpec, Kind, MessageSpec, encode_message

PROTOBUF = "com.google.protobuf.InvalidProtocolBufferException"
OWNER = bytes.fromhex("4105cc125604448afeb6867eb688efb7e80411d57a")
WITNESS = bytes.fromhex("41a2ff80f95ce3740235dc46a4dffe00d9f9b91f37")

INNER = MessageSpec("test.Inner", (FieldSpec("a", 1, Kind.INT64), FieldSpec("b", 2, Kind.INT64)))
SAMPLE = MessageSpec(
    "test.Sample",
    (
        FieldSpec("long", 1, Kind.INT64),
        FieldSpec("int", 2, Kind.INT32),
        FieldSpec("flag", 3, Kind.BOOL),
        FieldSpec("kind", 4, Kind.ENUM, enum=EnumSpec({0: "ZERO", 1: "ONE"})),
        FieldSpec("blob", 5, Kind.BYTES),
        FieldSpec("name", 6, Kind.STRING),
        FieldSpec("inner", 7, Kind.MESSAGE, message=INNER),
        FieldSpec("blobs", 8, Kind.BYTES, repeated=True),
        FieldSpec("inners", 9, Kind.MESSAGE, repeated=True, message=INNER),
    ),
)


def test_every_kind_decodes_back_to_what_was_encoded() -> None:
    values = {
        "long": -5, "int": -7, "flag": True, "kind": 1, "blob": b"\x00\x01", "name": "héllo",
        "inner": {"a": 1, "b": 2**62}, "blobs": [b"x", b"", b"z"],
        "inners": [{"a": 3}, {}],
    }  # fmt: skip

    assert decode_message(SAMPLE, encode_message(SAMPLE, values)) == values


@pytest.mark.parametrize(
    ("type_name", "value"),
    [
        ("TransferContract", {"owner_address": OWNER, "to_address": WITNESS, "amount": 10**15}),
        ("VoteWitnessContract", {"owner_address": OWNER, "votes": [
            {"vote_address": WITNESS, "vote_count": 3}, {"vote_address": OWNER, "vote_count": 1},
        ]}),
        ("TriggerSmartContract", {"owner_address": OWNER, "contract_address": WITNESS,
                                  "data": bytes.fromhex("a9059cbb" + "00" * 64)}),
    ],
)  # fmt: skip
def test_contract_values_round_trip(type_name: str, value: dict) -> None:
    spec = CONTRACT_TYPES[type_name].spec

    assert decode_message(spec, encode_message(spec, value)) == value


def test_unknown_fields_of_every_wire_type_are_skipped() -> None:
    data = bytes.fromhex(
        "f80101"  # field 31, varint
        "f9010102030405060708"  # field 31, fixed64
        "fd0101020304"  # field 31, fixed32
        "fb01" "0801" "fb01" "0802" "fc01" "fc01"  # field 31, group holding a group
        "0805"  # long = 5
    )  # fmt: skip

    assert decode_message(SAMPLE, data) == {"long": 5}


def test_a_known_field_with_another_wire_type_is_an_unknown_field() -> None:
    # `long` (1) sent length-delimited, `blob` (5) sent as a varint: both skipped.
    data = bytes.fromhex("0a0101" "2801" "1003")  # fmt: skip

    assert decode_message(SAMPLE, data) == {"int": 3}


def test_last_scalar_wins_and_a_message_sent_twice_is_merged() -> None:
    data = bytes.fromhex("0801" "0802" "3a020801" "3a021002")  # fmt: skip

    assert decode_message(SAMPLE, data) == {"long": 2, "inner": {"a": 1, "b": 2}}


def test_a_sent_empty_message_is_present() -> None:
    assert decode_message(SAMPLE, bytes.fromhex("3a00")) == {"inner": {}}
    assert decode_message(SAMPLE, b"") == {}


def test_varints_are_read_as_int64_and_int32() -> None:
    minus_one = "ffffffffffffffffff01"

    decoded = decode_message(SAMPLE, bytes.fromhex(f"08{minus_one}10{minus_one}1802"))

    assert decoded == {"long": -1, "int": -1, "flag": True}


TRUNCATED = (
    "While parsing a protocol message, the input ended unexpectedly in the middle of a field.  "
    "This could mean either that the input has been truncated or that an embedded message "
    "misreported its own length."
)


@pytest.mark.parametrize(
    ("hex_data", "message", "java_class"),
    [
        ("0a05", TRUNCATED, PROTOBUF),  # a 5-byte field with nothing after it
        ("08", TRUNCATED, PROTOBUF),  # a tag without its value
        ("0880", TRUNCATED, PROTOBUF),  # a varint cut short
        ("3a030801", TRUNCATED, PROTOBUF),  # an embedded message longer than what is left
        ("fb01", TRUNCATED, PROTOBUF),  # a group never closed
        ("00", "Protocol message contained an invalid tag (zero).", PROTOBUF),
        ("0701", "Protocol message contained an invalid tag (zero).", PROTOBUF),
        ("0f", "Protocol message tag had invalid wire type.",
         PROTOBUF + "$InvalidWireTypeException"),
        ("0e", "Protocol message tag had invalid wire type.",
         PROTOBUF + "$InvalidWireTypeException"),
        ("0c", "Protocol message end-group tag did not match expected tag.", PROTOBUF),
        ("fb01fc02", "Protocol message end-group tag did not match expected tag.", PROTOBUF),
        ("08" + "ff" * 10 + "01", "CodedInputStream encountered a malformed varint.", PROTOBUF),
        ("2affffffff0f", "CodedInputStream encountered an embedded string or message which "
         "claimed to have negative size.", PROTOBUF),
        ("3202ff80", "Protocol message had invalid UTF-8.", PROTOBUF),
        ("3a0100", "Protocol message contained an invalid tag (zero).", PROTOBUF),  # nested
    ],
)  # fmt: skip
def test_malformed_bytes_fail_as_protobuf_java_fails(
    hex_data: str, message: str, java_class: str
) -> None:
    with pytest.raises(WireFormatError) as raised:
        decode_message(SAMPLE, bytes.fromhex(hex_data))

    assert (raised.value.message, raised.value.java_class) == (message, java_class)


def test_nesting_deeper_than_protobuf_java_allows_fails() -> None:
    deep = b"\x08\x01"
    for _ in range(101):
        deep = b"\x3b" + deep + b"\x3c"  # field 7 as a group: unknown (wrong wire type)

    with pytest.raises(WireFormatError, match="too many levels of nesting"):
        decode_message(SAMPLE, deep)
