"""A headless Chromium driven over the DevTools protocol, for the browser tests.

No driver to install: Chromium (Debian's package) speaks the protocol over a WebSocket, and
the tests already have `websockets`. The browser resolves no host name (only the gateway's
address is reachable), and the page records every URL it requests, every Content-Security-
Policy violation and every script error, so a test can say the page loaded nothing else.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import websockets

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    # Nothing resolves but 127.0.0.1, where the gateway listens: no request leaves the machine.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--window-size=1280,900",
)

# Installed by the page before its own scripts run: what the policy refused.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`);
});
"""


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(args, stdout=out, stderr=out, env={**os.environ, "LANG": "C.UTF-8"})


def _stop(process: subprocess.Popen[bytes]) -> None:
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class BrowserError(AssertionError):
    pass


class Page:
    """One tab, attached with a flattened session on the browser's connection."""

    def __init__(self, browser: Chromium, session_id: str) -> None:
        self.browser = browser
        self.session_id = session_id
        self.requests: list[str] = []
        self.errors: list[str] = []
        self._loaded = asyncio.Event()

    async def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.browser.send(method, params, session_id=self.session_id)

    def on_event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        elif method == "Network.webSocketCreated":
            self.requests.append(params["url"])
        elif method == "Page.loadEventFired":
            self._loaded.set()
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.errors.append(details.get("exception", {}).get("description") or details["text"])
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            self.errors.append(f"{params['entry'].get('url', '')}: {params['entry']['text']}")

    async def goto(self, url: str, timeout: float = 60) -> None:
        self._loaded.clear()
        result = await self.send("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise BrowserError(f"could not open {url}: {result['errorText']}")
        await asyncio.wait_for(self._loaded.wait(), timeout)

    async def evaluate(self, expression: str) -> Any:
        result = await self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 60) -> Any:
        """Poll until the expression is truthy (the machine is slow and shared: be generous)."""
        deadline = time.monotonic() + timeout
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"still false after {timeout}s: {expression}")
            await asyncio.sleep(0.1)

    async def click(self, selector: str) -> None:
        """A real mouse click in the middle of the element."""
        box = await self.wait_for(
            f"""(() => {{
                const el = document.querySelector({json.dumps(selector)});
                if (!el) return null;
                el.scrollIntoView({{block: "center"}});
                const r = el.getBoundingClientRect();
                return r.width && r.height ? {{x: r.x + r.width / 2, y: r.y + r.height / 2}} : null;
            }})()"""
        )
        for kind in ("mousePressed", "mouseReleased"):
            await self.send(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": box["x"], "y": box["y"], "button": "left", "clickCount": 1},
            )

    async def press(self, key: str, code: str, key_code: int, modifiers: int = 0) -> None:
        for kind in ("rawKeyDown", "keyUp"):
            await self.send(
                "Input.dispatchKeyEvent",
                {
                    "type": kind,
                    "key": key,
                    "code": code,
                    "windowsVirtualKeyCode": key_code,
                    "modifiers": modifiers,
                },
            )

    async def select_all(self) -> None:
        await self.press("a", "KeyA", 65, modifiers=2)  # Ctrl+A

    async def type_text(self, text: str) -> None:
        await self.send("Input.insertText", {"text": text})

    async def fill(self, selector: str, text: str) -> None:
        await self.click(selector)
        await self.select_all()
        await self.type_text(text)

    async def screenshot(self, path: Path) -> Path:
        data = await self.send("Page.captureScreenshot", {"format": "png"})
        await asyncio.to_thread(_write, path, base64.b64decode(data["data"]))
        return path

    async def violations(self) -> list[str]:
        found: list[str] = await self.evaluate("window.__violations || []")
        return found

    def foreign_requests(self, base_url: str) -> list[str]:
        """Requested URLs from anywhere but the gateway (http and ws alike)."""
        gateway = urlsplit(base_url).netloc
        return [
            url
            for url in self.requests
            if not url.startswith(("data:", "blob:")) and urlsplit(url).netloc != gateway
        ]


class Chromium:
    """A browser process and its DevTools connection."""

    def __init__(self, process: subprocess.Popen[bytes], ws: Any, profile: Path) -> None:
        self.process = process
        self.ws = ws
        self.profile = profile
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._pages: dict[str, Page] = {}
        self._reader = asyncio.create_task(self._read())

    @classmethod
    @contextlib.asynccontextmanager
    async def launch(cls, log: Path) -> AsyncIterator[Chromium]:
        executable = chromium_path()
        if executable is None:
            raise RuntimeError("chromium is not installed (apt-get install chromium)")
        # A helper process may still be writing its profile as the directory goes.
        with tempfile.TemporaryDirectory(
            prefix="agw-chromium-", ignore_cleanup_errors=True
        ) as profile_dir:
            profile = Path(profile_dir)
            args = [
                executable,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                "--remote-debugging-port=0",
                "about:blank",
            ]
            process = _start(args, log)
            try:
                endpoint = await cls._devtools_endpoint(profile, process)
                async with websockets.connect(endpoint, max_size=None, ping_interval=None) as ws:
                    browser = cls(process, ws, profile)
                    try:
                        yield browser
                    finally:
                        # Closed from within, so that its helper processes end with it.
                        with contextlib.suppress(Exception):
                            await browser.send("Browser.close", timeout=10)
                        browser._reader.cancel()
                        with contextlib.suppress(asyncio.CancelledError, Exception):
                            await browser._reader
            finally:
                await asyncio.to_thread(_stop, process)

    @staticmethod
    async def _devtools_endpoint(
        profile: Path, process: subprocess.Popen[bytes], timeout: float = 60
    ) -> str:
        # Chromium writes the port it chose, and the browser's path, into the profile.
        active = profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not active.exists() or len(active.read_text().splitlines()) < 2:
            if process.poll() is not None:
                raise RuntimeError(f"chromium exited with {process.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError("chromium did not open its DevTools port")
            await asyncio.sleep(0.05)
        port, path = active.read_text().splitlines()[:2]
        return f"ws://127.0.0.1:{port}{path}"

    async def _read(self) -> None:
        try:
            await self._dispatch()
        finally:
            # The browser has gone: nobody will answer what is still waiting.
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(BrowserError("the browser closed its connection"))

    async def _dispatch(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            if "id" in message:
                future = self._pending.pop(message["id"], None)
                if future is not None and not future.done():
                    if "error" in message:
                        future.set_exception(BrowserError(str(message["error"])))
                    else:
                        future.set_result(message.get("result", {}))
            elif "method" in message:
                page = self._pages.get(message.get("sessionId", ""))
                if page is not None:
                    page.on_event(message["method"], message.get("params", {}))

    async def send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        session_id: str | None = None,
        timeout: float = 60,
    ) -> dict[str, Any]:
        message_id = next(self._ids)
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params or {}}
        if session_id is not None:
            message["sessionId"] = session_id
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[message_id] = future
        await self.ws.send(json.dumps(message))
        return await asyncio.wait_for(future, timeout)

    async def new_page(self) -> Page:
        target = await self.send("Target.createTarget", {"url": "about:blank"})
        attached = await self.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )
        page = Page(self, attached["sessionId"])
        self._pages[page.session_id] = page
        for domain in ("Page", "Network", "Runtime", "Log"):
            await page.send(f"{domain}.enable")
        await page.send("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_VIOLATIONS})
        return page
