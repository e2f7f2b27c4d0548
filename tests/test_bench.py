"""The benchmark runs, as a person runs it: `python -m bench.run --quick --json PATH`.

Every section is there with positive numbers and sane ratios. No timing is asserted: how
fast the gateway is, is what the benchmark reports, not what the tests check. The run uses
the test environment's DATABASE_URL if set (a fresh PostgreSQL database of its own, dropped
after), else a SQLite file; and always an embedded Redis of its own, so that its events never
reach the test gateways listening on REDIS_URL's server.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SERVERS = ("product", "floor", "graphql_core")


def positive(value: Any) -> bool:
    return isinstance(value, int | float) and value > 0 and math.isfinite(value)


def sane_ratio(value: Any) -> bool:
    # Whatever the machine's load, the product is within two orders of its baselines.
    return positive(value) and 0.01 < value < 100


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    path: Path = tmp_path_factory.mktemp("bench") / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--json", str(path)],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=840,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded, result.stdout


def test_the_table_names_every_section_and_a_verdict(report: tuple[dict[str, Any], str]) -> None:
    _, table = report
    for heading in (
        "1. createAction over HTTP",
        "2. action(id) over HTTP",
        "3. end to end",
        "4. subscriptions",
        "targets met:",
        "CPU steal",
    ):
        assert heading in table, table


def test_the_machine_is_described(report: tuple[dict[str, Any], str]) -> None:
    machine = report[0]["machine"]
    assert machine["cores"] >= 1 and machine["quick"] is True
    assert machine["steal_percent"] >= 0 and positive(machine["seconds"])
    assert machine["database"] in ("sqlite", "postgresql")


@pytest.mark.parametrize("section", ["http_create", "http_read"])
def test_http_sections_measure_every_server_at_both_concurrencies(
    report: tuple[dict[str, Any], str], section: str
) -> None:
    measured = report[0][section]
    assert set(measured) == {"4", "32"}
    for concurrency in measured.values():
        for server in SERVERS:
            numbers = concurrency[server]
            assert numbers["failures"] == 0, numbers
            assert numbers["requests"] > 0 and positive(numbers["rps"])
            assert positive(numbers["p50_ms"]) and numbers["p99_ms"] >= numbers["p50_ms"]
        assert sane_ratio(concurrency["ratio_to_floor"])
        assert sane_ratio(concurrency["ratio_to_graphql_core"])


def test_end_to_end_every_action_arrives_executed(report: tuple[dict[str, Any], str]) -> None:
    runs = report[0]["end_to_end"]["runs"]
    assert runs
    for e2e in runs:
        assert e2e["sent"] > 0 and e2e["created"] > 0 and e2e["received"] == e2e["created"]
        assert positive(e2e["p50_ms"]) and e2e["p99_ms"] >= e2e["p50_ms"]


def test_the_worker_is_compared_with_arq_and_the_database(
    report: tuple[dict[str, Any], str],
) -> None:
    worker = report[0]["worker"]
    for rate in (
        "actions_per_s",
        "noop_jobs_per_s",
        "commits_per_s_sequential",
        "commits_per_s_concurrent",
    ):
        assert positive(worker[rate]), worker
    assert sane_ratio(worker["ratio_to_noop"]) and sane_ratio(worker["ratio_to_commit"])


def test_subscriptions_memory_and_delivery_are_measured(
    report: tuple[dict[str, Any], str],
) -> None:
    subscriptions = report[0]["subscriptions"]
    # The gateway's, and the floor's hand-written relay, measured alike.
    for measured in (subscriptions, subscriptions["floor"]):
        assert measured["levels"]
        for level in measured["levels"]:
            assert level["subscribers"] > 0
            for key in ("rss_before_kib", "rss_with_kib", "rss_after_kib"):
                assert positive(level[key])
            assert math.isfinite(level["per_subscriber_kib"]) and sane_ratio(level["after_ratio"])
            assert level["connect_cpu_ms_per_subscriber"] >= 0  # in ticks, as below
        delivery = measured["delivery"]
        assert delivery["subscribers"] > 0 and delivery["events"] > 0
        # CPU time is counted in 10 ms ticks: a few events to a few subscribers may read 0.
        assert delivery["cpu_ms_per_event"] >= 0
        assert positive(delivery["wall_ms_p50"])
        assert delivery["wall_ms_max"] >= delivery["wall_ms_p50"]
    assert "gateway ÷ floor, CPU per event" in report[1]


def test_no_section_failed(report: tuple[dict[str, Any], str]) -> None:
    assert "failed_sections" not in report[0], report[0]["failed_sections"]


def test_each_target_has_a_verdict(report: tuple[dict[str, Any], str]) -> None:
    targets = report[0]["targets"]
    sections = {t["section"] for t in targets}
    assert sections == {"http_create", "http_read", "worker", "subscriptions"}
    assert all(isinstance(t["met"], bool) and t["goal"] and t["value"] for t in targets)
