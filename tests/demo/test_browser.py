"""The demo as a person meets it, in headless Chromium: log in, see the files, open the notebook.

Chromium is Debian's package (/usr/bin/chromium), driven by Playwright; `make test`
installs it. The example notebook's cells run in JupyterLab behind the hub's proxy.
"""

import os
import threading
import time
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from hub.spawners.local import server_log_path
from kozo.demo.runner import DEMO_PASSWORD, DEMO_USER, DemoResult, DemoSettings, run_demo
from kozo.ports import free_loopback_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"]


@pytest.fixture
def running_demo(tmp_path):
    settings = DemoSettings(folder=tmp_path / "demo", port=free_loopback_port(), interval=0.5,
                            runs=2, duration=400.0)
    result, stop, lines, errors = DemoResult(), threading.Event(), [], []

    def demo() -> None:
        try:
            run_demo(settings, say=lines.append, result=result, stop=stop)
        except Exception as error:  # shown in the assertion below, not lost in a thread
            errors.append(error)

    thread = threading.Thread(target=demo)
    thread.start()
    deadline = time.monotonic() + 240  # set-up, then up to two notebook starts of 60 s each
    while result.notebook_url is None and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.5)
    try:
        assert result.notebook_url, what_went_wrong(settings.folder, lines, errors)
        yield settings, result
    finally:
        stop.set()
        thread.join(60)


def what_went_wrong(folder: Path, lines: list[str], errors: list[Exception]) -> str:
    """What the demo printed, the error that stopped it, the tails of the hub and Jupyter logs."""
    parts = ["the demo did not reach its notebook step:", *lines,
             f"error: {errors[0]!r}" if errors else "(no error: it was still waiting)"]
    for log in (folder / "hub.log", server_log_path(folder / "hub" / "notebooks", DEMO_USER)):
        tail = log.read_text(errors="replace").splitlines()[-25:] if log.exists() else ["(none)"]
        parts += [f"--- last lines of {log.name}:", *tail]
    return "\n".join(parts)


def test_a_person_logs_in_sees_quick_checks_and_opens_the_example_notebook(running_demo):
    settings, result = running_demo
    assert os.path.exists(CHROMIUM), "Debian's chromium package is needed: make test installs it"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page()
        page.goto(result.hub_url + "/")
        assert "/login" in page.url  # not logged in yet
        page.fill("input[name=name]", DEMO_USER)
        page.fill("input[name=password]", "wrong password")
        page.click("button")
        assert "Wrong name or password" in page.content()
        page.fill("input[name=name]", DEMO_USER)
        page.fill("input[name=password]", DEMO_PASSWORD)
        page.click("button")
        page.wait_for_selector("table")
        rows = page.locator("tr", has_text=".cif")
        assert rows.count() == 2
        assert "heat_all" in rows.first.locator("td.check").inner_text()
        page.goto(result.notebook_url)
        page.wait_for_selector("h1:has-text(\"Your instrument's data\")", timeout=90_000)
        # the kernel answers over the proxied websocket
        page.wait_for_selector("text=Python 3 (ipykernel) | Idle", timeout=60_000)
        page.click(".lm-MenuBar-itemLabel:text-is('Run')")
        page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
        page.wait_for_selector(".jp-OutputArea-output:has-text('2 structures with a quick check')",
                               timeout=90_000)
        browser.close()

