"""Processes the benchmark starts, and what it reads of them from /proc."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parent.parent
CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")


def product_command(*args: str) -> list[str]:
    """`actions-gateway ARGS` of this interpreter (the console script's own entry point)."""
    return [sys.executable, "-m", "app", *args]


def bench_command(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", f"bench.{module}", *args]


def raise_open_files_limit() -> int:
    """Lift this process's soft limit on open files to the hard one; children inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


@dataclass
class Service:
    """A long-running process (gateway, worker, baseline server), its output in a log file."""

    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> Service:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.args,
                env={**os.environ, **self.env},
                stdout=out,
                stderr=out,
                stdin=subprocess.DEVNULL,
                cwd=ROOT,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} is not started"
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 30) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""


def wait_http(url: str, service: Service, timeout: float = 60) -> None:
    """Wait until GET url answers 200; fail early, with its log, if the service died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not service.running:
            raise RuntimeError(f"{service.name} exited at start:\n{service.log_tail()}")
        with (
            contextlib.suppress(urllib.error.URLError, OSError),
            urllib.request.urlopen(url, timeout=2) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.05)
    raise TimeoutError(f"{service.name} did not answer {url} in {timeout}s")


def http_get(url: str, timeout: float = 10) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body: bytes = response.read()
    return body.decode()


def rss_kib(pid: int) -> int:
    """The process's resident set size (VmRSS), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """CPU time the process has used so far (utime + stime)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # Fields after the command name, which is in parentheses and may contain spaces.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass(frozen=True)
class CpuTimes:
    """The machine's CPU time counters (/proc/stat, all cores), in ticks."""

    total: int
    steal: int

    @classmethod
    def read(cls) -> CpuTimes:
        with Path("/proc/stat").open() as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
        # user nice system idle iowait irq softirq steal [guest guest_nice, inside user/nice]
        return cls(total=sum(values[:8]), steal=values[7] if len(values) > 7 else 0)

    def steal_percent_since(self, earlier: CpuTimes) -> float:
        elapsed = self.total - earlier.total
        return 0.0 if elapsed <= 0 else 100.0 * (self.steal - earlier.steal) / elapsed


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


async def run_json(args: list[str], env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Run a benchmark client process to its end; the JSON object it printed last."""
    process = await asyncio.create_subprocess_exec(
        *args,
        env={**os.environ, **env},
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(timeout):
            out, err = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise RuntimeError(f"{' '.join(args[2:])} did not finish in {timeout:.0f}s") from None
    lines = out.decode().strip().splitlines()
    if process.returncode != 0 or not lines:
        raise RuntimeError(
            f"{' '.join(args[2:])} failed ({process.returncode}):\n{err.decode()[-2000:]}"
        )
    result: dict[str, Any] = json.loads(lines[-1])
    return result
