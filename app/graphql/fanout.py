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
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Final

import orjson
from graphql import ExecutionResult
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from app import models
from app.graphql.types import Action

# Events whose objects and results are kept: a burst of events reaches every subscriber
# long before this many newer ones arrive; a miss only costs an execution.
KEPT_EVENTS: Final = 64


class _EventMemo:
    """What was made of one event: its GraphQL object and its result for each selection."""

    __slots__ = ("event", "results", "view")

    def __init__(self, event: models.Action, view: Action) -> None:
        # Both held, so that their id() cannot be reused by other objects while kept.
        self.event = event
        self.view = view
        self.results: dict[tuple[Any, ...], tuple[object, ExecutionResult]] = {}


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


class SharedEventExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, sharing each subscription event's result among its subscribers."""

    _shared_key: tuple[Any, ...] | None = None

    def build_per_event_executor(self, payload: Any) -> Any:
        memo = _memo(payload)
        if memo is None:
            # Not a shared event (a row read from the database): run as usual.
            return super().build_per_event_executor(payload)
        if self._shared_key is None:
            # What besides the event decides the result; fixed for the subscription's life.
            company = getattr(self.context_value, "authenticated_company_id", None)
            variables = _variables_key(self.variable_values.coerced)
            self._shared_key = (id(self.operation), variables, company)
        return _SharedRun(self, payload, memo, self._shared_key)


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
