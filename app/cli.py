"""The `actions-gateway` command."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from app.observability.logs import configure_logging
from app.settings import Settings, get_settings


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
    from app.db import create_engine, create_session_factory
    from app.errors import ValidationFailed
    from app.services.api_keys import create_company

    async def create() -> tuple[int, str]:
        engine = create_engine(settings)
        try:
            company, key = await create_company(create_session_factory(engine), name)
        finally:
            await engine.dispose()
        assert company.id is not None
        return company.id, key

    try:
        company_id, key = asyncio.run(create())
    except ValidationFailed as exc:
        raise SystemExit(f"error: {exc}") from None
    if as_json:
        print(json.dumps({"company_id": str(company_id), "api_key": key}))
    else:
        print(f"company {company_id} created; its API key (shown once): {key}")


def cmd_serve(settings: Settings) -> None:
    from app.main import create_app
    from app.server import GatewayServer, uvicorn_config

    app = create_app(settings)
    GatewayServer(uvicorn_config(app, settings), app.state.websockets).run()


def cmd_worker(settings: Settings, burst: bool) -> None:
    from worker.settings import create_worker

    create_worker(settings, burst=burst).run()


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

    args = parser.parse_args(argv)
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
    elif args.command == "serve":
        cmd_serve(settings)
    elif args.command == "worker":
        cmd_worker(settings, args.burst)
    elif args.command == "dev":
        from app.dev import run_dev

        overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
        run_dev(settings.model_copy(update=overrides))
