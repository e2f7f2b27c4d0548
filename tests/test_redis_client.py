"""The command client hands a cancellation on, whenever it arrives (app/redis_client.py)."""

from __future__ import annotations

import asyncio
import random

from app.redis_client import redis_client

TRIES = 600


async def test_a_cancelled_call_is_cancelled_even_as_its_reply_arrives(redis_url: str) -> None:
    redis = redis_client(redis_url)
    await redis.ping()

    async def ping() -> None:
        await redis.ping()

    async def pipeline() -> None:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.incr("test:cancel")
            await pipe.execute()

    carried_on = 0
    try:
        for call in (ping, pipeline):
            for _ in range(TRIES):
                task = asyncio.create_task(call())
                # Cancel somewhere between sending and reading the reply.
                await asyncio.sleep(random.random() / 2000)
                if not task.cancel():
                    continue  # it had finished: nothing to hand on
                try:
                    await task
                    carried_on += 1
                except asyncio.CancelledError:
                    pass
    finally:
        await redis.aclose()
    assert carried_on == 0, f"{carried_on} cancelled calls carried on as if not cancelled"
