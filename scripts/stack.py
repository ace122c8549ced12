"""The embedded local stack for development and tests: RabbitMQ, FerretDB and devnet.

    stack.py up|down|status [rabbitmq|ferretdb|devnet ...]

Each service runs as the user who runs this script (never as a system
service), listens on 127.0.0.1 only, and keeps its data, logs and pid file
under the stack dir (setting stack.dir). `up` installs what is missing
(RabbitMQ from apt, FerretDB built from the Go module pinned in tools/) and
leaves a service alone that already runs and answers. Ports come from
amqp.url, mongo.url and the first tron.endpoints entry; a service whose URL
names another host is not managed here.
Exit codes: 0 ok, 1 failure, 2 bad settings, 3 (status) not all running.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")  # the real scripts; /usr/sbin's wrappers `su rabbitmq`
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
SERVICES = ("rabbitmq", "ferretdb", "devnet")  # start order

# Stock FerretDB v1.24.2 creates the unique `_id` index on `_ferretdb_sjson->"_id"` but
# filters (find, update, delete) on `_ferretdb_sjson->'$._id'`. The two select the same
# value, yet SQLite uses an expression index only for a query that spells the same
# expression, so without this every `_id` lookup scans the whole table.
# (file in the module, the line as shipped, the line we build)
FERRETDB_PATCH = (
    "internal/backends/sqlite/metadata/metadata.go",
    """\tIDColumn = DefaultColumn + "->'$._id'"\n""",
    """\tIDColumn = DefaultColumn + `->"_id"`\n""",
)


class StackError(Exception):
    """A service could not be installed, started or stopped; str() is printed."""


@dataclass
class Service:
    """One process of the stack: how to prepare, start and probe it."""

    name: str
    port: int
    home: Path  # <stack dir>/<name>: data, logs, pid file
    command: list[str]
    marker: str  # part of our process's command line: a reused pid is not ours
    healthy: Callable[[], bool]  # quick probe, also for `status`
    port_hint: str  # the setting to change when the port is taken
    ready: Callable[[], bool] | None = None  # full check after a start; default `healthy`
    prepare: Callable[[], None] = lambda: None  # install, build, write config
    env: dict[str, str] = field(default_factory=dict)
    other_ports: dict[int, str] = field(default_factory=dict)  # port -> setting to change

    @property
    def pid_file(self) -> Path:
        return self.home / f"{self.name}.pid"  # "<pid> <port>"

    @property
    def log_file(self) -> Path:
        return self.home / f"{self.name}.log"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


# --- processes -------------------------------------------------------------------------


def _stat(pid: int | str) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state, ppid, pgrp, ...)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"  # a zombie has exited


def _group_alive(pgid: int) -> bool:
    for entry in Path("/proc").glob("[0-9]*"):
        fields = _stat(entry.name)
        if fields and fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


def recorded(svc: Service) -> tuple[int, int] | None:
    """(pid, port) from the pid file."""
    try:
        pid, port = svc.pid_file.read_text().split()
        return int(pid), int(port)
    except (OSError, ValueError):
        return None


def running(svc: Service) -> tuple[int, int] | None:
    """(pid, port) if the recorded process is alive and still ours."""
    found = recorded(svc)
    if found is None or not _alive(found[0]):
        return None
    try:
        cmdline = Path(f"/proc/{found[0]}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None
    return found if svc.marker in cmdline else None


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def log_tail(*paths: Path, lines: int = 15) -> str:
    parts = []
    for path in paths:
        if path.is_file():
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- last lines of {path} ---\n" + "\n".join(tail))
    return "\n".join(parts)


def wait_until(
    check: Callable[[], bool], timeout_s: float, proc: subprocess.Popen | None = None
) -> bool:
    """Poll check() until true (True), timeout or proc's exit (False)."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if (proc is not None and proc.poll() is not None) or time.monotonic() > deadline:
            return False
        time.sleep(0.25)
    return True


def terminate(pgid: int, timeout_s: float) -> None:
    """SIGTERM the service's process group (it started its own session), then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        if wait_until(lambda: not _group_alive(pgid), timeout_s):
            return
    raise StackError(f"process group {pgid} survived SIGKILL")


# --- up / down / status --------------------------------------------------------------


def up(svc: Service, timeout_s: float) -> None:
    found = running(svc)
    if found and found[1] != svc.port:
        raise StackError(
            f"{svc.name}: pid {found[0]} runs on 127.0.0.1:{found[1]} but the settings say "
            f"port {svc.port}; run `stack.py down {svc.name}` first"
        )
    if found and svc.healthy():
        print(f"{svc.name}: already running (pid {found[0]}, {svc.address})")
        return
    if found:
        print(f"{svc.name}: pid {found[0]} does not answer on {svc.address}; restarting it")
        down(svc, timeout_s)
    for port, hint in {svc.port: svc.port_hint, **svc.other_ports}.items():
        if port_in_use(port):
            raise StackError(
                f"{svc.name}: port {port} is in use by another process; "
                f"set {hint} to use another port"
            )
    svc.prepare()
    print(f"{svc.name}: starting on {svc.address} ...", flush=True)
    started = time.monotonic()
    with svc.log_file.open("a") as log:
        log.write(f"=== stack.py: {svc.name} starting at {time.strftime('%F %T')} ===\n")
        log.flush()
        proc = subprocess.Popen(
            svc.command,
            cwd=svc.home,
            env={**os.environ, **svc.env},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives `make`; its own process group for `down`
        )
    svc.pid_file.write_text(f"{proc.pid} {svc.port}\n")
    if not wait_until(svc.ready or svc.healthy, timeout_s, proc):
        code = proc.poll()
        why = f"exited with code {code}" if code is not None else f"not ready in {timeout_s} s"
        terminate(proc.pid, timeout_s)
        proc.wait()
        svc.pid_file.unlink(missing_ok=True)
        logs = [svc.log_file, *sorted(svc.home.glob("log/*.log"))]
        raise StackError(f"{svc.name}: {why}\n{log_tail(*logs)}")
    print(f"{svc.name}: ready in {time.monotonic() - started:.1f} s")


def down(svc: Service, timeout_s: float) -> None:
    found = running(svc)
    if found is None:
        stale = svc.pid_file.exists()
        svc.pid_file.unlink(missing_ok=True)
        print(f"{svc.name}: stopped" + (" (removed a stale pid file)" if stale else ""))
        return
    started = time.monotonic()
    print(f"{svc.name}: stopping pid {found[0]} ...", flush=True)
    terminate(found[0], timeout_s)
    svc.pid_file.unlink(missing_ok=True)
    print(f"{svc.name}: stopped in {time.monotonic() - started:.1f} s")


def status(svc: Service) -> bool:
    found = running(svc)
    if found and found[1] != svc.port:
        print(
            f"{svc.name}: running (pid {found[0]}, 127.0.0.1:{found[1]}, not the configured port)"
        )
    elif found and svc.healthy():
        print(f"{svc.name}: running (pid {found[0]}, {svc.address})")
        return True
    elif found:
        print(f"{svc.name}: running (pid {found[0]}) but not answering on {svc.address}")
    elif svc.pid_file.exists():
        print(f"{svc.name}: stale pid file {svc.pid_file} (its process is no longer running)")
    else:
        print(f"{svc.name}: stopped")
    return False


# --- RabbitMQ ------------------------------------------------------------------------


def rabbitmq(stack: Path, port: int, node: str, dist_port: int) -> Service:
    home = stack / "rabbitmq"
    env = {
        "RABBITMQ_NODENAME": node,
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(dist_port),
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        "RABBITMQ_MNESIA_BASE": str(home / "mnesia"),
        "RABBITMQ_LOG_BASE": str(home / "log"),
        "RABBITMQ_PID_FILE": str(home / "beam.pid"),
        "RABBITMQ_CONFIG_FILE": str(home / "rabbitmq.conf"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(home / "advanced.config"),  # absent: none
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(home / "enabled_plugins"),
        "RABBITMQ_CONF_ENV_FILE": str(home / "rabbitmq-env.conf"),  # not /etc/rabbitmq's
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        # Erlang reads its cookie from ~/.erlang.cookie: a private HOME gives the node and
        # our CLI calls one cookie of their own, apart from the system's /var/lib/rabbitmq.
        "HOME": str(home / "home"),
    }

    def diagnostics(*args: str) -> bool:
        command = [str(RABBITMQ_BIN / "rabbitmq-diagnostics"), "-q", "-n", node, *args]
        done = subprocess.run(command, env={**os.environ, **env}, capture_output=True, timeout=60)
        return done.returncode == 0

    def prepare() -> None:
        if not (RABBITMQ_BIN / "rabbitmq-server").exists():
            install_rabbitmq(home)
        for sub in ("home", "mnesia", "log"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        cookie = home / "home" / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text(secrets.token_hex(20).upper())
            cookie.chmod(0o400)  # Erlang refuses a cookie that others can read
        note = "# Written by scripts/stack.py at each start; change the settings instead.\n"
        (home / "rabbitmq.conf").write_text(f"{note}listeners.tcp.1 = 127.0.0.1:{port}\n")
        (home / "enabled_plugins").write_text("[].\n")
        (home / "rabbitmq-env.conf").write_text(note)
        if subprocess.run(["epmd", "-names"], capture_output=True).returncode != 0:
            (home / "epmd.ours").touch()  # our node will start epmd, so `down` stops it

    return Service(
        name="rabbitmq",
        port=port,
        home=home,
        command=[str(RABBITMQ_BIN / "rabbitmq-server")],
        marker="rabbitmq-server",
        healthy=lambda: amqp_answers(port),
        ready=lambda: amqp_answers(port) and diagnostics("check_running"),
        port_hint="TRON_WORKER_AMQP__URL=amqp://guest@127.0.0.1:<other port>/",
        prepare=prepare,
        env=env,
        other_ports={dist_port: "TRON_WORKER_STACK__RABBITMQ_DIST_PORT=<other port>"},
    )


def amqp_answers(port: int) -> bool:
    """Send the AMQP 0-9-1 protocol header; a broker answers with a method frame (type 1)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"AMQP\x00\x00\x09\x01")
            return sock.recv(1) == b"\x01"
    except OSError:
        return False


def install_rabbitmq(home: Path) -> None:
    """apt-get install rabbitmq-server, without letting the package start its own service."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise StackError(
            "rabbitmq: the Debian package rabbitmq-server is not installed; run this as root, "
            "or `sudo apt-get install --no-install-recommends rabbitmq-server`"
        )
    print("rabbitmq: installing the Debian package rabbitmq-server ...", flush=True)
    started = time.monotonic()
    home.mkdir(parents=True, exist_ok=True)
    policy = Path("/usr/sbin/policy-rc.d")  # exit 101: invoke-rc.d starts no service
    saved = policy.read_bytes() if policy.exists() else None
    policy.write_text("#!/bin/sh\n# written by scripts/stack.py during apt-get install\nexit 101\n")
    policy.chmod(0o755)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    log_path = home / "apt.log"
    try:
        with log_path.open("a") as log:
            for command in (
                ["apt-get", "update", "-q"],
                ["apt-get", "install", "-y", "-q", "--no-install-recommends", "rabbitmq-server"],
            ):
                done = subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT)
                if done.returncode:
                    tail = log_tail(log_path)
                    raise StackError(f"rabbitmq: `{' '.join(command)}` failed\n{tail}")
    finally:
        if saved is None:
            policy.unlink(missing_ok=True)
        else:
            policy.write_bytes(saved)
    stop_system_rabbitmq()
    print(f"rabbitmq: installed in {time.monotonic() - started:.1f} s")


def stop_system_rabbitmq() -> None:
    """The package's own service must not run beside our node (it would take port 5672)."""
    if Path("/run/systemd/system").is_dir():
        for action in ("stop", "disable"):
            subprocess.run(["systemctl", "--quiet", action, "rabbitmq-server"], check=False)
        return
    try:  # sysvinit: ask only if its pid file says it runs; asking starts an epmd
        pid = int(Path("/run/rabbitmq/pid").read_text().strip())
    except (OSError, ValueError):
        return
    if _alive(pid):
        subprocess.run(["service", "rabbitmq-server", "stop"], capture_output=True, check=False)


def stop_our_epmd(home: Path) -> None:
    """epmd outlives the node that started it; stop it if ours did (it refuses while in use)."""
    marker = home / "epmd.ours"
    if marker.exists():
        subprocess.run(["epmd", "-kill"], capture_output=True, check=False)
        marker.unlink()


# --- FerretDB ------------------------------------------------------------------------


def ferretdb(stack: Path, port: int) -> Service:
    home, binary = stack / "ferretdb", stack / "bin" / "ferretdb"

    def prepare() -> None:
        build_ferretdb(binary, home / "build")
        for sub in ("data", "state"):
            (home / sub).mkdir(parents=True, exist_ok=True)

    return Service(
        name="ferretdb",
        port=port,
        home=home,
        command=[
            str(binary),
            "--handler=sqlite",
            # A directory URL ending in "/". synchronous(normal) with FerretDB's WAL journal:
            # commits survive a crash of any process, only an OS crash can lose the last
            # ones; this is the development stand-in (production runs MongoDB with
            # majority, journaled writes), and it makes concurrent writes ~4x faster here.
            f"--sqlite-url={(home / 'data').as_uri()}/?_pragma=synchronous(normal)",
            f"--listen-addr=127.0.0.1:{port}",
            f"--state-dir={home / 'state'}",
            "--telemetry=disable",
            "--debug-addr=127.0.0.1:0",
            # "warn" dumps every unsupported command, e.g. the endSessions of each client.
            "--log-level=error",
        ],
        marker=str(binary),
        healthy=lambda: mongo_answers(port),
        port_hint="TRON_WORKER_MONGO__URL=mongodb://127.0.0.1:<other port>/",
        prepare=prepare,
    )


def mongo_answers(port: int) -> bool:
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    client: MongoClient = MongoClient(
        f"mongodb://127.0.0.1:{port}/", serverSelectionTimeoutMS=1000, connectTimeoutMS=1000
    )
    try:
        return client.admin.command("ping").get("ok") == 1
    except PyMongoError:
        return False
    finally:
        client.close()


def build_ferretdb(binary: Path, build: Path) -> None:
    """Build FerretDB at the version pinned in tools/go.mod, unless the binary is current.

    The module from the proxy lacks the generated build/version/version.txt, and a binary
    built without it panics at start-up. So we build a copy of the module source
    (verified against tools/go.sum by `go mod download`) with that file added and
    FERRETDB_PATCH applied, through a `replace` in a scratch copy of tools/go.mod. A stamp
    beside the binary names the version and patch it was built with.
    """
    tools = ROOT / "tools"
    match = re.search(r"github\.com/FerretDB/FerretDB (v\S+)", (tools / "go.mod").read_text())
    if match is None:
        raise StackError("ferretdb: tools/go.mod does not require github.com/FerretDB/FerretDB")
    pinned = match.group(1)
    inputs_mtime = max((tools / name).stat().st_mtime for name in ("go.mod", "go.sum"))
    stamp_file = binary.with_name("ferretdb.stamp")
    stamp = hashlib.sha256(json.dumps([pinned, *FERRETDB_PATCH]).encode()).hexdigest()
    current = binary.exists() and binary.stat().st_mtime > inputs_mtime
    if current and _read(stamp_file) == stamp and reports(binary, pinned):
        return
    if not shutil.which("go"):
        raise StackError("ferretdb: building it needs Go 1.24 or newer (https://go.dev/dl/)")
    print(f"ferretdb: building {pinned} (a few minutes the first time) ...", flush=True)
    started = time.monotonic()
    stamp_file.unlink(missing_ok=True)
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir(parents=True)
    log_path = build.parent / "build.log"
    go_flags = f"{os.environ.get('GOFLAGS', '')} -buildvcs=false".strip()  # no VCS stamping
    env = {**os.environ, "GOBIN": str(binary.parent), "GOFLAGS": go_flags}

    def go(*args: str, cwd: Path) -> str:
        with log_path.open("a") as log:
            done = subprocess.run(
                ["go", *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=log
            )
        if done.returncode:
            raise StackError(f"ferretdb: `go {' '.join(args)}` failed\n{log_tail(log_path)}")
        return done.stdout.decode()

    log_path.write_text("")
    module = json.loads(go("mod", "download", "-json", "github.com/FerretDB/FerretDB", cwd=tools))
    shutil.copytree(module["Dir"], build / "src")
    for path in (build / "src").rglob("*"):
        path.chmod(path.stat().st_mode | 0o200)  # copied from the read-only module cache
    (build / "src" / "build" / "version" / "version.txt").write_text(f"{pinned}\n")
    patch_ferretdb(build / "src")
    shutil.copy(tools / "go.sum", build / "go.sum")
    go_mod = (tools / "go.mod").read_text()
    (build / "go.mod").write_text(f"{go_mod}\nreplace github.com/FerretDB/FerretDB => ./src\n")
    go("install", "github.com/FerretDB/FerretDB/cmd/ferretdb", cwd=build)
    if not reports(binary, pinned):
        raise StackError(f"ferretdb: the built {binary} does not report version {pinned}")
    stamp_file.write_text(f"{stamp}\n")  # last: a failed build leaves no stamp, so it reruns
    print(f"ferretdb: built in {time.monotonic() - started:.1f} s")


def patch_ferretdb(src: Path) -> None:
    """Apply FERRETDB_PATCH to the copied module source; its line must be there exactly once."""
    name, shipped, ours = FERRETDB_PATCH
    path = src / name
    text = path.read_text()
    if text.count(shipped) != 1:
        raise StackError(
            f"ferretdb: cannot patch {name}: expected the line `{shipped.strip()}` once, "
            f"found it {text.count(shipped)} times; review FERRETDB_PATCH for this version"
        )
    path.write_text(text.replace(shipped, ours))


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def reports(binary: Path, version: str) -> bool:
    done = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    return done.returncode == 0 and f"version: {version}" in done.stdout.splitlines()


# --- devnet --------------------------------------------------------------------------


def devnet(stack: Path, port: int) -> Service:
    return Service(
        name="devnet",
        port=port,
        home=stack / "devnet",
        command=[sys.executable, "-m", "devnet", "--host", "127.0.0.1", "--port", str(port)],
        marker="-m devnet",
        healthy=lambda: devnet_answers(port),
        port_hint="TRON_WORKER_TRON__ENDPOINTS='[\"http://127.0.0.1:<other port>\"]'",
    )


def devnet_answers(port: int) -> bool:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/wallet/getnodeinfo",
        data=b"{}",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            json.load(response)
            return response.status == 200
    except (OSError, ValueError):
        return False


# --- wiring --------------------------------------------------------------------------


def load_stack(wanted: list[str]) -> tuple[Path, list[Service], float]:
    """The stack dir, the wanted local services in start order, and the start timeout."""
    from worker.settings import load_settings

    s = load_settings()
    stack = ROOT / s.stack.dir  # an absolute setting replaces ROOT
    urls = {"rabbitmq": s.amqp.url, "ferretdb": s.mongo.url, "devnet": s.tron.endpoints[0]}
    default_ports = {"rabbitmq": 5672, "ferretdb": 27017, "devnet": 18090}
    services = []
    for name in wanted:
        url = urlsplit(urls[name])
        if url.hostname not in LOCAL_HOSTS:
            print(f"{name}: not managed here (its URL names the host {url.hostname})")
            continue
        port = url.port or default_ports[name]
        if name == "rabbitmq":
            node, dist_port = s.stack.rabbitmq_node, s.stack.rabbitmq_dist_port
            services.append(rabbitmq(stack, port, node, dist_port))
        else:
            services.append(ferretdb(stack, port) if name == "ferretdb" else devnet(stack, port))
    for svc in services:
        svc.home.mkdir(parents=True, exist_ok=True)
    return stack, services, float(s.stack.start_timeout_s)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("up", "down", "status") or not set(argv[1:]) <= set(SERVICES):
        print(f"usage: stack.py up|down|status [{'|'.join(SERVICES)} ...]", file=sys.stderr)
        return 1
    command, wanted = argv[0], [name for name in SERVICES if name in argv[1:] or len(argv) == 1]
    sys.path.insert(0, str(ROOT))
    from worker.settings import SettingsError

    try:
        stack, services, timeout_s = load_stack(wanted)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    if command == "status":
        return 0 if all([status(svc) for svc in services]) else 3
    stack.mkdir(parents=True, exist_ok=True)
    with (stack / "stack.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one `up` or `down` at a time, e.g. parallel makes
        try:
            if command == "up":
                for svc in services:
                    up(svc, timeout_s)
            else:
                for svc in reversed(services):  # the broker last: the others may use it
                    down(svc, timeout_s)
                    if svc.name == "rabbitmq":
                        stop_our_epmd(svc.home)
        except StackError as exc:
            print(exc, file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
