"""Conditional GETs: a query's answer carries an ETag, and an unchanged answer costs a 304.

Answers are per API key and change as actions run, so caches must keep them private and ask
every time (`private, no-cache`); what they save is the body. GET is how persisted queries
make a query's URL short enough for caches to key on.
"""

from __future__ import annotations

import hashlib

from starlette.requests import Request
from starlette.responses import Response

CACHE_CONTROL = "private, no-cache"


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _matches(if_none_match: str, etag: str) -> bool:
    # Weak comparison (RFC 9110): W/"x" matches "x".
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in candidates or etag in candidates


def revalidated(request: Request, response: Response) -> Response:
    """The response to send for a GraphQL GET: tagged, or 304 if the client has it already."""
    if request.method != "GET" or response.status_code != 200:
        return response
    if response.media_type != "application/json":
        return response
    etag = _etag(bytes(response.body))
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL, "Vary": "Authorization"}
    if _matches(request.headers.get("if-none-match", ""), etag):
        return Response(status_code=304, headers=headers)
    response.headers.update(headers)
    return response
