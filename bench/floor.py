"""The floor: a minimal hand-written Starlette endpoint, what a user would write instead.

POST /actions creates a tag_app action (the key looked up, the data checked by hand, one
transaction, the job queued, the change published); GET /actions/{id} reads one back; and
/graphql relays changes over WebSockets (bench/floor_live.py).
"""

from __future__ import annotations

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.settings import Settings
from bench import floor_live
from bench.handwritten import Refused, action_record, create_tag_action, read_action
from bench.serving import baseline_app, clients_of, json_response, serve

UNAUTHORIZED = {"errors": [{"message": "a valid API key is required", "code": "UNAUTHENTICATED"}]}


async def create(request: Request) -> Response:
    clients = clients_of(request)
    principal = await clients.principal(request.headers.get("authorization"))
    if principal is None:
        return json_response(UNAUTHORIZED, 401)
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return json_response({"errors": [{"message": "not JSON", "code": "BAD_REQUEST"}]}, 400)
    if not isinstance(body, dict):
        return json_response({"errors": [{"message": "not an object", "code": "BAD_REQUEST"}]}, 400)
    try:
        action = await create_tag_action(
            clients, principal.company_id, body.get("type"), body.get("data")
        )
    except Refused as exc:
        return json_response({"errors": [p.as_dict() for p in exc.problems]}, 422)
    return json_response(action_record(action), 201)


async def read(request: Request) -> Response:
    clients = clients_of(request)
    principal = await clients.principal(request.headers.get("authorization"))
    if principal is None:
        return json_response(UNAUTHORIZED, 401)
    found = await read_action(clients, principal.company_id, request.path_params["action_id"])
    if found is None:
        return json_response({"errors": [{"message": "not found", "code": "NOT_FOUND"}]}, 404)
    return json_response(found)


def build(settings: Settings) -> Starlette:
    return baseline_app(
        [
            Route("/actions", create, methods=["POST"]),
            Route("/actions/{action_id:int}", read, methods=["GET"]),
            *floor_live.routes(),
        ],
        settings,
        floor_live.start_hub,
    )


if __name__ == "__main__":
    serve(build)
