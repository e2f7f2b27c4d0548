"""The server runs on glibc's malloc, which hands a crowd's memory back (app/memory.py)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from app.embedded_redis import free_port
from app.memory import ALLOCATOR
from tests.support import ROOT, command, stop_process, wait_http

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/environ").exists(), reason="reads a process's environment in /proc"
)


def allocator_of_served_gateway(env: dict[str, str], log: Path, given: str | None) -> str:
    """Start `actions-gateway serve` (PYTHONMALLOC=`given`, or unset); the allocator it runs on."""
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if k != ALLOCATOR}
    environment.update(env, PORT=str(port))
    if given is not None:
        environment[ALLOCATOR] = given
    with log.open("ab") as out:
        server = subprocess.Popen(
            command("serve"), env=environment, stdout=out, stderr=out, cwd=ROOT
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")
        # The same process, which now runs a new interpreter on the allocator it chose.
        variables = Path(f"/proc/{server.pid}/environ").read_bytes().split(b"\0")
        chosen = [v.partition(b"=")[2] for v in variables if v.startswith(f"{ALLOCATOR}=".encode())]
        return chosen[0].decode() if chosen else "default"
    finally:
        stop_process(server)


def test_the_server_runs_on_the_system_allocator(
    env: dict[str, str], migrated: None, tmp_path: Path
) -> None:
    assert allocator_of_served_gateway(env, tmp_path / "gateway.log", None) == "malloc"


def test_an_allocator_chosen_by_pythonmalloc_is_kept(
    env: dict[str, str], migrated: None, tmp_path: Path
) -> None:
    assert allocator_of_served_gateway(env, tmp_path / "gateway.log", "pymalloc") == "pymalloc"
