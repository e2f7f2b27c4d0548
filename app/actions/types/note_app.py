"""note_app: adds a note to an application."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.actions.base import ActionType, DataField, DataRequirements, as_int
from app.actions.effects import load_app
from app.models import Note

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.models import Action

NOTE_TEXT = DataField("note_text", "string", "The text of the note.")


async def execute(session: AsyncSession, action: Action) -> None:
    app_id = as_int(action.data, "app_id")
    await load_app(session, action, app_id)
    # action_id is unique on notes: a second delivery cannot add a second note.
    session.add(
        Note(
            company_id=action.company_id,
            app_id=app_id,
            text=action.data["note_text"],
            action_id=action.id,
        )
    )


ACTION_TYPE = ActionType(
    name="note_app",
    type_name="NoteApp",
    description="Adds a note to an application.",
    create_action=DataRequirements(
        required=(
            DataField("app_id", "integer", "The application to add the note to.", references="app"),
            NOTE_TEXT,
        )
    ),
    create_trigger=DataRequirements(required=(NOTE_TEXT,)),
    execute=execute,
)
