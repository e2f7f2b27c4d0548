"""`python -m bench.run [--quick] [--json PATH]`: the whole benchmark, one command.

Runs the product as deployed (`actions-gateway serve`, a separate `actions-gateway worker`,
Redis, and SQLite or, by DATABASE_URL, PostgreSQL), the two baselines beside it, and a load
generator in processes of its own; prints the table and writes the JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from app.runtime import Runtime
from bench import e2e, http_bench, subscriptions, worker_rate
from bench.deploy import BenchDatabase, BenchRedis, Deployment
from bench.load import LoadGenerator
from bench.procs import (
    ROOT,
    CpuTimes,
    bench_command,
    cpu_model,
    raise_open_files_limit,
    run_json,
)
from bench.report import as_json, render
from bench.sizes import FULL, QUICK, Sizes
from bench.tenants import Tenant, tenant, tenant_by_command

SECTIONS = ("http", "e2e", "worker", "subscriptions")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny counts: a check, not a measure")
    parser.add_argument("--json", type=Path, help="also write the results here, as JSON")
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help="which sections to run (comma-separated; default all)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the run's directory (logs)")
    parser.add_argument(
        "--shared-redis",
        action="store_true",
        help="use REDIS_URL's server (an empty database number) instead of an embedded Redis; "
        "its pub/sub channels are the whole server's, so no other gateway may use that server",
    )
    return parser.parse_args()


async def end_to_end(deployment: Deployment, tenant: Tenant, sizes: Sizes) -> dict[str, Any]:
    """Section 3's latency at each offered rate: the worker running, the client a process of
    its own."""
    deployment.start_worker()
    runs = []
    try:
        for rate in sizes.e2e_rates:
            spec = e2e.Spec(
                port=deployment.ports["product"],
                key=tenant.key,
                app_ids=tenant.app_ids,
                count=max(1, round(rate * sizes.e2e_seconds)),
                rate=rate,
                label=f"e2e {uuid.uuid4().hex[:6]}",
            )
            timeout = 180 + sizes.e2e_seconds
            argument = e2e.spec_argument(spec)
            runs.append(await run_json(bench_command("e2e", argument), deployment.env, timeout))
    finally:
        deployment.stop_worker()
    return {"end_to_end": {"runs": runs}}


class Run:
    """One run's results so far, written out after each section (a long run that fails late
    keeps what it measured)."""

    def __init__(self, deployment: Deployment, quick: bool, json_path: Path | None) -> None:
        self.results: dict[str, Any] = {}
        self.failed: dict[str, str] = {}
        self._json_path = json_path
        self._started = time.monotonic()
        self._cpu = CpuTimes.read()
        self._steal: dict[str, float] = {}
        self._machine = {
            "cores": os.cpu_count(),
            "cpu_model": cpu_model(),
            "load_average_start": os.getloadavg()[0],
            "quick": quick,
        }
        self._deployment = deployment

    async def section(self, name: str, work: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        before = CpuTimes.read()
        try:
            self.results.update(await work())
        except Exception as exc:
            traceback.print_exc()
            self.failed[name] = f"{type(exc).__name__}: {exc}"[:2000]
        self._steal[name] = CpuTimes.read().steal_percent_since(before)
        self.save()

    def report(self) -> dict[str, Any]:
        machine = {
            **self._machine,
            "database": self._deployment.database.kind,
            "redis": self._deployment.redis.kind,
            "steal_percent": CpuTimes.read().steal_percent_since(self._cpu),
            "steal_percent_by_section": self._steal,
            "seconds": time.monotonic() - self._started,
        }
        report = {**self.results, "machine": machine}
        if self.failed:
            report["failed_sections"] = self.failed
        return report

    def save(self) -> None:
        if self._json_path is not None:
            self._json_path.write_bytes(
                orjson.dumps(as_json(self.report()), option=orjson.OPT_INDENT_2)
            )


async def measure(deployment: Deployment, sizes: Sizes, sections: set[str], run: Run) -> None:
    """Run the chosen sections in order, each in turn against the same deployment."""
    rt = await Runtime.start(deployment.settings, listen=False)
    load = LoadGenerator(bench_command("load"), str(ROOT))
    try:
        main_tenant = await tenant_by_command(rt, deployment)
        e2e_tenant = await tenant(rt, "Benchmark end to end")
        worker_tenant = await tenant(rt, "Benchmark worker")
        watched = await tenant(rt, "Benchmark subscriptions", apps=1)
        runs: dict[str, Callable[[], Awaitable[dict[str, Any]]]] = {
            "http": lambda: http_bench.run(deployment, rt, main_tenant, sizes, load),
            "e2e": lambda: end_to_end(deployment, e2e_tenant, sizes),
            "worker": lambda: worker_rate.run(deployment, rt, worker_tenant, sizes, load),
            "subscriptions": lambda: subscriptions.run(deployment, rt, watched, sizes),
        }
        for name, work in runs.items():
            if name in sections:
                await run.section(name, work)
    finally:
        load.close()
        await rt.close()


def main() -> None:
    args = parse_args()
    sizes = QUICK if args.quick else FULL
    sections = {s.strip() for s in args.sections.split(",") if s.strip()}
    if not sections or not sections <= set(SECTIONS):
        raise SystemExit(f"--sections: choose among {', '.join(SECTIONS)}")
    raise_open_files_limit()
    directory = Path(tempfile.mkdtemp(prefix="actions-gateway-bench-"))
    deployment = Deployment(
        directory,
        BenchDatabase(os.environ.get("DATABASE_URL"), directory),
        BenchRedis(os.environ.get("REDIS_URL") if args.shared_redis else None),
    )
    run = Run(deployment, args.quick, args.json)
    try:
        deployment.prepare()
        deployment.start_servers()
        asyncio.run(measure(deployment, sizes, sections, run))
    except BaseException:
        print(f"the benchmark failed; its logs are in {directory}", file=sys.stderr)
        raise
    finally:
        deployment.close()
    run.save()
    print(render(run.report()))
    if run.failed:
        print(f"logs: {directory}")
        raise SystemExit(1)
    if args.keep:
        print(f"logs: {directory}")
    else:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
