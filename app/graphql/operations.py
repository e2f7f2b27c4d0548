"""Names each valid GraphQL operation for the request-latency metric, e.g. "mutation createAction".

The label is the operation's type and its root fields, which the schema bounds; the
client's operation name is not used, as any client could make up any number of them.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from starlette.requests import Request
from strawberry.extensions import SchemaExtension

from app.observability.middleware import OPERATION_SCOPE_KEY


def _root_fields(
    selection_set: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode], depth: int = 0
) -> Iterator[str]:
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            yield selection.name.value
        elif isinstance(selection, InlineFragmentNode):
            yield from _root_fields(selection.selection_set, fragments, depth + 1)
        elif isinstance(selection, FragmentSpreadNode) and depth < 10:
            fragment = fragments.get(selection.name.value)
            if fragment is not None:
                yield from _root_fields(fragment.selection_set, fragments, depth + 1)


def operation_label(document: DocumentNode, operation_name: str | None) -> str | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if len(operations) != 1:
        return None
    operation = operations[0]
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    fields = sorted(set(_root_fields(operation.selection_set, fragments)))
    return f"{operation.operation.value} {','.join(fields)}"


class LabelOperation(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        # Reached only for documents that parsed and validated: their fields are the schema's.
        context = self.execution_context
        request = getattr(context.context, "request", None)
        if isinstance(request, Request) and context.graphql_document is not None:
            label = operation_label(context.graphql_document, context.operation_name)
            if label is not None:
                request.scope[OPERATION_SCOPE_KEY] = label
        yield
