"""Where a worker process spends its time: py-spy samples it during a load.

py-spy stops the process 100 times a second (ptrace), reads its stack, Python and native
frames (--native: a C function such as libc's send() or the garbage collector shows as
itself), and leaves out idle stacks (the event loop waiting in epoll), so the shares
below are of the samples in which the worker was not idle. A function's self share counts
samples where it was the innermost frame; its total share counts samples where it was
anywhere on the stack.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Profile", "PySpy", "parse_raw"]

RATE_HZ = 100
GLUE = {"asyncio", "selectors", "importlib", "contextlib", "?"}
# A thread blocked on a lock (the default executor's idle threads waiting for work) that
# py-spy's --native mode still reports as active: these samples are idle.
WAITING = ("PyThread_acquire_lock_timed", "pthread_cond_timedwait", "_queue_SimpleQueue_get")
OUR_PACKAGES = {"worker", "handlers", "schemas"}
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^:()]*)(:(?P<line>-?\d+))?\)$")


ROOT = str(Path(__file__).resolve().parents[1]) + "/"


def _short(path: str) -> str:
    """A file as a reader finds it: package-relative for libraries, repo-relative for ours."""
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1]
    if path.startswith(ROOT):
        return path.removeprefix(ROOT)
    stdlib = re.search(r"/lib/python3\.\d+/(.*)$", path)
    return stdlib[1] if stdlib else path


def _frame(text: str) -> str:
    match = _FRAME.match(text)
    if match is None:
        return "(unreadable frame)"
    if match["line"] is None:  # native: `send (libc.so.6)`
        return f"{match['function']} ({match['file']})"
    return f"{match['function']} ({_short(match['file'])}:{match['line']})"


def _package(frame: str) -> str:
    """The top-level package or module of a frame (`native <library or C file>` for C), for
    the coarse breakdown."""
    match = re.search(r"\((?P<file>[^:()]*)(:-?\d+)?\)$", frame)
    if match is None:
        return "?"
    file = match["file"]
    if file.endswith(".py"):
        return file.split("/", 1)[0].removesuffix(".py")
    if file.startswith("<frozen"):
        return "importlib"
    return "native " + file.split(".so")[0].removesuffix(".c").removesuffix(".h")


@dataclass
class Profile:
    samples: int
    duration_s: float
    waiting: int = 0  # samples of threads blocked on a lock, left out
    self_counts: Counter[str] = field(default_factory=Counter)
    total_counts: Counter[str] = field(default_factory=Counter)
    package_counts: Counter[str] = field(default_factory=Counter)
    ours_counts: Counter[str] = field(default_factory=Counter)
    callers: dict[str, Counter[str]] = field(default_factory=dict)  # innermost -> Python caller
    importing: Counter[str] = field(default_factory=Counter)  # import system's callers

    @property
    def busy_share(self) -> float:
        """Samples taken over samples possible: how busy the sampled process was."""
        return self.samples / (RATE_HZ * self.duration_s) if self.duration_s else 0.0

    def top_self(self, n: int = 10) -> list[tuple[str, float, float]]:
        """(frame, self %, total %) of the n frames with the most self samples."""
        return [
            (frame, 100 * count / self.samples, 100 * self.total_counts[frame] / self.samples)
            for frame, count in self.self_counts.most_common(n)
        ]

    def top_packages(self, n: int = 8) -> list[tuple[str, float]]:
        return [(name, 100 * c / self.samples) for name, c in self.package_counts.most_common(n)]

    def top_callers(self, frame: str, n: int = 3) -> list[tuple[str, float]]:
        """The nearest Python frame above `frame` when it was the innermost one, as % of all
        samples."""
        counts = self.callers.get(frame, Counter())
        return [(caller, 100 * c / self.samples) for caller, c in counts.most_common(n)]

    def top_ours(self, n: int = 10) -> list[tuple[str, float]]:
        """Samples by the innermost frame of this repository's code: which of our functions
        the time was spent in or under (a library call is charged to our caller)."""
        return [(frame, 100 * c / self.samples) for frame, c in self.ours_counts.most_common(n)]


def parse_raw(text: str, duration_s: float) -> Profile:
    """py-spy's --format raw: one `frame;frame;...;innermost count` line per stack."""
    profile = Profile(samples=0, duration_s=duration_s)
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        if any(marker in stack for marker in WAITING):
            profile.waiting += count
            continue
        frames = [_frame(f) for f in stack.split(";")]
        profile.samples += count
        profile.self_counts[frames[-1]] += count
        profile.package_counts[_package(frames[-1])] += count
        for frame in set(frames):
            profile.total_counts[frame] += count
        ours = [frame for frame in frames if _package(frame) in OUR_PACKAGES]
        profile.ours_counts[ours[-1] if ours else "(no frame of ours)"] += count
        # The code that got there: the nearest Python frame above, past the event loop's.
        python = [f for f in frames[:-1] if _package(f) not in GLUE and "native" not in _package(f)]
        caller = python[-1] if python else "(none)"
        profile.callers.setdefault(frames[-1], Counter())[caller] += count
        # Importing while serving: a failed `import` inside a hot function searches sys.path
        # (stat calls) every time it runs.
        imports = [i for i, frame in enumerate(frames) if "importlib._bootstrap" in frame]
        if imports and imports[0] > 0:
            profile.importing[frames[imports[0] - 1]] += count
    return profile


class PySpy:
    """`py-spy record` on one pid, from start() to stop(); result() parses what it wrote."""

    def __init__(self, output: Path) -> None:
        self.output = output
        self.binary = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        self.process: subprocess.Popen[bytes] | None = None
        self.started = self.stopped = 0.0
        self.error = ""

    @property
    def available(self) -> bool:
        return Path(self.binary).exists()

    def start(self, pid: int) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "record",
                "--pid",
                str(pid),
                "--rate",
                str(RATE_HZ),
                "--native",
                "--function",
                "--format",
                "raw",
                "--output",
                str(self.output),
                "--duration",
                "900",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.started = time.perf_counter()

    def stop(self) -> None:
        """Ctrl-C, as a person would: py-spy then writes what it sampled."""
        if self.process is None:
            return
        self.stopped = time.perf_counter()
        self.process.send_signal(signal.SIGINT)
        try:
            _, stderr = self.process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, stderr = self.process.communicate()
        if self.process.returncode != 0 or not self.output.exists():
            self.error = stderr.decode(errors="replace").strip()[-500:]

    def result(self) -> Profile | None:
        if self.error or not self.output.exists():
            return None
        return parse_raw(self.output.read_text(), self.stopped - self.started)
