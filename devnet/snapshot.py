"""`--state FILE`: the chain saved as JSON on a clean shutdown and loaded again on start.

Each component that holds state implements `Snapshotting`; `save_state` asks
every registered component for a JSON value and writes one document
atomically (a temporary file in the same directory, fsync, rename), so a
crash mid-write leaves the previous file intact. Values go through a
`SnapshotCodec`, which encodes frozen dataclasses field by field (bytes as
hex, dict keys as strings) and decodes them back from their type hints, so a
field added to `Account` or `Layer` is saved without touching this module.
Transactions are stored once, in a table keyed by txid, as java-tron's JSON
(`visible: false`), and parsed back with the txid checked.

    {"format": "lucid-devnet-state", "version": 1,
     "components": {"chain": {...}}, "transactions": {"<txid hex>": {...}}}
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, Protocol, Union, get_args, get_origin, get_type_hints

import structlog

from devnet.transactions import (
    Transaction,
    TransactionParseError,
    parse_transaction,
    render_transaction,
)

__all__ = ["SnapshotCodec", "SnapshotError", "Snapshotting", "load_state", "save_state"]

log = structlog.get_logger(__name__)

FORMAT = "lucid-devnet-state"
VERSION = 1


class SnapshotError(ValueError):
    """A state file that cannot be written or does not describe a chain this devnet can load."""


class Snapshotting(Protocol):
    """A state-holding component: gives its state as JSON and takes it back in place."""

    def to_snapshot(self, codec: SnapshotCodec) -> dict[str, Any]: ...

    def from_snapshot(self, data: Mapping[str, Any], codec: SnapshotCodec) -> None: ...


Decoder = Callable[[Any], Any]

_hints_cache: dict[type, dict[str, Any]] = {}


def _field_hints(cls: type) -> dict[str, Any]:
    hints = _hints_cache.get(cls)
    if hints is None:
        resolved = get_type_hints(cls)
        hints = {f.name: resolved[f.name] for f in dataclasses.fields(cls) if f.init}
        _hints_cache[cls] = hints
    return hints


def _identity(data: Any) -> Any:
    return data


def _exactly(kind: type) -> Decoder:
    def check(data: Any) -> Any:
        if type(data) is not kind:
            raise SnapshotError(f"expected {kind.__name__}, found {data!r}")
        return data

    return check


def _key_decoder(hint: Any) -> Decoder:
    if hint is bytes:
        return bytes.fromhex
    return int if hint is int else _identity


class SnapshotCodec:
    """Dataclasses <-> JSON values, with one shared table of transactions."""

    def __init__(self, transactions: Mapping[str, Any] | None = None) -> None:
        self.transactions: dict[str, Any] = dict(transactions or {})
        self._parsed: dict[str, Transaction] = {}
        self._decoders: dict[Any, Decoder] = {}

    def encode(self, value: Any) -> Any:
        """A JSON value for value: bytes as hex, dataclasses as objects, a txid per transaction."""
        if value is None or isinstance(value, bool | int | float | str):
            return value
        if isinstance(value, bytes):
            return value.hex()
        if isinstance(value, Transaction):
            txid = value.txid.hex()
            if txid not in self.transactions:
                self.transactions[txid] = render_transaction(value, visible=False)
            return txid
        if isinstance(value, enum.Enum):
            return self.encode(value.value)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {
                f.name: self.encode(getattr(value, f.name))
                for f in dataclasses.fields(value)
                if f.init
            }
        if isinstance(value, Mapping):
            return {self._key(key): self.encode(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.encode(item) for item in value]
        raise SnapshotError(f"cannot snapshot a value of type {type(value).__name__}")

    @staticmethod
    def _key(key: Any) -> str:
        if isinstance(key, bytes):
            return key.hex()
        if isinstance(key, str | int) and not isinstance(key, bool):
            return str(key)
        raise SnapshotError(f"cannot snapshot a dict key of type {type(key).__name__}")

    def decode(self, hint: Any, data: Any) -> Any:
        """The value of type hint that encode turned into data.

        Raises:
            SnapshotError: data does not fit the type.
        """
        try:
            return self._decoder(hint)(data)
        except SnapshotError:
            raise
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise SnapshotError(f"cannot load {hint!r} from the state file: {exc}") from None

    def _decoder(self, hint: Any) -> Decoder:
        # One decoder per type, built once: a state file holds many thousands of each.
        decoder = self._decoders.get(hint)
        if decoder is None:
            decoder = self._decoders[hint] = self._build_decoder(hint)
        return decoder

    def _build_decoder(self, hint: Any) -> Decoder:
        origin, args = get_origin(hint), get_args(hint)
        if hint is Any or origin is Literal:
            return _identity
        if origin in (Union, types.UnionType):
            (inner,) = [arg for arg in args if arg is not type(None)]
            some = self._decoder(inner)
            return lambda data: None if data is None else some(data)
        if hint is bytes:
            return bytes.fromhex
        if hint in (bool, int, str):
            return _exactly(hint)
        if hint is float:
            return float
        if hint is Transaction:
            return self._transaction
        if isinstance(hint, type) and issubclass(hint, enum.Enum):
            return hint
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            return self._dataclass_decoder(hint)
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            item = self._decoder(args[0])
            return lambda data: tuple(map(item, data))
        if origin is tuple:
            items = [self._decoder(arg) for arg in args]
            return lambda data: tuple(f(x) for f, x in zip(items, data, strict=True))
        if origin is list:
            item = self._decoder(args[0])
            return lambda data: list(map(item, data))
        if origin in (dict, Mapping):
            key = _key_decoder(args[0])
            value = self._decoder(args[1])
            return lambda data: {key(k): value(v) for k, v in data.items()}
        raise SnapshotError(f"cannot load a value of type {hint!r}")

    def _dataclass_decoder(self, cls: type) -> Decoder:
        hints = _field_hints(cls)
        names = hints.keys()

        def decode(data: Mapping[str, Any]) -> Any:
            if not names >= data.keys():
                raise SnapshotError(f"{cls.__name__} has no fields {sorted(data.keys() - names)}")
            # Field decoders are looked up at call time, so a type may contain itself.
            return cls(**{name: self._decoder(hints[name])(v) for name, v in data.items()})

        return decode

    def _transaction(self, txid: str) -> Transaction:
        found = self._parsed.get(txid)
        if found is not None:
            return found
        try:
            tx = parse_transaction(self.transactions[txid], visible=False)
        except (KeyError, TransactionParseError) as exc:
            raise SnapshotError(f"transaction {txid} cannot be loaded: {exc!r}") from None
        if tx.txid.hex() != txid:
            raise SnapshotError(f"transaction {txid} loads with another txid, {tx.txid.hex()}")
        self._parsed[txid] = tx
        return tx


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # not every platform opens directories
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_state(path: Path, components: Mapping[str, Snapshotting]) -> None:
    """Write every component's state to path atomically.

    Raises:
        SnapshotError: a value cannot be encoded.
        OSError: the file cannot be written (the old one, if any, is untouched).
    """
    codec = SnapshotCodec()
    states = {name: component.to_snapshot(codec) for name, component in components.items()}
    document = {
        "format": FORMAT,
        "version": VERSION,
        "components": states,
        "transactions": codec.transactions,
    }
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("w", encoding="utf-8") as file:
            file.write(json.dumps(document, separators=(",", ":")))  # dump() is pure Python
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    _fsync_directory(path.parent)


def load_state(path: Path, components: Mapping[str, Snapshotting]) -> bool:
    """Restore every component from path; False (nothing changed) when path does not exist.

    A component the file does not mention keeps its fresh state.

    Raises:
        SnapshotError: the file is not a devnet state file, or does not fit these components.
        OSError: the file exists but cannot be read.
    """
    if not path.exists():
        return False
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise SnapshotError(f"{path} is not JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise SnapshotError(f"{path} is not a devnet state file")
    if document.get("version") != VERSION:
        raise SnapshotError(f"{path} has state format version {document.get('version')!r}")
    states = document.get("components", {})
    unknown = set(states) - set(components)
    if unknown:
        raise SnapshotError(f"{path} holds state for unknown components {sorted(unknown)}")
    codec = SnapshotCodec(document.get("transactions", {}))
    for name, component in components.items():
        if name in states:
            try:
                component.from_snapshot(states[name], codec)
            except SnapshotError:
                raise
            except (KeyError, TypeError, ValueError) as exc:
                raise SnapshotError(f"{path}: cannot load {name}: {exc!r}") from None
        else:
            log.warning("state file has nothing for a component", component=name)
    return True
