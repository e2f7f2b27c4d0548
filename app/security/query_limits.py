"""Limits on what one GraphQL document may ask for, checked at validation, before any resolver.

One walk over each operation measures its depth, its aliases and its cost, following fragment
spreads and inline fragments. Each fragment is measured once and reused wherever it is spread,
so a document whose fragments spread each other many times over costs a linear walk to check
(Strawberry's QueryDepthLimiter walks every path: exponential). Cycles are left to the spec's
NoFragmentCyclesRule, which reports them; here a cycle simply adds nothing. A fragment first
met past the depth limit is measured only that far; the document is refused then anyway.

Cost: every field costs 1, and a list multiplies the cost of what is asked of each item by the
number of items it may hold: `first` when given (a variable may be anything up to the cap, so
counts as the cap), the field's default page otherwise, and UNPAGED_LIST_SIZE for lists that
have no `first`. A connection's `edges` are as many as its `first` says, so count once.
Validation results are cached per document, which is right: all of this depends on the
document alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from graphql import (
    BREAK,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLObjectType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    ValidationRule,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_list_type,
)

from app.errors import ErrorCode
from app.services.actions import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

if TYPE_CHECKING:
    from graphql import DocumentNode, GraphQLNamedType, SelectionSetNode

MAX_DEPTH: Final = 10
MAX_ALIASES: Final = 30
# A full page of 100 actions with every field costs 1,801; a page of 100 workflow events with
# the actions each created, about 6,000.
MAX_COST: Final = 10_000
# The assumed length of a list that cannot be paged (an app's notes, the action types).
UNPAGED_LIST_SIZE: Final = 10
PAGE_ARGUMENT: Final = "first"


@dataclass(frozen=True)
class Measure:
    cost: int = 0
    depth: int = 0
    aliases: int = 0

    def beside(self, other: Measure) -> Measure:
        """Two selections side by side: costs and aliases add up, depth is the deeper one."""
        return Measure(
            self.cost + other.cost, max(self.depth, other.depth), self.aliases + other.aliases
        )


_NOTHING: Final = Measure()


class _Walk:
    def __init__(self, rule: QueryLimitsRule, fragments: dict[str, FragmentDefinitionNode]):
        self._rule = rule
        self._schema = rule.context.schema
        self._fragments = fragments
        self._measured: dict[str, Measure] = {}
        self._open: set[str] = set()
        # How deep the walk is in fields, through fragments too: the walk stops past the limit.
        self._depth = 0

    def selections(self, selection_set: SelectionSetNode | None, parent: Any) -> Measure:
        total = _NOTHING
        if selection_set is None:
            return total
        spread: set[str] = set()
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total = total.beside(self.field(selection, parent))
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                on = parent if condition is None else self._schema.get_type(condition.name.value)
                total = total.beside(self.selections(selection.selection_set, on))
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                # The executor merges a fragment spread twice in one selection: count it once.
                if name not in spread:
                    spread.add(name)
                    total = total.beside(self.fragment(name))
        return total

    def fragment(self, name: str) -> Measure:
        if name in self._measured:
            return self._measured[name]
        definition = self._fragments.get(name)
        if definition is None or name in self._open:
            return _NOTHING  # unknown, or a cycle: the spec's rules report both
        self._open.add(name)
        on = self._schema.get_type(definition.type_condition.name.value)
        measure = self.selections(definition.selection_set, on)
        self._open.discard(name)
        self._measured[name] = measure
        return measure

    def field(self, node: FieldNode, parent: Any) -> Measure:
        name = node.name.value
        alias = 1 if node.alias is not None else 0
        if name.startswith("__"):
            # __typename is free; __schema and __type are refused in production, and in dev
            # bounded by the schema's size (the explorer's own query is 15 deep).
            return Measure(aliases=alias)
        if self._depth > MAX_DEPTH:
            # Too deep already, and reported as such: going further only costs stack.
            return Measure(cost=1, depth=1, aliases=alias)
        definition = (
            parent.fields.get(name)
            if isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType))
            else None
        )
        # A field the schema lacks is reported by the spec's rules, but is still measured by
        # its shape, so that a deep or wide document is refused as such whatever its names.
        inner_type = None if definition is None else get_named_type(definition.type)
        self._depth += 1
        try:
            inner = self.selections(node.selection_set, inner_type)
        finally:
            self._depth -= 1
        items = 1 if definition is None else self._items(node, definition, parent)
        return Measure(
            cost=1 + items * inner.cost, depth=1 + inner.depth, aliases=alias + inner.aliases
        )

    def _items(self, node: FieldNode, definition: Any, parent: GraphQLNamedType) -> int:
        """How many items a field may return, each costing what is asked of it."""
        if PAGE_ARGUMENT in definition.args:
            given = next((a for a in node.arguments or () if a.name.value == PAGE_ARGUMENT), None)
            if given is None:
                default = definition.args[PAGE_ARGUMENT].default_value
                return default if isinstance(default, int) else DEFAULT_PAGE_SIZE
            if isinstance(given.value, VariableNode):
                return MAX_PAGE_SIZE
            if isinstance(given.value, IntValueNode):
                return self._rule.page_size(given.value)
            return MAX_PAGE_SIZE  # a wrong type: ValuesOfCorrectTypeRule reports it
        if is_list_type(get_nullable_type(definition.type)):
            if node.name.value == "edges" and parent.name.endswith("Connection"):
                return 1
            return UNPAGED_LIST_SIZE
        return 1


class QueryLimitsRule(ValidationRule):
    """Refuse a document that is too deep, uses too many aliases, or would cost too much."""

    def enter_document(self, node: DocumentNode, *_args: object) -> object:
        self._reported: set[int] = set()
        fragments = {
            d.name.value: d for d in node.definitions if isinstance(d, FragmentDefinitionNode)
        }
        walk = _Walk(self, fragments)
        for definition in node.definitions:
            if not isinstance(definition, OperationDefinitionNode):
                continue
            root = self.context.schema.get_root_type(definition.operation)
            self._check(definition, walk.selections(definition.selection_set, root))
        return BREAK

    def page_size(self, value: IntValueNode) -> int:
        # Python refuses to read an integer of over 4,300 digits; none that long is in range.
        size = int(value.value) if len(value.value) <= 20 else MAX_PAGE_SIZE + 1
        if not 0 <= size <= MAX_PAGE_SIZE and id(value) not in self._reported:
            self._reported.add(id(value))
            self._refuse(
                f"first must be between 0 and {MAX_PAGE_SIZE} (got {value.value[:20]})",
                ErrorCode.OUT_OF_RANGE,
                value,
            )
        return min(max(size, 0), MAX_PAGE_SIZE)

    def _check(self, operation: OperationDefinitionNode, measure: Measure) -> None:
        name = f"operation {operation.name.value!r}" if operation.name else "the operation"
        if measure.depth > MAX_DEPTH:
            self._refuse(
                f"{name} is too deep: fields nest {measure.depth} levels, at most {MAX_DEPTH}",
                ErrorCode.QUERY_TOO_DEEP,
                operation,
            )
        if measure.aliases > MAX_ALIASES:
            self._refuse(
                f"{name} uses {measure.aliases} aliases (counting each fragment wherever it is "
                f"spread), at most {MAX_ALIASES}",
                ErrorCode.TOO_MANY_ALIASES,
                operation,
            )
        if measure.cost > MAX_COST:
            shown = f"{measure.cost:,}" if measure.cost < 10**12 else "over 10^12"
            self._refuse(
                f"{name} would cost {shown}, at most {MAX_COST:,}: ask for fewer items "
                f"(first) or fewer fields",
                ErrorCode.QUERY_TOO_COSTLY,
                operation,
            )

    def _refuse(self, message: str, code: ErrorCode, node: Any) -> None:
        self.report_error(GraphQLError(message, node, extensions={"code": code.value}))


class NoIntrospectionRule(ValidationRule):
    """Production: the schema is not for browsing (`__typename` stays allowed)."""

    def enter_field(self, node: FieldNode, *_args: object) -> None:
        if node.name.value in ("__schema", "__type"):
            self.report_error(
                GraphQLError(
                    "introspection is disabled on this server; the schema is published as "
                    "schema.graphql",
                    node,
                    extensions={"code": ErrorCode.INTROSPECTION_DISABLED.value},
                )
            )
