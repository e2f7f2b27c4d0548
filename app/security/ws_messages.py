"""Strawberry's WebSocket handlers, with messages checked for shape and routes for live events.

The handlers index into each message as if it were well formed: a JSON array, or a `subscribe`
whose payload is a number, ended the connection with an exception rather than the protocol's
answer. Here such a message closes the socket with 4400 (Bad Request) and a reason.

Each operation they start gets a `Route` (app/graphql/fanout.py): its id, its socket's
synchronous send, and the handler's register of running operations, through which a live
change can reach the client without waking the operation.

The graphql-transport-ws handler also keeps parked subscriptions: an idle `actions`
subscription ends its task and leaves its listener on the event bus (`Route.park`); the
handler holds the listener, takes it off the bus when the operation ends, and gives it to a
new run of the operation when a change needs more than a direct send (`wake`).

Both handlers start operations in turns (app/graphql/starts.py): a new operation waits until
fewer than WS_STARTS_AT_ONCE are setting up, and its turn ends once it has set up (it waits
for changes, parks or ends).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Final

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import CompleteMessage

from app.graphql.context import Context
from app.graphql.fanout import Parked, resuming, routed
from app.graphql.starts import StartGate, current_turn
from app.ws_protocol import SEND_FRAME_NOW

if TYPE_CHECKING:
    from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import Operation

    from app.events import Listener

BAD_REQUEST: Final = 4400
_STARTS: Final = ("subscribe", "start")  # graphql-transport-ws, graphql-ws
_STOPS: Final = ("complete", "stop")


def shape_problem(message: object) -> str | None:
    """What is wrong with a message's shape, or None (its content is the handler's to judge)."""
    if not isinstance(message, dict):
        return "a message must be a JSON object"
    kind = message.get("type")
    if not isinstance(kind, str):
        return "a message needs a string type"
    if kind in _STARTS + _STOPS and not isinstance(message.get("id"), str):
        return f"a {kind} message needs a string id"
    if kind not in _STARTS:
        return None
    payload = message.get("payload")
    if not isinstance(payload, dict):
        return f"a {kind} message needs an object payload"
    if not isinstance(payload.get("query"), str):
        return "payload.query must be a string"
    for key, kind_of in (("variables", dict), ("extensions", dict), ("operationName", str)):
        if payload.get(key) is not None and not isinstance(payload[key], kind_of):
            return f"payload.{key} must be {'an object' if kind_of is dict else 'a string'}"
    return None


def _send_now(websocket: Any) -> Any:
    """The socket's synchronous send (app/ws_protocol.py), if its server protocol has one."""
    return (websocket.ws.scope.get("extensions") or {}).get(SEND_FRAME_NOW)


def _starts(websocket: Any) -> StartGate:
    """The process's turns to start operations (app/main.py)."""
    gate: StartGate = websocket.ws.scope["app"].state.starts
    return gate


class CheckedTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Subscriptions waiting on the event bus without a task: their listeners, by id.
        self.parked: dict[str, Listener] = {}

    async def handle_message(self, message: Any) -> None:
        problem = shape_problem(message)
        if problem is not None:
            await self.handle_invalid_message(problem)
            return
        await super().handle_message(message)

    async def handle_connection_init(self, message: Any) -> None:
        await super().handle_connection_init(message)
        # Cancelled by now; kept, its exception's traceback would hold its frames (about
        # 1.4 KiB) for the connection's life.
        self.connection_init_timeout_task = None

    async def handle_subscribe(self, message: Any) -> None:
        with routed(_send_now(self.websocket), self.operations, message["id"], "next", self):
            await super().handle_subscribe(message)

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        # A woken subscription set up long ago: it does not wait for a turn.
        turn = None if resuming.get() is not None else await _starts(self.websocket).turn()
        current_turn.set(turn)
        try:
            await super().run_operation(operation)
        except Parked:
            pass  # its listener is in self.parked
        finally:
            if turn is not None:
                turn.end()
            # Woken, but ended before it took its listener back (`take_resumed`).
            untaken = resuming.get()
            if untaken is not None:
                self.context.bus.release(untaken)

    def park(self, operation_id: str, listener: Listener) -> bool:
        if operation_id not in self.operations:
            return False  # stopped meanwhile: its task ends as usual
        self.parked[operation_id] = listener
        return True

    def wake(self, operation_id: str) -> None:
        """Run a parked subscription again, on its listener (called by the event bus)."""
        listener = self.parked.pop(operation_id, None)
        operation = self.operations.get(operation_id)
        if listener is None:
            return
        if operation is None:
            self.context.bus.release(listener)
            return
        task = operation.task
        if task is not None and not task.done():
            # Still leaving its parked run: the new one starts once it has left.
            task.add_done_callback(lambda _: self._resume(operation, listener))
        else:
            self._resume(operation, listener)

    def _resume(self, operation: Operation[Context, None], listener: Listener) -> None:
        if self.operations.get(operation.id) is not operation:
            self.context.bus.release(listener)
            return
        token = resuming.set(listener)
        try:
            operation.task = asyncio.create_task(self.run_operation(operation))
        finally:
            resuming.reset(token)
        operation.task.add_done_callback(self._task_done)

    async def cleanup_operation(self, operation_id: str) -> None:
        listener = self.parked.pop(operation_id, None)
        if listener is not None:
            self.context.bus.release(listener)
        await super().cleanup_operation(operation_id)


class CheckedGraphQLWSHandler(BaseGraphQLWSHandler[Context, None]):
    async def handle_message(self, message: Any) -> None:
        problem = shape_problem(message)
        if problem is not None:
            await self.websocket.close(code=BAD_REQUEST, reason=problem)
            return
        await super().handle_message(message)

    async def handle_start(self, message: Any) -> None:
        with routed(_send_now(self.websocket), self.tasks, message["id"], "data"):
            await super().handle_start(message)

    async def handle_async_results(self, operation_id: str, *args: Any) -> None:
        try:
            turn = await _starts(self.websocket).turn()
        except asyncio.CancelledError:
            # Stopped before it began: completed, as Strawberry completes a stopped operation.
            await self.send_message(CompleteMessage(type="complete", id=operation_id))
            return
        current_turn.set(turn)
        try:
            await super().handle_async_results(operation_id, *args)
        finally:
            turn.end()
