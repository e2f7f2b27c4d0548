"""The front-end examples, run by Node.js with real clients (graphql-ws, urql) on a gateway."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import ROOT, Caller

EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """The examples' packages, installed from the committed lock file when it changed."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are needed to run the front-end examples")
    installed = EXAMPLES / "node_modules" / ".package-lock.json"
    lock = EXAMPLES / "package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=EXAMPLES,
            check=True,
            capture_output=True,
            timeout=300,
        )
    return installed.parent


async def node(script: str, *args: str, env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        "node",
        script,
        *args,
        cwd=EXAMPLES,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def client_env(caller: Caller, api_key: str | None = None) -> dict[str, str]:
    return {"GATEWAY_URL": caller.base_url, "API_KEY": api_key or caller.api_key}


async def test_watch_action_example_shows_the_status_until_executed(
    caller: Caller, node_modules: Path
) -> None:
    app_id = await caller.create_app(await caller.create_job())
    created = await caller.graphql(
        'mutation($app: ID!) { createTagAppAction(input: {appId: $app, tagText: "js"}) '
        "{ action { id } errors { message } } }",
        {"app": app_id},
    )
    action_id = created["createTagAppAction"]["action"]["id"]

    code, out, err = await node("watch-action.mjs", action_id, env=client_env(caller))

    assert code == 0, err
    lines = out.splitlines()
    assert lines, "the example printed nothing"
    for line in lines[:-1]:
        assert re.fullmatch(rf"TagApp {action_id}: (PENDING|RUNNING)", line), lines
    assert re.fullmatch(rf"TagApp {action_id}: EXECUTED at \S+", lines[-1]), lines


async def test_watch_action_example_reports_a_refused_key(
    caller: Caller, node_modules: Path
) -> None:
    code, out, err = await node("watch-action.mjs", "1", env=client_env(caller, "agw_wrong"))
    assert code == 1 and out == ""
    assert err.strip() == "could not watch action 1: 4403 Forbidden"


async def test_persisted_query_example_sends_the_query_once(
    caller: Caller, node_modules: Path
) -> None:
    code, out, err = await node("persisted-query.mjs", env=client_env(caller))
    assert code == 0, err
    types = "NoteApp, PostDashboardNotification, SetJobStatus, TagApp"
    assert out.splitlines() == [
        "GET hash -> PersistedQueryNotFound",
        "GET query+hash -> 200",
        f"call 1: {types}",
        "GET hash -> 200",
        f"call 2: {types}",
    ]


def test_readme_shows_the_example_that_the_tests_run() -> None:
    readme = (ROOT / "README.md").read_text()
    example = (EXAMPLES / "watch-action.mjs").read_text()
    assert f"```js\n{example}```" in readme, "README's copy of examples/watch-action.mjs is stale"
