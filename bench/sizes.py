"""How much each section does: the full run, and `--quick`'s tiny one."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sizes:
    rounds: int = 3  # alternations of product, floor, graphql-core in sections 1 and 2
    warmup: int = 300  # requests per server and operation before measuring
    creates: int = 1500  # createAction requests per server, concurrency and round
    reads: int = 3000  # action(id) requests per server, concurrency and round
    request_time_limit: float = 60.0  # a load run stops here whatever it has done
    # Actions offered per second, each rate for e2e_seconds: the rate, and a light one
    # that shows the pipeline's own latency where the machine cannot keep up with the first.
    e2e_rates: tuple[float, ...] = (100.0, 20.0)
    e2e_seconds: float = 10.0
    backlog: int = 2000  # actions (and no-op jobs, and bare commits) per drain
    worker_rounds: int = 2
    subscriber_levels: tuple[int, ...] = (1000, 10000)
    delivery_subscribers: int = 1000
    delivery_events: int = 10
    settle_seconds: float = 5.0  # a server's memory is read once it has held this long
    subscriber_processes: int = 4


FULL = Sizes()
QUICK = Sizes(
    rounds=1,
    warmup=30,
    creates=200,
    reads=200,
    request_time_limit=20.0,
    e2e_rates=(20.0,),
    e2e_seconds=1.5,
    backlog=100,
    worker_rounds=1,
    subscriber_levels=(50,),
    delivery_subscribers=50,
    delivery_events=3,
    settle_seconds=0.5,
    subscriber_processes=2,
)
