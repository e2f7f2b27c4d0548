"""The worker's sustained rate on a backlog, against arq's no-op rate and the bare commit rate.

    python -m bench.worker_rate                                   # SQLite in a temporary file
    python -m bench.worker_rate --database-url postgresql+asyncpg://postgres@127.0.0.1/NAME

Each round, in alternating order, measures three things on the same database and Redis (an
embedded one of its own; for PostgreSQL, a fresh database next to the one named):

- worker: N tag_app actions are created through the service layer with no worker running
  (their jobs wait in arq's queue), then one real `actions-gateway worker` process is started;
  the rate is (N - 1) / (last executed_at - first executed_at), read from the rows.
- noop: an arq burst worker (`bench/noop_worker.py`, its own process) with the same
  poll_delay and max_jobs drains N no-op jobs.
- bare: the same writes as a try, with no worker around them: per action one transaction of
  the claim update, the tag insert and the EXECUTED update, each numbered as the product
  numbers them (the company's change counter), through the product's engine settings;
  one connection on SQLite, 16 concurrent on PostgreSQL.

Settings such as WORKER_MAX_JOBS in the environment reach the worker and the no-op worker.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
from arq.connections import ArqRedis
from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from app.embedded_redis import EmbeddedRedis
from app.models import Action, ActionStatus, Company, Tag, utcnow
from app.runtime import Runtime
from app.services import actions, hiring
from app.services.api_keys import create_company
from app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def steal_ticks() -> int:
    """The machine's CPU steal so far (jiffies), from /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
        return int(fields[8])
    except (OSError, IndexError, ValueError):
        return 0


async def admin(url: str, statement: str) -> None:
    maintenance = make_url(url).set(database="postgres", drivername="postgresql")
    connection = await asyncpg.connect(maintenance.render_as_string(hide_password=False))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def seed(rt: Runtime, label: str) -> tuple[int, int]:
    """A company with a job and an application: (company id, app id)."""
    company, _ = await create_company(rt.sessions, f"bench {label}")
    assert company.id is not None
    job = await hiring.create_job(rt, company.id, "bench")
    assert job.id is not None
    app = await hiring.create_app(rt, company.id, job.id, "bench")
    assert app.id is not None
    return company.id, app.id


async def create_backlog(rt: Runtime, count: int, label: str) -> list[int]:
    """N tag_app actions created as a client's calls create them: queued, no worker yet."""
    company_id, app_id = await seed(rt, label)
    ids: list[int] = []

    async def creator(start: int, step: int) -> None:
        for n in range(start, count, step):
            row = await actions.create_action(
                rt, company_id, "tag_app", {"app_id": app_id, "tag_text": f"{label}-{n}"}
            )
            assert row.id is not None
            ids.append(row.id)

    lanes = 1 if rt.settings.is_sqlite else 8
    await asyncio.gather(*(creator(lane, lanes) for lane in range(lanes)))
    return sorted(ids)


async def executed_count(rt: Runtime, ids: list[int]) -> int:
    async with rt.sessions() as session:
        value = await session.scalar(
            select(func.count())
            .select_from(Action)
            .where(col(Action.id).between(ids[0], ids[-1]), col(Action.status).in_(FINAL))
        )
    return int(value or 0)


FINAL = [ActionStatus.EXECUTED, ActionStatus.FAILED]


@dataclass(frozen=True)
class Variant:
    """A worker to measure: this checkout or another one (e.g. main, exported), and settings."""

    name: str
    root: Path = ROOT
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, spec: str) -> Variant:
        """`NAME[@PATH][,KEY=VALUE...]`"""
        head, *pairs = spec.split(",")
        name, _, root = head.partition("@")
        env = dict(pair.split("=", 1) for pair in pairs)
        return cls(name, Path(root).resolve() if root else ROOT, env)


async def measure_worker(
    rt: Runtime,
    env: dict[str, str],
    variant: Variant,
    count: int,
    label: str,
    profile: Path | None,
) -> dict[str, Any]:
    ids = await create_backlog(rt, count, label)
    log = Path(tempfile.gettempdir()) / f"bench-worker-{label}.log"
    with log.open("wb") as out:
        worker = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app",
            "worker",
            env={**os.environ, **env, **variant.env},
            stdout=out,
            stderr=out,
            # `python -m app` imports the app of its working directory.
            cwd=variant.root,
        )
    spy = None
    if profile is not None:
        output = str(profile / f"worker-{label}.txt")
        spy = await asyncio.create_subprocess_exec(
            *("py-spy", "record", "--pid", str(worker.pid), "--rate", "250", "--format", "raw"),
            *("--output", output, "--nonblocking"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    started = time.perf_counter()
    first: tuple[int, float] | None = None  # executed, CPU seconds, once the first is done
    try:
        while (done := await executed_count(rt, ids)) < count:
            if done and first is None:
                first = (done, cpu_seconds(worker.pid))
            if worker.returncode is not None:
                raise RuntimeError(f"the worker exited ({worker.returncode}); see {log}")
            if time.perf_counter() - started > 600:
                raise TimeoutError("the backlog was not drained in 600 s")
            await asyncio.sleep(0.2)
        wall = time.perf_counter() - started
        first = first or (0, 0.0)
        cpu_per_action = (cpu_seconds(worker.pid) - first[1]) / (count - first[0])
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
        worker.send_signal(signal.SIGTERM)
        await asyncio.wait_for(worker.wait(), 60)
        if spy is not None:
            await asyncio.wait_for(spy.wait(), 60)
    async with rt.sessions() as session:
        earliest, latest, executed, tries = (
            await session.execute(
                select(
                    func.min(col(Action.executed_at)),
                    func.max(col(Action.executed_at)),
                    func.count(col(Action.executed_at)),
                    func.sum(col(Action.attempts)),
                ).where(col(Action.id).between(ids[0], ids[-1]))
            )
        ).one()
        tags = await session.scalar(
            select(func.count()).select_from(Tag).where(col(Tag.action_id).between(ids[0], ids[-1]))
        )
    assert executed == tags == count, (executed, tags, count)
    assert earliest is not None and latest is not None
    span = (latest - earliest).total_seconds()
    return {
        "rate": (count - 1) / span,
        "wall": wall,
        "tries": int(tries),
        "cpu_ms_per_action": 1000 * cpu_per_action,
    }


async def measure_noop(
    redis: ArqRedis, env: dict[str, str], loop: str, count: int
) -> dict[str, Any]:
    queue = f"bench:noop:{uuid.uuid4().hex[:8]}"
    for _ in range(count):
        await redis.enqueue_job("noop", _queue_name=queue)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.noop_worker",
        env={**os.environ, **env, "NOOP_QUEUE": queue, "BENCH_LOOP": loop},
        stdout=subprocess.PIPE,
        cwd=ROOT,
    )
    stdout, _ = await process.communicate()
    assert process.returncode == 0, "the no-op worker failed"
    outcome: dict[str, Any] = json.loads(stdout.decode().strip().splitlines()[-1])
    assert outcome["jobs"] == count, outcome
    return outcome


def stamp_statements(
    dialect: str, action_id: int, company_id: int
) -> Callable[[AsyncConnection], Any]:
    async def run(conn: AsyncConnection) -> None:
        if dialect == "postgresql":
            taken = (
                update(Company)
                .where(col(Company.id) == company_id)
                .values(action_sequence=col(Company.action_sequence) + 1)
                .returning(col(Company.action_sequence))
                .cte("taken")
            )
            await conn.execute(
                update(Action)
                .where(col(Action.id) == action_id)
                .values(sequence=select(taken.c.action_sequence).scalar_subquery())
            )
            return
        number = await conn.scalar(
            update(Company)
            .where(col(Company.id) == company_id)
            .values(action_sequence=col(Company.action_sequence) + 1)
            .returning(col(Company.action_sequence))
        )
        await conn.execute(
            update(Action).where(col(Action.id) == action_id).values(sequence=number)
        )

    return run


async def measure_bare(rt: Runtime, count: int, label: str) -> dict[str, Any]:
    """One transaction per action with a try's writes, and nothing else."""
    company_id, app_id = await seed(rt, label)
    async with rt.sessions.begin() as session:
        rows = [
            Action(company_id=company_id, type="tag_app", data={"app_id": app_id, "tag_text": "x"})
            for _ in range(count)
        ]
        session.add_all(rows)
    queue = [(row.id or 0, n) for n, row in enumerate(rows)]
    dialect = rt.engine.dialect.name
    timeout = timedelta(seconds=rt.settings.action_timeout_seconds + 5)

    async def lane() -> None:
        while queue:
            action_id, n = queue.pop()
            stamp = stamp_statements(dialect, action_id, company_id)
            async with rt.engine.begin() as conn:
                now = utcnow()
                await conn.execute(
                    update(Action)
                    .where(col(Action.id) == action_id, col(Action.status) == ActionStatus.PENDING)
                    .values(
                        status=ActionStatus.RUNNING,
                        attempts=col(Action.attempts) + 1,
                        lease_expires_at=now + timeout,
                        next_try_at=None,
                        updated_at=now,
                        version=col(Action.version) + 1,
                    )
                )
                await stamp(conn)
                await conn.execute(
                    insert(Tag).values(
                        company_id=company_id,
                        app_id=app_id,
                        text=f"{label}-{n}",
                        action_id=action_id,
                        created_at=now,
                    )
                )
                done = utcnow()
                await conn.execute(
                    update(Action)
                    .where(
                        col(Action.id) == action_id,
                        col(Action.status) == ActionStatus.RUNNING,
                        col(Action.attempts) == 1,
                    )
                    .values(
                        status=ActionStatus.EXECUTED,
                        executed_at=done,
                        updated_at=done,
                        lease_expires_at=None,
                        error=None,
                        version=col(Action.version) + 1,
                    )
                )
                await stamp(conn)

    lanes = 1 if rt.settings.is_sqlite else 16
    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(lanes)))
    return {"rate": count / (time.perf_counter() - started)}


def migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "app", "migrate"],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        cwd=ROOT,
    )


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-worker-") as tmp, EmbeddedRedis() as redis:
        if args.database_url:
            base = Settings(database_url=args.database_url).database_url
            name = f"bench_worker_{uuid.uuid4().hex[:8]}"
            await admin(base, f'CREATE DATABASE "{name}"')
            url = make_url(base).set(database=name).render_as_string(hide_password=False)
        else:
            base, url = None, f"sqlite+aiosqlite:///{tmp}/bench.db"
        env = {"DATABASE_URL": url, "REDIS_URL": redis.url}
        try:
            migrate(env)
            settings = Settings(database_url=url, redis_url=redis.url, database_pool_size=20)
            rt = await Runtime.start(settings, listen=False)
            try:
                return await rounds(rt, env, args)
            finally:
                await rt.close()
        finally:
            if base is not None:
                await admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def rounds(rt: Runtime, env: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    variants = {v.name: v for v in map(Variant.parse, args.variant or ["worker"])}
    kinds = [f"worker:{name}" for name in variants]
    kinds += [f"noop:{loop}" for loop in args.loop or ["asyncio"]] + ["bare"]
    results: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    steal = steal_ticks()
    began = time.perf_counter()
    profile = Path(args.profile) if args.profile else None
    for round_ in range(args.rounds):
        # Alternating, so that a drift in the machine's load favours none of them.
        order = kinds if round_ % 2 == 0 else kinds[::-1]
        for kind in order:
            what, _, name = kind.partition(":")
            label = f"r{round_}-{what}-{name}-{uuid.uuid4().hex[:4]}"
            if what == "worker":
                outcome = await measure_worker(rt, env, variants[name], args.n, label, profile)
            elif what == "noop":
                outcome = await measure_noop(rt.redis, env, name, args.n)
            else:
                outcome = await measure_bare(rt, args.n, label)
            results[kind].append(outcome)
            extra = {k: round(v, 2) for k, v in outcome.items() if k != "rate"}
            print(f"round {round_} {kind:16} {outcome['rate']:8.0f}/s {extra}", flush=True)
    elapsed = time.perf_counter() - began
    stolen = (steal_ticks() - steal) / os.sysconf("SC_CLK_TCK") / (os.cpu_count() or 1)
    medians = {
        kind: {
            key: round(statistics.median(o[key] for o in outcomes), 3)
            for key in outcomes[0]
            if key in ("rate", "cpu_ms_per_action", "cpu_ms_per_job")
        }
        for kind, outcomes in results.items()
    }
    ratios = {
        f"{kind} / {base}": round(medians[kind]["rate"] / medians[base]["rate"], 3)
        for kind in kinds
        if kind.startswith("worker:")
        for base in kinds
        if not base.startswith("worker:")
    }
    summary = {
        "database": rt.engine.dialect.name,
        "n": args.n,
        "rounds": args.rounds,
        "variants": {v.name: {"root": str(v.root), **v.env} for v in variants.values()},
        "medians": medians,
        "ratios": ratios,
        "cpu_steal_fraction": round(stolen / elapsed, 3),
        "results": results,
    }
    print(f"\n{summary['database']}, {args.n} per round, medians of {args.rounds} rounds:")
    for kind, median in medians.items():
        print(f"  {kind:16} {median}")
    for name, ratio in ratios.items():
        print(f"  {name:32} {ratio}x")
    print(f"  cpu steal {summary['cpu_steal_fraction']:.1%}")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", help="PostgreSQL to make a fresh database beside")
    parser.add_argument("-n", type=int, default=2000, help="actions (and no-op jobs) per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--variant",
        action="append",
        help="a worker to measure, NAME[@CHECKOUT][,KEY=VALUE...]; repeat to compare",
    )
    parser.add_argument(
        "--loop",
        action="append",
        choices=["asyncio", "uvloop"],
        help="event loop(s) of the no-op arq worker (default asyncio)",
    )
    parser.add_argument("--profile", help="directory for py-spy profiles of the worker")
    parser.add_argument("--json", help="also write the summary here")
    args = parser.parse_args()
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    summary = asyncio.run(run(args))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
