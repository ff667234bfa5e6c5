"""The registrant code of intake/static/registrant.js and control.js (docs/formats.md 12.1),
run under node: any single changed symbol and any swap of two neighbouring
different symbols is refused; a code reads back to its secret whatever its
case, hyphens and I/L/O look-alikes; and the key and id it derives are the
ones the keyholder checks (pyca HKDF and hashlib here)."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

STATIC = Path(__file__).parent.parent / "intake" / "static"
MODULE = (STATIC / "registrant.js").as_uri()
CONTROL = (STATIC / "control.js").as_uri()
DIGITS = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CHECKS = DIGITS + "*~$=U"


def node(cases: list[dict[str, Any]]) -> list[Any]:
    """Run each case in one node process: {"secret": hex} formats and derives,
    {"code": text} parses (the secret's hex, or the error's code)."""
    if shutil.which("node") is None:
        pytest.fail("node is missing (.ci/run installs it)")
    script = f"""
import {{ readFileSync }} from "node:fs";
import {{ formatCode, deriveControl }} from "{MODULE}";
import {{ parseCode }} from "{CONTROL}";
const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const out = [];
for (const c of JSON.parse(readFileSync(0, "utf8"))) {{
  if (c.secret) {{
    const secret = Uint8Array.from(c.secret.match(/../g), (h) => parseInt(h, 16));
    out.push({{ code: formatCode(secret), ...(await deriveControl(secret)) }});
  }} else {{
    try {{ out.push(hex(parseCode(c.code))); }} catch (e) {{ out.push({{ error: e.code }}); }}
  }}
}}
console.log(JSON.stringify(out));
"""
    proc = subprocess.run(  # noqa: S603 - node on this repository's own module
        ["node", "--input-type=module", "-e", script],  # noqa: S607 - node from PATH, as .ci/run installs it
        input=json.dumps(cases).encode(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def b64u(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


secrets = st.binary(min_size=10, max_size=10)


@settings(max_examples=8, deadline=None)
@given(
    st.lists(st.tuples(secrets, st.integers(0, 16), st.integers(1, 36), st.integers(0, 15)), min_size=20, max_size=40)
)
def test_a_single_typo_or_a_neighbour_swap_is_refused(cases: list[tuple[bytes, int, int, int]]) -> None:
    made = node([{"secret": s.hex()} for s, *_ in cases])
    typos: list[dict[str, str]] = []
    for (_secret, where, shift, swap_at), out in zip(cases, made, strict=True):
        plain = out["code"].replace("-", "")
        alphabet = CHECKS if where == 16 else DIGITS
        changed = alphabet[(alphabet.index(plain[where]) + 1 + shift % (len(alphabet) - 1)) % len(alphabet)]
        typos.append({"code": plain[:where] + changed + plain[where + 1 :]})
        if plain[swap_at] != plain[swap_at + 1]:
            typos.append({"code": plain[:swap_at] + plain[swap_at + 1] + plain[swap_at] + plain[swap_at + 2 :]})
    for typo, result in zip(typos, node(typos), strict=True):
        assert isinstance(result, dict) and result["error"] in ("code_check", "code_form"), typo


@settings(max_examples=5, deadline=None)
@given(st.lists(secrets, min_size=10, max_size=20))
def test_a_code_reads_back_and_derives_what_the_keyholder_checks(batch: list[bytes]) -> None:
    made = node([{"secret": s.hex()} for s in batch])
    typed: list[dict[str, str]] = []
    for secret, out in zip(batch, made, strict=True):
        assert len(out["code"]) == 21 and out["code"].count("-") == 4
        key = HKDF(hashes.SHA256(), 32, salt=None, info=b"dvr-registrant/2 key").derive(secret)
        assert out["key"] == b64u(key) and out["id"] == b64u(hashlib.sha256(key).digest())
        loose = out["code"].lower().replace("1", "l").replace("0", "O").replace("-", " ")
        typed += [{"code": out["code"]}, {"code": loose}]
    back = node(typed)
    assert back[0::2] == back[1::2] == [s.hex() for s in batch]


def test_codes_of_the_wrong_length_or_with_foreign_symbols_are_refused() -> None:
    out = node([{"code": "ABCD-EFGH"}, {"code": "ABCD-EFGH-JKMN-PQRS-TU"}, {"code": "ABCD-EFGH-JKMN-PQRU-0"}])
    assert out == [{"error": "code_form"}] * 3
