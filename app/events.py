"""The event bus: action changes published on Redis pub/sub, fanned out to local subscribers.

Channels are `actions:{company_id}`. Each gateway process holds one pattern subscription and
hands each decoded event to the listeners of that company, so a thousand subscribers cost one
Redis connection and one JSON decode per event.

Pub/sub may lose an event: Redis reconnects, a listener falls behind, or a worker dies
between its commit and its publish. Listeners are then told to RESYNC, and re-read from the
database from the last change number they had. The first two cases are seen at once; for the
third, the bus compares every few seconds (SUBSCRIPTION_CHECK_SECONDS) each listened-to
company's latest change number in the database with what its listeners were given, and
resyncs a listener that stayed behind for a whole interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final, Protocol

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.memory import release_free_memory
from app.models import Action
from app.services.batching import Batcher
from app.waiting import Inbox

if TYPE_CHECKING:
    from collections.abc import Iterator

    from redis.asyncio.client import Pipeline

log = logging.getLogger(__name__)

CHANNEL_PREFIX: Final = "actions:"
LISTENER_QUEUE_SIZE: Final = 1000
# When at most half of a peak of at least this many subscribers remain, the memory the
# others held is handed back to the system (app/memory.py) once departures have paused.
TRIM_AFTER_LEAVING: Final = 200
TRIM_DELAY_SECONDS: Final = 2.0


class Resync:
    """Events may have been missed (Redis reconnected, or a listener fell behind): re-read."""


RESYNC: Final = Resync()
Event = Action | Resync
# Reads the latest change number of each of these companies from the database.
LatestSequences = Callable[[list[int]], Awaitable[dict[int, int]]]


def channel(company_id: int) -> str:
    return f"{CHANNEL_PREFIX}{company_id}"


def encode_action(action: Action) -> bytes:
    return orjson.dumps(action.model_dump(mode="json"))


def decode_action(raw: bytes | str) -> Action:
    return Action.model_validate(orjson.loads(raw))


async def publish_action(redis: Redis, action: Action) -> None:
    """Publish a committed change; a Redis failure is logged, and listeners resync on reconnect."""
    try:
        await redis.publish(channel(action.company_id), encode_action(action))
    except (RedisError, OSError) as exc:
        log.warning("could not publish change of action %s: %s", action.id, exc)


def publish_action_in(pipe: Pipeline, action: Action) -> None:
    """Add the publication of a committed change to a pipeline (`publish_action`, batched)."""
    pipe.publish(channel(action.company_id), encode_action(action))


class Direct(Protocol):
    """Takes a change straight to the subscriber, or says False (app/graphql/fanout.py)."""

    def offer(self, event: Action) -> bool: ...


class Listener:
    """One subscriber's queue of events for one company.

    An `Inbox` rather than an asyncio.Queue: a gateway holds one per subscriber, and a Queue
    (three deques and an Event) is several times the size. While its subscriber waits with
    nothing queued, a change is first offered to its `direct` path, if it has one: taken, it
    never wakes the subscriber.
    """

    __slots__ = ("_behind", "_events", "company_id", "direct", "position", "wake")

    def __init__(self, company_id: int) -> None:
        self.company_id = company_id
        self._events: Inbox[Event] = Inbox()
        # The highest change number given to this subscriber, or that it read itself; None
        # until it has read where it starts (what came before, it reads from the database).
        self.position: int | None = None
        # The database's latest number at the last check, if this listener was behind it.
        self._behind: int | None = None
        self.direct: Direct | None = None
        # Set while its subscriber is parked (app/graphql/fanout.py): no task waits on this
        # listener, and anything the direct path cannot take wakes the subscriber up.
        self.wake: Callable[[], None] | None = None

    @property
    def parked(self) -> bool:
        return self.wake is not None

    def empty(self) -> bool:
        return self._events.empty()

    def advance(self, sequence: int) -> None:
        self.position = sequence if self.position is None else max(self.position, sequence)

    def deliver(self, event: Event) -> None:
        events = self._events
        if isinstance(event, Action):
            self.advance(event.sequence)
            direct = self.direct
            waiting = events.waiting or self.wake is not None
            if direct is not None and events.empty() and waiting and direct.offer(event):
                return
        if len(events) >= LISTENER_QUEUE_SIZE:
            # A slow subscriber loses its backlog, not the process's memory; it re-reads.
            events.clear()
            event = RESYNC
        events.put_nowait(event)
        wake, self.wake = self.wake, None
        if wake is not None:
            try:
                wake()
            except Exception:  # never the bus's problem: the others still get theirs
                log.exception("could not wake a parked subscription")

    def lagging(self, latest: int) -> bool:
        """Whether this listener has missed a change for a whole check interval."""
        if self.position is None or self.position >= latest:
            self._behind = None
            return False
        missed = self._behind is not None and self.position < self._behind
        self._behind = None if missed else latest
        if missed:
            # The resync re-reads at least up to here.
            self.advance(latest)
        return missed

    def __aiter__(self) -> Listener:
        return self

    async def __anext__(self) -> Event:
        return await self._events.get()


class EventBus:
    """A process-wide subscription to every company's action events."""

    def __init__(
        self,
        redis_url: str,
        latest_sequences: LatestSequences,
        *,
        check_interval: float = 5.0,
        ready_timeout: float = 5.0,
    ) -> None:
        self._redis: Redis = Redis.from_url(redis_url)
        self._listeners: dict[int, set[Listener]] = {}
        self._ready = asyncio.Event()
        self._ready_timeout = ready_timeout
        self._latest_sequences = latest_sequences
        # Where new subscriptions start, read together (`latest_sequence`).
        self._starts: Batcher[int, int] = Batcher(self._read_starts)
        self._check_interval = check_interval
        self._tasks: list[asyncio.Task[None]] = []
        self._count = 0
        self._peak = 0
        self._trim: asyncio.TimerHandle | None = None
        # When the last subscriber left, once a crowd has (a trim is then due).
        self._last_left: float | None = None

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._run(), name="event-bus"))
        self._tasks.append(asyncio.create_task(self._check(), name="event-bus-check"))

    async def stop(self) -> None:
        if self._trim is not None:
            self._trim.cancel()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._redis.aclose()

    @property
    def listener_count(self) -> int:
        return self._count

    async def latest_sequence(self, company_id: int) -> int:
        """The company's latest change number (0 before any), read after this call began.

        Each `actions` subscription reads it as it starts, once it listens. When thousands
        connect at once (a restart, a deploy), that was a query each, queued on the pool;
        batched (app/services/batching.py), those who ask while one read runs share the next.
        Never a number read before the call: a subscriber would miss a change committed
        between that read and its listening, from the database and from the bus alike.
        """
        return await self._starts.submit(company_id)

    async def _read_starts(self, company_ids: list[int]) -> list[int]:
        latest = await self._latest_sequences(sorted(set(company_ids)))
        return [latest.get(company_id, 0) for company_id in company_ids]

    @property
    def parked_count(self) -> int:
        """Listeners whose subscription waits without a task (app/graphql/fanout.py)."""
        return sum(listener.parked for listener in self._all_listeners())

    def _left(self) -> None:
        self._count -= 1
        if self._peak >= TRIM_AFTER_LEAVING and self._count * 2 <= self._peak:
            self._last_left = asyncio.get_running_loop().time()
        if self._last_left is not None and self._trim is None:
            self._trim = asyncio.get_running_loop().call_later(TRIM_DELAY_SECONDS, self._release)

    def _release(self) -> None:
        """Trim once the crowd has finished leaving: a departure since puts it off again.

        One timer, pushed back as needed, not one per departure: each one cancelled would be
        an allocation of its own made amid the crowd's, outliving it and pinning its memory.
        """
        assert self._last_left is not None
        loop = asyncio.get_running_loop()
        wait = self._last_left + TRIM_DELAY_SECONDS - loop.time()
        if wait > 0:
            self._trim = loop.call_later(wait, self._release)
            return
        self._trim = None
        self._last_left = None
        left, self._peak = self._peak - self._count, self._count
        in_cycles = release_free_memory()
        # What they left in reference cycles waited for this collection (a pause, when many).
        log.info(
            "%d subscribers left; their memory handed back (%d objects were in cycles)",
            left,
            in_cycles,
        )

    @contextlib.asynccontextmanager
    async def listen(
        self, company_id: int, *, resume: Listener | None = None
    ) -> AsyncIterator[Listener]:
        """Listen to a company's events. Once entered, no later change is missed.

        With `resume`, a listener that was parked (and has been woken) is taken over: it
        stayed on the bus, so nothing was missed in between. A listener parked again as its
        user leaves stays on the bus, for `release` to remove.
        """
        if resume is None:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation
            # that arrives as the event is set, and the subscription it was meant to end
            # runs on.
            try:
                async with asyncio.timeout(self._ready_timeout):
                    await self._ready.wait()
            except TimeoutError:
                raise ConnectionError(
                    "live updates are unavailable: Redis is unreachable"
                ) from None
            listener = Listener(company_id)
            self._listeners.setdefault(company_id, set()).add(listener)
            self._count += 1
            self._peak = max(self._peak, self._count)
        else:
            listener = resume
        try:
            yield listener
        finally:
            if not listener.parked:
                self.release(listener)

    def release(self, listener: Listener) -> None:
        """Take a listener off the bus (once; a parked one is no longer woken)."""
        listener.wake = None
        listeners = self._listeners.get(listener.company_id)
        if listeners is None or listener not in listeners:
            return
        listeners.discard(listener)
        if not listeners:
            del self._listeners[listener.company_id]
        self._left()

    def _all_listeners(self) -> Iterator[Listener]:
        for listeners in self._listeners.values():
            yield from listeners

    def _dispatch(self, channel_name: bytes, data: bytes) -> None:
        try:
            company_id = int(channel_name[len(CHANNEL_PREFIX) :])
            action = decode_action(data)
        except ValueError:
            log.warning("ignored a malformed event on %r", channel_name)
            return
        if action.company_id != company_id:
            return
        for listener in tuple(self._listeners.get(company_id, ())):
            listener.deliver(action)

    async def _check(self) -> None:
        while True:
            await asyncio.sleep(self._check_interval)
            companies = list(self._listeners)
            if not companies:
                continue
            try:
                latest = await self._latest_sequences(companies)
            except Exception as exc:
                log.warning("event bus could not check for missed changes: %s", exc)
                continue
            for company_id, sequence in latest.items():
                for listener in tuple(self._listeners.get(company_id, ())):
                    if listener.lagging(sequence):
                        log.info("a subscriber of company %s missed a change", company_id)
                        listener.deliver(RESYNC)

    async def _run(self) -> None:
        delay = 0.1
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.psubscribe(f"{CHANNEL_PREFIX}*")
                async for message in pubsub.listen():
                    kind: Any = message["type"]
                    if kind == "psubscribe":
                        self._ready.set()
                        delay = 0.1
                    elif kind == "pmessage":
                        self._dispatch(message["channel"], message["data"])
            except (RedisError, OSError) as exc:
                log.warning("event bus lost Redis (%s); reconnecting", exc)
            finally:
                was_ready = self._ready.is_set()
                self._ready.clear()
                if was_ready:
                    for listener in tuple(self._all_listeners()):
                        listener.deliver(RESYNC)
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
