"""A listener offers a change to its direct path only while its subscriber waits with nothing
queued: whatever the direct path refuses, and everything behind it, reaches the subscriber in
order (app/events.py)."""

from __future__ import annotations

import asyncio

from app.events import RESYNC, Listener
from app.models import Action


def _change(sequence: int) -> Action:
    return Action(id=sequence, company_id=1, type="tag_app", data={}, sequence=sequence)


class Direct:
    """Takes changes while `open`; what it took, in order."""

    def __init__(self) -> None:
        self.open = True
        self.taken: list[int] = []

    def offer(self, event: Action) -> bool:
        if self.open:
            self.taken.append(event.sequence)
        return self.open


async def test_changes_go_direct_only_while_the_subscriber_waits_with_nothing_queued() -> None:
    listener, direct = Listener(1), Direct()
    listener.direct = direct
    # Not waiting yet: queued for the subscriber, not offered.
    listener.deliver(_change(1))
    assert direct.taken == []
    assert (await anext(listener)).sequence == 1  # type: ignore[union-attr]

    waiting = asyncio.ensure_future(anext(listener))
    await asyncio.sleep(0)
    listener.deliver(_change(2))
    listener.deliver(_change(3))
    assert direct.taken == [2, 3] and not waiting.done()
    assert listener.position == 3

    # Refused (a slow socket): the subscriber wakes with it, and what follows queues behind it.
    direct.open = False
    listener.deliver(_change(4))
    direct.open = True
    listener.deliver(_change(5))
    listener.deliver(RESYNC)
    assert direct.taken == [2, 3]
    assert (await waiting).sequence == 4  # type: ignore[union-attr]
    assert (await anext(listener)).sequence == 5  # type: ignore[union-attr]
    assert await anext(listener) is RESYNC
