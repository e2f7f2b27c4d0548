"""The assembled GraphQL schema."""

from __future__ import annotations

import strawberry
from strawberry.extensions import (
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.tools import merge_types

from app.graphql.errors import should_mask
from app.graphql.mutations import Mutation as CoreMutation
from app.graphql.operations import LabelOperation
from app.graphql.queries import Query as CoreQuery
from app.graphql.subscriptions import Subscription
from app.graphql.triggers import TriggerMutation, TriggerQuery
from app.graphql.typed_mutations import TypedActionMutations

MAX_DEPTH = 10
MAX_ALIASES = 30
MAX_TOKENS = 2000
# Parsing and validating a document costs far more than running it: do each once per document.
CACHE_SIZE = 512

# Each area keeps its fields in its own module; the root types join them. The typed
# createXAction mutations are generated from the registry, one per action type.
Query = merge_types("Query", (CoreQuery, TriggerQuery))
Mutation = merge_types("Mutation", (CoreMutation, TriggerMutation, TypedActionMutations))

schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    extensions=[
        # Factories: Strawberry makes one per request. The two caches live at module level.
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: ParserCache(maxsize=CACHE_SIZE),
        lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        lambda: ValidationCache(maxsize=CACHE_SIZE),
        lambda: MaskErrors(should_mask_error=should_mask),
        LabelOperation,
    ],
)


def export_sdl() -> str:
    return schema.as_str() + "\n"
