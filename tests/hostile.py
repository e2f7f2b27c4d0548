"""Hostile inputs for the fuzz tests: JSON strategies (hypothesis) and a corpus of documents."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from app.actions import REGISTRY
from app.actions.base import MAX_STRING_LENGTH, DataField, DataRequirements

# Strings that have broken parsers, databases and logs before.
EDGE_STRINGS = [
    "",
    " ",
    "\t\n",
    "\x00",
    "a\x00b",
    "\ud800",  # a lone surrogate: not encodable as UTF-8
    "x\udfffy",
    "\u202eevil",  # right-to-left override
    "\ufeffbom",
    "e\u0301" * 50,  # combining marks
    "🙂" * 300,
    "\U0001d518\U0001d52b\U0001d526",  # mathematical fraktur letters
    "\u2028\u2029",
    "' OR 1=1 --",
    "'; DROP TABLE action; --",
    "{{7*7}}",
    "<script>alert(1)</script>",
    "%s%s%n",
    "../../etc/passwd",
    "x" * MAX_STRING_LENGTH,
    "x" * (MAX_STRING_LENGTH + 1),
    "y" * 20_000,
]
EDGE_NUMBERS = [0, -1, 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63), 2**64, 10**30, 1.0, 1.5]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(EDGE_NUMBERS),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(EDGE_STRINGS),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=12) | st.sampled_from(EDGE_STRINGS), inner, max_size=4)
    ),
    max_leaves=20,
)


def _near(requirements: DataRequirements) -> st.SearchStrategy[dict[str, Any]]:
    """Data with the right keys, each holding anything, and now and then a stray key."""

    def value(spec: DataField) -> st.SearchStrategy[Any]:
        plausible = (
            st.integers() | st.sampled_from(EDGE_NUMBERS)
            if spec.kind == "integer"
            else st.text(max_size=60) | st.sampled_from(EDGE_STRINGS)
        )
        return plausible | json_values

    required = {f.name: value(f) for f in requirements.required}
    optional = {f.name: value(f) for f in requirements.optional}
    return st.fixed_dictionaries(required, optional=optional) | st.builds(
        lambda known, stray: {**known, **stray},
        st.fixed_dictionaries(required, optional=optional),
        st.dictionaries(st.text(max_size=12), json_values, min_size=1, max_size=2),
    )


type_names = st.sampled_from(list(REGISTRY)) | st.text(max_size=30) | st.sampled_from(EDGE_STRINGS)
# (type, data) for createAction: the right shape with wrong values, or anything at all.
action_inputs = st.one_of(
    *[st.tuples(st.just(name), _near(t.create_action)) for name, t in REGISTRY.items()],
    st.tuples(type_names, json_values),
)
# (type, data) for createTrigger, likewise.
trigger_inputs = st.one_of(
    *[st.tuples(st.just(name), _near(t.create_trigger)) for name, t in REGISTRY.items()],
    st.tuples(type_names, json_values),
)
# Any JSON document as a REST body: objects with the right keys holding anything, or not.
rest_action_bodies = json_values | st.builds(
    lambda pair, extra: {"type": pair[0], "data": pair[1], **extra},
    action_inputs,
    st.dictionaries(st.text(max_size=8), json_values, max_size=1),
)
rest_trigger_bodies = (
    json_values
    | st.fixed_dictionaries(
        {"event": st.sampled_from(["applicant_new", "job_status_changed"]) | scalars},
        optional={
            "action_type": type_names | scalars,
            "data": json_values,
            "job_id": scalars,
            "stray": json_values,
        },
    )
    | st.builds(
        lambda event, pair: {"event": event, "action_type": pair[0], "data": pair[1]},
        st.sampled_from(["applicant_new", "job_status_changed"]),
        trigger_inputs,
    )
)


def _fragment_chain(count: int, spreads: int) -> str:
    body = " ".join(
        f"fragment F{i} on Query {{ {' '.join([f'...F{i + 1}'] * spreads)} "
        f"a{i}: actions(first: 100) {{ edges {{ node {{ id }} }} }} }}"
        for i in range(count)
    )
    return f"query {{ ...F0 }} {body} fragment F{count} on Query {{ __typename }}"


# GraphQL documents, each refused (or harmless) without a resolver writing anything.
HOSTILE_DOCUMENTS: list[tuple[str, str]] = [
    ("empty", ""),
    ("whitespace", "   \n\t  "),
    ("only a comment", "# nothing here"),
    ("unbalanced", "{ actions { edges "),
    ("deep braces", "{" * 5000 + "}" * 5000),
    ("deep fields", "{ a" + " { a" * 300 + " }" * 301),
    (
        "deep lists in an argument",
        "{ actions(type: " + "[" * 2000 + "]" * 2000 + ") { edges { cursor } } }",
    ),
    (
        "deep objects in JSON data",
        'mutation { createAction(input: {type: "tag_app", data: '
        + "{a: " * 500
        + "1"
        + "}" * 500
        + "}) { errors { code } } }",
    ),
    (
        "alias bomb",
        "{ "
        + " ".join(f"a{i}: actions(first: 100) {{ edges {{ cursor }} }}" for i in range(200))
        + " }",
    ),
    ("alias bomb of typename", "{ " + " ".join(f"a{i}: __typename" for i in range(500)) + " }"),
    ("duplicate fields", "{ " + "actionTypes { name } " * 400 + "}"),
    (
        "circular fragments",
        "query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }",
    ),
    (
        "self-spreading fragment",
        "query { ...A } fragment A on Query { actions { edges { node { id } } } ...A }",
    ),
    ("fragment chain doubling", _fragment_chain(40, 2)),
    ("fragment chain tripling", _fragment_chain(20, 3)),
    ("unknown fragment", "{ ...Nope }"),
    ("unknown field", "{ nope { nope } }"),
    (
        "introspection",
        "{ __schema { types { name fields { name type { name ofType { name } } } } } }",
    ),
    ("type introspection", '{ __type(name: "Action") { fields { name } } }'),
    (
        "deep introspection",
        "{ __schema { types { fields { type { fields { type { fields { type { fields "
        "{ name } } } } } } } } } }",
    ),
    ("huge string", '{ action(id: "' + "9" * 60_000 + '") { id } }'),
    ("huge number", "{ actions(first: " + "9" * 5000 + ") { edges { cursor } } }"),
    ("negative first", "{ dashboardNotifications(first: -2147483649) { id } }"),
    ("float first", "{ actions(first: 1e308) { edges { cursor } } }"),
    ("huge cursor", '{ actions(after: "' + "A" * 50_000 + '") { edges { cursor } } }'),
    ("forged cursor", '{ actions(after: "YWN0aW9uOi0x") { edges { cursor } } }'),
    ("SQL in an id", """{ action(id: "1 OR 1=1") { id } app(id: "1; DROP TABLE app") { id } }"""),
    ("id overflow", '{ action(id: "99999999999999999999999") { id } job(id: "-1") { id } }'),
    ("NUL in a string", '{ action(id: "1\\u0000") { id } }'),
    ("lone surrogate", '{ action(id: "\\ud800") { id } }'),
    ("confusable name", "{ acti\u043enTypes { name } }"),  # a Cyrillic o
    ("RTL override", '{ job(id: "\u202e1") { id } }'),
    ("emoji alias", "{ 🙂: actionTypes { name } }"),
    ("BOM", "\ufeff{ actionTypes { name } }"),
    ("many operations", " ".join(f"query Q{i} {{ actionTypes {{ name }} }}" for i in range(300))),
    ("anonymous and named", "{ actionTypes { name } } query Q { actionTypes { name } }"),
    ("subscription over HTTP", "subscription { actions { id } }"),
    (
        "directive spam",
        "{ actionTypes @include(if: true) " + "@skip(if: false) " * 300 + "{ name } }",
    ),
    ("unknown directive", "{ actionTypes @evil { name } }"),
    ("variables never declared", "{ action(id: $x) { id } }"),
    (
        "mutation bomb",
        "mutation { "
        + " ".join(f'j{i}: createJob(input: {{title: "x"}}) {{ job {{ id }} }}' for i in range(40))
        + " }",
    ),
    (
        "bad mutation input",
        'mutation { createJob(input: {title: "'
        + "x" * 1001
        + '"}) { job { id } errors { code } } }',
    ),
    (
        "NUL in a title",
        'mutation { createJob(input: {title: "a\\u0000b"}) { job { id } errors { code } } }',
    ),
    (
        "surrogate in a title",
        'mutation { createJob(input: {title: "\\udfff"}) { job { id } errors { code } } }',
    ),
    (
        "surrogate in data",
        'mutation { createAction(input: {type: "post_dashboard_notification", '
        'data: {message: "\\ud800"}}) { action { id } errors { code } } }',
    ),
    (
        "block string over the length",
        'mutation { createJob(input: {title: """'
        + "\\u0000" * 200
        + '"""}) { job { id } errors { code } } }',
    ),
]

# Token soup: fragments of GraphQL thrown together, for the parser and the validation rules.
GRAPHQL_TOKENS = [
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "...",
    ":",
    "$x",
    "=",
    "!",
    "@skip(if: true)",
    "query",
    "mutation",
    "subscription",
    "fragment F on Query",
    "fragment F on Action",
    "...F",
    "on",
    "actions",
    "action",
    "edges",
    "node",
    "id",
    "data",
    "first:",
    "after:",
    "100",
    "101",
    "-1",
    '"1"',
    '"\\ud800"',
    "null",
    "a:",
    "b:",
    "__typename",
    "__schema",
    "createJob",
    "input:",
    "title:",
    "dashboardNotifications",
    "app",
    "tags",
    "notes",
    "triggers",
    "workflowEvents",
    "actionTypes",
    "name",
    "#",
    "\u00e9",
    "\x00",
]
token_soup = st.lists(st.sampled_from(GRAPHQL_TOKENS), max_size=60).map(" ".join)
