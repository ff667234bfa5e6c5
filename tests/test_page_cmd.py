"""The signed static manifest at release, with the real commands: `intake page
manifest`, `keyholder page sign` (logged before its output), `intake page
install`, and the auditor's `keyholder audit page` over real HTTP on
loopback against a running intake, with an operator who changes what is
served."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from intake import IntakeConfig, create_app
from vault import derive_keys, new_master_secret
from vault.pagetrust import page_manifest_text, parse_page_manifest, sign_page_manifest

BIN = Path(sys.executable).parent
SIG = "/.well-known/dvr-static-manifest.sig"


def run(name: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DVR_INSECURE_FAST_KDF": "1"}
    return subprocess.run([BIN / name, *map(str, args)], env=env, capture_output=True, text=True, timeout=120)


def ok(name: str, *args: str | Path) -> str:
    done = run(name, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def refused(name: str, *args: str | Path) -> str:
    done = run(name, *args)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{name}: error: "), done.stderr
    return lines[0]


class _Quiet(WSGIRequestHandler):
    def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002 - werkzeug's signature
        return


@dataclass
class Release:
    root: Path
    url: str = ""
    tamper: dict[str, bytes] = field(default_factory=dict)  # what the operator serves instead, by path

    @property
    def vault(self) -> Path:
        return self.root / "V"

    @property
    def data(self) -> Path:
        return self.root / "D"

    @property
    def passphrase(self) -> Path:
        return self.root / "P"

    def audit_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in (self.vault / "audit.log").read_text().splitlines()]

    def sign(self, manifest: Path, out: Path) -> str:
        return ok("keyholder", "page", "sign", "--vault", self.vault, "--passphrase-file", self.passphrase,
                  manifest, "--out", out)  # fmt: skip


def _operator(app: Any, tamper: dict[str, bytes]) -> Any:
    """A WSGI wrapper that answers the paths in `tamper` with other bytes: an operator serving modified files."""

    def wsgi(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        body = tamper.get(environ["PATH_INFO"])
        if body is None:
            return app(environ, start_response)
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    return wsgi


@pytest.fixture
def release(tmp_path: Path) -> Iterator[Release]:
    r = Release(tmp_path)
    r.passphrase.write_text("a release passphrase\n")
    ok("keyholder", "init", "--vault", r.vault, "--passphrase-file", r.passphrase)
    ok("intake", "keys", "add", "--data", r.data, r.vault / "key-bundle.json")
    app = create_app(IntakeConfig(data_dir=r.data))
    server = make_server("127.0.0.1", 0, _operator(app, r.tamper), threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    r.url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield r
    finally:
        server.shutdown()
        server.server_close()
        app.extensions["dvr_store"].close()


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback URL built here
            return response.status, bytes(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, bytes(exc.read())


def signed_release(r: Release) -> Path:
    ok("intake", "page", "manifest", "--data", r.data, "--out", r.root / "M")
    r.sign(r.root / "M", r.root / "S")
    ok("intake", "page", "install", "--data", r.data, r.root / "S")
    return r.root / "S"


def test_the_release_round_trip_and_the_auditor_check_pass(release: Release) -> None:
    assert fetch(release.url + SIG)[0] == 404
    ok("intake", "page", "manifest", "--data", release.data, "--out", release.root / "M")
    files = parse_page_manifest((release.root / "M").read_text())
    for path, digest in files.items():  # exactly what the server serves
        assert hashlib.sha256(fetch(release.url + path)[1]).hexdigest() == digest
    assert {"/", "/en/", "/sr/", "/de/", "/assets/ministry-key.js", "/assets/seal.js"} <= set(files)
    out = release.sign(release.root / "M", release.root / "S")
    note = (release.root / "S").read_bytes()
    entries = release.audit_lines()
    assert [e["kind"] for e in entries[-2:]] == ["unlock", "sign_page"]
    assert entries[-1]["details"]["note_sha256"] == hashlib.sha256(note).hexdigest()
    assert "audit entry" in out
    ok("intake", "page", "install", "--data", release.data, release.root / "S")
    assert fetch(release.url + SIG) == (200, note)
    check = ok("keyholder", "audit", "page", release.url, "--key", release.vault / "key-bundle.json")
    assert check.splitlines()[-1].startswith(f"OK: {len(files)} pages and assets at {release.url} match")
    assert "OK: chain intact" in ok("keyholder", "audit", "verify", "--vault", release.vault)


def test_the_checker_prints_one_line_per_changed_asset_and_page(release: Release) -> None:
    signed_release(release)
    release.tamper["/assets/seal.js"] = b"export const evil = 1;\n"
    release.tamper["/en/"] = b"<!doctype html><p>changed</p>\n"
    done = run("keyholder", "audit", "page", release.url, "--key", release.vault / "key-bundle.json")
    assert done.returncode == 1
    lines = done.stdout.splitlines()[1:]
    assert [line.split(":")[0] for line in lines] == ["CHANGED /assets/seal.js", "CHANGED /en/"]
    assert "FAILED: 2 differences" in done.stderr


def test_the_checker_compares_the_served_json_manifest_and_takes_a_local_copy(release: Release) -> None:
    note = signed_release(release)
    listed = json.loads(fetch(release.url + "/.well-known/dvr-static-manifest.json")[1])
    listed["assets"]["/assets/seal.js"] = "0" * 64
    listed["assets"]["/assets/extra.js"] = "1" * 64
    release.tamper["/.well-known/dvr-static-manifest.json"] = json.dumps(listed).encode()
    release.tamper[SIG] = b"not a note"  # the auditor's own copy is used instead
    done = run("keyholder", "audit", "page", release.url, "--key", release.vault / "key-bundle.json",
               "--signed-manifest", note)  # fmt: skip
    assert done.returncode == 1
    lines = done.stdout.splitlines()[1:]
    assert len(lines) == 2
    assert lines[0].startswith("EXTRA /assets/extra.js")
    assert lines[1].startswith("CHANGED /assets/seal.js: /.well-known/dvr-static-manifest.json says")


def test_the_checker_refuses_a_manifest_not_signed_by_the_key_given(release: Release) -> None:
    signed_release(release)
    other = derive_keys(new_master_secret()).bundle().to_json()["signing_key"]
    line = refused("keyholder", "audit", "page", release.url, "--key", other)
    assert "is not signed by the key" in line
    line = refused("keyholder", "audit", "page", release.url, "--key", release.vault / "key-bundle.json",
                   "--fingerprint", "0000 " * 8)  # fmt: skip
    assert "fingerprint" in line


def test_sign_refuses_a_manifest_whose_page_pins_another_key(release: Release, tmp_path: Path) -> None:
    other = tmp_path / "other"
    (other / "b.json").parent.mkdir()
    (other / "b.json").write_text(json.dumps(derive_keys(new_master_secret()).bundle().to_json()))
    ok("intake", "keys", "add", "--data", other / "D", other / "b.json")
    ok("intake", "page", "manifest", "--data", other / "D", "--out", other / "M")
    before = (release.vault / "audit.log").read_bytes()
    line = refused("keyholder", "page", "sign", "--vault", release.vault, "--passphrase-file", release.passphrase,
                   other / "M", "--out", other / "S")  # fmt: skip
    assert "does not pin this vault's current signing key" in line
    assert not (other / "S").exists()
    assert (release.vault / "audit.log").read_bytes() == before  # refused before any unlock


def test_install_refuses_a_bad_signature_and_a_manifest_of_another_page(release: Release) -> None:
    ok("intake", "page", "manifest", "--data", release.data, "--out", release.root / "M")
    text = (release.root / "M").read_text()
    stranger = derive_keys(new_master_secret())
    (release.root / "forged").write_text(sign_page_manifest(text, stranger))
    line = refused("intake", "page", "install", "--data", release.data, release.root / "forged")
    assert "is not signed by the ministry key this intake pins" in line
    release.sign(release.root / "M", release.root / "S")
    good = (release.root / "S").read_bytes()
    (release.root / "flipped").write_bytes(good.replace(b"/assets/seal.js", b"/assets/seal.jz"))
    refused("intake", "page", "install", "--data", release.data, release.root / "flipped")
    (release.root / "binary").write_bytes(b"\xff\xfe" + good)
    refused("intake", "page", "install", "--data", release.data, release.root / "binary")
    assert not (release.data / "static-manifest.sig").exists()
    assert fetch(release.url + SIG)[0] == 404


def test_install_refuses_a_signed_manifest_that_lists_other_files_than_are_served(release: Release) -> None:
    ok("intake", "page", "manifest", "--data", release.data, "--out", release.root / "M")
    files = parse_page_manifest((release.root / "M").read_text())
    files["/assets/seal.js"] = "0" * 64
    (release.root / "M2").write_text(page_manifest_text(files))
    release.sign(release.root / "M2", release.root / "S2")  # the ministry signs what it was given
    line = refused("intake", "page", "install", "--data", release.data, release.root / "S2")
    assert "/assets/seal.js served here differs from the signed manifest" in line
    assert not (release.data / "static-manifest.sig").exists()


def test_sign_after_a_stopped_rotation_says_so_and_refuses_a_page_that_pins_the_old_key(release: Release) -> None:
    # The manifest is made while the old key is current; `keyholder rotate` is then stopped
    # after logging the rotation but before the new bundle became current.
    ok("intake", "page", "manifest", "--data", release.data, "--out", release.root / "M")
    new_pp = release.root / "P2"
    new_pp.write_text("the next epoch's passphrase\n")
    old_bundle = (release.vault / "key-bundle.json").read_bytes()
    ok("keyholder", "rotate", "--vault", release.vault, "--passphrase-file", release.passphrase,
       "--new-passphrase-file", new_pp)  # fmt: skip
    new_kid = json.loads((release.vault / "key-bundle.json").read_bytes())["kid"]
    (release.vault / "key-bundle.json").write_bytes(old_bundle)
    (release.vault / "key-rotation.json").unlink()
    done = run("keyholder", "page", "sign", "--vault", release.vault, "--passphrase-file", new_pp,
               release.root / "M", "--out", release.root / "S")  # fmt: skip
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1, done.stdout + done.stderr
    assert lines[0].startswith(f"WARNING: finished the rotation to key {new_kid}")
    assert lines[1].startswith("keyholder: error: the page in M does not pin this vault's current signing key")
    assert len(lines) == 2 and not (release.root / "S").exists()
    assert "sign_page" not in [e["kind"] for e in release.audit_lines()]
