"""The production intake on PostgreSQL end to end, started exactly as
docs/operations.md (section 2) says: gunicorn with `DVR_INTAKE_STORE`
serves the page and the API; two such intakes (separate data directories,
sharing only the database and the log's key) take submissions at once over
HTTP; then `intake export` from each host, `keyholder import` and
`keyholder publish` publish byte for byte what an SQLite intake (the same
documented command without the URL) publishes when given the same
submissions in the same order."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import tlog_verifier as tv
from prod_server import BIN, ProdServer, request
from support import public_key, run, submission
from test_e2e import population
from test_postgres_intake import Flood, check_one_log, header

import vault
from intake import IntakeConfig
from intake.export import export_batch
from intake.keyring import add_bundle
from intake.store import today

OPERATIONS = Path(__file__).resolve().parents[1] / "docs" / "operations.md"


def documented_command(store: bool) -> tuple[dict[str, str], list[str]]:
    """The environment and argv of the gunicorn command in operations.md's
    section 2: the one with `DVR_INTAKE_STORE` when `store`, else the other."""
    section = OPERATIONS.read_text().split("## 2. Run", 1)[1].split("\n## ", 1)[0]
    for block in re.findall(r"```sh\n(.*?)```", section, re.S):
        words = shlex.split(block.replace("\\\n", " "))
        env = dict(w.split("=", 1) for w in words if re.match(r"^[A-Z_]+=", w))
        if ("DVR_INTAKE_STORE" in env) == store:
            return env, [w for w in words if not re.match(r"^[A-Z_]+=", w)]
    raise AssertionError(f"no gunicorn command {'with' if store else 'without'} DVR_INTAKE_STORE in section 2")


def test_the_documented_commands_are_the_ones_these_tests_run():
    for store in (True, False):
        env, argv = documented_command(store)
        assert set(env) == {"DVR_INTAKE_DATA", "DVR_INTAKE_STORE"} if store else {"DVR_INTAKE_DATA"}
        assert env.get("DVR_INTAKE_STORE", "postgresql://").startswith("postgresql://")
        # ProdServer runs exactly this, on a free port (and with the tests' directory on gunicorn's path).
        assert argv == [
            "/opt/dvr/bin/gunicorn",
            "-c",
            "python:intake.gunicorn_conf",
            "-b",
            "127.0.0.1:8080",
            "intake.wsgi:from_environ()",
        ]


def first_host(data: Path, vault_dir: Path) -> Path:
    """A data directory with the vault's two bundles installed (what
    `intake keys add` does, operations.md section 1)."""
    data.mkdir()
    for bundle in ("key-bundle.json", "key-bundle-v1.json"):
        add_bundle(data / "keys.json", json.loads((vault_dir / bundle).read_text()))
    return data


def other_host(data: Path, first: Path) -> Path:
    """Another host's data directory: the same bundles, and the first host's log key (section 2)."""
    data.mkdir()
    for name in ("keys.json", "log-key"):
        shutil.copy2(first / name, data / name)
    return data


def serve(data: Path, log: Path, url: str | None) -> ProdServer:
    env = {"DVR_INTAKE_STORE": url} if url else {}
    return ProdServer(data, log, env=env)


def check_serves_the_page_and_the_api(server: ProdServer, vault_dir: Path) -> None:
    port = server.port
    status, page = request("127.0.0.1", port, "GET", "/")
    assert status == 200 and page.startswith('<!doctype html>\n<html lang="sq"') and "<form" in page
    status, page = request("127.0.0.1", port, "GET", "/en/")
    assert status == 200 and '<html lang="en"' in page
    kid = json.loads((vault_dir / "key-bundle.json").read_text())["kid"]
    assert request("127.0.0.1", port, "GET", "/healthz") == (200, "ok\n")
    status, keys = request("127.0.0.1", port, "GET", "/api/v1/keys")
    assert status == 200 and keys["current"] == kid
    status, vkey = request("127.0.0.1", port, "GET", "/api/v1/log/key")
    assert status == 200 and vkey.startswith("dvr-intake/")
    status, note = request("127.0.0.1", port, "GET", "/api/v1/log/checkpoint")
    assert status == 200 and note.startswith("dvr-intake/")


def export(data: Path, out: Path, url: str) -> None:
    proc = run("intake", "export", "--data", data, "--store", url, "--out", out)
    assert proc.returncode == 0, proc.stderr


def publishing(tmp_path: Path, vault_dir: Path, out: Path) -> subprocess.Popen:
    """`keyholder publish` of `vault_dir` into `out`, started (the two run side by side)."""
    argv = ["publish", "--vault", vault_dir, "--passphrase-file", tmp_path / "pp", "--out", out]
    return subprocess.Popen([str(BIN / "keyholder"), *map(str, argv)], stderr=subprocess.PIPE, text=True)


def published(proc: subprocess.Popen, out: Path) -> dict[str, bytes]:
    """Every file `proc` published into `out`, by name (the manifest without
    its audit chain's link: see the test)."""
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    files = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    manifest = json.loads(files["manifest.json"])
    del manifest["audit"]["prev"], manifest["signature"]
    files["manifest.json"] = json.dumps(manifest).encode()
    return files


@pytest.mark.slow
def test_two_documented_intakes_on_postgresql_publish_what_one_on_sqlite_publishes(
    tmp_path, vault_dir, pg_cluster, pg_url
):
    day = today()  # the batches carry each envelope's day of arrival
    first = first_host(tmp_path / "pg-a", vault_dir)
    servers = [serve(first, tmp_path / "gunicorn-a.log", pg_url)]  # its first start makes the log key
    second = other_host(tmp_path / "pg-b", first)
    servers.append(serve(second, tmp_path / "gunicorn-b.log", pg_url))
    lite = other_host(tmp_path / "lite", first)  # the same log key: the same signed checkpoints
    records, _truth = population()  # 92 registrations, 12 of them a later one by the same person
    key = public_key(vault_dir)
    envelopes = [vault.seal(submission(rec), key) for rec in records]
    half = len(envelopes) // 2
    try:
        for server in servers:
            check_serves_the_page_and_the_api(server, vault_dir)
        ports = [s.port for s in servers]
        receipts = []
        batches = []
        for part, host in ((envelopes[:half], first), (envelopes[half:], second)):
            flood = Flood(ports, part, clients=8)  # both intakes at once
            for t in flood.threads:
                t.join(timeout=60)
            flood.finish()
            assert not flood.refused and len(flood.receipts) == len(part)
            assert {port for _, _, port in flood.receipts} == set(ports)
            receipts += flood.receipts
            batches.append(tmp_path / f"pg-{len(batches) + 1}.batch")
            export(host, batches[-1], pg_url)  # each host exports in turn
        latest = check_one_log(pg_cluster, pg_url, receipts, ports)
        assert latest.size == len(envelopes)
        # Any intake answers a resend with the original receipt.
        receipt, canonical, port = receipts[0]
        other = next(p for p in ports if p != port)
        status, again = request("127.0.0.1", other, "POST", "/api/v1/submissions", canonical)
        assert status == 201 and again["seq"] == receipt["seq"]
    finally:
        for server in servers:
            server.stop()
    assert [(header(b)["first_seq"], header(b)["last_seq"]) for b in batches] == [(1, half), (half + 1, len(envelopes))]

    # The SQLite intake gets the same envelopes, one at a time, in the order PostgreSQL numbered them.
    in_order = [canonical for r, canonical, _ in sorted(receipts, key=lambda r: r[0]["seq"])]
    server = serve(lite, tmp_path / "gunicorn-lite.log", None)
    lite_batches = []
    try:
        for i, canonical in enumerate(in_order, 1):
            status, body = request("127.0.0.1", server.port, "POST", "/api/v1/submissions", canonical)
            assert (status, body["seq"]) == (201, i)
            if i in (half, len(in_order)):
                lite_batches.append(tmp_path / f"lite-{len(lite_batches) + 1}.batch")
                export_batch(IntakeConfig(data_dir=lite), lite_batches[-1])
        _status, vkey = request("127.0.0.1", server.port, "GET", "/api/v1/log/key")
        for receipt, canonical, _port in receipts:  # PostgreSQL's receipts verify against SQLite's log key
            tv.check_receipt(receipt, canonical, tv.parse_key(vkey))
    finally:
        server.stop()
    if today() != day:
        pytest.skip("the run crossed midnight UTC: the two stores dated the same envelopes on different days")
    for pg_batch, lite_batch in zip(batches, lite_batches, strict=True):
        assert pg_batch.read_bytes() == lite_batch.read_bytes(), (pg_batch, lite_batch)

    # One vault, copied before any import: the same keys, two keyholders.
    vaults = (vault_dir, shutil.copytree(vault_dir, tmp_path / "V-lite"))
    for v, its in zip(vaults, (batches, lite_batches), strict=True):
        proc = run("keyholder", "import", "--vault", v, *its)
        assert proc.returncode == 0, proc.stderr
    runs = [publishing(tmp_path, v, tmp_path / o) for v, o in zip(vaults, ("O-pg", "O-lite"), strict=True)]
    from_pg, from_lite = published(runs[0], tmp_path / "O-pg"), published(runs[1], tmp_path / "O-lite")
    assert {"aggregates.json", "manifest.json", "report.html", "residence_country.csv"} <= set(from_pg)
    assert json.loads(from_pg["aggregates.json"])["registrants"] == 80  # 92 registrations, 12 superseded
    assert sorted(from_pg) == sorted(from_lite)
    for name, data in from_pg.items():
        # Every file, and the manifest's hashes of them, byte for byte. The manifest's
        # audit.prev (and so its signature) differs: it is the hash of the vault's own
        # audit entry before, which holds the import's time and the vault's path.
        assert data == from_lite[name], name
