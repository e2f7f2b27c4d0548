"""createAction's requests/s against a hand-written floor, alternating, in one run.

    .venv/bin/python scripts/create_bench.py [--database-url URL] [--seconds 8] [--rounds 3]

Starts its own Redis, migrates the database (a SQLite file in a temporary directory unless
--database-url names one), then runs the gateway (`actions-gateway serve`) and the floor (a
minimal Starlette endpoint in this file: per request, the same data check, the app reference
check, the insert and its sequence stamp in one transaction, then arq's enqueue_job) side by
side, and loads each in turn with wrk at 4 and 32 connections. No worker runs: the jobs wait.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.actions import get_action_type  # noqa: E402
from app.actions.validation import check_data  # noqa: E402
from app.embedded_redis import free_port  # noqa: E402
from app.models import Action  # noqa: E402
from app.queue import RUN_ACTION, job_id  # noqa: E402
from app.runtime import Runtime  # noqa: E402
from app.services.changes import stamp  # noqa: E402
from app.services.references import exists  # noqa: E402
from app.settings import Settings  # noqa: E402

GRAPHQL = (
    'mutation($d: JSON!) { createAction(input: {type: "tag_app", data: $d}) '
    "{ action { id status } errors { field message code } } }"
)


def floor() -> Starlette:
    """The floor: what a user would write by hand (uvicorn --factory)."""
    settings = Settings()
    company_id = int(os.environ["BENCH_COMPANY_ID"])
    requirements = get_action_type("tag_app").create_action  # type: ignore[union-attr]
    state: dict[str, Runtime] = {}

    async def create(request: Request) -> JSONResponse:
        return await insert(request, numbered=True)

    async def create_plain(request: Request) -> JSONResponse:
        return await insert(request, numbered=False)

    async def insert(request: Request, numbered: bool) -> JSONResponse:
        rt = state["rt"]
        body = await request.json()
        data = body.get("data")
        problems = check_data(requirements, data)
        if problems:
            return JSONResponse({"errors": [p.message for p in problems]}, 422)
        async with rt.sessions.begin() as session:
            if not await exists(session, "app", company_id, data["app_id"]):
                return JSONResponse({"errors": ["app not found"]}, 422)
            action = Action(company_id=company_id, type="tag_app", data=data)
            session.add(action)
            await session.flush()
            if numbered:  # the per-company change sequence the product keeps
                await stamp(session, action)
        assert action.id is not None
        await rt.redis.enqueue_job(RUN_ACTION, action.id, _job_id=job_id(action.id, 1))
        return JSONResponse({"id": str(action.id), "status": action.status}, 201)

    async def lifespan(app: Starlette) -> Any:
        state["rt"] = await Runtime.start(settings, listen=False)
        yield
        await state["rt"].close()

    routes = [
        Route("/actions", create, methods=["POST"]),
        Route("/plain", create_plain, methods=["POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


async def seed(settings: Settings) -> tuple[int, str, int]:
    from app.services.api_keys import create_company
    from app.services.hiring import create_app, create_job

    rt = await Runtime.start(settings, listen=False)
    try:
        company, key = await create_company(rt.sessions, "bench")
        assert company.id is not None
        job = await create_job(rt, company.id, "Engineer")
        assert job.id is not None
        app = await create_app(rt, company.id, job.id, "Ada")
        assert app.id is not None
        return company.id, key, app.id
    finally:
        await rt.close()


def wait_http(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise TimeoutError(url)


WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = [[%s]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %s"
"""


def wrk(
    url: str, body: str, key: str, connections: int, seconds: float, tmp: Path
) -> dict[str, Any]:
    script = tmp / f"wrk-{abs(hash(url))}.lua"
    script.write_text(WRK_SCRIPT % (body, key))
    threads = min(2, connections)
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{int(seconds)}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    p50 = re.search(r"50%\s+(\S+)", out)
    p99 = re.search(r"99%\s+(\S+)", out)
    return {
        "rps": rps,
        "non2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(0) if errors else "",
        "p50": p50.group(1) if p50 else "",
        "p99": p99.group(1) if p99 else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", default="4,32")
    # floor: the same work by hand; plain: by hand without the change sequence's stamp.
    parser.add_argument("--targets", default="graphql,rest,floor,plain")
    parser.add_argument("--profile", default=None, help="py-spy the gateway into this SVG")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="create-bench-"))
    database_url = args.database_url or f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    redis_port = free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    procs: list[subprocess.Popen[bytes]] = [redis]
    try:
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "RATE_LIMIT_REQUESTS": "1000000",
            "LOG_LEVEL": "WARNING",
        }
        time.sleep(0.5)
        subprocess.run([sys.executable, "-m", "app", "migrate"], env=env, check=True, cwd=ROOT)
        settings = Settings(database_url=database_url, redis_url=env["REDIS_URL"])
        company_id, key, app_id = asyncio.run(seed(settings))
        gw_port, floor_port = free_port(), free_port()
        log = (tmp / "servers.log").open("ab")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "app", "serve"],
                env={**env, "PORT": str(gw_port)},
                cwd=ROOT,
                stdout=log,
                stderr=log,
            )
        )
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--factory",
                    "scripts.create_bench:floor",
                    "--port",
                    str(floor_port),
                    "--log-level",
                    "warning",
                    "--no-access-log",
                ],
                env={**env, "BENCH_COMPANY_ID": str(company_id)},
                cwd=ROOT,
                stdout=log,
                stderr=log,
            )
        )
        wait_http(f"http://127.0.0.1:{gw_port}/healthz")
        wait_http(f"http://127.0.0.1:{floor_port}/actions")
        data = {"app_id": app_id, "tag_text": "bench"}
        targets = {
            "graphql": (
                f"http://127.0.0.1:{gw_port}/graphql",
                json.dumps({"query": GRAPHQL, "variables": {"d": data}}),
            ),
            "rest": (
                f"http://127.0.0.1:{gw_port}/api/v1/actions",
                json.dumps({"type": "tag_app", "data": data}),
            ),
            "floor": (
                f"http://127.0.0.1:{floor_port}/actions",
                json.dumps({"type": "tag_app", "data": data}),
            ),
            "plain": (
                f"http://127.0.0.1:{floor_port}/plain",
                json.dumps({"type": "tag_app", "data": data}),
            ),
        }
        chosen = args.targets.split(",")
        # Warm up each (caches, connections).
        for name in chosen:
            url, body = targets[name]
            wrk(url, body, key, 4, 2, tmp)
        if args.profile:
            spy_args = ["--gil", "--format", "raw", "-o", args.profile, "-d", "20"]
            spy = subprocess.Popen(["py-spy", "record", *spy_args, "-p", str(procs[1].pid)])
            wrk(*targets[chosen[0]], key, 32, 20, tmp)
            spy.wait()
            return
        results: dict[str, dict[int, list[dict[str, Any]]]] = {n: {} for n in chosen}
        for _ in range(args.rounds):
            for conc in [int(c) for c in args.concurrency.split(",")]:
                for name in chosen:
                    url, body = targets[name]
                    r = wrk(url, body, key, conc, args.seconds, tmp)
                    results[name].setdefault(conc, []).append(r)
                    print(
                        f"{name:8} c={conc:3} {r['rps']:8.1f} req/s p50 {r['p50']:>8} "
                        f"p99 {r['p99']:>8} non2xx {r['non2xx']} {r['socket_errors']}",
                        flush=True,
                    )
        print()
        for conc in [int(c) for c in args.concurrency.split(",")]:
            floor_runs = results.get("floor", {}).get(conc)
            for name in chosen:
                runs = results[name][conc]
                mean = sum(r["rps"] for r in runs) / len(runs)
                ratio = ""
                if floor_runs:
                    ratios = [r["rps"] / f["rps"] for r, f in zip(runs, floor_runs, strict=True)]
                    each = ", ".join(f"{x:.2f}" for x in ratios)
                    ratio = f"ratio to floor {sum(ratios) / len(ratios):.2f} (each {each})"
                print(f"{name:8} c={conc:3} mean {mean:8.1f} req/s  {ratio}")
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()
