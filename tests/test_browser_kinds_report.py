"""The report of a publication with households, businesses and associations (issue 22) in real
Chromium, on a desktop and on a phone: their sections are there with drawn charts, the wide
country-by-sector table scrolls inside its box instead of widening the page, and nothing is fetched.
A screenshot goes to tests/artifacts/report-kinds.png."""

# Test functions take the fixtures imported below as parameters of the same name.
# ruff: noqa: F811

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_browser_support import ARTIFACTS, browser_only, chromium  # noqa: F401 - pytest fixtures
from test_kinds_publish import ON, opened_from

from keyholder_cli.publishing.aggregates import build_aggregates, render_files
from simulate.population import generate

pytestmark = browser_only

KIND_HEADINGS = (
    "Households by number of people",
    "Businesses by country and sector (NACE Rev. 2)",
    "Businesses by size",
    "Associations by number of members",
)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pop = generate(1500, 5, kinds=True)
    subs = [json.dumps(s, ensure_ascii=False).encode() for s in pop.submissions]
    aggregates, _ = build_aggregates(opened_from(tmp_path_factory.mktemp("vault"), subs), ON, min_cell=10)
    out = tmp_path_factory.mktemp("publication")
    for name, data in render_files(aggregates, ["en"]).items():
        (out / name).write_bytes(data)
    return out / "report.en.html"


@pytest.mark.parametrize("width", [1100, 375])
def test_the_kinds_sections_are_drawn_and_fit_the_screen(chromium: Any, report: Path, width: int) -> None:
    ctx = chromium.new_context(locale="en-US", viewport={"width": width, "height": 800})
    requests: list[str] = []
    ctx.on("request", lambda r: requests.append(r.url))
    try:
        page = ctx.new_page()
        page.goto(report.as_uri(), wait_until="load")
        assert requests == [report.as_uri()]
        headings = page.locator("h2").all_inner_texts()
        for heading in KIND_HEADINGS:
            section = page.locator("section", has=page.locator("h2", has_text=heading))
            assert section.count() == 1, (heading, headings)
            box = section.locator(".chart svg").bounding_box()
            assert box is not None and box["width"] > 100 and box["height"] > 50, heading
        # The page itself never scrolls sideways; a wide table scrolls in its own box.
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        if width == 1100:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "report-kinds.png"), full_page=True)
    finally:
        ctx.close()
