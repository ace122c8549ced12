"""worker/settings.py: layering, provenance in errors, secrets only from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.settings import DEFAULT_SETTINGS_FILE, SettingsError, load_settings


def _error(**kwargs) -> str:
    with pytest.raises(SettingsError) as caught:
        load_settings(**kwargs)
    message = str(caught.value)
    assert "\n" not in message, "a settings error is exactly one line"
    return message


def test_defaults_load_from_settings_toml() -> None:
    settings = load_settings(environ={})
    assert settings.amqp.namespace == "tron"
    assert settings.sidecar.port == 8091
    assert settings.tron.endpoints == ["http://127.0.0.1:18090"]
    assert settings.amqp.password is None


def test_environment_overrides_the_file_and_parses_json_lists() -> None:
    settings = load_settings(
        environ={
            "TRON_WORKER_AMQP__PREFETCH": "64",
            "TRON_WORKER_TRON__ENDPOINTS": '["http://a:1/", "https://b"]',
        }
    )
    assert settings.amqp.prefetch == 64
    assert settings.tron.endpoints == ["http://a:1", "https://b"]


def test_config_file_wins_over_environment(tmp_path: Path) -> None:
    config = tmp_path / "override.toml"
    config.write_text("[amqp]\nprefetch = 7\n")
    settings = load_settings(config, environ={"TRON_WORKER_AMQP__PREFETCH": "64"})
    assert settings.amqp.prefetch == 7


def test_bad_env_override_names_key_value_and_variable() -> None:
    message = _error(environ={"TRON_WORKER_AMQP__PREFETCH": "lots"})
    assert message.startswith("settings error: amqp.prefetch = 'lots'")
    assert "(from environment TRON_WORKER_AMQP__PREFETCH)" in message
    assert "valid integer" in message


def test_bad_value_in_settings_file_names_the_file(tmp_path: Path) -> None:
    base = tmp_path / "settings.toml"
    base.write_text(DEFAULT_SETTINGS_FILE.read_text().replace("port = 8091", "port = 99999"))
    message = _error(environ={"TRON_WORKER_SETTINGS_FILE": str(base)})
    assert message.startswith("settings error: sidecar.port = 99999")
    assert f"(from {base})" in message
    assert "less than or equal to 65535" in message


def test_bad_value_in_config_file_names_the_flag(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[log]\nformat = "xml"\n')
    message = _error(config_file=config, environ={})
    assert f"(from --config {config})" in message
    assert "log.format = 'xml'" in message


def test_unknown_key_is_reported_not_ignored() -> None:
    message = _error(environ={"TRON_WORKER_AMQP__PREFECH": "5"})
    assert "amqp.prefech" in message and "unknown setting" in message


def test_malformed_json_list_in_env_is_one_clear_line() -> None:
    message = _error(environ={"TRON_WORKER_AMQP__RETRY_DELAYS_S": "5,30"})
    assert "amqp.retry_delays_s" in message and "JSON" in message


def test_unordered_retry_delays_rejected() -> None:
    assert "increasing" in _error(environ={"TRON_WORKER_AMQP__RETRY_DELAYS_S": "[30, 5]"})


def test_password_in_url_is_refused_and_not_echoed() -> None:
    message = _error(environ={"TRON_WORKER_AMQP__URL": "amqp://svc:hunter2@h:5672/"})
    assert "hunter2" not in message
    assert "must not contain a password" in message


def test_secret_in_a_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[amqp]\npassword = "hunter2"\n')
    message = _error(config_file=config, environ={})
    assert "hunter2" not in message
    assert "only from the environment" in message


def test_secret_from_env_and_from_file_named_by_env(tmp_path: Path) -> None:
    secret_file = tmp_path / "pw"
    secret_file.write_text("from-file\n")
    settings = load_settings(
        environ={
            "TRON_WORKER_AMQP__PASSWORD_FILE": str(secret_file),
            "TRON_WORKER_TRON__API_KEY": "k-123",
        }
    )
    assert settings.amqp.password is not None
    assert settings.amqp.password.get_secret_value() == "from-file"
    assert settings.tron.api_key is not None
    assert "k-123" not in repr(settings)


def test_missing_secret_file_is_one_line() -> None:
    message = _error(environ={"TRON_WORKER_MONGO__PASSWORD_FILE": "/nonexistent/pw"})
    assert "TRON_WORKER_MONGO__PASSWORD_FILE" in message
