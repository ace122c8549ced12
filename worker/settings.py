"""Settings: settings.toml, then TRON_WORKER_<SECTION>__<KEY> overrides, then --config.

Every default lives in settings.toml with a comment. Secrets (passwords, API
keys, later the keystore's master key and HMAC keys) are accepted only from
the environment, as the value or as a file named by `<KEY>_FILE`. A bad value
stops start-up with one line naming the key, the problem and where it came
from (`SettingsError`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict, TomlConfigSettingsSource

__all__ = [
    "DEFAULT_SETTINGS_FILE",
    "STORE_ATTEMPTS",
    "Settings",
    "SettingsError",
    "load_settings",
    "worst_store_call_s",
]

ENV_PREFIX = "TRON_WORKER_"
ENV_SETTINGS_FILE = "TRON_WORKER_SETTINGS_FILE"
DEFAULT_SETTINGS_FILE = Path(__file__).resolve().parent.parent / "settings.toml"

PositiveFloat = Annotated[float, Field(gt=0)]
PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]
Port = Annotated[int, Field(ge=0, le=65535)]


# Tries of one database call inside a step (worker/store.py), and their backoff ceiling.
STORE_ATTEMPTS = 3
STORE_BACKOFF_TOTAL_S = 0.3  # waits between the tries: 0.1 s, then 0.2 s


class SettingsError(Exception):
    """A setting that cannot be used; str() is the one line printed at start-up."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _url_without_password(value: str, schemes: tuple[str, ...]) -> str:
    parts = urlsplit(value)
    if parts.scheme not in schemes:
        raise ValueError(f"scheme must be one of {', '.join(schemes)}")
    if not parts.hostname:
        raise ValueError("has no host")
    if parts.password:
        raise ValueError("must not contain a password; set it through the environment")
    parts.port  # noqa: B018 - raises ValueError on a malformed port
    return value


class AmqpSettings(_Section):
    url: str
    namespace: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,100}$")]
    families: Annotated[
        list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]], Field(min_length=1)
    ]
    prefetch: Annotated[int, Field(ge=1, le=65535)]
    delivery_limit: PositiveInt
    retry_delays_s: Annotated[list[PositiveInt], Field(min_length=1)]
    dead_letter_max_messages: PositiveInt
    publish_timeout_s: PositiveFloat
    connect_timeout_s: PositiveFloat
    reconnect_interval_s: PositiveFloat
    max_attempts: PositiveInt
    require_signature: bool
    signature_skew_s: PositiveFloat
    password: SecretStr | None = None
    # Publisher key id -> HMAC-SHA256 secret; several ids allow rotation.
    hmac_keys: dict[str, SecretStr] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return _url_without_password(value, ("amqp", "amqps"))

    @field_validator("retry_delays_s")
    @classmethod
    def _check_delays(cls, value: list[int]) -> list[int]:
        if value != sorted(set(value)):
            raise ValueError("must be distinct and in increasing order")
        return value


class MongoSettings(_Section):
    url: str
    database: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,63}$")]
    connect_timeout_s: PositiveFloat
    server_selection_timeout_s: PositiveFloat
    socket_timeout_s: PositiveFloat
    write_concern: Literal["majority", "1"]
    password: SecretStr | None = None

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return _url_without_password(value, ("mongodb", "mongodb+srv"))


class TronSettings(_Section):
    endpoints: Annotated[list[str], Field(min_length=1)]
    # The /walletsolidity/* base URL of each endpoint, in the same order; empty: the same URLs.
    solidity_endpoints: list[str] = Field(default_factory=list, validate_default=True)
    network: Literal["devnet", "nile", "shasta", "mainnet"]
    request_timeout_s: PositiveFloat
    request_attempts: PositiveInt
    retry_backoff_s: Annotated[float, Field(ge=0)]
    circuit_failure_threshold: PositiveInt
    circuit_reset_s: PositiveFloat
    api_key_header: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]+$")]
    api_key: SecretStr | None = None

    @field_validator("endpoints")
    @classmethod
    def _check_endpoints(cls, value: list[str]) -> list[str]:
        return cls._http_urls(value)

    @field_validator("solidity_endpoints")
    @classmethod
    def _check_solidity_endpoints(cls, value: list[str], info: ValidationInfo) -> list[str]:
        endpoints = info.data.get("endpoints")
        if endpoints is None:  # endpoints itself was invalid: that error is reported
            return value
        if not value:
            return list(endpoints)
        if len(value) != len(endpoints):
            raise ValueError(
                f"must have one entry per tron.endpoints entry ({len(endpoints)}), or be empty"
            )
        return cls._http_urls(value)

    @staticmethod
    def _http_urls(value: list[str]) -> list[str]:
        for endpoint in value:
            try:
                _url_without_password(endpoint, ("http", "https"))
            except ValueError as exc:
                raise ValueError(f"endpoint {endpoint!r} {exc}") from None
        return [endpoint.rstrip("/") for endpoint in value]


class Token(_Section):
    """A token the worker may move: its symbol, TRC20 contract (base58) and decimals."""

    symbol: Annotated[str, Field(pattern=r"^[A-Z0-9]{1,16}$")]
    address: Annotated[str, Field(pattern=r"^T[1-9A-HJ-NP-Za-km-z]{33}$")]
    decimals: Annotated[int, Field(ge=0, le=36)]


class TokensSettings(_Section):
    allowed: list[Token]

    @field_validator("allowed")
    @classmethod
    def _unique(cls, value: list[Token]) -> list[Token]:
        for name in ("symbol", "address"):
            seen = [getattr(token, name) for token in value]
            if len(seen) != len(set(seen)):
                raise ValueError(f"two allowed tokens share a {name}")
        return value


class ChainSettings(_Section):
    expiration_s: Annotated[float, Field(ge=10, le=86_400)]
    max_attempts: Annotated[int, Field(ge=1, le=20)]
    broadcast_tries: Annotated[int, Field(ge=1, le=20)]
    broadcast_backoff_s: PositiveFloat
    follower_interval_s: PositiveFloat
    managed_refresh_s: PositiveFloat
    fee_margin: Annotated[float, Field(ge=1.0, le=10.0)]
    max_fee_limit_sun: PositiveInt


class AssetLimits(_Section):
    """Per-asset policy ("TRX" in sun, a token in base units); an absent figure: no limit."""

    min_item: Annotated[int, Field(ge=0)] | None = None
    max_item: PositiveInt | None = None
    daily: PositiveInt | None = None  # everything paid in the asset per window
    daily_per_destination: PositiveInt | None = None
    daily_per_key: PositiveInt | None = None  # per publisher key id
    # A payout whose total, or whose key id's total for the window with it, is above
    # this waits for approval.
    approval_above: PositiveInt | None = None


class ControlsSettings(_Section):
    window_zone: str  # daily caps reset at midnight in this IANA zone
    deny: list[str]  # destinations never paid (base58)
    allow_only: bool  # pay only destinations on `allow`
    allow: list[str]
    check_contract_destination: bool  # refuse paying a contract account
    check_blacklist: bool  # refuse a USDT destination or source the contract blacklisted
    limits: dict[str, AssetLimits]  # asset ("TRX" or a token symbol) -> limits
    roles: dict[str, list[Literal["approver"]]]  # publisher key id -> roles
    approval_expiry_s: PositiveFloat
    attention_after_s: PositiveFloat  # a signed attempt undecided this long: needs_attention
    balance_check_interval_s: PositiveFloat

    @field_validator("window_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("deny", "allow")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        from schemas.types import normalise_address

        return [normalise_address(address) for address in value]


class StakingSettings(_Section):
    # A managed wallet (purpose staking) that lends energy to token payouts; "" for none.
    wallet: str
    energy_policy: Literal["off", "delegate"]
    burn_fallback: bool  # when delegating fails or cannot cover: burn TRX instead
    topup_extra_energy: NonNegativeInt  # beyond a batch's shortfall
    return_after_idle_s: PositiveFloat  # a standing delegation unused this long goes back

    @field_validator("wallet")
    @classmethod
    def _address(cls, value: str) -> str:
        from schemas.types import normalise_address

        return normalise_address(value) if value else ""

    @model_validator(mode="after")
    def _wallet_for_delegate(self) -> StakingSettings:
        if self.energy_policy == "delegate" and not self.wallet:
            raise ValueError("energy_policy 'delegate' needs staking.wallet")
        return self


class WorkerSettings(_Section):
    max_concurrency: Annotated[int, Field(ge=1, le=1024)]
    shutdown_grace_s: PositiveFloat
    command_timeout_s: PositiveFloat
    lease_s: PositiveFloat
    sweep_interval_s: PositiveFloat
    relay_interval_s: PositiveFloat
    retention_days: PositiveInt
    cleanup_interval_s: PositiveFloat
    requeue_delay_s: PositiveFloat
    requeue_max_delay_s: PositiveFloat


class KeystoreSettings(_Section):
    active_key_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
    # Master key id -> base64 of 32 random bytes. Old ids stay until `keys rotate` ran.
    master_keys: dict[str, SecretStr] = Field(default_factory=dict)


class SidecarSettings(_Section):
    host: str
    port: Port
    check_interval_s: PositiveFloat
    broker_check_timeout_s: PositiveFloat
    database_check_timeout_s: PositiveFloat
    tron_check_timeout_s: PositiveFloat
    tron_fresh_s: PositiveFloat


class LogSettings(_Section):
    level: Literal["debug", "info", "warning", "error"]
    format: Literal["auto", "json", "console"]


class StackSettings(_Section):
    dir: Path
    rabbitmq_node: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+@[A-Za-z0-9_.-]+$")]
    rabbitmq_dist_port: Annotated[int, Field(ge=1024, le=65535)]
    start_timeout_s: PositiveInt


class Settings(BaseSettings):
    """The whole configuration; built only by `load_settings`."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True)

    amqp: AmqpSettings
    mongo: MongoSettings
    tron: TronSettings
    chain: ChainSettings
    tokens: TokensSettings
    controls: ControlsSettings
    staking: StakingSettings
    worker: WorkerSettings
    sidecar: SidecarSettings
    log: LogSettings
    keystore: KeystoreSettings
    stack: StackSettings

    @classmethod
    def settings_customise_sources(  # type: ignore[no-untyped-def, override]
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        # `load_settings` layers the sources itself so it can say where each value came from.
        return (init_settings,)


# Keys whose values are secrets: only the environment may set them.
SECRET_KEYS = frozenset(
    {
        ("amqp", "password"),
        ("amqp", "hmac_keys"),
        ("mongo", "password"),
        ("tron", "api_key"),
        ("keystore", "master_keys"),
    }
)

_Origins = dict[tuple[str, ...], str]


def load_settings(
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build Settings from the layers; raise SettingsError with one line on any problem."""
    environ = os.environ if environ is None else environ
    base_file = Path(environ.get(ENV_SETTINGS_FILE) or DEFAULT_SETTINGS_FILE)
    merged: dict[str, Any] = {}
    origins: _Origins = {}
    _merge(merged, origins, _read_toml(base_file), f"{base_file}")
    _merge(merged, origins, _read_env(environ), "environment")
    if config_file is not None:
        _merge(merged, origins, _read_toml(config_file), f"--config {config_file}")
    try:
        settings = Settings(**merged)
    except ValidationError as exc:
        raise SettingsError(_describe(exc, merged, origins)) from None
    _check_lease_outlasts_store_calls(settings, origins)
    return settings


def worst_store_call_s(mongo: MongoSettings) -> float:
    """How long one store call may take before it gives up: every try times out."""
    per_try_s = max(mongo.socket_timeout_s, mongo.server_selection_timeout_s)
    return STORE_ATTEMPTS * per_try_s + STORE_BACKOFF_TOTAL_S


def _check_lease_outlasts_store_calls(settings: Settings, origins: _Origins) -> None:
    """A lease is renewed every lease_s/3; a renewal that takes the worst-case store call
    must still land before the lease runs out, or a slow database hands live work over."""
    worst_s = worst_store_call_s(settings.mongo)
    if settings.worker.lease_s <= 1.5 * worst_s:
        source = origins.get(("worker", "lease_s"), "settings")
        raise SettingsError(
            f"settings error: worker.lease_s = {settings.worker.lease_s:g} (from {source}): "
            f"must exceed 1.5 x the worst-case database call ({worst_s:g} s = "
            f"{STORE_ATTEMPTS} tries x max(mongo.socket_timeout_s, "
            f"mongo.server_selection_timeout_s) + backoff); raise it or lower those timeouts"
        )


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise SettingsError(f"settings error: file {path} does not exist")
    try:
        data = TomlConfigSettingsSource(Settings, toml_file=path).toml_data
    except Exception as exc:  # tomllib.TOMLDecodeError, OSError
        raise SettingsError(f"settings error: {path} is not valid TOML: {exc}") from None
    for section, key in SECRET_KEYS:
        for name in (key, f"{key}_file"):
            if name in data.get(section, {}):
                raise SettingsError(
                    f"settings error: {section}.{name} found in {path}: secrets are accepted "
                    f"only from the environment ({_env_name((section, key))} or "
                    f"{_env_name((section, key))}_FILE)"
                )
    return data


def _read_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """TRON_WORKER_<SECTION>__<KEY>=value; lists as JSON; secrets also as <KEY>_FILE."""
    data: dict[str, Any] = {}
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
        value: Any = raw
        if key.endswith("_file") and (section, key[: -len("_file")]) in SECRET_KEYS:
            key = key[: -len("_file")]
            value = _read_secret_file(name, raw)
        if _is_structured(section, key):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                shown = "<redacted>" if (section, key) in SECRET_KEYS else repr(raw)
                raise SettingsError(
                    f"settings error: {section}.{key} = {shown} (from environment {name}): "
                    f"lists and tables must be JSON ({exc.msg})"
                ) from None
        data.setdefault(section, {})[key] = value
    return data


def _read_secret_file(env_name: str, path: str) -> str:
    try:
        return Path(path).read_text().rstrip("\r\n")
    except OSError as exc:
        raise SettingsError(
            f"settings error: cannot read the file named by {env_name} ({path}): {exc.strerror}"
        ) from None


def _is_structured(section: str, key: str) -> bool:
    section_field = Settings.model_fields.get(section)
    if section_field is None or not isinstance(section_field.annotation, type):
        return False
    field = section_field.annotation.model_fields.get(key)  # type: ignore[attr-defined]
    if field is None:
        return False
    return _is_collection(field.annotation)


def _is_collection(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _is_collection(get_args(annotation)[0])
    if origin in (Union, UnionType):
        return any(_is_collection(arg) for arg in get_args(annotation))
    return origin in (list, dict)


def _merge(merged: dict[str, Any], origins: _Origins, layer: dict[str, Any], source: str) -> None:
    for section, values in layer.items():
        if not isinstance(values, dict):
            merged[section] = values
            origins[(section,)] = source
            continue
        target = merged.setdefault(section, {})
        for key, value in values.items():
            target[key] = value
            origins[(section, key)] = source


def _env_name(path: tuple[str, ...]) -> str:
    return ENV_PREFIX + "__".join(part.upper() for part in path)


def _describe(exc: ValidationError, merged: dict[str, Any], origins: _Origins) -> str:
    error = exc.errors()[0]
    loc = tuple(str(part) for part in error["loc"])
    key = ".".join(loc)
    top = loc[:2]
    source = origins.get(top) or origins.get(loc[:1])
    if error["type"] == "missing":
        return f"settings error: {key} is missing (expected in {DEFAULT_SETTINGS_FILE.name})"
    if source == "environment":
        source = f"environment {_env_name(top)}"
    shown = "<redacted>" if top in SECRET_KEYS else _mask_password(repr(_lookup(merged, loc)))
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown setting"
    return f"settings error: {key} = {shown} (from {source}): {message}"


def _mask_password(text: str) -> str:
    return re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1<redacted>@", text)


def _lookup(merged: dict[str, Any], loc: tuple[str, ...]) -> Any:
    value: Any = merged
    for part in loc:
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return value
    return value
