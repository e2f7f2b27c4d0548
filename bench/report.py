"""The verdict: the issue's targets checked against the numbers, and the table people read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

NAMES = {"product": "product", "floor": "floor", "graphql_core": "graphql-core"}


@dataclass(frozen=True)
class Target:
    section: str
    goal: str
    value: str
    met: bool


def _get(results: dict[str, Any], *path: str) -> Any:
    node: Any = results
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def targets(results: dict[str, Any]) -> list[Target]:
    """Each of issue 7's targets that this run measured, and whether it is met."""
    found: list[Target] = []

    def check(section: str, goal: str, value: Any, met: Callable[[float], bool], unit: str) -> None:
        if isinstance(value, int | float):
            found.append(Target(section, goal, f"{value:.2f}{unit}", met(value)))

    create = _get(results, "http_create", "32")
    if create:
        check(
            "http_create",
            "createAction ≥ 0.9x floor req/s at 32 clients",
            create["ratio_to_floor"],
            lambda v: v >= 0.9,
            "x",
        )
        check(
            "http_create",
            "createAction ahead of graphql-core at 32 clients",
            create["ratio_to_graphql_core"],
            lambda v: v > 1.0,
            "x",
        )
        check(
            "http_create",
            "stretch: createAction > 1.0x floor at 32 clients",
            create["ratio_to_floor"],
            lambda v: v > 1.0,
            "x",
        )
    read = _get(results, "http_read", "32")
    if read:
        check(
            "http_read",
            "action(id) ≥ 0.5x floor req/s at 32 clients",
            read["ratio_to_floor"],
            lambda v: v >= 0.5,
            "x",
        )
    worker = results.get("worker")
    if worker:
        noop, commit = worker["ratio_to_noop"], worker["ratio_to_commit"]
        found.append(
            Target(
                "worker",
                "worker ≥ 0.8x arq's tuned no-op rate, or ≥ 0.7x the bare commit rate",
                f"{noop:.2f}x no-op, {commit:.2f}x commits",
                noop >= 0.8 or commit >= 0.7,
            )
        )
    subscriptions = results.get("subscriptions")
    if subscriptions:
        for level in subscriptions["levels"]:
            check(
                "subscriptions",
                f"≤ 20 KiB per idle subscriber ({level['subscribers']})",
                level["per_subscriber_kib"],
                lambda v: v <= 20,
                " KiB",
            )
            check(
                "subscriptions",
                f"RSS after {level['subscribers']} left within 10 % of before",
                level["after_ratio"],
                lambda v: v <= 1.10,
                "x",
            )
        delivery = subscriptions["delivery"]
        if delivery:
            check(
                "subscriptions",
                f"one event to {delivery['subscribers']} subscribers < 30 ms server CPU",
                delivery["cpu_ms_per_event"],
                lambda v: v < 30,
                " ms",
            )
    return found


def verdict(met: bool) -> str:
    return "met" if met else "NOT MET"


def _http_rows(section: dict[str, Any]) -> list[str]:
    rows = [
        f"   {'clients':<9}{'server':<15}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'x floor':>10}{'x gql-core':>12}"
    ]
    for concurrency, measured in section.items():
        for n, target in enumerate(NAMES):
            numbers = measured[target]
            ratios = ""
            if target == "product":
                ratios = (
                    f"{measured['ratio_to_floor']:>10.2f}{measured['ratio_to_graphql_core']:>12.2f}"
                )
            rows.append(
                f"   {concurrency if n == 0 else '':<9}{NAMES[target]:<15}{numbers['rps']:>9.0f}"
                f"{numbers['p50_ms']:>9.1f}{numbers['p99_ms']:>9.1f}{ratios}"
            )
    return rows


def _targets_of(section: str, all_targets: list[Target]) -> list[str]:
    return [
        f"   target: {t.goal}: {t.value} {verdict(t.met)}"
        for t in all_targets
        if t.section == section
    ]


def _subscription_rows(name: str, of: dict[str, Any]) -> list[str]:
    lines = []
    for level in of["levels"]:
        lines.append(
            f"   {name:<7} {level['subscribers']:>6} idle subscribers: "
            f"{level['per_subscriber_kib']:.1f} KiB each (RSS {level['rss_before_kib'] / 1024:.0f}"
            f" → {level['rss_with_kib'] / 1024:.0f} MiB); after they left "
            f"{level['rss_after_kib'] / 1024:.0f} MiB = {level['after_ratio']:.2f}x before; "
            f"{level['connect_cpu_ms_per_subscriber']:.2f} ms server CPU each to connect"
        )
    delivery = of["delivery"]
    if delivery:
        lines.append(
            f"   {name:<7} one event to {delivery['subscribers']} subscribers: "
            f"{delivery['cpu_ms_per_event']:.1f} ms server CPU, wall p50 "
            f"{delivery['wall_ms_p50']:.1f} ms, max {delivery['wall_ms_max']:.1f} ms "
            f"({delivery['events']} events)"
        )
    return lines


def render(results: dict[str, Any]) -> str:
    machine = results["machine"]
    all_targets = targets(results)
    lines = [
        f"actions gateway benchmark{' (quick)' if machine['quick'] else ''}: "
        f"{machine['database']}, Redis {machine['redis']}",
        f"machine: {machine['cores']} cores ({machine['cpu_model']}), CPU steal "
        f"{machine['steal_percent']:.1f} % over the run, load average at start "
        f"{machine['load_average_start']:.2f}, {machine['seconds']:.0f} s",
    ]
    if "http_create" in results:
        lines += ["", "1. createAction over HTTP", *_http_rows(results["http_create"])]
        lines += _targets_of("http_create", all_targets)
    if "http_read" in results:
        lines += ["", "2. action(id) over HTTP", *_http_rows(results["http_read"])]
        lines += _targets_of("http_read", all_targets)
    e2e = results.get("end_to_end")
    if e2e:
        lines += ["", "3. end to end: createAction due → EXECUTED received over a subscription"]
        for run in e2e["runs"]:
            saturated = run["achieved_rate"] < 0.9 * run["offered_rate"]
            lines += [
                f"   {run['offered_rate']:.0f} actions/s offered, {run['achieved_rate']:.0f}/s "
                f"sent{' (saturated)' if saturated else ''}: p50 {run['p50_ms']:.1f} ms, "
                f"p99 {run['p99_ms']:.1f} ms, max {run['max_ms']:.1f} ms",
                f"      ({run['created']} of {run['sent']} created, {run['received']} seen "
                f"EXECUTED; createAction answered in p50 {run['http_p50_ms']:.1f} ms)",
            ]
            if run.get("refused_sample"):
                lines.append(f"   a refused create: {run['refused_sample'][:200]}")
    worker = results.get("worker")
    if worker:
        lines += [
            "" if e2e else "\n3. worker",
            f"   worker draining a backlog of {worker['backlog']}: "
            f"{worker['actions_per_s']:.0f} actions/s",
            f"   arq no-op jobs (poll_delay {worker['poll_delay']}, max_jobs "
            f"{worker['max_jobs']}): {worker['noop_jobs_per_s']:.0f} jobs/s → "
            f"worker {worker['ratio_to_noop']:.2f}x",
            f"   bare commits of the same writes: {worker['commits_per_s_sequential']:.0f}/s one "
            f"at a time, {worker['commits_per_s_concurrent']:.0f}/s at {worker['max_jobs']} "
            f"at once → worker {worker['ratio_to_commit']:.2f}x",
            *_targets_of("worker", all_targets),
        ]
    subscriptions = results.get("subscriptions")
    if subscriptions:
        lines += ["", "4. subscriptions (each server's memory, /proc/PID/status VmRSS)"]
        floor = subscriptions.get("floor", {"levels": [], "delivery": {}})
        for name, of in (("gateway", subscriptions), ("floor", floor)):
            lines += _subscription_rows(name, of)
        for level in subscriptions["levels"]:
            lines.append(
                f"   gateway ÷ floor, KiB per idle subscriber ({level['subscribers']}): "
                f"{level['per_subscriber_ratio_to_floor']:.2f}x"
            )
        if "cpu_ratio_to_floor" in subscriptions["delivery"]:
            cpu = subscriptions["delivery"]["cpu_ratio_to_floor"]
            lines.append(f"   gateway ÷ floor, CPU per event: {cpu:.2f}x")
        lines += _targets_of("subscriptions", all_targets)
    for section, error in results.get("failed_sections", {}).items():
        lines += ["", f"section {section} FAILED: {error[:500]}"]
    met = sum(t.met for t in all_targets)
    lines += ["", f"targets met: {met} of {len(all_targets)}"]
    return "\n".join(lines)


def as_json(results: dict[str, Any]) -> dict[str, Any]:
    return {**results, "targets": [asdict(t) for t in targets(results)]}
