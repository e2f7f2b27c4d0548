"""Automatic persisted queries, in the protocol Apollo Client and urql speak.

A client sends `extensions.persistedQuery = {"version": 1, "sha256Hash": ...}` without the
query; if no gateway has seen that hash, it is told `PersistedQueryNotFound` and sends the
query once beside its hash. Queries live in Redis, so every gateway process shares them.

Bounded: a query over `apq_max_query_bytes` is run but not kept; at most `apq_max_queries`
are kept, the least recently used forgotten first (an index sorted by last use, trimmed in
the same atomic script that stores), and each expires `apq_ttl_seconds` after its last use.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError
from redis.exceptions import RedisError

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

    from app.runtime import Runtime
    from app.settings import Settings

log = logging.getLogger(__name__)

NAMESPACE = "apq"
SUPPORTED_VERSION = 1
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")

# KEYS: the query, the index (keys by last use), a use counter. ARGV: ttl, then the query to
# store (absent on a read). A read moves the query to the top of the index; a write also trims
# the index to its bound, deleting what it drops. The counter orders uses strictly, where
# timestamps could tie. Index entries whose key expired are the least recently used: they go
# first.
_SCRIPT = """
local ttl = tonumber(ARGV[1])
if ARGV[2] == nil then
  local query = redis.call('GET', KEYS[1])
  if query then
    redis.call('EXPIRE', KEYS[1], ttl)
    redis.call('ZADD', KEYS[2], 'XX', redis.call('INCR', KEYS[3]), KEYS[1])
  end
  return query
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ttl)
redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[3]), KEYS[1])
local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[3])
if excess > 0 then
  local dropped = redis.call('ZPOPMIN', KEYS[2], excess)
  for i = 1, #dropped, 2 do redis.call('DEL', dropped[i]) end
end
return nil
"""


class PersistedQueryError(Exception):
    """A request error in the protocol's own words; clients react to the message and code."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code

    def as_graphql_error(self) -> GraphQLError:
        return GraphQLError(str(self), extensions={"code": self.code})


def not_found() -> PersistedQueryError:
    # Apollo Client and urql look for exactly this message (or code) and resend the query.
    return PersistedQueryError("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")


def sha256_hex(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


def requested_hash(extensions: dict[str, Any] | None) -> str | None:
    """The hash a request names in `extensions.persistedQuery`, if it uses the protocol."""
    if not extensions or "persistedQuery" not in extensions:
        return None
    persisted = extensions["persistedQuery"]
    if not isinstance(persisted, dict) or persisted.get("version") != SUPPORTED_VERSION:
        raise PersistedQueryError(
            f"persistedQuery must be {{version: {SUPPORTED_VERSION}, sha256Hash}}",
            "PERSISTED_QUERY_INVALID",
        )
    digest = persisted.get("sha256Hash")
    if not isinstance(digest, str) or not _SHA256_HEX.fullmatch(digest.lower()):
        raise PersistedQueryError(
            "persistedQuery.sha256Hash must be 64 hexadecimal digits", "PERSISTED_QUERY_INVALID"
        )
    return digest.lower()


@dataclass(frozen=True)
class QueryStore:
    script: AsyncScript
    max_queries: int
    max_query_bytes: int
    ttl_seconds: int
    # Keys are `{namespace}:{sha256}`, the index `{namespace}-index`.
    namespace: str = NAMESPACE

    def _keys(self, digest: str) -> list[str]:
        ns = self.namespace
        return [f"{ns}:{digest}", f"{ns}-index", f"{ns}-clock"]

    @classmethod
    def from_settings(
        cls, redis: Redis, settings: Settings, namespace: str = NAMESPACE
    ) -> QueryStore:
        return cls(
            redis.register_script(_SCRIPT),
            settings.apq_max_queries,
            settings.apq_max_query_bytes,
            settings.apq_ttl_seconds,
            namespace,
        )

    async def get(self, digest: str) -> str | None:
        try:
            found = await self.script(self._keys(digest), [self.ttl_seconds])
        except RedisError as exc:
            # Without Redis the client is told to send the query: slower, never wrong.
            log.warning("persisted query lookup failed: %s", exc)
            return None
        return None if found is None else bytes(found).decode()

    async def put(self, digest: str, query: str) -> bool:
        """Keep the query if it is small enough; False if it was not kept."""
        if len(query.encode()) > self.max_query_bytes:
            return False
        try:
            await self.script(self._keys(digest), [self.ttl_seconds, query, self.max_queries])
        except RedisError as exc:
            log.warning("persisted query not stored: %s", exc)
            return False
        return True


@dataclass(frozen=True)
class Lookup:
    store: QueryStore
    digest: str
    query: str
    # True when the client sent the query beside its hash.
    is_new: bool

    async def keep(self) -> None:
        """Remember a new query, once it has run: nothing that fails to validate is kept."""
        if self.is_new:
            await self.store.put(self.digest, self.query)


async def look_up(
    runtime: Runtime, query: str | None, extensions: dict[str, Any] | None
) -> Lookup | None:
    """The query a persisted-query request stands for; None for an ordinary request.

    Raises PersistedQueryError for a hash no gateway has kept or one that does not match.
    """
    digest = requested_hash(extensions)
    if digest is None:
        return None
    store = QueryStore.from_settings(runtime.redis, runtime.settings)
    if query is not None:
        if sha256_hex(query) != digest:
            raise PersistedQueryError(
                "provided sha256Hash does not match the query", "PERSISTED_QUERY_HASH_MISMATCH"
            )
        return Lookup(store, digest, query, is_new=True)
    stored = await store.get(digest)
    if stored is None:
        raise not_found()
    return Lookup(store, digest, stored, is_new=False)
