"""API keys: made, listed and revoked per company; shown once; revoked keys refused at once."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess

import httpx
from sqlmodel import col, select

from app.models import ApiKey
from app.runtime import Runtime
from app.services.api_keys import create_company, hash_key, list_keys, revoke_key
from tests.support import ROOT, Caller, close_code, command, wait_until


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(*args), env={**os.environ, **env}, capture_output=True, text=True, cwd=ROOT
    )


def works(base_url: str, key: str) -> int:
    """The HTTP status of a GraphQL request made with the key."""
    return httpx.post(
        f"{base_url}/graphql",
        json={"query": "{ actions { edges { cursor } } }"},
        headers={"Authorization": f"Bearer {key}"},
    ).status_code


async def key_id(runtime: Runtime, raw: str) -> int:
    async with runtime.sessions() as session:
        found = await session.scalar(
            select(col(ApiKey.id)).where(col(ApiKey.key_hash) == hash_key(raw))
        )
    assert found is not None
    return found


async def test_keys_are_created_listed_and_revoked_per_company(
    env: dict[str, str], gateway: str, runtime: Runtime
) -> None:
    company = json.loads(cli(env, "companies", "create", "Keyed", "--json").stdout)
    created = cli(
        env, "keys", "create", "--company", company["company_id"], "--label", "ci", "--json"
    )
    assert created.returncode == 0, created.stderr
    record = json.loads(created.stdout)
    raw = record["api_key"]
    assert raw.startswith("agw_") and record["label"] == "ci"
    assert record["company_id"] == company["company_id"] and record["prefix"] == raw[:12]
    assert works(gateway, raw) == 200

    # Stored only as its hash: no column of its row holds the key.
    async with runtime.sessions() as session:
        row = await session.get(ApiKey, int(record["id"]))
    assert row is not None and row.key_hash == hash_key(raw)
    assert raw not in json.dumps(row.model_dump(mode="json"))

    listed = cli(env, "keys", "list", "--company", company["company_id"], "--json")
    assert listed.returncode == 0, listed.stderr
    keys = json.loads(listed.stdout)
    assert [k["label"] for k in keys] == ["initial", "ci"]
    assert {tuple(sorted(k)) for k in keys} == {
        ("company_id", "created_at", "id", "label", "prefix", "revoked_at")
    }
    table = cli(env, "keys", "list", "--company", company["company_id"])
    # Neither listing shows a key, only its first characters.
    for output in (listed.stdout, table.stdout):
        assert raw not in output and company["api_key"] not in output
    assert raw[:12] in table.stdout

    revoked = cli(env, "keys", "revoke", record["id"])
    assert revoked.returncode == 0, revoked.stderr
    # Refused from the very next request on; the company's other key is untouched.
    assert works(gateway, raw) == 401
    assert works(gateway, company["api_key"]) == 200
    keys = json.loads(cli(env, "keys", "list", "--company", company["company_id"], "--json").stdout)
    assert [k["revoked_at"] is not None for k in keys] == [False, True]
    # Revoking again is harmless.
    assert cli(env, "keys", "revoke", record["id"]).returncode == 0


def test_keys_commands_refuse_what_does_not_exist(env: dict[str, str], migrated: None) -> None:
    for args, message in [
        (("keys", "create", "--company", "987654321"), "company 987654321 not found"),
        (("keys", "list", "--company", "987654321"), "company 987654321 not found"),
        (("keys", "revoke", "987654321"), "API key 987654321 not found"),
        (("keys", "create", "--company", "1", "--label", "x" * 201), "at most 200 characters"),
    ]:
        result = cli(env, *args)
        assert result.returncode != 0 and message in result.stderr, (args, result.stderr)


async def test_a_revoked_key_s_websockets_are_closed_at_once(
    caller: Caller, env: dict[str, str], runtime: Runtime, gateway: str
) -> None:
    """The shared gateway re-checks keys only hourly: the announcement on Redis closes them."""
    _, spare = await add_key(runtime, caller)
    other = Caller(caller.base_url, caller.company_id, spare)
    async with (
        caller.websocket() as transport_ws,
        caller.websocket("graphql-ws") as graphql_ws,
        other.websocket() as unaffected,
    ):
        for socket in (transport_ws, graphql_ws, unaffected):
            await socket.subscribe("subscription { actions { id } }")
        result = cli(env, "keys", "revoke", str(await key_id(runtime, caller.api_key)))
        assert result.returncode == 0, result.stderr
        assert await close_code(transport_ws.ws) == 4403
        assert await close_code(graphql_ws.ws) == 4403
        # The company's other key keeps its socket and its events.
        created = await other.create_action("post_dashboard_notification", {"message": "m"})
        async for data in unaffected.results("1"):
            assert data["actions"]["id"] == created["action"]["id"]
            break


async def test_a_missed_announcement_is_made_up_by_the_periodic_recheck(
    caller: Caller, runtime: Runtime, tight_gateway: str
) -> None:
    """Revoked without telling Redis (as if the message were lost): the re-check closes it."""
    async with caller.at(tight_gateway).websocket() as socket:
        await socket.subscribe("subscription { actions { id } }")
        await revoke_key(runtime.sessions, None, await key_id(runtime, caller.api_key))
        assert await close_code(socket.ws) == 4403


async def test_a_key_revoked_while_redis_is_unreachable_is_refused_within_the_trust_window(
    caller: Caller, runtime: Runtime, gateway: str
) -> None:
    """The gateway trusts a key it read for TRUST_SECONDS while Redis holds no mark for it: a
    revocation whose mark was never written is refused once that trust runs out."""
    spare_id, spare = await add_key(runtime, caller)
    assert works(gateway, spare) == 200  # read, and now trusted
    await revoke_key(runtime.sessions, None, spare_id)  # as if Redis were down: no mark

    async def refused() -> bool:
        return works(gateway, spare) == 401

    await wait_until(refused, "a revoked key refused without its mark", timeout=30)
    assert works(gateway, caller.api_key) == 200


async def add_key(runtime: Runtime, caller: Caller) -> tuple[int, str]:
    from app.services.api_keys import create_key

    row, raw = await create_key(runtime.sessions, int(caller.company_id), "spare")
    assert row.id is not None
    return row.id, raw


async def test_keys_read_together_are_each_answered_for_themselves(runtime: Runtime) -> None:
    """Concurrent reads of keys share queries (`Runtime.key_reads`), yet each gets its own
    key's answer: live keys of two companies, a revoked one, one that never was."""
    one, one_key = await create_company(runtime.sessions, "Keys read together one")
    two, two_key = await create_company(runtime.sessions, "Keys read together two")
    gone, gone_key = await create_company(runtime.sessions, "Keys read together gone")
    gone_row = (await list_keys(runtime.sessions, int(gone.id or 0)))[0]
    await revoke_key(runtime.sessions, None, int(gone_row.id or 0))
    digests = [hash_key(k) for k in (one_key, two_key, gone_key, "agw_never", one_key)]
    read = await asyncio.gather(*(runtime.key_reads.submit(d) for d in digests))
    assert [None if p is None else p.company_id for p in read] == [
        one.id,
        two.id,
        None,
        None,
        one.id,
    ]
