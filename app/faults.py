"""Fault injection: points where the recovery tests stop a worker in the middle of an action.

Used only by the tests, which start workers with `ACTIONS_GATEWAY_FAULT=<fault>`; unset (as
everywhere else) every point is a no-op. The faults:

- `pause-before-effect`: after a try has claimed its action (RUNNING, attempts counted) and
  before its effect transaction, write the action's id to the file named by
  `ACTIONS_GATEWAY_FAULT_MARKER`, then wait until that file is deleted. The test kills,
  stops or releases the worker while it waits.
- `crash-before-commit`: inside the effect transaction, after the effect and the EXECUTED
  status are written and before the commit, end the process at once (`os._exit`).
- `crash-after-commit`: after the commit, before the change is published on Redis.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

FAULT_VARIABLE = "ACTIONS_GATEWAY_FAULT"
MARKER_VARIABLE = "ACTIONS_GATEWAY_FAULT_MARKER"
# The exit status of an injected crash, so that a test can tell it from a real one.
CRASH_EXIT_CODE = 86


class Fault(enum.StrEnum):
    PAUSE_BEFORE_EFFECT = "pause-before-effect"
    CRASH_BEFORE_COMMIT = "crash-before-commit"
    CRASH_AFTER_COMMIT = "crash-after-commit"


def active() -> Fault | None:
    value = os.environ.get(FAULT_VARIABLE)
    return Fault(value) if value else None


def crash_if(fault: Fault) -> None:
    if active() is fault:
        log.warning("fault injection: %s, exiting now", fault)
        os._exit(CRASH_EXIT_CODE)


async def pause_if(fault: Fault, action_id: int) -> None:
    if active() is not fault:
        return
    marker = Path(os.environ[MARKER_VARIABLE])
    await asyncio.to_thread(marker.write_text, str(action_id))
    log.warning("fault injection: %s for action %s until %s is deleted", fault, action_id, marker)
    while await asyncio.to_thread(marker.exists):  # noqa: ASYNC110  (no event for a file)
        await asyncio.sleep(0.02)
