"""The HTML report in a real headless browser: Debian's Chromium, driven by Playwright's Python package.

The report is made by the investigation core (sandbox data served by `MemoryFullstory`, with a
visitor's hostile console message added), rendered by `render_html` and served from 127.0.0.1. Every
request other than the page itself fails the test, except following a replay link on purpose (which
a stub answers). Chromium is required, never skipped: `make setup` installs Debian's `chromium`.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Route, ViewportSize, sync_playwright

from fstriage.core.html_report import render_html
from fstriage.core.redact import mask_email
from fstriage.core.report import build_report
from fstriage_cli.samples.fakes import MemoryFullstory
from fstriage_cli.sandbox import SandboxSession
from tests.unit.test_report import DATA, GENERATED, checkout_errors_alert, investigate

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser")
HOSTILE = '<img src="https://evil.example/pixel.png"><script>console.error("injected")</script> for {email}'
PHONE: ViewportSize = {"width": 390, "height": 844}


def chromium_path() -> str:
    configured = os.environ.get("FSTRIAGE_CHROMIUM")
    found = configured or next(filter(None, map(shutil.which, CHROMIUM_CANDIDATES)), None)
    if not found or not Path(found).exists():
        pytest.fail(
            "Chromium is missing: the HTML report's browser test needs it. `make setup` installs Debian's "
            "`chromium` package (or set FSTRIAGE_CHROMIUM to a Chromium executable).",
            pytrace=False,
        )
    return found


def hostile_events(session: SandboxSession) -> list[dict[str, Any]]:
    """A console error whose text a visitor controls: markup, a remote image, a script, an email."""
    base = session.events[-1]
    message = HOSTILE.format(email=session.user.email)
    return [
        dict(
            base,
            event_type="console_message",
            event_properties={"level": "error", "message": message, "source_url": "https://shop.test/a.js"},
        )
    ]


def real_report() -> dict[str, Any]:
    hostile = {session.api_id: hostile_events(session) for session in DATA.sessions if session.has_errors}
    fake = MemoryFullstory(DATA, extra_events=hostile)
    report = build_report(investigate(fake, checkout_errors_alert()), fake.usage, GENERATED)
    assert len(report["error_groups"]) >= 3 and report["sessions"]
    return report


@dataclass
class Served:
    url: str
    report: dict[str, Any]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    report = real_report()
    folder = tmp_path_factory.mktemp("html")
    (folder / "report.html").write_text(render_html(report), encoding="utf-8")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(f"http://127.0.0.1:{server.server_address[1]}/report.html", report)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium_path()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Visit:
    page: Page
    outside: list[str] = field(default_factory=list)  # requests the page made beyond itself
    replays: list[str] = field(default_factory=list)  # replay links followed on purpose
    problems: list[str] = field(default_factory=list)  # console errors and uncaught page errors


@pytest.fixture
def visit(browser: Browser, served: Served) -> Iterator[Visit]:
    context = browser.new_context(viewport=PHONE, is_mobile=True)
    page = context.new_page()
    seen = Visit(page)
    replay_urls = {session["replay_url"] for session in served.report["sessions"]}

    def route(route: Route, request: Request) -> None:
        if request.url == served.url:
            route.continue_()
        elif request.url in replay_urls and request.is_navigation_request():
            seen.replays.append(request.url)
            route.fulfill(status=200, content_type="text/html", body="<title>replay</title>")
        else:
            seen.outside.append(request.url)
            route.abort()

    def console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            seen.problems.append(f"console {message.type}: {message.text}")

    context.route("**/*", route)
    page.on("console", console)
    page.on("pageerror", lambda error: seen.problems.append(f"page error: {error}"))
    page.goto(served.url, wait_until="load")
    try:
        yield seen
    finally:
        context.close()


def test_it_renders_the_headline_and_status(visit: Visit, served: Served) -> None:
    page = visit.page
    headline = mask_email(served.report["headline"])
    assert page.title().startswith(headline[:40])
    assert page.locator("#headline").is_visible()
    assert page.locator("#headline").inner_text() == headline
    assert page.locator("#status").inner_text() == served.report["status"]
    assert visit.outside == [] and visit.problems == []


def test_the_timeline_has_one_row_per_error_group_with_a_mark_per_session(
    visit: Visit, served: Served
) -> None:
    page = visit.page
    groups = served.report["error_groups"]
    rows = page.locator("#timeline .tl-row")
    assert rows.count() == len(groups)
    for index, group in enumerate(groups):
        row = rows.nth(index)
        track = row.locator("svg.tl-track").bounding_box()
        assert track is not None and track["width"] > 200 and track["height"] > 0
        assert row.locator("rect.hit").count() == len(group["sessions"])
        assert mask_email(group["signature"]) in row.locator(".tl-label").inner_text()
    assert visit.outside == [] and visit.problems == []


def test_a_group_links_to_its_replays_and_the_link_opens_the_replay(visit: Visit, served: Served) -> None:
    page = visit.page
    group = served.report["error_groups"][0]
    replays = {s["session_id"]: s["replay_url"] for s in served.report["sessions"]}
    label = page.locator("#timeline .tl-row").first.locator("a.tl-link")
    assert label.get_attribute("href") == replays[group["sessions"][0]]
    marks = page.locator("#timeline .tl-row").first.locator("a:has(rect.hit)")
    assert {marks.nth(i).get_attribute("href") for i in range(marks.count())} == {
        replays[s] for s in group["sessions"]
    }

    with page.context.expect_page() as opened:
        label.click()
    opened.value.wait_for_load_state()

    assert visit.replays == [replays[group["sessions"][0]]]
    assert opened.value.title() == "replay"
    assert visit.outside == [] and visit.problems == []


def test_visitor_markup_is_text_and_nothing_is_fetched_or_run(visit: Visit) -> None:
    page = visit.page
    assert page.locator("img").count() == 0
    assert page.locator("script").count() == 0
    # The hostile console message is a group of its own: shown as text, its email masked.
    shown = page.locator("#groups").inner_text()
    assert '<img src="https://evil.example/pixel.png">' in shown
    assert re.findall(r"[A-Za-z0-9._%+-]{2,}@[A-Za-z0-9.-]+", shown) == []
    assert re.search(r"for [a-z0-9]\*\*\*@", shown)
    assert visit.outside == [] and visit.problems == []


def test_it_fits_a_phone_screen(visit: Visit) -> None:
    width = visit.page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], width
    assert visit.outside == [] and visit.problems == []
