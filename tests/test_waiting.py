"""The inbox and the flag behave as the asyncio Queue and Event they replace, as uvicorn's
WebSocket protocol and the event bus use them (app/waiting.py)."""

from __future__ import annotations

import asyncio

from app.waiting import Flag, Inbox


async def test_the_inbox_hands_messages_over_in_order_to_a_waiting_reader() -> None:
    inbox: Inbox[int] = Inbox()
    reader = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    assert not reader.done()
    inbox.put_nowait(1)
    inbox.put_nowait(2)
    assert await reader == 1
    assert not inbox.empty()
    assert await inbox.get() == 2
    assert inbox.empty()


async def test_a_cancelled_reader_leaves_the_message_to_the_next() -> None:
    inbox: Inbox[str] = Inbox()
    gone = asyncio.create_task(inbox.get())
    stays = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    gone.cancel()
    inbox.put_nowait("connect")
    assert await stays == "connect"
    assert gone.cancelled()


async def test_the_flag_holds_writers_while_cleared_and_lets_all_go_when_set() -> None:
    flag = Flag()
    flag.set()
    await asyncio.wait_for(flag.wait(), 1)  # set: no wait
    flag.clear()
    writers = [asyncio.create_task(flag.wait()) for _ in range(3)]
    await asyncio.sleep(0.01)
    assert not any(writer.done() for writer in writers)
    assert not flag.is_set()
    flag.set()
    await asyncio.wait_for(asyncio.gather(*writers), 1)
    assert flag.is_set()
