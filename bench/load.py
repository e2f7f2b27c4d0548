"""The load generator: a process of its own that runs fixed counts of requests.

`python -m bench.load` reads one job per line on standard input (JSON: which server, which
operation, how many requests, how many concurrent clients) and answers each with one line of
results. Requests are built before the clock starts; each create's tag text differs, so that
every request stores a different row. Connections are opened before the clock starts too, and
a run stops at its time limit whatever it has done.
"""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Final

import orjson
import uvloop

from bench import wire

# What each kind of answer must hold to count as a success.
CREATED: Final = b'"status":"PENDING"'
FOUND: Final = b'"id":"'
GRAPHQL_ERROR: Final = b'"errors":[{'


@dataclass(frozen=True)
class Job:
    target: str  # "product", "floor" or "graphql_core"
    operation: str  # "create" or "read"
    port: int
    key: str
    count: int
    concurrency: int
    label: str = "bench"
    app_ids: list[int] = field(default_factory=list)
    action_ids: list[int] = field(default_factory=list)
    time_limit: float = 60.0

    def requests(self) -> list[bytes]:
        rest = self.target == "floor"
        if self.operation == "create":
            build = wire.floor_create if rest else wire.graphql_create
            return [
                build(self.port, self.key, self.app_ids[i % len(self.app_ids)], f"{self.label} {i}")
                for i in range(self.count)
            ]
        read = wire.floor_read if rest else wire.graphql_read
        return [
            read(self.port, self.key, self.action_ids[i % len(self.action_ids)])
            for i in range(self.count)
        ]

    @property
    def expected_status(self) -> int:
        return 201 if self.target == "floor" and self.operation == "create" else 200

    @property
    def marker(self) -> bytes:
        return CREATED if self.operation == "create" else FOUND


@dataclass
class Result:
    completed: int
    failures: int
    seconds: float
    latencies_ms: list[float]
    client_cpu_seconds: float
    failure_sample: str = ""

    @property
    def rps(self) -> float:
        return self.completed / self.seconds if self.seconds > 0 else 0.0


async def run_job(job: Job) -> Result:
    requests = job.requests()
    connections = [
        await wire.Connection.open("127.0.0.1", job.port) for _ in range(job.concurrency)
    ]
    indexes = itertools.count()
    latencies: list[float] = []
    failures = 0
    sample = ""
    clock = time.perf_counter
    started = clock()
    deadline = started + job.time_limit
    cpu_started = time.process_time()

    async def client(connection: wire.Connection) -> None:
        nonlocal failures, sample
        for index in indexes:
            if index >= len(requests) or clock() > deadline:
                return
            sent = clock()
            try:
                status, body = await connection.request(requests[index])
            except wire.HTTPError as exc:
                failures += 1
                sample = sample or str(exc)
                return
            if status != job.expected_status or job.marker not in body or GRAPHQL_ERROR in body:
                failures += 1
                sample = sample or f"{status} {body[:300]!r}"
            else:
                latencies.append((clock() - sent) * 1000)

    await asyncio.gather(*(client(c) for c in connections))
    seconds = clock() - started
    cpu = time.process_time() - cpu_started
    for connection in connections:
        connection.close()
    return Result(len(latencies), failures, seconds, latencies, cpu, sample)


def main() -> None:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        for line in sys.stdin:
            if not line.strip():
                continue
            job = Job(**orjson.loads(line))
            result = runner.run(run_job(job))
            answer = {**asdict(result), "latencies_ms": [round(x, 3) for x in result.latencies_ms]}
            sys.stdout.write(orjson.dumps(answer).decode() + "\n")
            sys.stdout.flush()


class LoadGenerator:
    """The orchestrator's handle on a load-generator process."""

    def __init__(self, command: list[str], cwd: str) -> None:
        self._process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=cwd, text=True
        )

    def run(self, job: Job) -> Result:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(orjson.dumps(asdict(job)).decode() + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the load generator exited ({self._process.wait()})")
        fields: dict[str, Any] = orjson.loads(line)
        return Result(**fields)

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


if __name__ == "__main__":
    main()
