"""The companies the benchmark acts for, made with the product's own command and services."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from app.runtime import Runtime
from app.services import hiring
from app.services.api_keys import create_company, create_key
from bench.deploy import Deployment


@dataclass(frozen=True)
class Tenant:
    company_id: int
    key: str
    app_ids: list[int]


async def _apps(rt: Runtime, company_id: int, count: int) -> list[int]:
    job = await hiring.create_job(rt, company_id, "Benchmark engineer")
    assert job.id is not None
    ids = []
    for n in range(count):
        app = await hiring.create_app(rt, company_id, job.id, f"Candidate {n}")
        assert app.id is not None
        ids.append(app.id)
    return ids


async def tenant_by_command(rt: Runtime, deployment: Deployment, apps: int = 10) -> Tenant:
    """A company made as an operator makes one: `actions-gateway companies create --json`."""
    company_id, key = deployment.create_company(f"Benchmark {uuid.uuid4().hex[:6]}")
    return Tenant(company_id, key, await _apps(rt, company_id, apps))


async def tenant(rt: Runtime, name: str, apps: int = 10) -> Tenant:
    company, key = await create_company(rt.sessions, name)
    assert company.id is not None
    return Tenant(company.id, key, await _apps(rt, company.id, apps))


async def more_keys(rt: Runtime, company_id: int, count: int) -> list[str]:
    """Further API keys of the company (one per subscriber process)."""
    return [(await create_key(rt.sessions, company_id, f"bench {n}"))[1] for n in range(count)]
