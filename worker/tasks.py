"""The worker's jobs: thin calls into the services."""

from __future__ import annotations

import logging
from typing import Any

from arq import Retry

from app.runtime import Runtime
from app.services import execution, firing, retention, sweeper
from app.services.retry_policy import backoff_seconds, describe, is_transient
from app.settings import Settings, get_settings

log = logging.getLogger(__name__)


async def startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx.get("settings") or get_settings()
    ctx["runtime"] = await Runtime.start(settings, listen=False)


async def shutdown(ctx: dict[str, Any]) -> None:
    runtime: Runtime | None = ctx.pop("runtime", None)
    if runtime is not None:
        await runtime.close()


async def run_action(ctx: dict[str, Any], action_id: int) -> str:
    runtime: Runtime = ctx["runtime"]
    result = await execution.run_action(runtime, action_id)
    if result.outcome is execution.Outcome.REDELIVER:
        raise Retry(defer=result.retry_in)
    return result.outcome.value


async def fire_event(ctx: dict[str, Any], event_id: int) -> str:
    runtime: Runtime = ctx["runtime"]
    try:
        result = await firing.fire_event(runtime, event_id)
    except Exception as exc:
        if not is_transient(exc):
            raise
        # Nothing was stored; the event is still unprocessed, and the sweeper backs this up.
        tries: int = ctx.get("job_try", 1)
        log.warning("firing event %s failed, will retry: %s", event_id, describe(exc))
        settings = runtime.settings
        delay = backoff_seconds(
            tries, settings.action_retry_base_seconds, settings.action_retry_max_seconds
        )
        raise Retry(defer=delay) from exc
    if not result.processed:
        return "already processed"
    return f"created={len(result.actions)} skipped={len(result.skipped)}"


async def sweep_actions(ctx: dict[str, Any]) -> str:
    runtime: Runtime = ctx["runtime"]
    try:
        report = await sweeper.sweep(runtime)
    except Exception as exc:
        if not is_transient(exc):
            raise
        log.warning("sweep skipped: %s", describe(exc))
        return "skipped"
    if report.queued or report.failed or report.events_queued:
        log.info(
            "sweep: %s queued again, %s failed for good, %s events queued",
            report.queued,
            report.failed,
            report.events_queued,
        )
    return f"queued={report.queued} failed={report.failed} events={report.events_queued}"


async def purge_actions(ctx: dict[str, Any]) -> str:
    runtime: Runtime = ctx["runtime"]
    # Within the job's timeout; what is left waits for the next run.
    budget = runtime.settings.action_timeout_seconds * 0.8
    try:
        purged = await retention.purge_finished(runtime, budget_seconds=budget)
    except Exception as exc:
        if not is_transient(exc):
            raise
        log.warning("purge skipped: %s", describe(exc))
        return "skipped"
    if purged.actions or purged.events:
        log.info(
            "purged %s finished actions and %s workflow events past retention",
            purged.actions,
            purged.events,
        )
    return f"actions={purged.actions} events={purged.events}"
