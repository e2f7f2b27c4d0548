"""A listener offers a change to its direct path only while its subscriber waits with nothing
queued: whatever the direct path refuses, and everything behind it, reaches the subscriber in
order (app/events.py). A parked listener, which no task waits on, wakes its subscriber for
the first change the direct path refuses."""

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


async def test_a_parked_listener_wakes_once_for_what_the_direct_path_refuses() -> None:
    """No task waits on a parked listener: the direct path takes what it can, and the first
    change it refuses is queued and wakes the subscription, once; what follows queues."""
    listener, direct = Listener(1), Direct()
    listener.direct = direct
    woken: list[int] = []
    listener.wake = lambda: woken.append(len(woken))
    listener.deliver(_change(1))
    assert direct.taken == [1] and woken == [] and listener.parked

    direct.open = False
    listener.deliver(_change(2))
    assert woken == [0] and not listener.parked
    direct.open = True
    listener.deliver(_change(3))  # queued behind 2: nobody waits yet
    listener.deliver(RESYNC)
    assert woken == [0] and direct.taken == [1]
    assert [getattr(await anext(listener), "sequence", "RESYNC") for _ in range(3)] == [
        2,
        3,
        "RESYNC",
    ]


async def test_a_parked_listener_is_woken_by_a_resync() -> None:
    listener = Listener(1)
    woken: list[bool] = []
    listener.wake = lambda: woken.append(True)
    listener.deliver(RESYNC)
    assert woken == [True] and await anext(listener) is RESYNC
