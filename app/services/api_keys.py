"""API keys: made random, shown once, stored as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets
from typing import TYPE_CHECKING

from sqlmodel import col, select

from app.actions.base import DataField
from app.actions.validation import check_value
from app.errors import ValidationFailed
from app.models import ApiKey, Company

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.db import SessionFactory

_NAME = DataField("name", "string", "")
KEY_PREFIX = "agw_"
BEARER = "bearer "


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


async def add_key(session: AsyncSession, company_id: int, label: str = "") -> str:
    """Store a new key for the company and return it: the only time it is seen."""
    raw = new_key()
    session.add(ApiKey(company_id=company_id, key_hash=hash_key(raw), prefix=raw[:12], label=label))
    return raw


async def store_known_key(session: AsyncSession, company_id: int, raw: str, label: str) -> None:
    """Store a key chosen elsewhere (the `dev` key kept beside the database) if it is new."""
    digest = hash_key(raw)
    if await session.scalar(select(col(ApiKey.id)).where(col(ApiKey.key_hash) == digest)) is None:
        session.add(ApiKey(company_id=company_id, key_hash=digest, prefix=raw[:12], label=label))


def bearer_token(header: str | None) -> str | None:
    if header is None or header[: len(BEARER)].lower() != BEARER:
        return None
    token = header[len(BEARER) :].strip()
    # Keys are short ASCII; anything else cannot be one and is not worth a query.
    return token if 0 < len(token) <= 200 and token.isascii() else None


async def authenticate(sessions: SessionFactory, authorization: str | None) -> int | None:
    """The company id that an `Authorization: Bearer <key>` value belongs to, if any."""
    token = bearer_token(authorization)
    if token is None:
        return None
    digest = hash_key(token)
    async with sessions() as session:
        row = (
            await session.execute(
                select(col(ApiKey.key_hash), col(ApiKey.company_id)).where(
                    col(ApiKey.key_hash) == digest, col(ApiKey.revoked_at).is_(None)
                )
            )
        ).first()
    if row is None or not secrets.compare_digest(row.key_hash, digest):
        return None
    return int(row.company_id)


async def create_company(sessions: SessionFactory, name: str) -> tuple[Company, str]:
    """A new company and its first API key."""
    problem = check_value(_NAME, name, "name")
    if problem is not None:
        raise ValidationFailed([problem])
    async with sessions.begin() as session:
        company = Company(name=name)
        session.add(company)
        await session.flush()
        assert company.id is not None
        raw = await add_key(session, company.id, label="initial")
    return company, raw
