"""The `actions-gateway` command."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from pydantic import ValidationError

from app.observability.logs import configure_logging
from app.settings import Settings, get_settings

if TYPE_CHECKING:
    from app.db import SessionFactory
    from app.models import ApiKey

T = TypeVar("T")


def settings_problems(exc: ValidationError) -> str:
    """One line per problem, named by its environment variable."""
    lines = []
    for error in exc.errors():
        name = str(error["loc"][0]).upper() if error["loc"] else ""
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"  {name}: {message}" if name else f"  {message}")
    return "\n".join(lines)


def cmd_migrate(settings: Settings) -> None:
    from app.migrate import upgrade

    upgrade(settings)
    print("database schema is up to date")


def cmd_export_schema() -> None:
    from app.graphql.schema import export_sdl

    sys.stdout.write(export_sdl())


def cmd_companies_create(settings: Settings, name: str, as_json: bool) -> None:
    from app.services.api_keys import create_company

    company, key = _with_sessions(settings, lambda sessions: create_company(sessions, name))
    if as_json:
        print(json.dumps({"company_id": str(company.id), "api_key": key}))
    else:
        print(f"company {company.id} created; its API key (shown once): {key}")


def _with_sessions(settings: Settings, work: Callable[[SessionFactory], Awaitable[T]]) -> T:
    """Run one service call on a short-lived engine; a refusal ends the command with its message."""
    from app.db import create_engine, create_session_factory
    from app.errors import NotFound, ValidationFailed

    async def run() -> T:
        engine = create_engine(settings)
        try:
            return await work(create_session_factory(engine))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except (ValidationFailed, NotFound) as exc:
        raise SystemExit(f"error: {exc}") from None


def _key_record(key: ApiKey) -> dict[str, str | None]:
    """What a person may see of a key: never the key, which exists only once, at creation."""
    return {
        "id": str(key.id),
        "company_id": str(key.company_id),
        "prefix": key.prefix,
        "label": key.label,
        "created_at": key.created_at.isoformat(),
        "revoked_at": None if key.revoked_at is None else key.revoked_at.isoformat(),
    }


def cmd_keys_create(settings: Settings, company_id: int, label: str, as_json: bool) -> None:
    from app.services.api_keys import create_key

    key, raw = _with_sessions(settings, lambda sessions: create_key(sessions, company_id, label))
    if as_json:
        print(json.dumps({**_key_record(key), "api_key": raw}))
    else:
        print(f"key {key.id} created for company {company_id}; the key (shown once): {raw}")


def cmd_keys_list(settings: Settings, company_id: int, as_json: bool) -> None:
    from app.services.api_keys import list_keys

    keys = _with_sessions(settings, lambda sessions: list_keys(sessions, company_id))
    records = [_key_record(key) for key in keys]
    if as_json:
        print(json.dumps(records))
        return
    print(f"{'id':>6}  {'prefix':<14}{'created':<27}{'revoked':<27}label")
    for r in records:
        print(
            f"{r['id']:>6}  {r['prefix']:<14}{r['created_at']:<27}"
            f"{r['revoked_at'] or '-':<27}{r['label']}"
        )


def cmd_keys_revoke(settings: Settings, key_id: int) -> None:
    from redis.asyncio import Redis

    from app.services.api_keys import revoke_key

    async def revoke(sessions: SessionFactory) -> ApiKey:
        # Without REDIS_URL the gateways still close the key's sockets at their next re-check.
        redis = None if settings.redis_url is None else Redis.from_url(settings.redis_url)
        try:
            return await revoke_key(sessions, redis, key_id)
        finally:
            if redis is not None:
                await redis.aclose()

    key = _with_sessions(settings, revoke)
    print(f"key {key.id} ({key.prefix}...) of company {key.company_id} is revoked")


def cmd_serve(settings: Settings) -> None:
    from app.main import create_app
    from app.server import GatewayServer, uvicorn_config

    app = create_app(settings)
    GatewayServer(uvicorn_config(app, settings), app.state.websockets).run()


def cmd_worker(settings: Settings, burst: bool) -> None:
    from worker.runner import loop_factory, run

    with asyncio.Runner(loop_factory=loop_factory(settings)) as runner:
        # Non-zero when Redis stayed unreachable: the supervisor restarts the worker.
        raise SystemExit(runner.run(run(settings, burst=burst)))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="actions-gateway", description="GraphQL and REST gateway over workflow actions."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    dev = commands.add_parser(
        "dev", help="run everything on this machine: SQLite, Redis, gateway, worker"
    )
    dev.add_argument("--host", default=None)
    dev.add_argument("--port", type=int, default=None)
    commands.add_parser("serve", help="run the HTTP/WebSocket gateway")
    worker = commands.add_parser("worker", help="run an action worker")
    worker.add_argument("--burst", action="store_true", help="stop when the queue is empty")
    commands.add_parser("migrate", help="bring the database schema up to date")
    commands.add_parser("export-schema", help="print the GraphQL SDL")
    companies = commands.add_parser("companies", help="manage companies")
    company_commands = companies.add_subparsers(dest="companies_command", required=True)
    create = company_commands.add_parser("create", help="create a company and its first API key")
    create.add_argument("name")
    create.add_argument("--json", action="store_true", help="print {company_id, api_key} as JSON")
    keys = commands.add_parser("keys", help="manage a company's API keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    key_create = key_commands.add_parser("create", help="a new API key, shown once")
    key_create.add_argument("--company", type=int, required=True, help="the company's id")
    key_create.add_argument("--label", default="", help="a note to tell keys apart")
    key_create.add_argument("--json", action="store_true", help="print the key's record as JSON")
    key_list = key_commands.add_parser("list", help="a company's keys (never the keys themselves)")
    key_list.add_argument("--company", type=int, required=True, help="the company's id")
    key_list.add_argument("--json", action="store_true", help="print the records as JSON")
    key_revoke = key_commands.add_parser("revoke", help="refuse a key from now on")
    key_revoke.add_argument("key_id", type=int)

    args = parser.parse_args(argv)
    if argv is None and args.command in ("serve", "dev"):
        # Servers hand a crowd's memory back once it has gone (app/memory.py says why).
        from app.memory import serve_on_system_allocator

        serve_on_system_allocator()
    try:
        settings = get_settings()
    except ValidationError as exc:
        raise SystemExit(f"error: invalid settings:\n{settings_problems(exc)}") from None
    if args.command == "export-schema":
        cmd_export_schema()
        return
    # JSON lines unless LOG_FORMAT says otherwise; `dev` is for people, so text there.
    configure_logging(
        settings.log_format or ("text" if args.command == "dev" else "json"), settings.log_level
    )
    if args.command == "migrate":
        cmd_migrate(settings)
    elif args.command == "companies":
        cmd_companies_create(settings, args.name, args.json)
    elif args.command == "keys" and args.keys_command == "create":
        cmd_keys_create(settings, args.company, args.label, args.json)
    elif args.command == "keys" and args.keys_command == "list":
        cmd_keys_list(settings, args.company, args.json)
    elif args.command == "keys":
        cmd_keys_revoke(settings, args.key_id)
    elif args.command == "serve":
        cmd_serve(settings)
    elif args.command == "worker":
        cmd_worker(settings, args.burst)
    elif args.command == "dev":
        from app.dev import run_dev

        overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
        run_dev(settings.model_copy(update=overrides))
