"""The `actions-gateway` commands, run as a user runs them."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.support import ROOT, command, free_port, stop_process


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env={**os.environ, **env}, capture_output=True, text=True, cwd=ROOT)


def test_companies_create_prints_the_key_once_as_json(env: dict[str, str], migrated: None) -> None:
    result = run(command("companies", "create", "Acme Hiring", "--json"), env)
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert set(created) == {"company_id", "api_key"}
    assert created["company_id"].isdigit() and created["api_key"].startswith("agw_")


def test_companies_create_refuses_a_blank_name(env: dict[str, str], migrated: None) -> None:
    result = run(command("companies", "create", "  ", "--json"), env)
    assert result.returncode != 0
    assert "name must not be empty" in result.stderr


def test_a_new_key_works_at_once(env: dict[str, str], migrated: None, gateway: str) -> None:
    key = json.loads(run(command("companies", "create", "Keys Inc", "--json"), env).stdout)[
        "api_key"
    ]
    response = httpx.post(
        f"{gateway}/graphql",
        json={"query": "{ actions { edges { cursor } } }"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.json() == {"data": {"actions": {"edges": []}}}


def test_export_schema_prints_sdl() -> None:
    result = run(command("export-schema"), {})
    assert result.returncode == 0 and "type Query {" in result.stdout


def test_migrate_is_idempotent(env: dict[str, str], migrated: None) -> None:
    result = run(command("migrate"), env)
    assert result.returncode == 0, result.stderr


def test_dev_runs_everything_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    """`dev` on a machine with nothing: its own SQLite file and Redis; Ctrl-C stops all."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    log = tmp_path / "dev.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command("dev", "--port", str(port))], env=env, cwd=tmp_path, stdout=out, stderr=out
        )
    try:
        key = None
        deadline = time.monotonic() + 60
        while key is None and time.monotonic() < deadline:
            found = re.search(r"API key:\s+(\S+)", log.read_text())
            key = found.group(1) if found else None
            time.sleep(0.1)
        assert key, log.read_text()
        assert f"http://localhost:{port}/graphql" in log.read_text()
        headers = {"Authorization": f"Bearer {key}"}
        url = f"http://127.0.0.1:{port}/graphql"
        while time.monotonic() < deadline:
            try:
                job = httpx.post(
                    url,
                    headers=headers,
                    json={"query": 'mutation { createJob(input: {title: "T"}) { job { id } } }'},
                ).json()
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert job["data"]["createJob"]["job"]["id"]
        redis_port = int(re.search(r"redis://127\.0\.0\.1:(\d+)", log.read_text()).group(1))  # type: ignore[union-attr]
    finally:
        code = stop_process(process, signal.SIGINT)
    assert code == 0, log.read_text()
    assert (tmp_path / "actions-gateway.db").exists()
    # The embedded Redis went with it.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", redis_port), timeout=1).close()
    # The same key works after a restart: it is kept beside the database.
    assert (tmp_path / "actions-gateway.dev-key").read_text().strip() == key
