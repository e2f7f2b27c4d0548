"""Idle subscribers, as a client process: `python -m bench.subscribers PORT KEY COUNT`.

Opens COUNT WebSockets, each with one `actions` subscription, and says `{"ready": n}` on its
standard output. For each change that every one of its subscribers has received, it says
`{"event": sequence, "last": t}`, t being when the last of them got it (time.monotonic, which
is the machine's clock, comparable across processes). A line `close` on its standard input
closes every socket; it says `{"closed": n}` and ends.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from typing import Any, Final

import orjson
import uvloop
from websockets.asyncio.client import ClientConnection

from bench.ws import next_payload, subscribe

# Handshakes in flight at once, per process: enough to connect quickly, few enough that the
# gateway's accept queue never overflows.
CONNECTING_AT_ONCE: Final = 32


def say(message: dict[str, Any]) -> None:
    sys.stdout.write(orjson.dumps(message).decode() + "\n")
    sys.stdout.flush()


class Subscribers:
    def __init__(self, port: int, key: str) -> None:
        self.port = port
        self.key = key
        self.sockets: list[ClientConnection] = []
        self.failed = 0
        self.received: Counter[int] = Counter()
        self.readers: list[asyncio.Task[None]] = []

    async def connect(self, count: int) -> None:
        gate = asyncio.Semaphore(CONNECTING_AT_ONCE)

        async def one() -> None:
            async with gate:
                try:
                    socket = await subscribe(self.port, self.key)
                except (OSError, ConnectionError, TimeoutError) as exc:
                    self.failed += 1
                    if self.failed == 1:
                        sys.stderr.write(f"a subscriber could not connect: {exc!r}\n")
                    return
            self.sockets.append(socket)
            self.readers.append(asyncio.create_task(self.read(socket)))

        await asyncio.gather(*(one() for _ in range(count)))

    async def read(self, socket: ClientConnection) -> None:
        try:
            while (data := await next_payload(socket)) is not None:
                sequence = int(data["actions"]["sequence"])
                self.received[sequence] += 1
                if self.received[sequence] == len(self.sockets):
                    say({"event": sequence, "last": time.monotonic()})
        except Exception as exc:  # a socket closed under us: said once, counted by the total
            if not isinstance(exc, asyncio.CancelledError):
                sys.stderr.write(f"a subscriber stopped reading: {exc!r}\n")

    async def close(self) -> None:
        for reader in self.readers:
            reader.cancel()
        await asyncio.gather(*(socket.close() for socket in self.sockets), return_exceptions=True)


async def main(port: int, key: str, count: int) -> None:
    subscribers = Subscribers(port, key)
    await subscribers.connect(count)
    say({"ready": len(subscribers.sockets), "failed": subscribers.failed})
    while True:
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line or line.strip() == "close":
            break
    await subscribers.close()
    say({"closed": len(subscribers.sockets)})


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3])))
