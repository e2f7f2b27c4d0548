"""One event, many subscribers: execute each selection once per event, not once per subscriber.

The bus hands the same decoded event to every subscriber of a company, and each
subscription's generator turns it into the same GraphQL object (`graphql_action`). Strawberry
then executes the subscriber's selection over it; `SharedEventExecutor` remembers that result
for the event, keyed by what can change it: the operation (one object per document text,
thanks to the parser cache), the coerced variables and the subscriber's company. A thousand
subscribers of `actions { id status sequence }` thus cost one execution per event; the
per-subscriber decisions (which events to send, in what order, to whom) stay in
`app/graphql/subscriptions.py`, and the company in the key means that no result computed for
one tenant is ever reused for another.

A live change goes further: `DirectFeed` writes it straight to the subscriber's socket from
the event bus, with its subscription left asleep. The result becomes JSON once per event and
selection, and a WebSocket frame once per event, selection and operation id (most clients
number their operations, so most subscribers share one frame). Only the next change in
order, to an operation still running, over a socket that can take it at once, goes this
way. Anything else (a gap, a result with errors, a socket that is closing or slow) wakes
the subscription, which sends it through Strawberry as before, in order.
"""

from __future__ import annotations

import contextlib
import logging
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Final, Protocol

import orjson
from graphql import (
    ExecutionResult,
    FieldNode,
    GraphQLField,
    GraphQLObjectType,
    GraphQLResolveInfo,
)
from graphql.pyutils import Path
from graphql.type.definition import GraphQLResolveInfoHelpers
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from app import models
from app.graphql.types import Action
from app.ws_protocol import text_frame

if TYPE_CHECKING:
    from app.events import Listener

log = logging.getLogger(__name__)

# Events whose objects and results are kept: a burst of events reaches every subscriber
# long before this many newer ones arrive; a miss only costs an execution.
KEPT_EVENTS: Final = 64
KEPT_FRAMES: Final = 256  # per event


class _EventMemo:
    """What was made of one event: its GraphQL object and its result for each selection."""

    __slots__ = ("event", "frames", "payloads", "results", "view")

    def __init__(self, event: models.Action, view: Action) -> None:
        # Both held, so that their id() cannot be reused by other objects while kept.
        self.event = event
        self.view = view
        self.results: dict[tuple[Any, ...], tuple[object, ExecutionResult]] = {}
        # A selection's result as a message payload (JSON), or None if it cannot go directly,
        # and as frames by message start (at most KEPT_FRAMES: operation ids that all differ,
        # as UUIDs do, would make one frame per subscriber).
        self.payloads: dict[tuple[Any, ...], str | None] = {}
        self.frames: dict[tuple[tuple[Any, ...], str], bytes | None] = {}


# By id() of the event and of its GraphQL object, the most recent last.
_memos: OrderedDict[int, _EventMemo] = OrderedDict()


def _memo(obj: object) -> _EventMemo | None:
    memo = _memos.get(id(obj))
    return memo if memo is not None and (memo.event is obj or memo.view is obj) else None


def graphql_action(event: models.Action) -> Action:
    """The GraphQL object of a published change, one per event for all its subscribers."""
    memo = _memo(event)
    if memo is not None:
        return memo.view
    memo = _EventMemo(event, Action.from_model(event))
    _memos[id(event)] = _memos[id(memo.view)] = memo
    while len(_memos) > 2 * KEPT_EVENTS:
        _memos.popitem(last=False)
    return memo.view


def _variables_key(variables: dict[str, Any]) -> bytes:
    return orjson.dumps(variables, option=orjson.OPT_SORT_KEYS, default=str) if variables else b""


# The subscription executor whose root field is being resolved: its resolver, run next in
# the same task, takes it (`subscription_executor`).
_subscribing: ContextVar[SharedEventExecutor | None] = ContextVar("_subscribing", default=None)


def _weak_helpers(executor: SharedEventExecutor) -> GraphQLResolveInfoHelpers:
    """graphql-core's helpers for resolvers, bound to their executor through a weak reference.

    graphql-core keeps bound methods of an executor on the executor: a reference cycle, which
    only the cyclic collector frees, with all a subscription's connection holds behind it.
    """
    ref = weakref.ref(executor)

    def gather(values: Sequence[Awaitable[Any]]) -> Awaitable[list[Any]]:
        live = ref()
        assert live is not None  # it runs the resolver that asks
        return live.gather_async_work(values)

    def track(values: Sequence[Any]) -> None:
        live = ref()
        if live is not None:
            live.track_async_work(values)

    return GraphQLResolveInfoHelpers(gather=gather, track=track)


class SharedEventExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, sharing each subscription event's result among its subscribers."""

    _shared_key: tuple[Any, ...] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.async_helpers = _weak_helpers(self)

    def build_resolve_info(
        self,
        field_def: GraphQLField,
        field_nodes: list[FieldNode],
        parent_type: GraphQLObjectType,
        path: Path,
    ) -> GraphQLResolveInfo[Any]:
        if parent_type is self.schema.subscription_type:
            _subscribing.set(self)
        return super().build_resolve_info(field_def, field_nodes, parent_type, path)

    def shared_key(self) -> tuple[Any, ...]:
        """What besides the event decides the result; fixed for the subscription's life."""
        if self._shared_key is None:
            company = getattr(self.context_value, "authenticated_company_id", None)
            variables = _variables_key(self.variable_values.coerced)
            self._shared_key = (id(self.operation), variables, company)
        return self._shared_key

    def build_per_event_executor(self, payload: Any) -> Any:
        memo = _memo(payload)
        if memo is None:
            # Not a shared event (a row read from the database): run as usual.
            return super().build_per_event_executor(payload)
        return _SharedRun(self, payload, memo, self.shared_key())

    def frame(self, event: models.Action, head: str) -> bytes | None:
        """A live change's message for this selection, after `head` (its start, up to the
        payload), as a WebSocket frame; None if the result has errors or extensions (those
        go through Strawberry)."""
        memo = _memo(graphql_action(event))
        assert memo is not None
        key = (self.shared_key(), head)
        if key in memo.frames:
            return memo.frames[key]
        payload = self._payload(memo)
        frame = None if payload is None else text_frame(head + payload + "}")
        if len(memo.frames) >= KEPT_FRAMES:
            memo.frames.clear()
        memo.frames[key] = frame
        return frame

    def _payload(self, memo: _EventMemo) -> str | None:
        """The result for this selection as JSON, made once per event."""
        key = self.shared_key()
        if key in memo.payloads:
            return memo.payloads[key]
        result = self.build_per_event_executor(memo.view).execute_operation(False)
        payload = None
        if isinstance(result, ExecutionResult) and not result.errors and not result.extensions:
            try:
                payload = orjson.dumps({"data": result.data}).decode()
            except TypeError:  # a lone surrogate: the view's encoder handles it
                payload = None
        memo.payloads[key] = payload
        return payload


# An executor for each selection, for the direct sends of all its subscribers: the first
# subscriber's, for as long as any of them is left. Each subscriber's own is a few KiB, and
# would do the same.
_selections: weakref.WeakValueDictionary[tuple[Any, ...], SharedEventExecutor] = (
    weakref.WeakValueDictionary()
)


def _one_per_selection(executor: SharedEventExecutor) -> SharedEventExecutor:
    key = executor.shared_key()
    kept = _selections.get(key)
    if kept is None:
        # The key holds the operation's id(), fixed while the kept executor holds it.
        _selections[key] = kept = executor
    return kept


def subscription_executor(operation: object) -> SharedEventExecutor | None:
    """The executor of the subscription whose resolver is starting, if it runs `operation`."""
    executor = _subscribing.get()
    # Taken: the task's context, which outlives a parked run's task, need not hold it.
    _subscribing.set(None)
    return executor if executor is not None and executor.operation is operation else None


class _SharedRun:
    """A per-event executor that runs at most once per (event, selection, company)."""

    __slots__ = ("key", "memo", "payload", "subscription")

    def __init__(
        self,
        subscription: SharedEventExecutor,
        payload: object,
        memo: _EventMemo,
        key: tuple[Any, ...],
    ) -> None:
        self.subscription = subscription
        self.payload = payload
        self.memo = memo
        self.key = key

    def execute_operation(self, *args: Any) -> Any:
        operation = self.subscription.operation
        kept = self.memo.results.get(self.key)
        if kept is not None and kept[0] is operation:
            return kept[1]
        executor = StrawberryGraphQLCoreExecutionContext.build_per_event_executor(
            self.subscription, self.payload
        )
        result = executor.execute_operation(*args)
        # An awaitable result (no field of Action waits, so none yet) is not shared.
        if isinstance(result, ExecutionResult):
            self.memo.results[self.key] = (operation, result)
        return result


# The WebSocket operation being started: set by the handlers (app/security/ws_messages.py)
# as they create its task, which inherits it.
current_route: ContextVar[Route | None] = ContextVar("current_route", default=None)
# The parked listener that a woken subscription takes over: set by the handler as it makes
# the subscription's new task, which inherits it; the subscription takes it (`take_resumed`).
resuming: ContextVar[Listener | None] = ContextVar("resuming", default=None)


def take_resumed() -> Listener | None:
    """The listener this run of a subscription takes back from parked, if it was woken.

    Taken once: the handler releases one still here when the run ends, which no run took.
    """
    listener = resuming.get()
    resuming.set(None)
    return listener


# Live changes written straight to sockets, and parked subscriptions woken, since the
# process started (/metrics).
direct_sends = 0
wakes = 0


class Parked(BaseException):
    """Ends a subscription's task while it waits on the event bus (`Route.park`).

    A BaseException, so that it passes through graphql-core's and Strawberry's handlers,
    which turn an Exception into an error for the client; the WebSocket handler catches it.
    """


class Parking(Protocol):
    """A WebSocket handler that keeps parked subscriptions (app/security/ws_messages.py)."""

    def park(self, operation_id: str, listener: Listener) -> bool: ...

    def wake(self, operation_id: str) -> None: ...


class Route:
    """Where one WebSocket operation's messages go, and whether it is still running."""

    __slots__ = ("_parking", "head", "id", "owner", "running", "send_now")

    def __init__(
        self,
        send_now: Callable[[bytes], bool],
        head: str,
        running: Mapping[str, object],
        operation_id: str,
        parking: Parking | None = None,
    ) -> None:
        self.send_now = send_now
        self.head = head  # the message up to its payload, e.g. '{"id":"1","type":"next","payload":'
        self.running = running  # the handler's operations (or tasks) by id
        self.id = operation_id
        # Weakly: a parked listener on the bus holds this route, and must not hold the
        # handler (and its connection) past the connection's end.
        self._parking = None if parking is None else weakref.ref(parking)
        # The id() of this operation's entry in `running`, once registered: not the entry
        # itself, which holds the task whose context holds this route (a cycle, freed only
        # by the cyclic collector, with the whole connection behind it). The entry lives as
        # long as the operation's task runs, so its id is not reused meanwhile.
        self.owner: int | None = None

    def is_current(self) -> bool:
        """Whether the operation still runs: not stopped by its client, nor completed."""
        return self.owner is not None and id(self.running.get(self.id)) == self.owner

    def park(self, listener: Listener) -> bool:
        """Leave the subscription on the bus without a task, if its handler can wake it.

        An idle subscription is then its listener and this route: its task, its generators
        and their frames (most of a subscriber's memory) are gone until a change cannot go
        straight to the socket. The caller raises `Parked` when this says True.
        """
        parking = None if self._parking is None else self._parking()
        if parking is None or not self.is_current() or not parking.park(self.id, listener):
            return False
        listener.wake = self._wake
        return True

    def _wake(self) -> None:
        global wakes
        wakes += 1
        parking = None if self._parking is None else self._parking()
        if parking is not None:
            parking.wake(self.id)


@contextlib.contextmanager
def routed(
    send_now: Callable[[bytes], bool] | None,
    running: Mapping[str, object],
    operation_id: str,
    message_type: str,
    parking: Parking | None = None,
) -> Iterator[None]:
    """Around a handler's start of an operation: the task it makes inherits the operation's
    route, if it can have one. Messages are `{"id", "type", "payload"}` in the handler's
    order (graphql-ws puts the type first)."""
    started = None
    if send_now is not None:
        with contextlib.suppress(TypeError):  # an id JSON cannot spell (a lone surrogate)
            id_json = orjson.dumps(operation_id).decode()
            if message_type == "next":
                head = f'{{"id":{id_json},"type":"next","payload":'
            else:
                head = f'{{"type":"{message_type}","id":{id_json},"payload":'
            started = Route(send_now, head, running, operation_id, parking)
    token = current_route.set(started)
    try:
        yield
    finally:
        current_route.reset(token)
    if started is not None:
        # Registered by now, if it was started (a duplicate id or the limit starts nothing).
        owner = running.get(operation_id)
        started.owner = None if owner is None else id(owner)


class DirectFeed:
    """A subscriber's next live changes, written straight to its socket (see module doc)."""

    __slots__ = ("executor", "last", "route")

    def __init__(self, route: Route, executor: SharedEventExecutor) -> None:
        self.route = route
        self.executor = _one_per_selection(executor)
        self.last = 0  # the last sequence number sent, whichever way (set as it waits)

    def offer(self, event: models.Action) -> bool:
        """Send the change if it is the next one and can go now; False leaves it to the
        subscription."""
        global direct_sends
        if event.sequence <= self.last:
            return True  # sent already (the subscription would drop it)
        if event.sequence != self.last + 1 or not self.route.is_current():
            return False
        try:
            frame = self.executor.frame(event, self.route.head)
            if frame is None or not self.route.send_now(frame):
                return False
        except Exception:
            # Never the bus's problem: the subscription sends it, and reports what fails.
            log.exception("could not send change %s directly", event.sequence)
            return False
        self.last = event.sequence
        direct_sends += 1
        return True
