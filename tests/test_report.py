"""The readable report and the CSVs: self-contained, bilingual, honest about suppression."""

from __future__ import annotations

import csv
import html
import re
from datetime import date
from pathlib import Path

import pytest

import schemas
from publication.protection.disclosure import count_tables, protect
from publication.report import labels, render, write_csvs, write_report
from publication.report.page import TOP
from simulate import generate

ON = date(2026, 11, 26)


@pytest.fixture(scope="module")
def aggregates() -> dict:
    pop = generate(1500, 21, repeat_rate=0.0)
    _, tables = count_tables((s["record"] for s in pop.submissions), ON)
    return protect(tables, 10, None, ON)


def test_report_is_self_contained_and_bilingual(aggregates: dict, tmp_path: Path) -> None:
    [path] = write_report(aggregates, tmp_path)
    assert path == tmp_path / "report.html"
    page = path.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.IGNORECASE)
    assert "<script" not in page.lower()
    assert "<link" not in page.lower()
    assert "@import" not in page
    assert not re.search(r"""url\(\s*["']?(?!#)""", page)  # only same-document references (clip paths)
    for sq, en in [
        ("Ku jeton diaspora", "Where the diaspora lives"),
        ("Nga vjen diaspora", "Where the diaspora comes from"),
        ("Arsimimi", "Education"),
        ("Si u mbrojtën këto shifra", "How these numbers were protected"),
    ]:
        assert sq in page and en in page
    assert page.count("<svg") >= 5
    assert [f.name for f in tmp_path.iterdir()] == ["report.html"]  # no temporary file left behind


def test_suppressed_cells_are_shown_as_suppressed(aggregates: dict) -> None:
    residence = next(t for t in aggregates["tables"] if t["name"] == "residence_country")
    hidden = [c["residence_country"] for c in residence["cells"] if c["count"] is None]
    assert hidden, "the simulated population has small countries"
    page = render(aggregates)
    assert page.count("e fshehur") >= len(hidden)
    assert "suppressed" in page
    # Every published count of the residence table appears as a number beside the chart.
    for cell in residence["cells"]:
        if cell["count"] is not None and cell["count"] >= 1000:
            assert f"{cell['count']:,}".replace(",", " ") in page


def test_no_names_reach_the_report(tmp_path: Path) -> None:
    pop = generate(300, 2, repeat_rate=0.0)
    _, tables = count_tables((s["record"] for s in pop.submissions), ON)
    page = render(protect(tables, 10, None, ON))
    full_names = {f"{s['record']['given_name']} {s['record']['family_name']}" for s in pop.submissions}
    assert not [n for n in full_names if n in page]
    assert not [s["record"]["birth_date"] for s in pop.submissions if s["record"]["birth_date"] in page]


def test_dp_report_shows_the_budget() -> None:
    pop = generate(800, 3, repeat_rate=0.0)
    _, tables = count_tables((s["record"] for s in pop.submissions), ON)
    page = render(protect(tables, 10, 1.0, ON))
    assert "ε = 1" in page and "registrants" in page


def test_csvs_one_per_table_with_suppression_marked(aggregates: dict, tmp_path: Path) -> None:
    paths = write_csvs(aggregates, tmp_path)
    assert {p.stem for p in paths} == {t["name"] for t in aggregates["tables"]}
    with (tmp_path / "residence_country_by_status.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert {"residence_country", "status", "count", "suppressed"} <= set(rows[0])
    hidden = [r for r in rows if r["suppressed"] == "true"]
    assert hidden and all(r["count"] == "" for r in hidden)
    total = [r for r in rows if r["residence_country"] == "TOTAL" and r["status"] == "TOTAL"]
    assert total and int(total[0]["count"]) == aggregates["registrants"]


def test_failed_write_leaves_nothing(aggregates: dict, tmp_path: Path) -> None:
    broken = dict(aggregates, tables=[*aggregates["tables"], {"name": "../escape", "dimensions": [], "cells": []}])
    with pytest.raises(ValueError):
        write_csvs(broken, tmp_path)
    assert not list(tmp_path.glob(".*.tmp"))
    with pytest.raises(FileNotFoundError):
        write_report(aggregates, tmp_path / "missing")
    assert not (tmp_path / "missing").exists()


def test_charts_drawn_in_parallel_match_those_drawn_one_by_one(aggregates: dict, monkeypatch) -> None:
    page = render(aggregates)
    assert page.count("<svg") >= 2  # several charts, so the parallel path ran
    monkeypatch.setattr("publication.report.page.os.cpu_count", lambda: 1)
    assert render(aggregates) == page  # the reproducible publication does not depend on the cores


def _person(**fields: object) -> dict:
    base = {"birth_date": "1990-01-01", "sex": "female", "origin_country": "XK", "residence_country": "DE"}
    return base | {"status": "employed"} | fields


@pytest.mark.parametrize("people", [1, 4, 9])
def test_a_tiny_population_is_only_counted(people: int, tmp_path: Path) -> None:
    _, tables = count_tables([_person(residence_country="IS")] * people, ON)
    aggregates = protect(tables, 10, None, ON)
    page = render(aggregates)
    assert "Fewer than 10 people registered; no breakdown is published to protect them." in page
    assert "U regjistruan më pak se 10 persona; asnjë ndarje nuk publikohet" in page
    assert "<svg" not in page and "<table" not in page
    assert "Islandë" not in page and "Iceland" not in page
    assert write_csvs(aggregates, tmp_path) == []


def test_a_withheld_table_is_named(tmp_path: Path) -> None:
    """Twelve people in four age bands: no band can plausibly hold 10, so the age table is not published."""
    born = ["1950-01-01", "1970-01-01", "1990-01-01", "2001-01-01"]
    _, tables = count_tables([_person(birth_date=born[i % 4]) for i in range(12)], ON)
    aggregates = protect(tables, 10, None, ON)
    assert "age_band" in aggregates["disclosure"]["withheld_tables"]
    page = render(aggregates)
    assert "These tables are not published, because their small counts could not be protected: Age" in page
    assert "Këto tabela nuk publikohen" in page
    assert "age_band.csv" not in {p.name for p in write_csvs(aggregates, tmp_path)}


# ---- words from the reference lists and the catalogues, in every language of the form ----

LABELS = schemas.load("labels.json")


def _table(aggregates: dict, name: str) -> dict:
    return next(t for t in aggregates["tables"] if t["name"] == name)


def test_municipalities_have_their_official_names(aggregates: dict) -> None:
    """The page's names ("Prishtinë/Priština"), not ones made from the internal code ("Prishtine")."""
    page = render(aggregates)
    shown = [c["origin_municipality"] for c in _table(aggregates, "origin_municipality")["cells"]]
    names = LABELS["fields"]["origin_municipality"]
    assert "Prishtinë/Priština" in page
    assert not re.search(r"\bPrishtine\b", page)
    for code in shown:
        if code != "not_stated":
            assert html.escape(names[code]["en"]) in page, code
    serbian = render(aggregates, ("sr",))
    assert "Приштина" in serbian and "Prishtin" not in serbian


@pytest.mark.parametrize("lang", labels.LANGUAGES)
def test_every_language_of_the_form_has_its_report(aggregates: dict, lang: str) -> None:
    page = render(aggregates, (lang,))
    assert f'<html lang="{"sr-Cyrl" if lang == "sr" else lang}">' in page  # Serbian in Cyrillic, as on the page
    title = labels.gettext("Diaspora Registry — the numbers", lang)
    assert f"<h1>{html.escape(title)}</h1>" in page
    if lang != "en":
        assert title != "Diaspora Registry — the numbers"
        assert "Where the diaspora lives" not in page and "suppressed" not in page
    status = LABELS["fields"]["status"]["employed"][lang]
    assert html.escape(status) in page
    free_text = labels.gettext(
        "Names, birth dates, e-mails and cities are never published, nor the profession each person typed as free"
        " text: only the occupation group chosen from the list is counted.",
        lang,
    )
    assert html.escape(free_text) in page


def test_no_category_is_shown_by_its_internal_code(aggregates: dict) -> None:
    """Every code of every table has a label in every language; an unknown one is an error, never shown raw."""
    for table in aggregates["tables"]:
        for dim in table["dimensions"]:
            for cell in table["cells"]:
                for lang in labels.LANGUAGES:
                    text = labels.label(dim, cell[dim], lang)
                    plain_word = lang == "en" and cell[dim].isalpha()  # "none" is its own English label
                    assert text and (text != cell[dim] or dim == "age_band" or plain_word), (dim, cell[dim], lang)
    with pytest.raises(KeyError):
        labels.label("status", "astronaut", "sq")
    page = render(aggregates)
    assert ">not_stated<" not in page and "self_employed" not in page and ">isced" not in page


def _chart_svgs(page: str) -> list[str]:
    return re.findall(r"<svg.*?</svg>", page, re.DOTALL)


@pytest.fixture(scope="module")
def many_countries() -> dict:
    pop = generate(3000, 21, repeat_rate=0.0)
    _, tables = count_tables((s["record"] for s in pop.submissions), ON)
    return protect(tables, 10, None, ON)


def test_a_chart_that_leaves_out_published_rows_says_how_many(many_countries: dict) -> None:
    """'+23 suppressed' once hid 4 published countries: the note and the last bar count both apart."""
    aggregates = many_countries
    table = _table(aggregates, "residence_country")
    published = [c for c in table["cells"] if c["count"]]
    hidden = [c for c in table["cells"] if c["count"] is None]
    assert len(published) > TOP and hidden, "the simulated population needs more than 15 published countries"
    page = render(aggregates, ("en",))
    section = page[page.index("<h2>Where the diaspora lives</h2>") : page.index("<h2>Where the diaspora comes from")]
    assert (
        f"The chart shows the {TOP} largest of the {len(published)} published rows and leaves out"
        f" {len(hidden)} suppressed rows; the table lists them all." in section
    )
    (svg,) = _chart_svgs(section)
    assert f"+{len(published) - TOP} more published; +{len(hidden)} suppressed" in " ".join(
        re.findall(r">([^<]+)</text>", svg)
    )
    # the table beside it lists every row: each published count and each suppressed mark
    assert section.count('<span class="sup">suppressed</span>') == len(hidden)


def test_every_chart_draws_its_labels_at_one_size(aggregates: dict) -> None:
    svgs = _chart_svgs(render(aggregates))
    assert len(svgs) >= 5
    widths = {re.search(r'<svg[^>]*\swidth="([^"]+)"', svg)[1] for svg in svgs}
    assert widths == {"460.8pt"}  # drawn at its size, so 9 pt stays 9 pt in every chart
    sizes = {size for svg in svgs for size in re.findall(r"font-size: ([0-9.]+)px", svg)}
    assert sizes == {"9"}


def test_the_cross_tables_are_in_the_report(aggregates: dict) -> None:
    page = render(aggregates, ("en",))
    for name, heading in (
        ("residence_country_by_status", "Country of residence by status"),
        ("residence_country_by_education_level", "Country of residence by education"),
    ):
        table = _table(aggregates, name)
        assert f"<h2>{heading}</h2>" in page
        section = page[page.index(f"<h2>{heading}</h2>") :].split("</section>", 1)[0]
        germany = next(c for c in table["cells"] if c["residence_country"] == "DE" and c["count"])
        row = re.search(r"<tr><td>Germany</td>(.*?)</tr>", section)[1]
        assert f">{germany['count']:,}<".replace(",", " ") in row
        columns = len(table["margins"][table["dimensions"][1]])
        assert row.count("<td") == columns + 1  # each category, then the row's total


def test_the_report_asks_for_a_language_of_the_form(aggregates: dict) -> None:
    with pytest.raises(ValueError, match="languages of the form"):
        render(aggregates, ("fr",))


def _section(page: str, heading: str) -> str:
    match = re.search(rf"<section><h2>{re.escape(heading)}</h2>.*?</section>", page, re.DOTALL)
    assert match, heading
    return match[0]


def test_not_stated_follows_the_named_categories(aggregates: dict) -> None:
    """In the municipalities, "not stated" is the largest count; the table and the chart list it after the
    named municipalities that have a published count, not at their head."""
    municipalities = _table(aggregates, "origin_municipality")
    counts = {c["origin_municipality"]: c["count"] for c in municipalities["cells"]}
    assert counts["not_stated"] == max(n for n in counts.values() if n is not None)  # the case in question
    part = _section(render(aggregates, ("en",)), "Municipality of origin (from Kosovo)")
    chart, table = part.split("<table>", 1)
    rows = re.findall(r"<tr><td>([^<]*)</td><td class=\"n\">(.*?)</td></tr>", table)
    names = [html.unescape(name) for name, _ in rows]
    published = [name for name, count in rows if "suppressed" not in count]
    assert published[-1] == "not stated" and names.index("not stated") == len(published) - 1
    # Bars are drawn bottom-up: "not stated" is the lowest named bar, just above the "+n" row.
    ticks = [(float(y), text) for y, text in re.findall(r'<text [^>]*\by="([0-9.]+)"[^>]*>([^<]+)</text>', chart)]
    labels_by_height = [text for _, text in sorted(ticks) if not text.isdigit() and not text.startswith("+")]
    assert labels_by_height[-1] == "not stated"


def test_envelopes_by_day_of_arrival_show_a_flood(aggregates: dict) -> None:
    """A flood is visible offline: the report lists envelopes per day, marks the day far
    above the usual range, and hides a small day like any small count."""
    from publication.protection.arrivals import protect_arrivals
    from publication.report import arrivals_csv

    counts = {f"2026-11-{d:02d}": 60 + d % 5 for d in range(1, 21)}
    counts["2026-11-09"] = 2400
    counts["2026-11-21"] = 4
    arrivals = protect_arrivals(counts, 10)
    page = render(aggregates, ("en",), arrivals)
    section = page[page.index("<h2>Envelopes by day of arrival</h2>") :].split("</section>", 1)[0]
    flood = re.search(r'<tr class="unusual"><td>2026-11-09</td><td class="n">2 400</td>.*?</tr>', section)
    assert flood and "far above the usual range" in flood[0]
    assert section.count('class="unusual"') == 1
    assert re.search(r"<td>2026-11-21</td><td class=\"n\"><span class=\"sup\">suppressed", section)
    assert ">4<" not in section
    rows = list(csv.DictReader(arrivals_csv(arrivals).decode().splitlines()))
    assert {r["day"]: r["unusual"] for r in rows}["2026-11-09"] == "true"
    assert {r["day"]: r["envelopes"] for r in rows}["2026-11-21"] == ""
    assert "Envelopes by day of arrival" not in render(aggregates, ("en",))  # only when handed


def test_a_tiny_population_shows_no_days_of_arrival(tmp_path: Path) -> None:
    from publication.protection.arrivals import protect_arrivals

    pop = generate(4, 3, repeat_rate=0.0)
    _, tables = count_tables((s["record"] for s in pop.submissions), ON)
    tiny = protect(tables, 10, None, ON)
    assert tiny["tables"] == []
    page = render(tiny, ("en",), protect_arrivals({"2026-11-01": 4}, 10))
    assert "Envelopes by day of arrival" not in page and "2026-11-01" not in page
