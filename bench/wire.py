"""A lean HTTP/1.1 client: keep-alive connections, requests built as bytes beforehand.

Lean so that on a small machine the load generator is never what limits the servers: one
asyncio protocol per connection, the response framed by Content-Length, nothing else parsed.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final, cast

import orjson

CREATE_DOCUMENT: Final = (
    "mutation Create($input: CreateActionInput!) { createAction(input: $input) "
    "{ action { id status type data createdAt } errors { field message code } } }"
)
READ_DOCUMENT: Final = "query Read($id: ID!) { action(id: $id) { id status type data createdAt } }"
HEADER_END: Final = b"\r\n\r\n"


def request_bytes(method: str, path: str, port: int, key: str, body: Any | None = None) -> bytes:
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {key}\r\nAccept: application/json\r\n"
    )
    if body is None:
        return (head + "\r\n").encode()
    payload = orjson.dumps(body)
    head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    return head.encode() + payload


def tag_data(app_id: int, text: str) -> dict[str, Any]:
    return {"app_id": app_id, "tag_text": text}


def graphql_create(port: int, key: str, app_id: int, text: str) -> bytes:
    variables = {"input": {"type": "tag_app", "data": tag_data(app_id, text)}}
    body = {"query": CREATE_DOCUMENT, "variables": variables, "operationName": "Create"}
    return request_bytes("POST", "/graphql", port, key, body)


def graphql_read(port: int, key: str, action_id: int) -> bytes:
    body = {"query": READ_DOCUMENT, "variables": {"id": str(action_id)}, "operationName": "Read"}
    return request_bytes("POST", "/graphql", port, key, body)


def floor_create(port: int, key: str, app_id: int, text: str) -> bytes:
    return request_bytes(
        "POST", "/actions", port, key, {"type": "tag_app", "data": tag_data(app_id, text)}
    )


def floor_read(port: int, key: str, action_id: int) -> bytes:
    return request_bytes("GET", f"/actions/{action_id}", port, key)


class HTTPError(Exception):
    pass


class Connection(asyncio.Protocol):
    """One keep-alive connection; one request in flight at a time."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self._length: int | None = None
        self._status = 0
        self._body_start = 0

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(cls, host, port)
        return protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self._transport = cast("asyncio.Transport", transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(HTTPError(f"connection closed: {exc}"))

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._waiter is None or self._waiter.done():
            return
        if self._length is None:
            end = self._buffer.find(HEADER_END)
            if end < 0:
                return
            head = bytes(self._buffer[:end]).lower()
            self._status = int(head[9:12])
            at = head.find(b"\r\ncontent-length:")
            if at < 0:
                self._waiter.set_exception(HTTPError(f"no Content-Length: {head[:200]!r}"))
                return
            stop = head.find(b"\r\n", at + 2)
            self._length = int(head[at + 17 : stop if stop >= 0 else len(head)])
            self._body_start = end + 4
        total = self._body_start + self._length
        if len(self._buffer) >= total:
            body = bytes(self._buffer[self._body_start : total])
            del self._buffer[:total]
            self._length = None
            self._waiter.set_result((self._status, body))

    @property
    def is_open(self) -> bool:
        """False once the server has closed it (an idle keep-alive connection, timed out)."""
        return self._transport is not None

    async def request(self, data: bytes) -> tuple[int, bytes]:
        """Send a request; its status and body."""
        if self._transport is None:
            raise HTTPError("connection closed")
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(data)
        return await self._waiter

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
