"""The events a trigger can answer, what each supplies, and which action types each can fire."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.actions.base import ActionType, DataField
from app.models import TriggerEvent

if TYPE_CHECKING:
    from collections.abc import Iterable

    from app.models import WorkflowEvent

# A chain of triggered actions (a trigger's action causes an event that fires a trigger, ...)
# stops after this many actions: an event with this depth fires nothing, and says so.
MAX_TRIGGER_DEPTH = 3


@dataclass(frozen=True)
class EventKind:
    """One kind of event: its names and the action data it supplies."""

    event: TriggerEvent
    description: str
    supplies: tuple[DataField, ...]

    @property
    def name(self) -> str:
        """The REST name: applicant_new."""
        return self.event.value.lower()

    @property
    def supplied_keys(self) -> frozenset[str]:
        return frozenset(f.name for f in self.supplies)


EVENT_KINDS: dict[TriggerEvent, EventKind] = {
    TriggerEvent.APPLICANT_NEW: EventKind(
        TriggerEvent.APPLICANT_NEW,
        "An application was created.",
        (
            DataField("app_id", "integer", "The new application."),
            DataField("job_id", "integer", "The job applied to."),
        ),
    ),
    TriggerEvent.JOB_STATUS_CHANGED: EventKind(
        TriggerEvent.JOB_STATUS_CHANGED,
        "A job's status changed (setJobStatus, or a set_job_status action).",
        (DataField("job_id", "integer", "The job whose status changed."),),
    ),
}


def event_kind_named(name: str) -> EventKind | None:
    """The kind named in REST (applicant_new) or GraphQL (APPLICANT_NEW) style."""
    return next((k for k in EVENT_KINDS.values() if name in (k.name, k.event.value)), None)


def unsupplied_keys(
    action_type: ActionType, event: TriggerEvent, trigger_keys: Iterable[str]
) -> list[str]:
    """Keys the action type requires that neither the trigger's data nor the event supplies."""
    have = EVENT_KINDS[event].supplied_keys | set(trigger_keys)
    return [f.name for f in action_type.create_action.required if f.name not in have]


def can_fire(event: TriggerEvent, action_type: ActionType) -> bool:
    """Whether some trigger on this event can create actions of this type."""
    return not unsupplied_keys(
        action_type, event, (f.name for f in action_type.create_trigger.fields)
    )


def supplied_data(event: WorkflowEvent, action_type: ActionType) -> dict[str, Any]:
    """What the event gives an action of this type: only keys the type knows."""
    # The event's columns are named after the keys it supplies.
    values: dict[str, Any] = {"app_id": event.app_id, "job_id": event.job_id}
    known = {f.name for f in action_type.create_action.fields}
    return {
        f.name: values[f.name]
        for f in EVENT_KINDS[event.kind].supplies
        if f.name in known and values[f.name] is not None
    }
