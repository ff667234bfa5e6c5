"""A second, independent implementation of envelope version 2: hpke-js
(@hpke/core, @hpke/hybridkem-x-wing, @hpke/chacha20poly1305) under node,
driven by tests/node/xwing_envelopes.mjs, which is written from
docs/formats.md alone. It opens the hpke-pq draft's vector, and the vault
and the keyholder open the envelopes it seals. `.ci/run` installs the
packages (`npm ci` in tests/node); they are never served to the page."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from support import VALID_RECORD, submission
from test_ceremony_cli import keyholder
from test_keys_v2 import PEOPLE, export_import, install

import vault
from intake import IntakeConfig, create_app
from vault.envelope import BUCKETS, CT_LENGTHS_V2

NODE_DIR = Path(__file__).parent / "node"
VECTOR = json.loads((Path(__file__).parent / "vectors" / "hpke-pq-mlkem768-x25519-a0.json").read_text())
KEY = vault.derive_keys(b"\x5a" * 32, 2)


def node(request: dict[str, Any]) -> Any:
    if shutil.which("node") is None or not (NODE_DIR / "node_modules" / "@hpke" / "hybridkem-x-wing").is_dir():
        pytest.fail("node or its packages are missing: run `npm ci --prefix tests/node` (as .ci/run does)")
    proc = subprocess.run(  # noqa: S603 - a fixed script of this repository
        ["node", str(NODE_DIR / "xwing_envelopes.mjs")],  # noqa: S607 - node from PATH, as .ci/run installs it
        input=json.dumps(request).encode(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout)


def test_the_second_implementation_opens_the_specification_vector() -> None:
    """So it is a correct X-Wing HPKE on its own, not merely one that agrees with the vault."""
    answer = node({"op": "vector", "vector": VECTOR})
    assert answer == {"pk": VECTOR["pkRm"], "pt": VECTOR["pt"]}


def test_envelopes_sealed_by_hpke_js_open_in_the_vault() -> None:
    sizes = [0, 250, 500, 1000, 2000, 4000, 8000]  # two bytes each: every bucket
    submissions = [{"schema": "dvr-registration/1", "lang": "sq", "record": {"note": "ë" * n}} for n in sizes]
    envelopes = node({"op": "seal", "bundle": KEY.bundle().to_json(), "submissions": submissions})["envelopes"]
    assert len(envelopes) == len(sizes)
    for env_obj, sub in zip(envelopes, submissions, strict=True):
        env = vault.parse_envelope(env_obj, {KEY.kid})
        assert env.format == "dvr-envelope/2" and len(env.ct) in CT_LENGTHS_V2
        assert json.loads(vault.open_envelope(env, KEY)) == sub
        text = json.dumps(sub, separators=(",", ":"), ensure_ascii=False).encode()
        assert len(env.ct) == next(b for b in BUCKETS if len(text) + 1 <= b) + 1120 + 16


def test_two_envelopes_of_the_same_submission_differ() -> None:
    sub = {"schema": "dvr-registration/1", "lang": "sq", "record": {}}
    a, b = node({"op": "seal", "bundle": KEY.bundle().to_json(), "submissions": [sub, sub]})["envelopes"]
    assert a["ct"] != b["ct"] and a["ct"][:1500] != b["ct"][:1500]  # a fresh encapsulation each time


def test_the_keyholder_publishes_envelopes_sealed_by_hpke_js(tmp_path: Path) -> None:
    (tmp_path / "pp").write_text("a passphrase for node\n")
    assert keyholder("init", "--vault", tmp_path / "V", "--passphrase-file", tmp_path / "pp").exit_code == 0
    install(tmp_path / "D", tmp_path / "V")
    bundle = json.loads((tmp_path / "V" / "key-bundle.json").read_text())
    subs = [json.loads(submission({**VALID_RECORD, **PEOPLE[i]})) for i in range(12)]
    envelopes = node({"op": "seal", "bundle": bundle, "submissions": subs})["envelopes"]
    app = create_app(IntakeConfig(data_dir=tmp_path / "D"))
    try:
        client = app.test_client()
        for env in envelopes:
            response = client.post("/api/v1/submissions", json=env)
            assert response.status_code == 201, response.get_json()
    finally:
        app.extensions["dvr_store"].close()
    export_import(tmp_path / "D", tmp_path / "V", tmp_path / "b1")
    published = keyholder(
        "publish", "--vault", tmp_path / "V", "--passphrase-file", tmp_path / "pp", "--out", tmp_path / "O"
    )
    assert published.exit_code == 0, published.output
    assert "12 envelopes, 12 opened, 0 failed" in published.output
    assert json.loads((tmp_path / "O" / "aggregates.json").read_text())["registrants"] == 12
