"""`python -m bench.run [--quick] [--json PATH]`: the whole benchmark, one command.

Runs the product as deployed (`actions-gateway serve`, a separate `actions-gateway worker`,
Redis, and SQLite or, by DATABASE_URL, PostgreSQL), the two baselines beside it, and a load
generator in processes of its own; prints the table and writes the JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
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


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny counts: a check, not a measure")
    parser.add_argument("--json", type=Path, help="also write the results here, as JSON")
    parser.add_argument(
        "--sections",
        default="http,e2e,worker,subscriptions",
        help="which sections to run (comma-separated; default all)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the run's directory (logs)")
    return parser.parse_args()


async def end_to_end(deployment: Deployment, tenant: Tenant, sizes: Sizes) -> dict[str, Any]:
    """Section 3's latency: the worker running, the client in a process of its own."""
    deployment.start_worker()
    spec = e2e.Spec(
        port=deployment.ports["product"],
        key=tenant.key,
        app_ids=tenant.app_ids,
        count=sizes.e2e_actions,
        rate=sizes.e2e_rate,
        label=f"e2e {uuid.uuid4().hex[:6]}",
    )
    timeout = 120 + sizes.e2e_actions / sizes.e2e_rate
    try:
        result = await run_json(
            bench_command("e2e", e2e.spec_argument(spec)), deployment.env, timeout
        )
    finally:
        deployment.stop_worker()
    return {"end_to_end": result}


async def measure(deployment: Deployment, sizes: Sizes, sections: set[str]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    rt = await Runtime.start(deployment.settings, listen=False)
    load = LoadGenerator(bench_command("load"), str(ROOT))
    try:
        main_tenant = await tenant_by_command(rt, deployment)
        if "http" in sections:
            results.update(await http_bench.run(deployment, rt, main_tenant, sizes, load))
        if "e2e" in sections:
            e2e_tenant = await tenant(rt, "Benchmark end to end")
            results.update(await end_to_end(deployment, e2e_tenant, sizes))
        if "worker" in sections:
            worker_tenant = await tenant(rt, "Benchmark worker")
            results.update(await worker_rate.run(deployment, rt, worker_tenant, sizes, load))
        if "subscriptions" in sections:
            watched = await tenant(rt, "Benchmark subscriptions", apps=1)
            results.update(await subscriptions.run(deployment, rt, watched, sizes))
    finally:
        load.close()
        await rt.close()
    return results


def main() -> None:
    args = parse_args()
    sizes = QUICK if args.quick else FULL
    sections = {s.strip() for s in args.sections.split(",") if s.strip()}
    raise_open_files_limit()
    started, cpu_before = time.monotonic(), CpuTimes.read()
    load_average = os.getloadavg()[0]
    directory = Path(tempfile.mkdtemp(prefix="actions-gateway-bench-"))
    deployment = Deployment(
        directory,
        BenchDatabase(os.environ.get("DATABASE_URL"), directory),
        BenchRedis(os.environ.get("REDIS_URL")),
    )
    try:
        deployment.prepare()
        deployment.start_servers()
        results = asyncio.run(measure(deployment, sizes, sections))
    finally:
        deployment.close()
    results["machine"] = {
        "cores": os.cpu_count(),
        "cpu_model": cpu_model(),
        "steal_percent": CpuTimes.read().steal_percent_since(cpu_before),
        "load_average_start": load_average,
        "seconds": time.monotonic() - started,
        "quick": args.quick,
        "database": deployment.database.kind,
        "redis": deployment.redis.kind,
    }
    print(render(results))
    if args.json is not None:
        args.json.write_bytes(orjson.dumps(as_json(results), option=orjson.OPT_INDENT_2))
    if args.keep:
        print(f"logs: {directory}")
    else:
        import shutil

        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
