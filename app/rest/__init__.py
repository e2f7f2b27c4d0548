"""The vendor's REST API (`/api/v1/...`): a thin layer over `app.services`, like GraphQL."""

from __future__ import annotations

from starlette.routing import BaseRoute

from app.rest import triggers

routes: list[BaseRoute] = [*triggers.routes]
