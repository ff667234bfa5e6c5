"""The readable publication: `report.html` and CSVs, from the protected aggregates only.

`render(aggregates, langs)` fills the Jinja2 template `templates/report.html`
(autoescaped) in one or more languages of the form: the first leads, the
others follow each sentence. `report.html` is Albanian with English, as the
ministry publishes; `report.<lang>.html` is one language. Words come from
the page's catalogues and reference lists (labels.py). Charts are matplotlib
(Agg backend) SVG embedded inline, text kept as text (`svg.fonttype =
none`) at one size in every chart; the page has inline CSS, no scripts, and
no reference to any other file or origin, so it works offline and as an
e-mail attachment.

`render_csvs(aggregates)` gives one CSV per table: its dimensions, `count`
(empty when suppressed) and `suppressed`; margins are extra rows whose other
dimension is `TOTAL`. `write_report` and `write_csvs` write each file to a
temporary file beside it and rename it into place, so a failure leaves no
half-written file.
"""

from __future__ import annotations

import csv
import io
import multiprocessing as mp
import os
import re
import tempfile
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import matplotlib
from markupsafe import Markup, escape

from ..errors import WorkerDied
from ..kinds import KIND_TABLES
from ..tables import NOT_STATED

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .labels import COUNTRY_DIMENSIONS, DIMENSION_NAMES, LANGUAGES, _l, gettext, labels, title  # noqa: E402

__all__ = [
    "BILINGUAL",
    "arrivals_csv",
    "render",
    "render_csvs",
    "report_files",
    "withdrawals_csv",
    "write_csvs",
    "write_report",
]

BILINGUAL = ("sq", "en")
CHARTS = ("residence_country", "origin_country", "origin_municipality", "education_level", "occupation", "engagement")
NUMBERS_ONLY = ("status", "field_of_study", "age_band", "sex", "emigration_reason")
CROSS = ("residence_country_by_status", "residence_country_by_education_level")
# Households, businesses and associations (docs/formats.md section 13.4), after the person tables, in this
# order; a cross-table among them is charted by its second dimension (its column totals).
KINDS = KIND_TABLES
KINDS_CHARTS = tuple(name for name in KINDS if name not in ("business_trades_with_home", "business_invests_in_home"))
KINDS_CROSS = ("business_country_by_sector", "association_country_by_field")
_KIND_NOTE = {
    "households": _l("A household counts once, whatever its size; its people are counted among the registrants."),
    "businesses": _l("A business is not a person: its contact person is not counted among the registrants."),
    "associations": _l("An association is not a person: its contact person is not counted among the registrants."),
}
LONG = COUNTRY_DIMENSIONS | {"origin_municipality"}  # charts of these show the TOP largest
TOP = 15
LABEL_POINTS = 9  # every chart's text, at the size it is drawn (the SVG keeps its size in pt)
# The page's `lang` attribute: Serbian is written in Cyrillic, as on the registration page.
HTML_LANG = {"sr": "sr-Cyrl"}
LABEL_WIDTH = 40  # characters on one line of a bar's label; longer ones wrap
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:70rem;padding:1rem;
color:#1b1b1b;line-height:1.45}
h1{font-size:1.7rem;margin-bottom:.2rem}h2{font-size:1.25rem;margin-top:2.2rem;border-bottom:2px solid #cc1f2d}
.also{color:#555}.lead{font-size:1.2rem}
.pair{display:flex;flex-wrap:wrap;gap:1.5rem;align-items:flex-start}.chart{flex:0 1 auto;min-width:18rem}
.chart svg{max-width:100%;height:auto}.numbers{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:.9rem}
td,th{padding:.15rem .6rem;border-bottom:1px solid #ddd;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.sup{color:#8a4b00;font-style:italic}.note{font-size:.9rem;color:#444}tr.unusual td{background:#fde8e8}
"""


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # a publication: readable by all
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _number(n: int) -> str:
    return f"{n:,}".replace(",", " ")


@dataclass
class _Words:
    """Sentences and labels in the report's languages, the first leading."""

    langs: Sequence[str]

    def each(self, message: str, **fmt: Any) -> list[str]:
        """`message` in each language; a format value may be a mapping by language."""
        out = []
        for lang in self.langs:
            values = {k: v[lang] if isinstance(v, Mapping) else v for k, v in fmt.items()}
            out.append(gettext(message, lang).format(**values))
        return list(dict.fromkeys(out))

    def say(self, message: str, **fmt: Any) -> Markup:
        return lead(self.each(message, **fmt))

    def plain(self, message: str, **fmt: Any) -> str:
        return " / ".join(self.each(message, **fmt))

    def name(self, dimension: str, code: str) -> str:
        return " / ".join(labels(dimension, code, self.langs))

    def shown(self, count: int | None) -> Markup:
        if count is None:
            return Markup('<span class="sup">{}</span>').format(self.say("suppressed"))
        return escape(_number(count))


def _by_column(table: dict[str, Any]) -> dict[str, Any]:
    """A one-way table as it is; a two-way table as its second dimension's totals."""
    if len(table["dimensions"]) == 1:
        return table
    dim = table["dimensions"][1]
    return {"dimensions": [dim], "cells": table["margins"][dim]}


def _cells(table: dict[str, Any]) -> list[tuple[str, int | None]]:
    dim = table["dimensions"][0]
    return [(c[dim], c["count"]) for c in table["cells"]]


@dataclass
class _Chart:
    """What one bar chart shows, and what it leaves out."""

    bars: list[tuple[str, int | None]]  # (label, count); None: suppressed
    more_published: int = 0  # published rows left out (past the TOP largest)
    suppressed: int = 0  # suppressed rows left out


def _chart_rows(table: dict[str, Any], words: _Words) -> _Chart:
    dim = table["dimensions"][0]
    cells = _cells(table)
    if dim not in LONG:
        return _Chart([(words.name(dim, code), count) for code, count in cells])
    published = sorted((c for c in cells if c[1]), key=lambda c: (-int(c[1] or 0), c[0]))
    # the TOP largest, "not stated" (if among them) drawn after the named categories
    shown = sorted(published[:TOP], key=lambda c: c[0] == NOT_STATED)
    chart = _Chart(
        [(words.name(dim, code), count) for code, count in shown],
        more_published=len(published) - len(shown),
        suppressed=sum(1 for c in cells if c[1] is None),
    )
    left_out = []
    if chart.more_published:
        left_out.append(words.plain("+{n} more published", n=chart.more_published))
    if chart.suppressed:
        left_out.append(words.plain("+{n} suppressed", n=chart.suppressed))
    if left_out:
        chart.bars.append(("; ".join(left_out), 0))
    return chart


def _chart_note(chart: _Chart, words: _Words) -> Markup | None:
    """The sentence that says which rows a chart leaves out (the table lists them all)."""
    shown = len(chart.bars) - (1 if chart.more_published or chart.suppressed else 0)
    published = shown + chart.more_published
    if chart.more_published and chart.suppressed:
        return words.say(
            "The chart shows the {shown} largest of the {published} published rows and leaves out {hidden}"
            " suppressed rows; the table lists them all.",
            shown=shown,
            published=published,
            hidden=chart.suppressed,
        )
    if chart.more_published:
        return words.say(
            "The chart shows the {shown} largest of the {published} published rows; the table lists them all.",
            shown=shown,
            published=published,
        )
    if chart.suppressed:
        return words.say(
            "The chart leaves out {hidden} suppressed rows; the table lists them.", hidden=chart.suppressed
        )
    return None


def _draw(chart: _Chart) -> str:
    """The chart as inline SVG, its size in pt, so its text is LABEL_POINTS in every chart."""
    bars = list(reversed(chart.bars))
    values = [count or 0 for _, count in bars]
    names = [textwrap.fill(name, LABEL_WIDTH) for name, _ in bars]
    lines = max((name.count("\n") + 1 for name in names), default=1)
    row = 0.16 * lines + 0.12  # inches per bar: room for its label's lines
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": "dvr", "font.size": LABEL_POINTS}):
        fig, ax = plt.subplots(figsize=(6.4, row * len(bars) + 0.9))
        drawn = ax.barh(range(len(bars)), values, color="#cc1f2d")
        top = max(values, default=1) or 1
        for i, ((_, count), bar) in enumerate(zip(bars, drawn, strict=True)):
            if count:
                ax.text(bar.get_width() + top * 0.01, i, _number(count), va="center")
        ax.set_yticks(range(len(bars)), names)
        ax.set_xlim(0, top * 1.18)
        ax.spines[["top", "right"]].set_visible(False)
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
        plt.close(fig)
    svg = buf.getvalue()
    return re.sub(r"<metadata>.*?</metadata>", "", svg[svg.index("<svg") :], flags=re.DOTALL)


def _mark_suppressed(chart: _Chart, words: _Words) -> _Chart:
    """A short code list keeps its suppressed rows in the chart, named as suppressed."""
    marked = words.plain("suppressed")
    chart.bars = [(name if count is not None else f"{name} ({marked})", count) for name, count in chart.bars]
    return chart


def _one_way_rows(table: dict[str, Any], words: _Words) -> list[dict[str, Any]]:
    dim = table["dimensions"][0]
    cells = _cells(table)
    if dim in LONG:
        # largest first by published count, "not stated" after the named categories; suppressed ones
        # last in code order (their order reveals nothing)
        cells = sorted(cells, key=lambda c: (c[1] is None, c[0] == NOT_STATED, -(c[1] or 0), c[0]))
    return [{"name": words.name(dim, code), "count": count} for code, count in cells]


def _cross(table: dict[str, Any], words: _Words, *, turned: bool = False) -> dict[str, Any]:
    """A two-way table: rows of the first dimension (largest first), columns of the second;
    `turned`, the other way round (a long code list down, the countries across)."""
    rows_dim, cols_dim = table["dimensions"][::-1] if turned else table["dimensions"]
    margins = table["margins"]
    col_codes = [entry[cols_dim] for entry in margins[cols_dim]]
    counts = {(c[rows_dim], c[cols_dim]): c["count"] for c in table["cells"]}
    row_entries = margins[rows_dim]
    if not turned:
        row_entries = sorted(row_entries, key=lambda e: (e["count"] is None, -(e["count"] or 0), e[rows_dim]))
    return {
        "row_title": words.say(DIMENSION_NAMES[rows_dim]),
        "columns": [words.name(cols_dim, code) for code in col_codes],
        "rows": [
            {
                "name": words.name(rows_dim, e[rows_dim]),
                "cells": [counts.get((e[rows_dim], code), 0) for code in col_codes],
                "total": e["count"],
            }
            for e in row_entries
        ],
        "column_totals": [entry["count"] for entry in margins[cols_dim]],
    }


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("publication.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def _charts(drawings: list[_Chart]) -> list[str]:
    """Each chart as SVG, drawn in parallel on every core (matplotlib lays out
    each chart twice, which takes most of publish's report time)."""
    workers = min(len(drawings), os.cpu_count() or 1)
    if workers < 2:
        return [_draw(c) for c in drawings]
    pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("fork"))
    try:
        return list(pool.map(_draw, drawings))
    except BrokenProcessPool:
        raise WorkerDied() from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # no worker outlives the call


def render(
    aggregates: dict[str, Any],
    langs: Sequence[str] = BILINGUAL,
    arrivals: dict[str, Any] | None = None,
    withdrawals: dict[str, Any] | None = None,
) -> str:
    """The report page in `langs` (languages of the form; the first leads), with the
    envelopes by day of arrival when `arrivals` is given (publication.protection.arrivals)
    and how many people withdrew when `withdrawals` is (publication.protection.withdrawals)."""
    unknown = [lang for lang in langs if lang not in LANGUAGES]
    if not langs or unknown:
        raise ValueError(f"a report is drawn in languages of the form ({', '.join(LANGUAGES)}); got {list(langs)}")
    words = _Words(langs)
    tables = {t["name"]: t for t in aggregates["tables"]}
    charted = [name for name in CHARTS + KINDS_CHARTS if name in tables]
    drawings = {}
    for name in charted:
        one_way = _by_column(tables[name])
        chart = _chart_rows(one_way, words)
        drawings[name] = chart if one_way["dimensions"][0] in LONG else _mark_suppressed(chart, words)
    svgs = dict(zip(charted, _charts([drawings[name] for name in charted]), strict=True))
    sections = []
    for name in CHARTS + NUMBERS_ONLY + CROSS + KINDS:
        table = tables.get(name)
        if table is None:
            continue
        notes = []
        if table["population"] in _KIND_NOTE:
            notes.append(words.say(_KIND_NOTE[table["population"]]))
        if name in drawings and (note := _chart_note(drawings[name], words)) is not None:
            notes.append(note)
        if name == "engagement":
            notes.append(words.say("A person may tick several options, so these do not add up to the total."))
        section: dict[str, Any] = {
            "title": _title(name, words),
            "notes": notes,
            "chart": Markup(svgs[name]) if name in svgs else None,  # noqa: S704 - matplotlib's SVG escapes its text
            "total": table["margins"]["total"],
            "columns": None,
        }
        if name in CROSS + KINDS_CROSS:
            section |= _cross(table, words, turned=name in KINDS_CROSS)
        else:
            section["rows"] = _one_way_rows(table, words)
        sections.append(section)
    d = aggregates["disclosure"]
    left_out = d.get("withheld_tables", [])
    persons_out = [t for t in left_out if t not in KINDS]
    kinds_out = [t for t in left_out if t in KINDS]
    withheld = {lang: ", ".join(title(t, lang) for t in persons_out) for lang in langs}
    kinds_withheld = {lang: ", ".join(title(t, lang) for t in kinds_out) for lang in langs}
    return (
        _environment()
        .get_template("report.html")
        .render(
            _=lambda message: message,  # marks a message for extraction; `say` translates it
            say=words.say,
            plain=words.plain,
            shown=words.shown,
            number=_number,
            langs=langs,
            html_lang=HTML_LANG.get(langs[0], langs[0]),
            css=_CSS,
            registrants=aggregates["registrants"],
            generated_on=aggregates["generated_on"],
            sections=sections,
            people=any(t["population"] not in _KIND_NOTE for t in tables.values()),
            kinds=any(t["population"] in _KIND_NOTE for t in tables.values()),
            withheld=withheld if persons_out else None,
            kinds_withheld=kinds_withheld if kinds_out else None,
            disclosure=d,
            epsilon=f"{d['epsilon']:g}" if d.get("epsilon") is not None else None,
            arrivals=arrivals if aggregates["tables"] else None,
            withdrawals=withdrawals if aggregates["tables"] else None,
        )
    )


def _title(name: str, words: _Words) -> Markup:
    return lead(list(dict.fromkeys(title(name, lang) for lang in words.langs)))


def lead(texts: Sequence[str]) -> Markup:
    """The first text, then each other one greyed after a slash; all escaped."""
    first, *rest = texts
    return escape(first) + Markup("").join(Markup(' <span class="also">/ {}</span>').format(t) for t in rest)


def report_files(
    aggregates: dict[str, Any],
    languages: Iterable[str] = (),
    arrivals: dict[str, Any] | None = None,
    withdrawals: dict[str, Any] | None = None,
) -> dict[str, bytes]:
    """`report.html` (Albanian with English) and `report.<lang>.html` for each of `languages`."""
    files = {"report.html": render(aggregates, arrivals=arrivals, withdrawals=withdrawals).encode("utf-8")}
    for lang in dict.fromkeys(languages):
        files[f"report.{lang}.html"] = render(aggregates, (lang,), arrivals, withdrawals).encode("utf-8")
    return files


def arrivals_csv(arrivals: dict[str, Any]) -> bytes:
    """arrival_day.csv: day, envelopes (empty when suppressed), suppressed, unusual."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(["day", "envelopes", "suppressed", "unusual"])
    for d in arrivals["days"]:
        count = d["count"]
        out.writerow([d["day"], "" if count is None else count, str(count is None).lower(), str(d["unusual"]).lower()])
    return buf.getvalue().encode("utf-8")


def withdrawals_csv(withdrawals: dict[str, Any]) -> bytes:
    """withdrawals.csv: the people this publication removed because they withdrew
    (empty when suppressed), suppressed."""
    count = withdrawals["count"]
    return f"withdrawn,suppressed\n{'' if count is None else count},{str(count is None).lower()}\n".encode()


def write_report(aggregates: dict[str, Any], out_dir: Path, languages: Iterable[str] = ()) -> list[Path]:
    """Write the report files into `out_dir`; return the paths written."""
    written = []
    for name, data in report_files(aggregates, languages).items():
        path = Path(out_dir) / name
        _atomic_write(path, data)
        written.append(path)
    return written


def _csv_rows(table: dict[str, Any]) -> Iterable[list[str]]:
    dims = table["dimensions"]
    yield [*dims, "count", "suppressed"]
    for cell in table["cells"]:
        count = cell["count"]
        yield [*(cell[d] for d in dims), "" if count is None else str(count), str(count is None).lower()]
    margins = table["margins"]
    for axis, dim in enumerate(dims if len(dims) > 1 else ()):
        for entry in margins[dim]:
            key = ["TOTAL"] * len(dims)
            key[axis] = entry[dim]
            yield [*key, "" if entry["count"] is None else str(entry["count"]), str(entry["count"] is None).lower()]
    total = margins["total"]
    yield [*(["TOTAL"] * len(dims)), "" if total is None else str(total), str(total is None).lower()]


def render_csvs(aggregates: dict[str, Any]) -> dict[str, bytes]:
    """One `<table name>.csv` per table, as bytes by file name."""
    files = {}
    for table in aggregates["tables"]:
        if not re.fullmatch(r"[a-z_]+", table["name"]):
            raise ValueError(f"unexpected table name {table['name']!r}")
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(_csv_rows(table))
        files[f"{table['name']}.csv"] = buf.getvalue().encode("utf-8")
    return files


def write_csvs(aggregates: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write one `<table name>.csv` per table into `out_dir`; return the paths."""
    written = []
    for name, data in render_csvs(aggregates).items():
        path = Path(out_dir) / name
        _atomic_write(path, data)
        written.append(path)
    return written
