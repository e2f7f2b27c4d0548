"""The GraphiQL explorer: served by the gateway itself, under a policy that allows nothing else."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from app.web.pages import STATIC, TEMPLATES
from tests.browser import Chromium, Page
from tests.conftest import SCREENSHOTS
from tests.support import ROOT, command, free_port, stop_process, wait_http, wait_until

QUERY_EDITOR = ".graphiql-query-editor .CodeMirror"
RESULT = "document.querySelector('.result-window .CodeMirror').CodeMirror.getValue()"
EDITORS = "[...document.querySelectorAll('.CodeMirror')].map((e) => e.CodeMirror.getValue())"


@pytest.fixture(scope="module")
def dev_command(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """`actions-gateway dev` as a person runs it: its own SQLite file, Redis and worker.

    The base URL and the development key it printed.
    """
    home = tmp_path_factory.mktemp("dev")
    port = free_port()
    # Its own embedded Redis, whatever the run uses: its worker must not take others' jobs.
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{home / 'dev.db'}"
    with (home / "dev.log").open("wb") as out:
        process = subprocess.Popen(
            [*command("dev"), "--port", str(port)], env=env, stdout=out, stderr=out, cwd=ROOT
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout=60)
        key = (home / "dev.dev-key").read_text().strip()
        yield f"http://127.0.0.1:{port}", key
    finally:
        assert stop_process(process) == 0, (home / "dev.log").read_text()


async def run_in_explorer(page: Page, document: str, kind: str) -> None:
    await page.fill(QUERY_EDITOR, document)
    # GraphiQL parses the editor's text shortly after it changes; run what was typed.
    await page.wait_for(
        f"(document.querySelector({json.dumps(QUERY_EDITOR)}).CodeMirror.operations || [])"
        f"[0]?.operation === {json.dumps(kind)}"
    )
    await page.click(".graphiql-execute-button")


async def result(page: Page, condition: str) -> dict[str, object]:
    """The result pane's JSON, once `condition` (JS, on `r`) holds for it."""
    text = await page.wait_for(
        f"(() => {{ try {{ const r = JSON.parse({RESULT}); return ({condition}) && {RESULT}; }}"
        " catch (_) { return null; } })()"
    )
    parsed: dict[str, object] = json.loads(text)
    return parsed


async def test_explorer_runs_a_query_and_a_subscription_with_only_the_gateway(
    browser: Chromium, dev_command: tuple[str, str]
) -> None:
    base_url, dev_key = dev_command
    page = await browser.new_page()
    await page.goto(f"{base_url}/graphql")
    await page.wait_for("!!document.querySelector('.graphiql-execute-button')")

    # Under `dev` the development key is already in the headers.
    editors: list[str] = await page.evaluate(EDITORS)
    assert any(f"Bearer {dev_key}" in text for text in editors), editors

    await run_in_explorer(
        page,
        'mutation { createJob(input: {title: "From GraphiQL"}) { job { id title } } }',
        "mutation",
    )
    created = await result(page, "r.data && r.data.createJob")
    assert created["data"] == {"createJob": {"job": {"id": "1", "title": "From GraphiQL"}}}

    await run_in_explorer(page, "subscription { actions { id type status } }", "subscription")
    # The subscription is open once the gateway counts it; then an action is made elsewhere.
    async with httpx.AsyncClient(base_url=base_url) as client:

        async def subscribed() -> bool:
            metrics = (await client.get("/metrics")).text
            return "actions_gateway_subscriptions_open 1.0" in metrics

        await wait_until(subscribed, "the explorer's subscription")
        response = await client.post(
            "/graphql",
            headers={"Authorization": f"Bearer {dev_key}"},
            json={
                "query": "mutation($data: JSON!) { createAction(input: "
                '{type: "post_dashboard_notification", data: $data}) { action { id } } }',
                "variables": {"data": {"message": "hello from the test"}},
            },
        )
    action_id = response.json()["data"]["createAction"]["action"]["id"]
    seen = await result(
        page,
        f"r.data && r.data.actions.id === {json.dumps(action_id)} && "
        "r.data.actions.status === 'EXECUTED'",
    )
    assert seen["data"] == {
        "actions": {"id": action_id, "type": "post_dashboard_notification", "status": "EXECUTED"}
    }
    await page.screenshot(SCREENSHOTS / "explorer.png")

    assert f"{base_url.replace('http', 'ws')}/graphql" in page.requests, "over WebSocket"
    assert page.foreign_requests(base_url) == []
    assert await page.violations() == []
    assert page.errors == []


async def test_explorer_page_has_a_strict_policy_and_no_key_outside_dev(gateway: str) -> None:
    async with httpx.AsyncClient(base_url=gateway) as client:
        response = await client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    host = gateway.removeprefix("http://")
    assert policy == (
        "default-src 'none'; script-src 'self'; style-src 'self'; font-src 'self' data:; "
        f"img-src 'self' data:; connect-src 'self' ws://{host} wss://{host}; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    )
    config = re.search(
        r'id="explorer-config" type="application/json">(.*?)</script>', response.text
    )
    assert config is not None
    assert json.loads(config.group(1)) == {"graphqlPath": "/graphql", "devApiKey": None}
    assert "https://" not in response.text and "http://" not in response.text


async def test_a_host_header_that_could_break_the_policy_is_not_echoed(gateway: str) -> None:
    async with httpx.AsyncClient(base_url=gateway) as client:
        response = await client.get(
            "/graphql", headers={"Accept": "text/html", "Host": "evil; script-src *"}
        )
    assert "connect-src 'self';" in response.headers["content-security-policy"]
    assert "evil" not in response.headers["content-security-policy"]


def _referenced_assets() -> set[str]:
    found: set[str] = set()
    for template in TEMPLATES.glob("*.html"):
        found.update(re.findall(r'(?:src|href)="/static/([^"]+)"', template.read_text()))
    return found


@pytest.mark.parametrize("asset", sorted(_referenced_assets()))
async def test_every_asset_a_page_names_is_served(gateway: str, asset: str) -> None:
    async with httpx.AsyncClient(base_url=gateway) as client:
        response = await client.get(f"/static/{asset}")
    assert response.status_code == 200
    assert response.content == (STATIC / asset).read_bytes()


def test_each_vendored_package_keeps_its_licence() -> None:
    vendor = STATIC / "vendor"
    packages = [p for p in vendor.iterdir() if p.is_dir()]
    assert {p.name for p in packages} == {"graphiql", "react", "react-dom", "plugin-explorer"}
    for package in packages:
        licence = (package / "LICENSE").read_text()
        assert "Permission is hereby granted" in licence, package
    assert (vendor / "plugin-explorer" / "LICENSE.graphiql-explorer").exists()


def test_the_vendored_assets_are_those_the_script_pins() -> None:
    script = (ROOT / "scripts" / "vendor-explorer").read_text()
    readme = (STATIC / "vendor" / "README.md").read_text()
    pins = re.findall(r'^  "(\S+@\S+) (\S+)"$', script, flags=re.MULTILINE)
    assert len(pins) == 5
    for spec, sha512 in pins:
        assert f"| `{spec}` | `{sha512}` |" in readme
