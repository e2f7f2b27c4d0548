"""The worker's jobs: thin calls into `app.services.execution`."""

from __future__ import annotations

import logging
from typing import Any

from arq import Retry

from app.runtime import Runtime
from app.services import execution
from app.settings import Settings, get_settings

log = logging.getLogger(__name__)


async def startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx.get("settings") or get_settings()
    runtime = await Runtime.start(settings, listen=False)
    ctx["runtime"] = runtime
    # Whatever a previous worker left behind is taken up at once, not at the next cron tick.
    report = await execution.sweep(runtime)
    log.info("worker started; swept %s queued, %s failed", report.queued, report.failed)


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


async def sweep_actions(ctx: dict[str, Any]) -> str:
    runtime: Runtime = ctx["runtime"]
    report = await execution.sweep(runtime)
    if report.queued or report.failed:
        log.info("sweep: %s queued again, %s failed for good", report.queued, report.failed)
    return f"queued={report.queued} failed={report.failed}"
