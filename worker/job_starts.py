"""Starting jobs in groups: one round trip to Redis for all the jobs a worker has room for.

arq starts the jobs it polled one at a time, each with four round trips to Redis (WATCH,
EXISTS, ZSCORE, then MULTI/EXEC) through an event loop that is busy running actions. On
PostgreSQL that, not the database, held a worker at about 300 actions/s with most of its
slots empty, and the batches of claims and effects (app/services/try_batches.py) small.

Here the jobs there is room for are started by one script, with arq's rules: a job starts
only if it is still queued, is due, and is not in progress in any worker, and its in-progress
key is set in the same atomic step. The rest of a job's life (its definition read, its tries
counted, its result) is arq's own.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from arq.constants import in_progress_key_prefix
from arq.utils import timestamp_ms
from arq.worker import Worker

if TYPE_CHECKING:
    from redis.commands.core import AsyncScript

# KEYS: the queue, then each job's in-progress key; ARGV: now (ms), the in-progress key's
# lifetime (ms), then each job's id. Returns the started jobs as id, score, id, score...
_START_JOBS = """
local now = tonumber(ARGV[1])
local started = {}
for i = 2, #KEYS do
  local job_id = ARGV[i + 1]
  local score = redis.call('ZSCORE', KEYS[1], job_id)
  if score and tonumber(score) <= now
      and redis.call('SET', KEYS[i], '1', 'NX', 'PX', ARGV[2]) then
    started[#started + 1] = job_id
    started[#started + 1] = score
  end
end
return started
"""


class GroupStartingWorker(Worker):
    """An arq worker that starts the jobs it has free slots for together (see the module)."""

    _start_script: AsyncScript | None = None
    _slot_freed: asyncio.Event | None = None

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        waiting = [job_id.decode() for job_id in job_ids]
        # Stopping (allow_pick_jobs turned off) may begin at any wait below.
        while waiting and self.allow_pick_jobs:
            room = self.max_jobs - self.job_counter
            if room <= 0:
                # Full. Wait for a slot to free, but no longer than a poll's pause: the poll
                # loop has its other duties (the health check, ending finished tasks), which
                # also come round once this poll's ids (at most queue_read_limit) are started.
                if await self._slot_frees_within(self.poll_delay_s):
                    continue
                return
            group, waiting = waiting[:room], waiting[room:]
            # One permit per job, as arq takes them; there are max_jobs + 1, so these are free.
            for _ in group:
                await self.sem.acquire()
            try:
                started = await self._start(group)
            except BaseException:
                for _ in group:
                    self.sem.release()
                raise
            for _ in range(len(group) - len(started)):
                self.sem.release()  # started elsewhere, finished, or not due
            for job_id, score in started:
                self.job_counter += 1
                task = self.loop.create_task(self.run_job(job_id, score))
                task.add_done_callback(lambda _: self._release_sem_dec_counter_on_complete())
                self.tasks[job_id] = task

    def _release_sem_dec_counter_on_complete(self) -> None:
        super()._release_sem_dec_counter_on_complete()
        if self._slot_freed is not None:
            self._slot_freed.set()

    async def _slot_frees_within(self, seconds: float) -> bool:
        """Whether a running job ended within `seconds`."""
        self._slot_freed = freed = asyncio.Event()
        try:
            async with asyncio.timeout(seconds):
                await freed.wait()
        except TimeoutError:
            return False
        finally:
            self._slot_freed = None
        return True

    async def _start(self, job_ids: list[str]) -> list[tuple[str, int]]:
        """Mark these jobs in progress where arq's rules allow; those started, with scores."""
        if self._start_script is None:
            self._start_script = self.pool.register_script(_START_JOBS)
        keys = [self.queue_name, *(in_progress_key_prefix + job_id for job_id in job_ids)]
        lifetime = int(self.in_progress_timeout_s * 1000)
        reply = await self._start_script(keys=keys, args=[timestamp_ms(), lifetime, *job_ids])
        ids, scores = reply[::2], reply[1::2]
        return [
            (job_id.decode(), int(float(score))) for job_id, score in zip(ids, scores, strict=True)
        ]
