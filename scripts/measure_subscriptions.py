"""Measure subscriptions on the gateway as deployed: memory per idle subscriber, server CPU
to deliver one event to every subscriber, and memory after they leave.

Runs `actions-gateway serve` (uvicorn) on SQLite with a redis-server of its own, and opens
the WebSockets from several client processes. Events are published on Redis directly, as the
worker would, so the CPU counted is the gateway's fan-out alone (utime+stime from /proc).

    python scripts/measure_subscriptions.py --subscribers 1000 10000 --events 20

Not a test: it prints numbers (and JSON with --json) and asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

QUERIES = {
    "actions": "subscription { actions { id status sequence } }",
    "actions-wide": "subscription { actions { id type typeName status sequence version "
    "createdAt updatedAt data attempts error } }",
}
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE // 1024


def cpu_times(pid: int) -> tuple[float, float]:
    """utime and stime, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICKS, int(fields[12]) / TICKS


def cpu_seconds(pid: int) -> float:
    return sum(cpu_times(pid))


def rss_by_mapping(pid: int) -> dict[str, int]:
    """RSS in KiB by kind of mapping: the brk heap, anonymous mmaps (by size), files."""
    kinds: dict[str, int] = {}
    kind = ""
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if "-" in head[0] and not head[0].endswith(":"):
            start, end = (int(x, 16) for x in head[0].split("-"))
            name = head[5] if len(head) > 5 else ""
            size = (end - start) // 1024
            kind = name if name.startswith("[") else ("file" if name else f"anon<={size}k")
            if kind.startswith("anon"):
                kind = "anon 1MiB" if size == 1024 else ("anon big" if size > 1024 else "anon")
        elif head[0] == "Rss:":
            kinds[kind] = kinds.get(kind, 0) + int(head[1])
    return kinds


def raise_nofile() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# --- the client processes -------------------------------------------------------------


async def client_main(url: str, key: str, count: int, query: str) -> None:
    """Open `count` sockets with one subscription each; report on stdout, obey stdin."""
    import websockets

    raise_nofile()
    received: dict[int, int] = {}
    sockets: list[Any] = []
    out = sys.stdout

    async def reader(ws: Any) -> None:
        try:
            async for raw in ws:
                message = json.loads(raw)
                if message.get("type") == "next" and message["payload"].get("errors"):
                    out.write(f"error {raw}\n")
                    out.flush()
                elif message.get("type") == "next":
                    seq = int(message["payload"]["data"]["actions"]["sequence"])
                    received[seq] = received.get(seq, 0) + 1
                    if received[seq] == count:
                        out.write(f"got {seq}\n")
                        out.flush()
                elif message.get("type") == "ping":
                    await ws.send('{"type":"pong"}')
                elif message.get("type") in ("error", "complete"):
                    out.write(f"error {raw}\n")
                    out.flush()
        except websockets.ConnectionClosed:
            pass

    async def open_one() -> None:
        ws = await websockets.connect(
            url,
            subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
            open_timeout=60,
            max_queue=None,
        )
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}})
        )
        ack = json.loads(await ws.recv())
        assert ack["type"] == "connection_ack", ack
        await ws.send(json.dumps({"type": "subscribe", "id": "1", "payload": {"query": query}}))
        sockets.append(ws)
        tasks.append(asyncio.create_task(reader(ws)))

    tasks: list[asyncio.Task[None]] = []
    pending = [open_one() for _ in range(count)]
    for start in range(0, count, 50):  # a bounded burst of handshakes
        await asyncio.gather(*pending[start : start + 50])
    out.write("ready\n")
    out.flush()
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)  # "close"
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    out.write("closed\n")
    out.flush()


# --- the driver -----------------------------------------------------------------------


class Gateway:
    def __init__(
        self, workdir: Path, env_extra: dict[str, str], server_env: dict[str, str]
    ) -> None:
        self.workdir = workdir
        self.redis_port = free_port()
        self.port = free_port()
        bin_dir = Path(sys.executable).parent
        self.cli = str(bin_dir / "actions-gateway")
        self.env = {
            **os.environ,
            "DATABASE_URL": f"sqlite+aiosqlite:///{workdir}/bench.db",
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "PORT": str(self.port),
            "HOST": "127.0.0.1",
            "LOG_LEVEL": "WARNING",
            "WS_MAX_CONNECTIONS_PER_KEY": "10000",
            "RATE_LIMIT_REQUESTS": "1000000",
            "RATE_LIMIT_WINDOW_SECONDS": "1",
            **env_extra,
        }
        self.redis = subprocess.Popen(
            ["redis-server", "--port", str(self.redis_port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        time.sleep(0.3)
        subprocess.run([self.cli, "migrate"], env=self.env, check=True, capture_output=True)
        made = subprocess.run(
            [self.cli, "companies", "create", "bench", "--json"],
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        )
        record = json.loads(made.stdout.strip().splitlines()[-1])
        self.company_id = int(record["company_id"])
        self.key = record["api_key"]
        self.server = subprocess.Popen(
            [self.cli, "serve"],
            env={**self.env, **server_env},
            stdout=subprocess.DEVNULL,
            stderr=(workdir / "gateway.log").open("w"),
        )
        self.url = f"ws://127.0.0.1:{self.port}/graphql"
        deadline = time.monotonic() + 180  # a loaded machine starts slowly
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.sequence = 0

    @property
    def pid(self) -> int:
        return self.server.pid

    def subscriptions_open(self) -> int:
        body = urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=30).read()
        for line in body.decode().splitlines():
            if line.startswith("actions_gateway_subscriptions_open "):
                return int(float(line.split()[1]))
        raise RuntimeError("no subscriptions_open metric")

    def publish(self) -> int:
        """Publish the next change of a (made up) action on the company's channel."""
        self.sequence += 1
        # As a commit would: new subscribers start from the company's latest number.
        with sqlite3.connect(self.workdir / "bench.db", timeout=60) as db:
            db.execute(
                "UPDATE company SET action_sequence = ? WHERE id = ?",
                (self.sequence, self.company_id),
            )
        now = datetime.now(UTC).isoformat()
        event = {
            "id": 1,
            "company_id": self.company_id,
            "trigger_id": None,
            "event_id": None,
            "type": "add_note",
            "data": {"app_id": 1, "text": "hello"},
            "status": "RUNNING",
            "attempts": 1,
            "error": None,
            "request_id": None,
            "version": self.sequence,
            "sequence": self.sequence,
            "lease_expires_at": None,
            "next_try_at": None,
            "created_at": now,
            "updated_at": now,
            "executed_at": None,
        }
        subprocess.run(
            [
                "redis-cli",
                "-p",
                str(self.redis_port),
                "publish",
                f"actions:{self.company_id}",
                json.dumps(event),
            ],
            check=True,
            capture_output=True,
        )
        return self.sequence

    def stop(self) -> None:
        self.server.send_signal(signal.SIGTERM)
        try:
            self.server.wait(30)
        except subprocess.TimeoutExpired:
            self.server.kill()
        self.redis.terminate()
        self.redis.wait(10)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def settle(pid: int, seconds: float = 3.0) -> int:
    """RSS once it has stopped moving (a short quiet spell), in KiB."""
    time.sleep(seconds)
    return rss_kib(pid)


# With --tracemalloc: the gateway, on SIGUSR2, writes where its memory was allocated.
SITECUSTOMIZE = """
import signal, tracemalloc, os
def _dump(signum, frame):
    snap = tracemalloc.take_snapshot()
    with open(os.environ["SUBS_TRACEMALLOC_OUT"], "a") as f:
        for kind in ("lineno", "traceback"):
            f.write(f"--- by {kind}\\n")
            for stat in snap.statistics(kind)[:40]:
                f.write(f"{stat}\\n")
                if kind == "traceback":
                    for line in stat.traceback.format()[-12:]:
                        f.write(f"    {line}\\n")
signal.signal(signal.SIGUSR2, _dump)
def _types(signum, frame):
    import collections, gc
    counts = collections.Counter(type(o).__name__ for o in gc.get_objects())
    with open(os.environ["SUBS_TRACEMALLOC_OUT"] + ".types", "a") as f:
        f.write(f"--- {sum(counts.values())} objects\\n")
        for name, n in counts.most_common(25):
            f.write(f"{n:>9} {name}\\n")
signal.signal(signal.SIGUSR1, _types)
"""


def run_crowd(
    gw: Gateway, n: int, processes: int, query: str, events: int, profile: str | None = None
) -> dict[str, Any]:
    per = [n // processes + (1 if i < n % processes else 0) for i in range(processes)]
    per = [c for c in per if c]
    before = settle(gw.pid)
    cpu0 = cpu_seconds(gw.pid)
    t0 = time.monotonic()
    clients = [
        subprocess.Popen(
            [sys.executable, __file__, "client", gw.url, gw.key, str(c), query],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for c in per
    ]
    for c in clients:
        assert c.stdout is not None
        line = c.stdout.readline().strip()
        assert line == "ready", line
    log(f"{n} clients ready")
    while (open_now := gw.subscriptions_open()) < n:
        log(f"{open_now}/{n} subscriptions open")
        time.sleep(0.5)
    connect_s = time.monotonic() - t0
    connect_cpu = cpu_seconds(gw.pid) - cpu0
    loaded = settle(gw.pid)
    if os.environ.get("KEEP_LOG"):
        log(f"loaded: {rss_by_mapping(gw.pid)}")
    if os.environ.get("SUBS_TRACEMALLOC_OUT"):
        os.kill(gw.pid, signal.SIGUSR1)
        time.sleep(5)
    if os.environ.get("SUBS_TRACEMALLOC_OUT") and profile is not None:
        os.kill(gw.pid, signal.SIGUSR2)
        time.sleep(10)
    # Deliver events one at a time: each waits until every client has it.
    cpu_per_event: list[float] = []
    user0 = cpu_times(gw.pid)[0]
    spy = None
    if profile:
        # Collapsed stacks of the gateway while it delivers (py-spy from the venv).
        spy = subprocess.Popen(
            [
                *(str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(gw.pid)),
                *("--format", "raw", "--rate", "200", "--output", profile),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(2)
    wall_per_event: list[float] = []
    for _ in range(events):
        c0, w0 = cpu_seconds(gw.pid), time.monotonic()
        seq = gw.publish()
        for c in clients:
            assert c.stdout is not None
            line = c.stdout.readline().strip()
            assert line == f"got {seq}", line
        log(f"event {seq} delivered")
        wall_per_event.append(time.monotonic() - w0)
        cpu_per_event.append(cpu_seconds(gw.pid) - c0)
    user_cpu = cpu_times(gw.pid)[0] - user0
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait(30)
    after_events = rss_kib(gw.pid)
    for c in clients:
        assert c.stdin is not None
        c.stdin.write("close\n")
        c.stdin.flush()
    for c in clients:
        assert c.stdout is not None
        c.stdout.readline()
        c.wait(30)
    while gw.subscriptions_open() > 0:
        time.sleep(0.5)
    left = settle(gw.pid, 5.0)
    if os.environ.get("KEEP_LOG"):
        log(f"left: {rss_by_mapping(gw.pid)}")
    if os.environ.get("SUBS_TRACEMALLOC_OUT"):
        os.kill(gw.pid, signal.SIGUSR1)
        time.sleep(5)
    return {
        "subscribers": n,
        "rss_before_kib": before,
        "rss_loaded_kib": loaded,
        "kib_per_subscriber": round((loaded - before) / n, 2),
        "connect_seconds": round(connect_s, 2),
        "connect_cpu_ms_per_subscriber": round(connect_cpu * 1000 / n, 3),
        "event_cpu_ms": round(sum(cpu_per_event) * 1000 / events, 2),
        # Over loopback the kernel charges much of the receiving side to the sender (stime).
        "event_user_cpu_ms": round(user_cpu * 1000 / events, 2),
        "event_wall_ms": round(sorted(wall_per_event)[len(wall_per_event) // 2] * 1000, 2),
        "rss_after_events_kib": after_events,
        "rss_after_leave_kib": left,
        "after_leave_vs_before": round(left / before, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--query", choices=sorted(QUERIES), default="actions")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the gateway")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--profile", help="py-spy's collapsed stacks of the last crowd's events")
    parser.add_argument("--tracemalloc", help="where the last crowd's allocations are written")
    parser.add_argument("--gc-threshold", help="gc.set_threshold in the gateway, e.g. 50000,20,100")
    args = parser.parse_args()
    raise_nofile()
    workdir = Path(tempfile.mkdtemp(prefix="subs-bench-"))
    env_extra = dict(item.split("=", 1) for item in args.env)
    server_env: dict[str, str] = {}
    if args.gc_threshold:
        # An experiment: the gateway's collector thresholds, set by a sitecustomize.
        (workdir / "sitecustomize.py").write_text(
            f"import gc\ngc.set_threshold({args.gc_threshold})\n"
        )
        server_env = {"PYTHONPATH": str(workdir)}
    if args.tracemalloc:
        (workdir / "sitecustomize.py").write_text(SITECUSTOMIZE)
        server_env = {
            "PYTHONPATH": str(workdir),
            **({"PYTHONTRACEMALLOC": "6"} if args.profile else {}),
            "SUBS_TRACEMALLOC_OUT": str(Path(args.tracemalloc).resolve()),
        }
        os.environ["SUBS_TRACEMALLOC_OUT"] = server_env["SUBS_TRACEMALLOC_OUT"]
    gw = Gateway(workdir, env_extra, server_env)
    results = []
    try:
        # A warm-up crowd, so that lazy imports and caches are not counted as subscribers.
        run_crowd(gw, 200, 2, QUERIES[args.query], 2)
        for n in args.subscribers:
            profile = args.profile if n == args.subscribers[-1] else None
            # A big crowd delivers fewer events: each takes seconds before the fixes.
            events = args.events if n <= 2000 else max(3, args.events // 4)
            results.append(run_crowd(gw, n, args.processes, QUERIES[args.query], events, profile))
            log(" ".join(f"{k}={v}" for k, v in results[-1].items()))
    finally:
        gw.stop()
        if os.environ.get("KEEP_LOG"):
            print((workdir / "gateway.log").read_text()[-20000:], file=sys.stderr)
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        print(json.dumps(results))
    else:
        for r in results:
            print(" ".join(f"{k}={v}" for k, v in r.items()))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "client":
        asyncio.run(client_main(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]))
    else:
        main()
