"""`report.html` opened from disk in real Chromium (issue 6): the only request
is the file itself, nothing else is fetched or attempted, and the charts are
there and drawn. A screenshot goes to tests/artifacts/report.png."""

# Test functions take the fixtures imported below as parameters of the same name.
# ruff: noqa: F811

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from test_browser_support import ARTIFACTS, browser_only, chromium  # noqa: F401 - pytest fixtures

from publication.protection.disclosure import count_tables, protect
from publication.report import render
from simulate import generate

pytestmark = browser_only

ON = date(2026, 11, 26)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A report of a simulated population, written as `publish` would name it."""
    pop = generate(800, 21, repeat_rate=0.0)
    _, tables = count_tables((s["record"] for s in pop.submissions), ON)
    path = tmp_path_factory.mktemp("publication") / "report.html"
    path.write_text(render(protect(tables, 10, None, ON)), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def opened(chromium: Any, report: Path) -> Iterator[dict[str, Any]]:
    """The report opened as file:// with every request and console message recorded."""
    ctx = chromium.new_context(locale="en-US", viewport={"width": 1100, "height": 900})
    requests: list[Any] = []
    console: list[str] = []
    # Recorded at the context too, so a request from any frame or worker is seen.
    ctx.on("request", lambda r: requests.append(r))
    page = ctx.new_page()
    page_requests: list[Any] = []
    page.on("request", lambda r: page_requests.append(r))
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: console.append(f"page error: {e}"))
    page.goto(report.as_uri(), wait_until="load")
    page.wait_for_load_state("networkidle")
    try:
        yield {"page": page, "requests": requests, "page_requests": page_requests, "console": console}
    finally:
        ctx.close()


def test_the_only_request_is_the_file_itself(opened: dict[str, Any], report: Path) -> None:
    urls = [r.url for r in opened["page_requests"]]
    assert urls == [report.as_uri()]
    assert [r.url for r in opened["requests"]] == [report.as_uri()]
    # The browser's own account agrees: no resource was fetched by the document.
    assert opened["page"].evaluate("performance.getEntriesByType('resource').length") == 0
    assert opened["console"] == []


def test_the_charts_are_there_and_drawn(opened: dict[str, Any]) -> None:
    page = opened["page"]
    charts = page.locator(".chart svg")
    assert charts.count() >= 5
    for i in range(charts.count()):
        box = charts.nth(i).bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 50
    assert page.locator("svg path, svg rect, svg use").count() > 50  # bars and glyphs, not empty frames
    headings = page.locator("h2").all_inner_texts()
    assert any("Ku jeton diaspora" in h and "Where the diaspora lives" in h for h in headings)
    assert any("How these numbers were protected" in h for h in headings)


def test_chart_labels_are_one_size_on_screen(opened: dict[str, Any]) -> None:
    """Each chart is shown at its own size, so a 9-point label is as tall on screen in one chart as in
    another (they were scaled to their boxes before, each by its own factor)."""
    heights = opened["page"].evaluate(
        """() => [...document.querySelectorAll('.chart svg')].map(svg => {
            const label = [...svg.querySelectorAll('text')].find(t => /[A-Za-z]{3}/.test(t.textContent));
            return Math.round(label.getBoundingClientRect().height * 10) / 10;
        })"""
    )
    assert len(heights) >= 5 and len(set(heights)) == 1, heights
    headings = opened["page"].locator("h2").all_inner_texts()
    assert any("Country of residence by status" in h for h in headings)  # the cross-tables are shown


def test_screenshot_for_review(opened: dict[str, Any]) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "report.png"
    opened["page"].screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
