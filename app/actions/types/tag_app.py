"""tag_app: adds a tag to an application (a tag is on an app at most once)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlmodel import col, select

from app.actions.base import ActionType, DataField, DataRequirements, as_int
from app.actions.effects import load_app
from app.models import Tag

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.models import Action

TAG_TEXT = DataField("tag_text", "string", "The tag to add.")


async def execute(session: AsyncSession, action: Action) -> None:
    app_id = as_int(action.data, "app_id")
    await load_app(session, action, app_id)
    text = action.data["tag_text"]
    existing = await session.scalar(
        select(col(Tag.id)).where(col(Tag.app_id) == app_id, col(Tag.text) == text)
    )
    if existing is None:
        # A concurrent action adding the same tag loses on the unique index and retries,
        # then finds the tag here: the tag ends on the app once either way.
        session.add(
            Tag(company_id=action.company_id, app_id=app_id, text=text, action_id=action.id)
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
