"""The assembled GraphQL schema, with the limits and error policy every request goes through."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncGenerator, Iterable
from typing import Any

import strawberry
from graphql import ASTValidationRule, DocumentNode, GraphQLError, parse, specified_rules
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import DEFAULT_ALLOWED_OPERATION_TYPES, validate_document
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.utils.aio import aclosing

from app.errors import ErrorCode
from app.graphql.errors import present
from app.graphql.fanout import SharedEventExecutor
from app.graphql.lifecycle import LifecycleMutation
from app.graphql.mutations import Mutation as CoreMutation
from app.graphql.operations import LabelOperation
from app.graphql.queries import Query as CoreQuery
from app.graphql.scalars import SCALARS
from app.graphql.subscriptions import Subscription
from app.graphql.triggers import TriggerMutation, TriggerQuery
from app.graphql.typed_mutations import TypedActionMutations
from app.security.query_limits import NoIntrospectionRule, QueryLimitsRule
from app.security.rate_limit import RateLimitWebSocketOperations

MAX_TOKENS = 2000
# Parsing and validating a document costs far more than running it: do both once per document.
CACHE_SIZE = 512

# Each area keeps its fields in its own module; the root types join them. The typed
# createXAction mutations are generated from the registry, one per action type.
Query = merge_types("Query", (CoreQuery, TriggerQuery))
Mutation = merge_types(
    "Mutation", (CoreMutation, TriggerMutation, TypedActionMutations, LifecycleMutation)
)


class GatewaySchema(strawberry.Schema):
    """Strawberry's schema, plus a time limit per request and one policy for every error.

    Each document is parsed (at most MAX_TOKENS tokens) and validated (the spec's rules and
    ours) once, then found by its text: in one cache, keyed by the text, where Strawberry's
    ParserCache and ValidationCache extensions cost an extension object per request each and
    key the validation on the document tree, hashed whole on every request.
    """

    def __init__(
        self,
        *,
        production: bool,
        request_timeout_seconds: float,
        validation_rules: Iterable[type[ASTValidationRule]],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.production = production
        self.request_timeout_seconds = request_timeout_seconds
        self.validation_rules = (*specified_rules, *validation_rules)
        self._prepared = functools.lru_cache(maxsize=CACHE_SIZE)(self._parse_and_validate)

    def _parse_and_validate(self, query: str) -> tuple[DocumentNode, list[GraphQLError]]:
        """The document and its validation errors; raises GraphQLSyntaxError (not cached)."""
        document = parse(query, max_tokens=MAX_TOKENS)
        return document, validate_document(self._schema, document, self.validation_rules)

    def _create_execution_context(
        self,
        query: str | None,
        allowed_operation_types: Iterable[OperationType],
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionContext:
        context = super()._create_execution_context(
            query,
            allowed_operation_types,
            variable_values,
            context_value,
            root_value,
            operation_name,
            operation_extensions,
        )
        # For a document that does not parse, Strawberry parses it again, within the same
        # limit, and reports the error as it reports any other.
        context.parse_options["max_tokens"] = MAX_TOKENS
        context.validation_rules = self.validation_rules
        if query:
            # Filled in, Strawberry neither parses nor validates.
            with contextlib.suppress(GraphQLError):
                context.graphql_document, context.pre_execution_errors = self._prepared(query)
        return context

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        # Stopping a request cancels it where it waits. Every service writes in one
        # transaction, and SQLAlchemy finishes a commit it has begun before it lets the
        # cancellation through: a stopped mutation has saved all of its change or none of it.
        # A subscription needs a stream (WebSocket); run as one answer it could only fail.
        allowed = set(allowed_operation_types or DEFAULT_ALLOWED_OPERATION_TYPES)
        allowed.discard(OperationType.SUBSCRIPTION)
        try:
            async with asyncio.timeout(self.request_timeout_seconds):
                result = await super().execute(
                    query,
                    variable_values,
                    context_value,
                    root_value,
                    operation_name,
                    allowed,
                    operation_extensions,
                )
        except TimeoutError:
            message = (
                f"the request took longer than {self.request_timeout_seconds:g} s and was "
                "stopped; a change it was making was saved whole or not at all"
            )
            result = ExecutionResult(
                data=None,
                errors=[GraphQLError(message, extensions={"code": ErrorCode.TIMEOUT.value})],
            )
        self._present(result)
        return result

    async def stream(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        operation_extensions: dict[str, Any] | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
    ) -> AsyncGenerator[Any, None]:
        results = await super().stream(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            operation_extensions,
            allowed_operation_types,
        )
        return self._presented(results)

    async def _presented(self, results: AsyncGenerator[Any, None]) -> AsyncGenerator[Any, None]:
        async with aclosing(results):
            async for result in results:
                self._present(result)
                yield result

    def _present(self, result: object) -> None:
        errors: list[GraphQLError] | None = getattr(result, "errors", None)
        if errors:
            result.errors = [  # type: ignore[attr-defined]
                present(e, hide_suggestions=self.production) for e in errors
            ]

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Strawberry logs every error with a stack, refusals of hostile documents included;
        # `present` logs the internal ones, which are the only ones worth an operator's time.
        return None


def build_schema(*, production: bool = True, request_timeout_seconds: float = 10) -> GatewaySchema:
    rules: list[type[ASTValidationRule]] = [QueryLimitsRule]
    if production:
        rules.append(NoIntrospectionRule)
    return GatewaySchema(
        production=production,
        request_timeout_seconds=request_timeout_seconds,
        validation_rules=rules,
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        config=StrawberryConfig(scalar_map=SCALARS),
        # Each subscription event's result is executed once and shared by its subscribers.
        execution_context_class=SharedEventExecutor,
        # Classes: Strawberry makes one of each per request.
        extensions=[RateLimitWebSocketOperations, LabelOperation],
    )


def export_sdl() -> str:
    return build_schema().as_str() + "\n"
