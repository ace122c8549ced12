"""Dockerfile, .dockerignore and docker-compose.yml, checked by parsing (no Docker engine here).

They name settings, ports and files that live elsewhere in the repository;
these tests keep the names in step with worker/settings.py and settings.toml.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from pydantic import BaseModel

from worker.settings import ENV_PREFIX, SECRET_KEYS, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE_FILE = ROOT / "docker-compose.yml"
SETTINGS_FILE = ROOT / "settings.toml"

SERVICES = ("rabbitmq", "mongo", "devnet", "worker")
DEPENDENCIES = ("rabbitmq", "mongo", "devnet")
# ${NAME}, ${NAME:-default}, ${NAME:?error} ...; `$$` is compose's escaped dollar.
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}")
REQUIRED_INTERPOLATION = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*:\?[^}]+\}$")
COMPILERS = re.compile(r"\b(gcc|g\+\+|clang|cc|build-essential|python3?-dev|libc6?-dev|make)\b")
SECRET_LOOKING_NAME = re.compile(r"PASS|SECRET|TOKEN|API_KEY|PRIVATE", re.IGNORECASE)


# --- tiny parsers -------------------------------------------------------------


class Instruction:
    """One Dockerfile instruction: its keyword (upper case) and the rest of the line."""

    def __init__(self, keyword: str, args: str) -> None:
        self.keyword = keyword
        self.args = args

    def __repr__(self) -> str:
        return f"{self.keyword} {self.args}"


def parse_dockerfile(text: str) -> list[list[Instruction]]:
    """Instructions grouped into build stages; a stage starts at each FROM."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") or not line:
            continue  # comments and blank lines may sit inside a continuation too
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        logical.append(pending + line)
        pending = ""
    stages: list[list[Instruction]] = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        instruction = Instruction(keyword.upper(), args.strip())
        if instruction.keyword == "FROM":
            stages.append([])
        if stages:  # ARG before the first FROM belongs to no stage
            stages[-1].append(instruction)
    return stages


def exec_form(args: str) -> list[str]:
    """["a", "b"] (JSON exec form) or a shell string, as a list of words."""
    if args.startswith("["):
        return yaml.safe_load(args)
    return shlex.split(args)


def copy_parts(instruction: Instruction) -> tuple[dict[str, str], list[str], str]:
    """COPY --flag=value ... src... dest -> (flags, sources, destination)."""
    words = shlex.split(instruction.args)
    flags = dict(word[2:].partition("=")[::2] for word in words if word.startswith("--"))
    paths = [word for word in words if not word.startswith("--")]
    return flags, paths[:-1], paths[-1]


def env_pairs(stage: list[Instruction]) -> dict[str, str]:
    """ENV KEY=value ... (the only form this Dockerfile uses)."""
    env: dict[str, str] = {}
    for instruction in stage:
        if instruction.keyword == "ENV":
            for word in shlex.split(instruction.args):
                key, sep, value = word.partition("=")
                assert sep, f"ENV {instruction.args!r}: use the KEY=value form"
                env[key] = value
    return env


def healthcheck_command(stage: list[Instruction]) -> list[str]:
    (check,) = [i for i in stage if i.keyword == "HEALTHCHECK"]
    _, _, command = check.args.partition("CMD ")
    return exec_form(command.strip())


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment, whether written as a mapping or as KEY=value items."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {key: str(value) for key, value in env.items()}


def interpolated(value: str) -> str:
    """What compose would substitute, with a recognisable placeholder per variable."""
    return INTERPOLATION.sub(lambda match: f"placeholder-{match.group(1).lower()}", value)


def seconds(duration: str) -> float:
    """Compose durations as used here: 90s, 1m30s, 2m."""
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", duration)
    assert match and duration, f"unsupported duration {duration!r}"
    return int(match.group(1) or 0) * 60 + int(match.group(2) or 0)


def python_snippet(command: list[str]) -> str:
    """The code of a `python -c CODE` health check."""
    assert command[:2] == ["python", "-c"], command
    return command[2]


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule, simplified: the last pattern matching the path or a parent wins."""
    prefixes = ["/".join(path.split("/")[: i + 1]) for i in range(path.count("/") + 1)]
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern.removeprefix("!").rstrip("/")
        if any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes):
            ignored = not negated
    return ignored


# --- fixtures -----------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


@pytest.fixture(scope="module")
def stages() -> list[list[Instruction]]:
    return parse_dockerfile(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def final_stage(stages: list[list[Instruction]]) -> list[Instruction]:
    return stages[-1]


@pytest.fixture(scope="module")
def sidecar_port() -> int:
    """The port in settings.toml, the file the image ships."""
    return tomllib.loads(SETTINGS_FILE.read_text())["sidecar"]["port"]


@pytest.fixture(scope="module")
def worker_settings(services: dict[str, Any]) -> Settings:
    """The settings a worker container would run with (secrets as placeholders)."""
    env = {name: interpolated(value) for name, value in environment(services["worker"]).items()}
    return load_settings(environ={"TRON_WORKER_SETTINGS_FILE": str(SETTINGS_FILE), **env})


# --- the parsers themselves ---------------------------------------------------


def test_dockerfile_parser_splits_stages_and_joins_continuations() -> None:
    stages = parse_dockerfile(
        "ARG BASE=x\nFROM a AS one\n# note\nRUN echo 1 \\\n  # inside\n  && echo 2\n"
        "FROM b\nUSER 1:1\n"
    )
    assert [[i.keyword for i in stage] for stage in stages] == [["FROM", "RUN"], ["FROM", "USER"]]
    assert stages[0][1].args == "echo 1 && echo 2"


def test_dockerignore_rule_lets_the_last_match_win() -> None:
    patterns = ["*", "!worker/", "**/__pycache__"]
    assert dockerignored(".git/config", patterns)
    assert not dockerignored("worker/app.py", patterns)
    assert dockerignored("worker/__pycache__/app.cpython-311.pyc", patterns)


# --- docker-compose.yml -------------------------------------------------------


def test_compose_defines_the_four_services(services: dict[str, Any]) -> None:
    assert set(SERVICES) <= set(services)


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_has_a_healthcheck(services: dict[str, Any], name: str) -> None:
    check = services[name].get("healthcheck") or {}
    assert not check.get("disable", False)
    assert check.get("test", [None])[0] in {"CMD", "CMD-SHELL"}, check


def test_worker_waits_for_healthy_dependencies(services: dict[str, Any]) -> None:
    depends_on = services["worker"]["depends_on"]
    assert {name: depends_on[name]["condition"] for name in DEPENDENCIES} == dict.fromkeys(
        DEPENDENCIES, "service_healthy"
    )


def test_worker_runs_two_replicas_that_cannot_clash(services: dict[str, Any]) -> None:
    worker = services["worker"]
    assert worker["deploy"]["replicas"] == 2
    assert "container_name" not in worker
    assert "ports" not in worker  # a fixed host port cannot be bound twice


def test_worker_restarts_and_stops_gracefully(
    services: dict[str, Any], worker_settings: Settings
) -> None:
    worker = services["worker"]
    assert worker["restart"] == "unless-stopped"
    assert seconds(worker["stop_grace_period"]) > worker_settings.worker.shutdown_grace_s


def test_app_containers_have_read_only_root_and_writable_tmp(services: dict[str, Any]) -> None:
    for name in ("worker", "devnet"):
        assert services[name]["read_only"] is True, name
        assert "/tmp" in services[name]["tmpfs"], name


def test_rabbitmq_is_3_13_with_management(services: dict[str, Any]) -> None:
    rabbitmq = services["rabbitmq"]
    assert re.fullmatch(r"rabbitmq:3\.13(\.\d+)?-management", rabbitmq["image"])
    assert rabbitmq["healthcheck"]["test"][1:] == ["rabbitmq-diagnostics", "-q", "ping"]
    assert any(volume.endswith(":/var/lib/rabbitmq") for volume in rabbitmq["volumes"])


def test_mongo_is_7_as_a_replica_set_the_worker_names(
    services: dict[str, Any], worker_settings: Settings
) -> None:
    mongo = services["mongo"]
    assert re.fullmatch(r"mongo:7(\.\d+)*", mongo["image"])
    command = mongo["command"]
    replica_set = command[command.index("--replSet") + 1]
    assert "--bind_ip_all" in command
    check = " ".join(mongo["healthcheck"]["test"])
    assert f"_id:'{replica_set}'" in check and "host:'mongo:27017'" in check
    assert "isWritablePrimary" in check  # healthy only once it accepts writes
    query = parse_qs(urlsplit(worker_settings.mongo.url).query)
    assert query["replicaSet"] == [replica_set]
    assert any(volume.endswith(":/data/db") for volume in mongo["volumes"])


def test_named_volumes_are_declared(compose: dict[str, Any], services: dict[str, Any]) -> None:
    used = {
        volume.split(":", 1)[0]
        for service in services.values()
        for volume in service.get("volumes", [])
        if not volume.startswith(("/", "."))
    }
    assert used and used <= set(compose.get("volumes") or {})


def test_devnet_runs_the_worker_image(services: dict[str, Any]) -> None:
    devnet, worker = services["devnet"], services["worker"]
    assert (devnet["image"], devnet["build"]) == (worker["image"], worker["build"])
    command = devnet["command"]
    assert command[0] == "devnet"
    port = command[command.index("--port") + 1]
    assert command[command.index("--host") + 1] == "0.0.0.0"
    snippet = python_snippet(devnet["healthcheck"]["test"][1:])
    assert f"http://127.0.0.1:{port}/wallet/getnodeinfo" in snippet
    compile(snippet, "devnet healthcheck", "exec")


def test_worker_healthcheck_probes_liveness_on_the_sidecar_port(
    services: dict[str, Any], worker_settings: Settings
) -> None:
    port = worker_settings.sidecar.port
    snippet = python_snippet(services["worker"]["healthcheck"]["test"][1:])
    assert f"http://127.0.0.1:{port}/health/live" in snippet
    compile(snippet, "worker healthcheck", "exec")
    assert str(port) in [str(item) for item in services["worker"]["expose"]]


def test_worker_env_names_are_real_settings(services: dict[str, Any]) -> None:
    names = [
        name
        for service in services.values()
        for name in environment(service)
        if name.startswith(ENV_PREFIX)
    ]
    unknown = []
    for name in names:
        section, _, key = name.removeprefix(ENV_PREFIX).lower().partition("__")
        field = Settings.model_fields.get(section)
        model = field.annotation if field else None
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            unknown.append(name)
            continue
        secret_file = key.endswith("_file") and (section, key.removesuffix("_file")) in SECRET_KEYS
        if key not in model.model_fields and not secret_file:
            unknown.append(name)
    assert len(names) >= 6
    assert unknown == []


def test_secrets_are_interpolated_and_required(services: dict[str, Any]) -> None:
    secret_names = {ENV_PREFIX + f"{section}__{key}".upper() for section, key in SECRET_KEYS}
    checked = []
    for service in services.values():
        for name, value in environment(service).items():
            if name in secret_names or SECRET_LOOKING_NAME.search(name):
                checked.append(name)
                # `:?` makes `docker compose up` refuse to start without it.
                assert REQUIRED_INTERPOLATION.match(value), f"{name}={value!r} is a literal"
    assert {"RABBITMQ_DEFAULT_PASS", "TRON_WORKER_AMQP__PASSWORD"} <= set(checked)


def test_worker_and_rabbitmq_share_user_and_password(
    services: dict[str, Any], worker_settings: Settings
) -> None:
    rabbitmq = environment(services["rabbitmq"])
    worker = environment(services["worker"])
    assert urlsplit(worker_settings.amqp.url).username == rabbitmq["RABBITMQ_DEFAULT_USER"]
    assert worker["TRON_WORKER_AMQP__PASSWORD"] == rabbitmq["RABBITMQ_DEFAULT_PASS"]


def test_worker_environment_validates_and_points_at_the_services(
    services: dict[str, Any], worker_settings: Settings
) -> None:
    settings = worker_settings
    assert settings.amqp.password is not None
    assert settings.amqp.password.get_secret_value() == "placeholder-rabbitmq_password"
    assert settings.log.format == "json"
    assert settings.sidecar.host == "0.0.0.0"  # reachable by Docker's health check and scrapes
    assert urlsplit(settings.amqp.url).hostname == "rabbitmq"
    assert urlsplit(settings.mongo.url).hostname == "mongo"
    devnet_command = services["devnet"]["command"]
    devnet_port = devnet_command[devnet_command.index("--port") + 1]
    assert settings.tron.endpoints == [f"http://devnet:{devnet_port}"]
    for url in (settings.amqp.url, settings.mongo.url, *settings.tron.endpoints):
        assert urlsplit(url).hostname in services, url


def test_compose_uses_dollar_only_for_interpolation() -> None:
    text = COMPOSE_FILE.read_text()
    stray = re.findall(r"\$(?!\{|\$)", INTERPOLATION.sub("", text).replace("$$", ""))
    assert stray == []


# --- Dockerfile ---------------------------------------------------------------


def test_dockerfile_is_multi_stage(stages: list[list[Instruction]]) -> None:
    assert len(stages) >= 2
    assert all(stage[0].keyword == "FROM" for stage in stages)


def test_builder_uses_python_3_11_slim_bookworm(stages: list[list[Instruction]]) -> None:
    text = DOCKERFILE.read_text()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.MULTILINE)
    images = [stage[0].args.split()[0] for stage in stages]
    resolved = [base.group(1) if base and i == "${PYTHON_IMAGE}" else i for i in images]
    assert resolved[0] == "python:3.11-slim-bookworm"
    assert re.fullmatch(r"python:3\.11[\w.-]*-slim[\w.-]*", resolved[-1])


def test_builder_installs_every_package_of_the_project(stages: list[list[Instruction]]) -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {
        p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    copied = {
        source.rstrip("/")
        for stage in stages[:-1]
        for instruction in stage
        if instruction.keyword == "COPY"
        for source in copy_parts(instruction)[1]
    }
    assert packages and packages <= copied
    runs = " ".join(i.args for stage in stages[:-1] for i in stage if i.keyword == "RUN")
    assert re.search(r"pip install (--no-deps )?\.(\s|$)", runs)


def test_final_stage_runs_as_uid_65532(final_stage: list[Instruction]) -> None:
    users = [i.args for i in final_stage if i.keyword == "USER"]
    assert users and users[-1] in {"65532", "65532:65532"}


def test_final_stage_has_no_compilers(final_stage: list[Instruction]) -> None:
    runs = [i.args for i in final_stage if i.keyword == "RUN"]
    assert [run for run in runs if COMPILERS.search(run)] == []
    assert [run for run in runs if re.search(r"apt-get\s+install|apk\s+add", run)] == []


def test_final_stage_copies_the_venv_not_the_source_tree(
    stages: list[list[Instruction]], final_stage: list[Instruction]
) -> None:
    builder_names = {stage[0].args.split()[-1] for stage in stages[:-1]}
    copies = [copy_parts(i) for i in final_stage if i.keyword == "COPY"]
    from_builder = [
        (flags, dest) for flags, _, dest in copies if flags.get("from") in builder_names
    ]
    from_context = [sources for flags, sources, _ in copies if "from" not in flags]
    assert from_builder  # the venv, first on PATH so `tron-worker` and `python` are its own
    venv = from_builder[0][1].rstrip("/")
    assert env_pairs(final_stage)["PATH"].startswith(f"{venv}/bin:")
    assert all(sources == ["settings.toml"] for sources in from_context), from_context


def test_settings_file_is_shipped_where_the_env_points(final_stage: list[Instruction]) -> None:
    target = env_pairs(final_stage)["TRON_WORKER_SETTINGS_FILE"]
    assert target.startswith("/")
    destinations = [
        dest
        for flags, sources, dest in (copy_parts(i) for i in final_stage if i.keyword == "COPY")
        if sources == ["settings.toml"] and "from" not in flags
    ]
    assert destinations == [target]


def test_final_stage_python_environment(final_stage: list[Instruction]) -> None:
    env = env_pairs(final_stage)
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PYTHONUNBUFFERED"] == "1"


def test_sidecar_port_matches_expose_and_healthcheck(
    final_stage: list[Instruction], sidecar_port: int
) -> None:
    exposed = [
        port.split("/")[0] for i in final_stage if i.keyword == "EXPOSE" for port in i.args.split()
    ]
    assert exposed == [str(sidecar_port)]
    snippet = python_snippet(healthcheck_command(final_stage))
    assert f"http://127.0.0.1:{sidecar_port}/health/live" in snippet
    compile(snippet, "Dockerfile healthcheck", "exec")


def test_entrypoint_is_the_console_script(final_stage: list[Instruction]) -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    (entrypoint,) = [exec_form(i.args) for i in final_stage if i.keyword == "ENTRYPOINT"]
    (cmd,) = [exec_form(i.args) for i in final_stage if i.keyword == "CMD"]
    assert entrypoint == ["tron-worker"] and "tron-worker" in scripts
    assert cmd == ["run"]


def test_dockerignore_keeps_what_the_build_copies_and_drops_local_state(
    stages: list[list[Instruction]],
) -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    sources = [
        source
        for stage in stages
        for instruction in stage
        if instruction.keyword == "COPY" and "from" not in copy_parts(instruction)[0]
        for source in copy_parts(instruction)[1]
        if not re.search(r"[*?\[]", source)  # optional files, copied by glob
    ]
    assert "settings.toml" in sources
    assert [source for source in sources if dockerignored(source, patterns)] == []
    for local in (".venv/bin/python", ".stack/rabbitmq/data", ".git/HEAD", "tests/conftest.py"):
        assert dockerignored(local, patterns), local
