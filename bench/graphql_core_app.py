"""graphql-core directly, on a cached parsed and validated document: how Ariadne-style
servers run. The same two operations as the product's (createAction, action(id)), over an
SDL subset, with resolvers doing the floor's work.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Final

import orjson
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLResolveInfo,
    GraphQLSchema,
    build_schema,
    execute,
    parse,
    validate,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.settings import Settings
from bench.handwritten import Clients, Refused, action_record, create_tag_action, read_action
from bench.serving import baseline_app, clients_of, json_response, serve

SDL: Final = """
scalar JSON
scalar DateTime
enum ActionStatus { PENDING RUNNING EXECUTED FAILED CANCELED }
type Action { id: ID! status: ActionStatus! type: String! data: JSON! createdAt: DateTime! }
type UserError { field: String message: String! code: String! }
input CreateActionInput { type: String! data: JSON! idempotencyKey: String }
type CreateActionPayload { action: Action errors: [UserError!]! }
type Query { action(id: ID!): Action }
type Mutation { createAction(input: CreateActionInput!): CreateActionPayload! }
"""
CACHE_SIZE: Final = 512


@dataclass(frozen=True)
class Context:
    clients: Clients
    company_id: int


async def resolve_action(_root: None, info: GraphQLResolveInfo[Context], id: str) -> Any:
    context: Context = info.context
    if not id.isdigit() or len(id) > 19:
        return None
    return await read_action(context.clients, context.company_id, int(id))


async def resolve_create_action(
    _root: None, info: GraphQLResolveInfo[Context], input: dict[str, Any]
) -> Any:
    context: Context = info.context
    try:
        action = await create_tag_action(
            context.clients, context.company_id, input["type"], input["data"]
        )
    except Refused as exc:
        return {"action": None, "errors": [p.as_dict() for p in exc.problems]}
    return {"action": action_record(action), "errors": []}


def make_schema() -> GraphQLSchema:
    schema = build_schema(SDL)
    assert schema.query_type is not None and schema.mutation_type is not None
    schema.query_type.fields["action"].resolve = resolve_action
    schema.mutation_type.fields["createAction"].resolve = resolve_create_action
    return schema


class Documents:
    """Parsed and validated documents by their text; only valid ones are kept."""

    def __init__(self, schema: GraphQLSchema, size: int = CACHE_SIZE) -> None:
        self._schema = schema
        self._size = size
        self._cache: OrderedDict[str, DocumentNode] = OrderedDict()

    def get(self, query: str) -> DocumentNode | list[GraphQLError]:
        document = self._cache.get(query)
        if document is not None:
            self._cache.move_to_end(query)
            return document
        try:
            document = parse(query)
        except GraphQLError as exc:
            return [exc]
        errors = validate(self._schema, document)
        if errors:
            return errors
        self._cache[query] = document
        if len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return document


SCHEMA: Final = make_schema()
DOCUMENTS: Final = Documents(SCHEMA)


def _answer(result: ExecutionResult) -> Response:
    payload: dict[str, Any] = {"data": result.data}
    if result.errors:
        payload["errors"] = [error.formatted for error in result.errors]
    return json_response(payload)


async def graphql_endpoint(request: Request) -> Response:
    clients = clients_of(request)
    principal = await clients.principal(request.headers.get("authorization"))
    if principal is None:
        return json_response({"errors": [{"message": "a valid API key is required"}]}, 401)
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return json_response({"errors": [{"message": "the body is not JSON"}]}, 400)
    query = body.get("query") if isinstance(body, dict) else None
    if not isinstance(query, str):
        return json_response({"errors": [{"message": "no query"}]}, 400)
    document = DOCUMENTS.get(query)
    if isinstance(document, list):
        return json_response({"errors": [e.formatted for e in document]}, 400)
    variables = body.get("variables")
    result = execute(
        SCHEMA,
        document,
        context_value=Context(clients, principal.company_id),
        variable_values=variables if isinstance(variables, dict) else None,
        operation_name=body.get("operationName"),
    )
    if inspect.isawaitable(result):
        result = await result
    return _answer(result)


def build(settings: Settings) -> Starlette:
    return baseline_app([Route("/graphql", graphql_endpoint, methods=["POST"])], settings)


if __name__ == "__main__":
    serve(build)
