"""However often an action's job is delivered, its effect is applied once."""

from __future__ import annotations

import asyncio

from sqlmodel import col, func, select

from app.models import Note
from app.runtime import Runtime
from app.services import execution
from tests.support import Caller


async def test_a_job_delivered_many_times_at_once_applies_its_effect_once(
    caller: Caller, runtime: Runtime
) -> None:
    app_id = int(await caller.create_app(await caller.create_job()))
    for _ in range(5):
        created = await caller.create_action("note_app", {"app_id": app_id, "note_text": "once"})
        action_id = int(created["action"]["id"])
        # Eight deliveries racing each other and the real worker, which got the job too.
        results = await asyncio.gather(
            *(execution.run_action(runtime, action_id) for _ in range(8))
        )
        done = await caller.wait_for_status(str(action_id), {"EXECUTED", "FAILED"})
        assert done["status"] == "EXECUTED" and done["attempts"] == 1
        assert sum(r.outcome is execution.Outcome.EXECUTED for r in results) <= 1
        async with runtime.sessions() as session:
            notes = await session.scalar(
                select(func.count()).where(col(Note.action_id) == action_id)
            )
        assert notes == 1


async def test_running_a_finished_action_again_changes_nothing(
    caller: Caller, runtime: Runtime
) -> None:
    app_id = int(await caller.create_app(await caller.create_job()))
    created = await caller.create_action("tag_app", {"app_id": app_id, "tag_text": "t"})
    before = await caller.wait_for_status(created["action"]["id"], {"EXECUTED"})
    result = await execution.run_action(runtime, int(created["action"]["id"]))
    assert result.outcome is execution.Outcome.SKIPPED
    after = await caller.wait_for_status(created["action"]["id"], {"EXECUTED"})
    assert after == before


async def test_the_same_tag_twice_is_on_the_app_once(caller: Caller) -> None:
    app_id = int(await caller.create_app(await caller.create_job()))
    ids = [
        (await caller.create_action("tag_app", {"app_id": app_id, "tag_text": "dup"}))["action"][
            "id"
        ]
        for _ in range(3)
    ]
    for action_id in ids:
        assert (await caller.wait_for_status(action_id, {"EXECUTED", "FAILED"}))[
            "status"
        ] == "EXECUTED"
    data = await caller.graphql("query($id: ID!) { app(id: $id) { tags } }", {"id": str(app_id)})
    assert data["app"]["tags"] == ["dup"]
