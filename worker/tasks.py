"""The worker's jobs: thin calls into `app.services.execution`."""

from __future__ import annotations

import logging
from typing import Any

from arq import Retry

from app.runtime import Runtime
from app.services import execution, firing
from app.settings import Settings, get_settings

log = logging.getLogger(__name__)


async def startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx.get("settings") or get_settings()
    runtime = await Runtime.start(settings, listen=False)
    ctx["runtime"] = runtime
    # Whatever a previous worker left behind is taken up at once, not at the next cron tick.
    report = await execution.sweep(runtime)
    log.info(
        "worker started; swept %s queued, %s failed, %s events queued",
        report.queued,
        report.failed,
        report.events_queued,
    )


async def shutdown(ctx: dict[str, Any]) -> None:
    runtime: Runtime | None = ctx.get("runtime")
    if runtime is not None:
        await runtime.close()


async def run_action(ctx: dict[str, Any], action_id: int) -> str:
    runtime: Runtime = ctx["runtime"]
    result = await execution.run_action(runtime, action_id)
    if result.outcome is execution.Outcome.RETRY:
        raise Retry(defer=result.retry_in)
    return result.outcome.value


async def fire_event(ctx: dict[str, Any], event_id: int) -> str:
    runtime: Runtime = ctx["runtime"]
    try:
        result = await firing.fire_event(runtime, event_id)
    except execution.TRANSIENT_ERRORS as exc:
        # Nothing was stored; the event is still unprocessed, and the sweeper backs this up.
        tries: int = ctx.get("job_try", 1)
        log.warning("firing event %s failed, will retry: %s", event_id, exc)
        raise Retry(defer=execution.backoff_seconds(tries)) from exc
    if not result.processed:
        return "already processed"
    return f"created={len(result.actions)} skipped={len(result.skipped)}"


async def sweep_actions(ctx: dict[str, Any]) -> str:
    runtime: Runtime = ctx["runtime"]
    report = await execution.sweep(runtime)
    if report.queued or report.failed or report.events_queued:
        log.info(
            "sweep: %s queued again, %s failed for good, %s events queued",
            report.queued,
            report.failed,
            report.events_queued,
        )
    return f"queued={report.queued} failed={report.failed} events={report.events_queued}"
