"""The report says how many people withdrew, protected like any other count
(issue 18): `keyholder publish` writes withdrawals.csv and a sentence in
every report; the count is suppressed below min_cell (zero included, so a
suppressed count does not even tell that anyone withdrew), is its own
release under differential privacy, and below min_cell registrants nothing
about withdrawals is published. aggregates.json keeps FORMATS' members."""

from __future__ import annotations

import html
import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from support import VALID_RECORD, public_key, run, write_batch_file
from test_registrant import audit_entries, first, key_of, withdrawal

import schemas
import vault
from publication.protection.disclosure import protect_with_withdrawals
from publication.protection.withdrawals import protect_withdrawals
from publication.report.labels import LANGUAGES, gettext
from publication.report.page import BILINGUAL, NUMBERS_ONLY, report_files
from publication.tables import count_tables
from vault.audit import MANIFEST_NAME

SHOWN = (
    "People who withdrew their registration since the previous publication: {n}. They are no longer counted,"
    " and their envelopes were erased."
)
HIDDEN = (
    "People who withdrew their registration since the previous publication: fewer than {n}, perhaps none (the exact"
    " number is not published, to protect them). Whoever withdrew is no longer counted, and their envelopes were erased."
)
REPORTS = {"report.html": BILINGUAL, **{f"report.{lang}.html": (lang,) for lang in LANGUAGES}}


def import_envelopes(vault_dir: Path, tmp_path: Path, submissions: list[bytes]) -> None:
    pk = public_key(vault_dir)
    write_batch_file(tmp_path / "batch", [vault.seal(s, pk).canonical() for s in submissions])
    proc = run("keyholder", "import", "--vault", vault_dir, tmp_path / "batch")
    assert proc.returncode == 0, proc.stderr


def publish(vault_dir: Path, tmp_path: Path, out: str, min_cell: int, every_language: bool = False) -> tuple[Any, Path]:
    """`keyholder publish`: report.html (Albanian with English) and, if asked, a report in every language."""
    languages = [arg for lang in LANGUAGES if every_language for arg in ("--report-language", lang)]
    proc = run(
        "keyholder",
        "publish",
        "--vault",
        vault_dir,
        "--passphrase-file",
        tmp_path / "pp",
        "--out",
        tmp_path / out,
        "--min-cell",
        min_cell,
        *languages,
    )
    assert proc.returncode == 0, proc.stderr
    return proc, tmp_path / out


def withdrawals_sentence(page: str) -> str | None:
    """The report's paragraph on withdrawals as a reader sees it (tags dropped), or None."""
    found = re.search(r'<p id="withdrawals">(.*?)</p>', page, flags=re.DOTALL)
    return None if found is None else html.unescape(re.sub(r"<[^>]+>", "", found.group(1)))


def expected(message: str, langs: tuple[str, ...], n: int) -> str:
    return " / ".join(gettext(message, lang).format(n=n) for lang in langs)


def test_withdrawals_at_min_cell_are_counted_in_the_csv_and_every_report(vault_dir: Path, tmp_path: Path) -> None:
    # 12 people register; 4 (= min_cell) withdraw, one of them twice (counted once).
    import_envelopes(
        vault_dir,
        tmp_path,
        [first(i) for i in range(12)] + [withdrawal(key_of(i)) for i in (3, 5, 7, 9, 9)],
    )
    proc, out = publish(vault_dir, tmp_path, "O", min_cell=4, every_language=True)
    assert "4 withdrawals, 9 erased" in proc.stdout
    assert (out / "withdrawals.csv").read_text() == "withdrawn,suppressed\n4,false\n"
    aggregates = json.loads((out / "aggregates.json").read_text())
    assert aggregates["registrants"] == 8 and aggregates["tables"]
    jsonschema.validate(aggregates, schemas.load("aggregates.schema.json"))  # FORMATS' members only
    assert "withdraw" not in json.dumps(aggregates)
    for name, langs in REPORTS.items():
        assert withdrawals_sentence((out / name).read_text()) == expected(SHOWN, langs, 4), name
    assert set(LANGUAGES) == {"sq", "en", "sr", "de"}  # every language the form speaks has its report
    # The signed manifest and the publish entry cover the new file; the publication verifies.
    assert "withdrawals.csv" in json.loads((out / MANIFEST_NAME).read_text())["files"]
    (entry,) = audit_entries(vault_dir, "publish")
    assert entry["details"]["counts"]["withdrawals"] == 4 and "withdrawals.csv" in entry["details"]["files"]
    verified = run("keyholder", "audit", "verify", "--vault", vault_dir, "--publication", out)
    assert verified.returncode == 0 and "every file matches" in verified.stdout, verified.stderr


def test_a_single_withdrawal_is_suppressed_and_nothing_pins_it(tmp_path: Path) -> None:
    """A vault where one of 12 people withdrew, and one where those 11 registered and nobody
    withdrew (two codes that match no registration keep the envelope count the same): every
    published file but the signed manifest is the same bytes, so the publication cannot tell
    one withdrawal from none."""
    pubs, consoles = {}, {}
    for case, submissions in {
        "one": [first(i) for i in range(12)] + [withdrawal(key_of(11))],
        "none": [first(i) for i in range(11)] + [withdrawal(key_of(90)), withdrawal(key_of(91))],
    }.items():
        home = tmp_path / case
        home.mkdir()
        (home / "pp").write_text("correct horse battery\n")
        assert run("keyholder", "init", "--vault", home / "V", "--passphrase-file", home / "pp").returncode == 0
        import_envelopes(home / "V", home, submissions)
        proc, out = publish(home / "V", home, "O", min_cell=4)
        pubs[case] = {p.name: p.read_bytes() for p in out.iterdir() if p.name != MANIFEST_NAME}
        consoles[case] = proc.stdout
    assert "1 withdrawal, 2 erased" in consoles["one"] and "0 withdrawals, 0 erased" in consoles["none"]
    one, none = pubs["one"], pubs["none"]
    assert one["withdrawals.csv"] == b"withdrawn,suppressed\n,true\n"
    assert withdrawals_sentence(one["report.html"].decode()) == expected(HIDDEN, BILINGUAL, 4)
    aggregates = json.loads(one["aggregates.json"])
    assert aggregates["registrants"] == 11
    assert one == none
    # The same publication's report in every language says the count is suppressed, without it
    # (drawn with the tables that have no chart, which take most of a report's time).
    tables = [t for t in aggregates["tables"] if t["name"] in NUMBERS_ONLY]
    drawn = report_files({**aggregates, "tables": tables}, LANGUAGES, withdrawals={"count": None})
    for name, langs in REPORTS.items():
        assert withdrawals_sentence(drawn[name].decode()) == expected(HIDDEN, langs, 4), name


def test_below_min_cell_registrants_nothing_about_withdrawals_is_published(vault_dir: Path, tmp_path: Path) -> None:
    import_envelopes(vault_dir, tmp_path, [first(i) for i in range(12)] + [withdrawal(key_of(i)) for i in range(10)])
    proc, out = publish(vault_dir, tmp_path, "O", min_cell=3, every_language=True)
    assert "10 withdrawals, 20 erased" in proc.stdout  # the keyholder's own console knows
    assert json.loads((out / "aggregates.json").read_text())["registrants"] == 2
    assert not (out / "withdrawals.csv").exists()
    for name in REPORTS:
        assert withdrawals_sentence((out / name).read_text()) is None, name
    assert "withdr" not in (out / "report.en.html").read_text()


@pytest.mark.parametrize(
    ("withdrawn", "registrants", "min_cell", "published"),
    [
        (10, 50, 10, {"count": 10}),
        (9, 50, 10, {"count": None}),
        (1, 50, 10, {"count": None}),
        (0, 50, 10, {"count": None}),  # zero too: a suppressed count must not tell that someone withdrew
        (0, 50, 1, {"count": 0}),
        (40, 9, 10, None),  # below min_cell registrants: nothing at all
    ],
)
def test_the_rule(withdrawn: int, registrants: int, min_cell: int, published: dict[str, Any] | None) -> None:
    assert protect_withdrawals(withdrawn, registrants, min_cell) == published


ON = date(2026, 12, 1)


def people(n: int) -> list[dict[str, Any]]:
    return [{**VALID_RECORD, "residence_country": ("DE", "CH", "AT")[i % 3]} for i in range(n)]


def test_with_differential_privacy_the_count_is_a_release_of_the_same_budget() -> None:
    registrants, tables = count_tables(people(300), ON)
    counts = set()
    for _ in range(20):
        aggregates, withdrawals = protect_with_withdrawals(tables, 10, 1.0, ON, 200, registrants=registrants)
        budget = aggregates["disclosure"]["budget"]
        assert withdrawals is not None
        counts.add(withdrawals["count"])
    release = next(b for b in budget if b["release"] == "withdrawals")
    assert release["sensitivity"] == 1 and release["scale"] == pytest.approx(1 / release["epsilon"])
    assert abs(sum(b["epsilon"] for b in budget) - 1.0) < 1e-9  # the total ε, not ε more
    assert len({b["epsilon"] for b in budget}) == 1  # an equal share, like every other release
    assert all(c is None or c >= 10 for c in counts) and len(counts) > 1  # noisy, then suppressed below min_cell
    # Without DP the count is exact; without a count (protect) the budget has no such release.
    assert protect_with_withdrawals(tables, 10, None, ON, 200)[1] == {"count": 200}
    assert protect_with_withdrawals(tables, 10, 1.0, ON, None)[1] is None
