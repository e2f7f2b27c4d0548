"""The vendor's REST API (`/api/v1/...`): a thin layer over `app.services`, like GraphQL."""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount

from app.rest import actions, catalogue, openapi, triggers
from app.rest.common import PREFIX, JSONErrors, route

routes: list[BaseRoute] = [
    route("/workflow/actions", get=catalogue.list_action_types),
    route("/actions", get=actions.list_actions, post=actions.create_action),
    route("/actions/{id}", name="action", get=actions.get_action),
    route("/openapi.json", get=openapi.openapi),
    *triggers.routes,
]


def mount() -> Mount:
    """The routes at PREFIX, every response of theirs JSON, errors included."""
    return Mount(PREFIX, routes=routes, middleware=[Middleware(JSONErrors)])
