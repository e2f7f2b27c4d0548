"""API keys: made random, shown once, stored as SHA-256 hashes, revocable at once."""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from redis.exceptions import RedisError
from sqlalchemy import bindparam
from sqlmodel import col, select

from app.actions.base import DataField
from app.actions.validation import check_value
from app.errors import ErrorCode, NotFound, Problem, ValidationFailed
from app.models import ApiKey, Company, utcnow

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Collection

    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.db import SessionFactory

log = logging.getLogger(__name__)

_NAME = DataField("name", "string", "")
_LABEL = DataField("label", "string", "")
# The columns' width (models.Company.name, models.ApiKey.label).
MAX_NAME_LENGTH: Final = 200
KEY_PREFIX = "agw_"
BEARER = "bearer "
# Gateways listen here and close the open WebSockets of a key the moment it is revoked.
REVOKED_CHANNEL: Final = "keys:revoked"
# A revoked key's mark in Redis, read with every HTTP request's rate-limit count; kept far
# longer than any gateway trusts a key it has read (TRUST_SECONDS).
REVOKED_MARKER_PREFIX: Final = "keys:revoked:"
REVOKED_MARKER_SECONDS: Final = 7 * 86400
# How long a gateway may admit a key it read from the database without reading it again,
# provided Redis answers for each request and holds no revocation mark for it. The bound on a
# revoked key's life only if its mark could not be written (Redis down at the revocation).
TRUST_SECONDS: Final = 5.0
# Live keys only are kept, so the table is bounded by the keys that exist; this caps it anyway.
MAX_TRUSTED_KEYS: Final = 10_000


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key (for rate limits and revocation) and its company (for data)."""

    key_id: int
    company_id: int


def revoked_marker(key_id: int) -> str:
    return f"{REVOKED_MARKER_PREFIX}{key_id}"


class TrustedKeys:
    """Keys this process read as live a moment ago, by hash: an HTTP request need not read
    its key's row again. Only for use with the revocation mark's check (`app.security.http`)."""

    def __init__(self, trust_seconds: float = TRUST_SECONDS) -> None:
        self._trust_seconds = trust_seconds
        self._keys: dict[str, tuple[Principal, float]] = {}

    def get(self, digest: str) -> Principal | None:
        entry = self._keys.get(digest)
        if entry is None:
            return None
        if entry[1] < time.monotonic():
            del self._keys[digest]
            return None
        return entry[0]

    def put(self, digest: str, principal: Principal) -> None:
        if len(self._keys) >= MAX_TRUSTED_KEYS:
            self._keys.clear()
        self._keys[digest] = (principal, time.monotonic() + self._trust_seconds)

    def forget(self, digest: str) -> None:
        self._keys.pop(digest, None)

    def forget_key(self, key_id: int) -> None:
        for digest in [d for d, (p, _) in self._keys.items() if p.key_id == key_id]:
            del self._keys[digest]


def _check_name(spec: DataField, value: str) -> None:
    problem = check_value(spec, value, spec.name)
    if problem is None and len(value) > MAX_NAME_LENGTH:
        problem = Problem(
            spec.name,
            f"{spec.name} must be at most {MAX_NAME_LENGTH} characters",
            ErrorCode.TOO_LONG,
        )
    if problem is not None:
        raise ValidationFailed([problem])


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


async def authenticate(
    read: Callable[[str], Awaitable[Principal | None]], authorization: str | None
) -> Principal | None:
    """The live key an `Authorization: Bearer <key>` value names, if any, by `read` (a key
    by its hash: `Runtime.key_reads.submit` in the gateway, which batches `read_keys`).

    Read from the database on every call, so that a revoked key is refused at once by every
    gateway. The lookup is by hash: the index cannot leak timing about the raw key.
    """
    token = bearer_token(authorization)
    if token is None:
        return None
    return await read(hash_key(token))


# Made once: a statement built per read leaves its parameters in reference cycles.
_LIVE_KEYS: Final = select(col(ApiKey.id), col(ApiKey.key_hash), col(ApiKey.company_id)).where(
    col(ApiKey.key_hash).in_(bindparam("digests", expanding=True)),
    col(ApiKey.revoked_at).is_(None),
)


async def read_keys(sessions: SessionFactory, digests: list[str]) -> list[Principal | None]:
    """The live key with each of these hashes (None where there is none), in one query.

    The gateway reads keys through `Runtime.key_reads`, which batches the reads of concurrent
    requests and connections (app/services/batching.py): each still begins after its caller
    asked, so a revoked key is refused as soon as its row says so.
    """
    async with sessions() as session:
        rows = (await session.execute(_LIVE_KEYS, {"digests": sorted(set(digests))})).all()
    found = {
        row.key_hash: Principal(key_id=int(row.id), company_id=int(row.company_id)) for row in rows
    }
    return [found.get(digest) for digest in digests]


async def create_key(
    sessions: SessionFactory, company_id: int, label: str = ""
) -> tuple[ApiKey, str]:
    """A new key for an existing company: the row, and the key itself (shown once)."""
    if label:  # optional; one given must be a sensible string like any other
        _check_name(_LABEL, label)
    async with sessions.begin() as session:
        if await session.get(Company, company_id) is None:
            raise NotFound(f"company {company_id} not found")
        raw = await add_key(session, company_id, label=label)
        await session.flush()
        row = await session.scalar(select(ApiKey).where(col(ApiKey.key_hash) == hash_key(raw)))
    assert row is not None
    return row, raw


async def list_keys(sessions: SessionFactory, company_id: int) -> list[ApiKey]:
    """The company's keys, oldest first (the rows hold hashes, never keys)."""
    async with sessions() as session:
        if await session.get(Company, company_id) is None:
            raise NotFound(f"company {company_id} not found")
        rows = await session.scalars(
            select(ApiKey).where(col(ApiKey.company_id) == company_id).order_by(col(ApiKey.id))
        )
        return list(rows.all())


async def revoke_key(sessions: SessionFactory, redis: Redis | None, key_id: int) -> ApiKey:
    """Revoke a key: refused from the next request on, and its WebSockets closed.

    Requests are refused at once: each reads the key's row, or, where its gateway read it
    less than TRUST_SECONDS ago, the key's revocation mark set here, in the Redis round trip
    that counts the request. Open WebSockets are closed by the gateways holding them: at once
    when they hear the announcement on Redis, or within KEY_RECHECK_SECONDS when they re-check
    (Redis down, message missed). Revoking a revoked key changes nothing.
    """
    async with sessions.begin() as session:
        key = await session.get(ApiKey, key_id)
        if key is None:
            raise NotFound(f"API key {key_id} not found")
        if key.revoked_at is None:
            key.revoked_at = utcnow()
    if redis is not None:
        try:
            async with redis.pipeline(transaction=False) as pipe:
                pipe.set(revoked_marker(key_id), "1", ex=REVOKED_MARKER_SECONDS)
                pipe.publish(REVOKED_CHANNEL, str(key_id))
                await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("could not announce the revocation of key %s: %s", key_id, exc)
    return key


async def revoked_among(sessions: SessionFactory, key_ids: Collection[int]) -> set[int]:
    """Which of these keys are revoked (or gone)."""
    if not key_ids:
        return set()
    async with sessions() as session:
        live = await session.scalars(
            select(col(ApiKey.id)).where(
                col(ApiKey.id).in_(key_ids), col(ApiKey.revoked_at).is_(None)
            )
        )
        return set(key_ids) - set(live.all())


async def create_company(sessions: SessionFactory, name: str) -> tuple[Company, str]:
    """A new company and its first API key."""
    _check_name(_NAME, name)
    async with sessions.begin() as session:
        company = Company(name=name)
        session.add(company)
        await session.flush()
        assert company.id is not None
        raw = await add_key(session, company.id, label="initial")
    return company, raw
