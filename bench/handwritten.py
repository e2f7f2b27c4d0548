"""What a hand-written endpoint does to create and read a tag_app action: the baselines' work.

The same engine (app.db.create_engine), the same Redis client, the same key lookup, job and
event as the product; the data checked by hand; the row inserted in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from arq.connections import ArqRedis
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from app.actions.base import MAX_ID
from app.db import SessionFactory, create_engine, create_session_factory
from app.events import publish_action
from app.models import Action, ActionStatus, App, utcnow
from app.queue import enqueue_action
from app.runtime import redis_client
from app.services.api_keys import Principal, authenticate, read_keys
from app.settings import Settings

TAG_APP: Final = "tag_app"
MAX_TEXT: Final = 1000


@dataclass(frozen=True)
class Problem:
    field: str
    message: str
    code: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "code": self.code}


class Refused(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


@dataclass
class Clients:
    """The long-lived clients of a baseline server, made as the product makes its own."""

    engine: AsyncEngine
    sessions: SessionFactory
    redis: ArqRedis

    @classmethod
    def start(cls, settings: Settings) -> Clients:
        engine = create_engine(settings)
        return cls(engine, create_session_factory(engine), redis_client(settings))

    async def close(self) -> None:
        await self.redis.aclose()
        await self.engine.dispose()

    async def principal(self, authorization: str | None) -> Principal | None:
        return await authenticate(self._read_key, authorization)

    async def _read_key(self, digest: str) -> Principal | None:
        # A read per request, as a hand-written endpoint would (the gateway batches its reads).
        return (await read_keys(self.sessions, [digest]))[0]


def check_tag_app(type_name: object, data: object) -> tuple[int, str]:
    """(app_id, tag_text) if they are a tag_app's data; Refused naming each problem."""
    problems: list[Problem] = []
    if type_name != TAG_APP:
        problems.append(Problem("type", "type must be tag_app", "UNKNOWN_TYPE"))
    if not isinstance(data, dict):
        raise Refused([*problems, Problem("data", "data must be an object", "INVALID_TYPE")])
    app_id, tag_text = data.get("app_id"), data.get("tag_text")
    if not isinstance(app_id, int) or isinstance(app_id, bool) or not 1 <= app_id <= MAX_ID:
        problems.append(Problem("data.app_id", "app_id must be an integer", "INVALID_TYPE"))
    if not isinstance(tag_text, str) or not tag_text.strip() or len(tag_text) > MAX_TEXT:
        problems.append(Problem("data.tag_text", "tag_text must be a non-empty string", "BLANK"))
    unknown = sorted(set(data) - {"app_id", "tag_text"})
    problems += [Problem(f"data.{k}", f"unknown key {k}", "UNKNOWN_KEY") for k in unknown]
    if problems:
        raise Refused(problems)
    assert isinstance(app_id, int) and isinstance(tag_text, str)
    return app_id, tag_text


async def create_tag_action(
    clients: Clients, company_id: int, type_name: object, data: object
) -> Action:
    """Check, insert in one transaction, then queue and announce, as the product's create does."""
    app_id, tag_text = check_tag_app(type_name, data)
    now = utcnow()
    action = Action(
        company_id=company_id,
        type=TAG_APP,
        data={"app_id": app_id, "tag_text": tag_text},
        created_at=now,
        updated_at=now,
    )
    async with clients.engine.begin() as connection:
        found = await connection.scalar(
            select(col(App.id)).where(col(App.id) == app_id, col(App.company_id) == company_id)
        )
        if found is None:
            raise Refused([Problem("data.app_id", f"app {app_id} not found", "NOT_FOUND")])
        action.id = await connection.scalar(
            insert(Action)
            .values(
                company_id=company_id,
                type=action.type,
                data=action.data,
                status=ActionStatus.PENDING,
                attempts=0,
                version=1,
                sequence=0,
                created_at=now,
                updated_at=now,
            )
            .returning(col(Action.id))
        )
    assert action.id is not None
    await enqueue_action(clients.redis, action.id, action.version)
    await publish_action(clients.redis, action)
    return action


async def read_action(clients: Clients, company_id: int, action_id: int) -> dict[str, Any] | None:
    """The action's record if it is the company's, else None."""
    if not 1 <= action_id <= MAX_ID:
        return None
    async with clients.engine.connect() as connection:
        row = (
            await connection.execute(
                select(
                    col(Action.id),
                    col(Action.status),
                    col(Action.type),
                    col(Action.data),
                    col(Action.created_at),
                ).where(col(Action.id) == action_id, col(Action.company_id) == company_id)
            )
        ).first()
    if row is None:
        return None
    return record(row.id, row.status, row.type, row.data, row.created_at)


def record(
    action_id: int | None, status: ActionStatus, type_name: str, data: Any, created_at: datetime
) -> dict[str, Any]:
    """What both baselines answer with: the fields the product's operations select."""
    return {
        "id": str(action_id),
        "status": status.value,
        "type": type_name,
        "data": data,
        "createdAt": created_at.isoformat(),
    }


def action_record(action: Action) -> dict[str, Any]:
    return record(action.id, action.status, action.type, action.data, action.created_at)
