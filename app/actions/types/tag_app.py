"""tag_app: adds a tag to an application (a tag is on an app at most once)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from sqlalchemy.dialects import postgresql, sqlite

from app.actions.base import ActionType, DataField, DataRequirements, as_int
from app.actions.effects import load_app
from app.models import Tag, utcnow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.models import Action

TAG_TEXT = DataField("tag_text", "string", "The tag to add.")

# The unique index on (app, text) keeps a tag on an app once. Adding one that is there does
# nothing, and of two tries adding the same tag at once, the second waits for the first's
# commit and then does nothing: no failed try, no retry. Made once, per dialect.
_TAGS: Final = Tag.__table__  # type: ignore[attr-defined]
_ADD_TAG: Final = {
    dialect.dialect.name: dialect.insert(_TAGS).on_conflict_do_nothing(
        index_elements=[_TAGS.c.app_id, _TAGS.c.text]
    )
    for dialect in (postgresql, sqlite)
}


async def execute(session: AsyncSession, action: Action) -> None:
    app_id = as_int(action.data, "app_id")
    await load_app(session, action, app_id)
    await session.execute(
        _ADD_TAG[session.get_bind().dialect.name],
        {
            "company_id": action.company_id,
            "app_id": app_id,
            "text": action.data["tag_text"],
            "action_id": action.id,
            "created_at": utcnow(),
        },
    )


ACTION_TYPE = ActionType(
    name="tag_app",
    type_name="TagApp",
    description="Adds a tag to an application. A tag is on an application at most once.",
    create_action=DataRequirements(
        required=(
            DataField("app_id", "integer", "The application to tag.", references="app"),
            TAG_TEXT,
        )
    ),
    create_trigger=DataRequirements(required=(TAG_TEXT,)),
    execute=execute,
)
