"""The status board at `/`: a person enters a key, creates an action, watches it finish."""

from __future__ import annotations

import json

import httpx

from tests.browser import Chromium, Page
from tests.conftest import SCREENSHOTS
from tests.support import Caller


def row_status(action_id: str) -> str:
    return f"document.querySelector('tr[data-id={json.dumps(action_id)}]')?.dataset.status"


async def choose_type(page: Page, name: str) -> None:
    # A native <select> has no page to click in headless Chromium: set it as the browser does.
    await page.evaluate(
        "(() => { const s = document.getElementById('action-type');"
        f" s.value = {json.dumps(name)}; s.dispatchEvent(new Event('change')); }})()"
    )


async def test_board_creates_an_action_and_its_row_turns_executed_live(
    browser: Chromium, caller: Caller
) -> None:
    app_id = await caller.create_app(await caller.create_job("Board job"))
    earlier = (await caller.create_action("note_app", {"app_id": int(app_id), "note_text": "hi"}))[
        "action"
    ]
    await caller.wait_for_status(earlier["id"], {"EXECUTED"})

    page = await browser.new_page()
    await page.goto(f"{caller.base_url}/")
    await page.fill("#api-key", caller.api_key)
    await page.click("#key-form button")
    await page.wait_for("document.getElementById('live').dataset.state === 'live'")
    # The company's latest actions are listed at once.
    assert await page.wait_for(f"{row_status(earlier['id'])} === 'EXECUTED'")

    await page.evaluate("window.notReloaded = true")
    await choose_type(page, "tag_app")
    await page.fill("#field-app_id", app_id)
    await page.fill("#field-tag_text", "from the board")
    await page.click("#create-button")
    action_id: str = await page.wait_for(
        "(document.getElementById('create-result').textContent.match(/Action (\\d+) created/)"
        " || [])[1]"
    )
    await page.wait_for(f"{row_status(action_id)} === 'EXECUTED'")
    assert await page.evaluate("window.notReloaded === true"), "updated live, not reloaded"
    cells = await page.evaluate(
        f"[...document.querySelector('tr[data-id={json.dumps(action_id)}]').cells]"
        ".map((c) => c.textContent)"
    )
    assert cells[:5] == [action_id, "tag_app", "EXECUTED", "1", ""]

    data = await caller.graphql("query($id: ID!) { app(id: $id) { tags } }", {"id": app_id})
    assert data["app"]["tags"] == ["from the board"]

    # Refused data: the gateway's message, naming the key, beside the form; nothing is made.
    await page.fill("#field-app_id", "999999")
    await page.click("#create-button")
    errors = await page.wait_for("document.getElementById('create-errors').textContent")
    assert errors == "app_id: app 999999 not found"
    assert await page.evaluate("document.getElementById('field-app_id').ariaInvalid") == "true"
    await page.screenshot(SCREENSHOTS / "board.png")

    assert page.foreign_requests(caller.base_url) == []
    assert await page.violations() == []
    assert page.errors == []


async def test_board_says_when_the_key_is_refused(browser: Chromium, gateway: str) -> None:
    page = await browser.new_page()
    await page.goto(f"{gateway}/")
    await page.fill("#api-key", "agw_not-a-key")
    await page.click("#key-form button")
    message = await page.wait_for("document.getElementById('key-error').textContent")
    assert "the API key is not valid" in message
    assert await page.evaluate("document.getElementById('live').dataset.state") == "offline"
    await page.screenshot(SCREENSHOTS / "board-refused-key.png")


async def test_board_page_has_the_same_strict_policy(gateway: str) -> None:
    async with httpx.AsyncClient(base_url=gateway) as client:
        response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-security-policy"].startswith("default-src 'none'; ")
    assert '"devApiKey":null' in response.text
