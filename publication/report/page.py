"""The readable publication: `report.html` (bilingual, self-contained) and CSVs.

`write_report(aggregates, out_dir)` renders the protected aggregates only —
it never sees a record. Charts are matplotlib (Agg backend) SVG embedded
inline, text kept as text (`svg.fonttype = none`); the page has inline CSS,
no scripts, and no reference to any other file or origin, so it works
offline and as an e-mail attachment. Suppressed counts are shown as
"e fshehur / suppressed", in the tables and in the charts. Below min_cell
registrants the page says in both languages that no breakdown is published,
and it names any table withheld because it could not be protected.

`write_csvs(aggregates, out_dir)` writes one CSV per table: its dimensions,
`count` (empty when suppressed) and `suppressed`; margins are extra rows
whose other dimension is `TOTAL`.

Both write each file to a temporary file in `out_dir` and `os.replace` it
into place, so a failure leaves no half-written file.
"""

from __future__ import annotations

import csv
import html
import io
import multiprocessing as mp
import os
import re
import tempfile
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import matplotlib

from ..errors import WorkerDied

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .labels import TEXT, label  # noqa: E402

__all__ = ["render", "render_csvs", "write_csvs", "write_report"]

CHARTS = ("residence_country", "origin_country", "origin_municipality", "education_level", "occupation", "engagement")
NUMBERS_ONLY = ("status", "field_of_study", "age_band", "sex", "emigration_reason")
TOP = 15
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:70rem;padding:1rem;
color:#1b1b1b;line-height:1.45}
h1{font-size:1.7rem;margin-bottom:.2rem}h2{font-size:1.25rem;margin-top:2.2rem;border-bottom:2px solid #cc1f2d}
.en{color:#555}.lead{font-size:1.2rem}
.pair{display:flex;flex-wrap:wrap;gap:1.5rem;align-items:flex-start}.chart{flex:1 1 26rem;min-width:18rem}
.chart svg{width:100%;height:auto}table{border-collapse:collapse;font-size:.9rem}
td,th{padding:.15rem .6rem;border-bottom:1px solid #ddd;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.sup{color:#8a4b00;font-style:italic}.note{font-size:.9rem;color:#444}
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


def _both(key: str, **fmt: object) -> str:
    sq, en = TEXT[key]
    return f'{html.escape(sq.format(**fmt))} <span class="en">/ {html.escape(en.format(**fmt))}</span>'


def _cells(table: dict[str, Any]) -> list[tuple[str, int | None]]:
    dim = table["dimensions"][0]
    return [(c[dim], c["count"]) for c in table["cells"]]


def _chart(table: dict[str, Any]) -> str:
    dim = table["dimensions"][0]
    cells = _cells(table)
    names_of = {code: " / ".join(dict.fromkeys(label(dim, code))) for code, _ in cells}
    if dim in ("residence_country", "origin_country", "origin_municipality"):
        hidden = sum(1 for c in cells if c[1] is None)
        cells = sorted((c for c in cells if c[1]), key=lambda c: -int(c[1] or 0))[:TOP]
        if hidden:
            cells.append(("", None))
            names_of[""] = f"+{hidden}"
    cells = list(reversed(cells))
    names = [names_of[code] for code, _ in cells]
    values = [count or 0 for _, count in cells]
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": "dvr", "font.size": 9}):
        fig, ax = plt.subplots(figsize=(6.4, 0.28 * len(cells) + 0.9))
        bars = ax.barh(range(len(cells)), values, color="#cc1f2d")
        top = max(values, default=1) or 1
        for i, ((_, count), bar) in enumerate(zip(cells, bars, strict=True)):
            if count is None:
                ax.text(
                    0,
                    i,
                    f" {TEXT['suppressed'][0]} / {TEXT['suppressed'][1]}",
                    va="center",
                    color="#8a4b00",
                    style="italic",
                )
            else:
                ax.text(bar.get_width() + top * 0.01, i, f"{count:,}".replace(",", " "), va="center")
        ax.set_yticks(range(len(cells)), names)
        ax.set_xlim(0, top * 1.18)
        ax.spines[["top", "right"]].set_visible(False)
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
        plt.close(fig)
    svg = buf.getvalue()
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg[svg.index("<svg") :], flags=re.DOTALL)
    return re.sub(r'\s(width|height)="[^"]*pt"', "", svg, count=2)


def _number_table(table: dict[str, Any]) -> str:
    dim = table["dimensions"][0]
    rows = []
    cells = _cells(table)
    if dim in ("residence_country", "origin_country", "origin_municipality"):
        # largest first by published count; suppressed ones last in code order (their order reveals nothing)
        cells = sorted(cells, key=lambda c: (c[1] is None, -(c[1] or 0), c[0]))
    for code, count in cells:
        sq, en = label(dim, code)
        name = html.escape(sq if sq == en else f"{sq} / {en}")
        shown = f'<span class="sup">{_both("suppressed")}</span>' if count is None else f"{count:,}".replace(",", " ")
        rows.append(f'<tr><td>{name}</td><td class="n">{shown}</td></tr>')
    total = table["margins"]["total"]
    total_text = _both("suppressed") if total is None else f"{total:,}".replace(",", " ")
    rows.append(f'<tr><th>{_both("total")}</th><td class="n"><b>{total_text}</b></td></tr>')
    head = f"<tr><th>{_both('category')}</th><th>{_both('count')}</th></tr>"
    return f'<div class="numbers"><table>{head}{"".join(rows)}</table></div>'


def _withheld(aggregates: dict[str, Any]) -> str:
    """Plain words for what is not published: every breakdown, or some tables."""
    d = aggregates["disclosure"]
    if not aggregates["tables"]:
        return f'<p class="lead">{_both("no_breakdown", n=d["min_cell"])}</p>'
    names = d.get("withheld_tables", [])
    if not names:
        return ""
    sq, en = (", ".join(TEXT[name][lang] for name in names) for lang in (0, 1))
    text = TEXT["withheld_tables"]
    return (
        f'<p class="note">{html.escape(text[0].format(names=sq))} '
        f'<span class="en">/ {html.escape(text[1].format(names=en))}</span></p>'
    )


def _protection(aggregates: dict[str, Any]) -> str:
    d = aggregates["disclosure"]
    if not aggregates["tables"]:
        sq = (
            f"Me më pak se {d['min_cell']} të regjistruar publikohet vetëm numri i tyre: asnjë tabelë, asnjë zero, "
            "asnjë qelizë. Emrat, datëlindjet, e-mailet, qytetet dhe profesionet nuk publikohen kurrë."
        )
        en = (
            f"With fewer than {d['min_cell']} registrants only their number is published: no table, no zero, no "
            "cell. Names, birth dates, e-mails, cities and professions are never published."
        )
        return f'<p>{html.escape(sq)}</p><p class="en">{html.escape(en)}</p>'
    sq = (
        f"Asnjë numër nën {d['min_cell']} nuk publikohet (përveç zeros): {d['primary_suppressed']} numra të vegjël "
        f"u fshehën, dhe {d['complementary_suppressed']} të tjerë u fshehën që të parët të mos rikrijohen nga "
        "totalet, rreshtat, kolonat ose tabelat e tjera. Për çdo numër të fshehur, shifrat e publikuara lejojnë "
        f"vlera nga të paktën {d['protection_level']} njësi larg njëra-tjetrës. Emrat, datëlindjet, e-mailet, "
        "qytetet dhe profesionet nuk publikohen kurrë; kush u regjistrua më shumë se një herë numërohet një herë "
        "(regjistrimi i fundit)."
    )
    en = (
        f"No count below {d['min_cell']} is published (except zero): {d['primary_suppressed']} small counts were "
        f"suppressed, and {d['complementary_suppressed']} more so that they cannot be recomputed from totals, rows, "
        "columns or other tables. For every suppressed count, the published numbers allow values at least "
        f"{d['protection_level']} apart. Names, birth dates, e-mails, cities and professions are never published; "
        "a person who registered more than once is counted once (their latest registration)."
    )
    parts = [f"<p>{html.escape(sq)}</p>", f'<p class="en">{html.escape(en)}</p>']
    if d.get("epsilon") is not None:
        parts.append(
            f"<p>{html.escape('Para fshehjes, çdo numri iu shtua zhurmë e rastësishme (privatësi diferenciale, ε = ')}"
            f'{d["epsilon"]:g}).</p><p class="en">Before suppression, random noise was added to every count '
            f"(differential privacy, ε = {d['epsilon']:g}, OpenDP discrete Laplace), split as follows:</p>"
        )
        rows = "".join(
            f'<tr><td>{html.escape(b["release"])}</td><td class="n">{b["epsilon"]:.4f}</td>'
            f'<td class="n">{b["scale"]:.2f}</td></tr>'
            for b in d["budget"]
        )
        parts.append(f"<table><tr><th>release</th><th>ε</th><th>scale</th></tr>{rows}</table>")
    return "".join(parts)


def _charts(tables: list[dict[str, Any]]) -> dict[str, str]:
    """Each table's chart as SVG, by table name; drawn in parallel on every
    core (matplotlib lays out each chart twice, which takes most of publish's
    report time)."""
    workers = min(len(tables), os.cpu_count() or 1)
    if workers < 2:
        return {t["name"]: _chart(t) for t in tables}
    pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("fork"))
    try:
        return dict(zip((t["name"] for t in tables), pool.map(_chart, tables), strict=True))
    except BrokenProcessPool:
        raise WorkerDied() from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # no worker outlives the call


def render(aggregates: dict[str, Any]) -> str:
    """The report page as a string."""
    tables = {t["name"]: t for t in aggregates["tables"]}
    charts = _charts([tables[name] for name in CHARTS if name in tables])
    sections = []
    for name in CHARTS + NUMBERS_ONLY:
        table = tables.get(name)
        if table is None:
            continue
        chart = f'<div class="chart">{charts[name]}</div>' if name in CHARTS else ""
        note = ""
        if name in ("residence_country", "origin_country", "origin_municipality") and len(table["cells"]) > TOP:
            note = f'<p class="note">{_both("top_note", n=TOP)}</p>'
        if name == "engagement":
            note = f'<p class="note">{_both("engagement_note")}</p>'
        body = f'<div class="pair">{chart}{_number_table(table)}</div>'
        sections.append(f"<section><h2>{_both(name)}</h2>{note}{body}</section>")
    registrants = f"{aggregates['registrants']:,}".replace(",", " ")
    return (
        '<!DOCTYPE html>\n<html lang="sq"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(TEXT['title'][0])} / {html.escape(TEXT['title'][1])}</title>"
        f"<style>{_CSS}</style></head><body>"
        f"<h1>{_both('title')}</h1>"
        f'<p class="lead"><b>{registrants}</b> {_both("registrants")} · {html.escape(aggregates["generated_on"])}</p>'
        + _withheld(aggregates)
        + "".join(sections)
        + f"<section><h2>{_both('protected')}</h2>{_protection(aggregates)}</section>"
        + "</body></html>\n"
    )


def write_report(aggregates: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write `report.html` into `out_dir`; return the paths written."""
    path = Path(out_dir) / "report.html"
    _atomic_write(path, render(aggregates).encode("utf-8"))
    return [path]


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
