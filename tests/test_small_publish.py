"""`keyholder publish` of a population below min_cell: only the count, and still a signed, logged publication."""

from __future__ import annotations

import json

from support import VALID_RECORD, run, submission, write_batch_file

import vault


def test_three_people_publish_only_their_number(tmp_path):
    (tmp_path / "pp").write_text("correct horse battery\n")
    vault_dir = tmp_path / "V"
    assert run("keyholder", "init", "--vault", vault_dir, "--passphrase-file", tmp_path / "pp").returncode == 0
    pk = vault.load_bundle(json.loads((vault_dir / "key-bundle.json").read_text())).public_key
    people = [
        {**VALID_RECORD, "given_name": name, "family_name": "Krasniqi", "birth_date": born, "residence_country": "IS"}
        for name, born in [("Arbër", "1951-02-03"), ("Drita", "1964-05-06"), ("Valbona", "1987-08-09")]
    ]
    write_batch_file(tmp_path / "b", [vault.seal(submission(p), pk).canonical() for p in people])
    assert run("keyholder", "import", "--vault", vault_dir, tmp_path / "b").returncode == 0
    out = tmp_path / "O"
    proc = run("keyholder", "publish", "--vault", vault_dir, "--passphrase-file", tmp_path / "pp", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["aggregates.json", "manifest.json", "report.html"]
    aggregates = json.loads((out / "aggregates.json").read_text())
    assert aggregates["registrants"] == 3
    assert aggregates["tables"] == []
    assert "IS" not in json.dumps(aggregates)
    page = (out / "report.html").read_text()
    assert "Fewer than 10 people registered; no breakdown is published to protect them." in page
    # The publication is logged and its signed manifest matches every file.
    verified = run("keyholder", "audit", "verify", "--vault", vault_dir, "--publication", out)
    assert verified.returncode == 0, verified.stderr
    assert "every file matches audit entry" in verified.stdout
    kinds = [json.loads(line)["kind"] for line in (vault_dir / "audit.log").read_text().splitlines()]
    assert "publish" in kinds


def test_publish_writes_a_report_in_each_language_asked_for_and_signs_it(tmp_path):
    """`--report-language sr --report-language de` adds report.sr.html and report.de.html, in the
    manifest like every file; a language the form does not have is a usage error."""
    (tmp_path / "pp").write_text("correct horse battery\n")
    vault_dir = tmp_path / "V"
    assert run("keyholder", "init", "--vault", vault_dir, "--passphrase-file", tmp_path / "pp").returncode == 0
    pk = vault.load_bundle(json.loads((vault_dir / "key-bundle.json").read_text())).public_key
    write_batch_file(tmp_path / "b", [vault.seal(submission(VALID_RECORD), pk).canonical()])
    assert run("keyholder", "import", "--vault", vault_dir, tmp_path / "b").returncode == 0
    base = ("keyholder", "publish", "--vault", vault_dir, "--passphrase-file", tmp_path / "pp")
    refused = run(*base, "--out", tmp_path / "X", "--report-language", "fr")
    assert refused.returncode == 2 and "'fr' is not one of" in refused.stderr
    assert not (tmp_path / "X").exists()
    out = tmp_path / "O"
    proc = run(*base, "--out", out, "--report-language", "sr", "--report-language", "de")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "aggregates.json",
        "manifest.json",
        "report.de.html",
        "report.html",
        "report.sr.html",
    ]
    assert "Регистровало се мање од 10 особа" in (out / "report.sr.html").read_text()
    assert "Weniger als 10 Personen haben sich registriert" in (out / "report.de.html").read_text()
    assert json.loads((out / "manifest.json").read_text())["files"].keys() >= {"report.sr.html", "report.de.html"}
    verified = run("keyholder", "audit", "verify", "--vault", vault_dir, "--publication", out)
    assert verified.returncode == 0, verified.stderr


FAMILIES = [
    "Berisha",
    "Gashi",
    "Hoxha",
    "Kelmendi",
    "Morina",
    "Shala",
    "Bytyqi",
    "Rexhepi",
    "Zeqiri",
    "Osmani",
    "Dervishi",
    "Limani",
]


def test_a_publication_counts_envelopes_by_day_of_arrival(tmp_path):
    """Twelve people on one day: arrival_day.csv and the report's section, signed in the manifest."""
    (tmp_path / "pp").write_text("correct horse battery\n")
    vault_dir = tmp_path / "V"
    assert run("keyholder", "init", "--vault", vault_dir, "--passphrase-file", tmp_path / "pp").returncode == 0
    pk = vault.load_bundle(json.loads((vault_dir / "key-bundle.json").read_text())).public_key
    names = [
        "Arta",
        "Besnik",
        "Dardan",
        "Elira",
        "Fatos",
        "Gentiana",
        "Ilir",
        "Jeta",
        "Kushtrim",
        "Lirie",
        "Mimoza",
        "Nol",
    ]
    people = [
        {**VALID_RECORD, "given_name": name, "family_name": family, "birth_date": f"19{60 + i}-0{1 + i % 9}-1{i % 9}"}
        for i, (name, family) in enumerate(zip(names, FAMILIES, strict=True))
    ]
    write_batch_file(tmp_path / "b", [vault.seal(submission(p), pk).canonical() for p in people])
    assert run("keyholder", "import", "--vault", vault_dir, tmp_path / "b").returncode == 0
    out = tmp_path / "O"
    proc = run("keyholder", "publish", "--vault", vault_dir, "--passphrase-file", tmp_path / "pp", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "published 12 registrants" in proc.stdout, proc.stdout + proc.stderr
    assert (out / "arrival_day.csv").read_text() == "day,envelopes,suppressed,unusual\n2026-11-26,12,false,false\n"
    assert "arrival_day.csv" in json.loads((out / "manifest.json").read_text())["files"]
    assert "Envelopes by day of arrival" in (out / "report.html").read_text()
