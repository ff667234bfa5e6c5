"""The keyholder's offline bundle (scripts/build-offline-bundle, deploy/offline/install.sh):
built once from this commit, installed into a fresh virtual environment in a network
namespace with no network, where `keyholder init`, `import` and `publish` run on a batch;
and a bundle with one wheel changed is refused, by its list or by pip's hashes, with one
line and nothing installed.

Building downloads the keyholder's wheels (about 160 MB; pip's cache serves later runs)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import VALID_RECORD, submission, write_batch_file

import vault

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow

# Reached by nothing: if anything in the install still tried an index, it would fail here.
NO_NETWORK_ENV = {
    "PIP_NO_INDEX": "1",
    "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
    "http_proxy": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
}


def _can_unshare() -> bool:
    try:
        return subprocess.run(["unshare", "-rn", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def offline(*args: str | Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run a command as on the workstation: in a new network namespace (no interface but a
    loopback that is down), the index and proxies pointing at nothing, and none of this
    checkout on the Python path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON"))} | NO_NETWORK_ENV
    # The workstation's own Python (the one the wheels were chosen for), not this venv's.
    env["PYTHON"] = str(BASE_PYTHON)
    env["PATH"] = f"{BASE_PYTHON.parent}:/usr/bin:/bin"
    prefix = ["unshare", "-rn"] if UNSHARE else []
    return subprocess.run([*prefix, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env, cwd="/")


UNSHARE = _can_unshare()
BASE_PYTHON = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"


def build(out: Path, *extra: str | Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PYTHON": sys.executable}
    return subprocess.run(
        ["bash", ROOT / "scripts" / "build-offline-bundle", out, *map(str, extra)],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )


@pytest.fixture(scope="module")
def signing_key(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An Ed25519 key pair in PEM, standing in for the ministry's release key."""
    d = tmp_path_factory.mktemp("release-key")
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", d / "key.pem"], check=True)
    subprocess.run(["openssl", "pkey", "-in", d / "key.pem", "-pubout", "-out", d / "pub.pem"], check=True)
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", d / "other.pem"], check=True)
    subprocess.run(["openssl", "pkey", "-in", d / "other.pem", "-pubout", "-out", d / "other-pub.pem"], check=True)
    return {"key": d / "key.pem", "pub": d / "pub.pem", "other-pub": d / "other-pub.pem"}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory, signing_key: dict[str, Path]) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "dvr-keyholder"
    started = time.monotonic()
    proc = build(out, "--sign-key", signing_key["key"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    print(f"bundle built in {time.monotonic() - started:.1f} s: {proc.stdout.strip()}")
    return out


def copy_of(bundle: Path, dest: Path) -> Path:
    """A copy to tamper with: hard links, so that 160 MB is not copied for each test
    (a file about to be changed is replaced by its own copy first)."""
    subprocess.run(["cp", "-al", bundle, dest], check=True)
    return dest


def change_a_wheel(bundle: Path) -> Path:
    wheel = next(bundle.glob("wheels/tqdm-*.whl"))
    data = bytearray(wheel.read_bytes())
    data[len(data) // 2] ^= 0x01
    wheel.unlink()
    wheel.write_bytes(bytes(data))
    return wheel


def rewrite_sums(bundle: Path) -> None:
    """What someone who changed a wheel would do next: list the new hash."""
    lines = []
    for line in (bundle / "SHA256SUMS").read_text().splitlines():
        name = line.split("  ", 1)[1]
        digest = subprocess.run(["sha256sum", bundle / name], capture_output=True, text=True, check=True)
        lines.append(f"{digest.stdout.split()[0]}  {name}")
    (bundle / "SHA256SUMS").unlink()
    (bundle / "SHA256SUMS").write_text("\n".join(lines) + "\n")


def test_the_bundle_holds_a_hashed_list_of_every_file_and_a_pin_per_wheel(bundle: Path):
    listed = {line.split("  ", 1)[1] for line in (bundle / "SHA256SUMS").read_text().splitlines()}
    files = {str(p.relative_to(bundle)) for p in bundle.rglob("*") if p.is_file()}
    assert files - listed == {"SHA256SUMS", "SHA256SUMS.sig"}
    assert {"install.sh", "requirements.txt"} <= listed
    wheels = sorted(p.name for p in (bundle / "wheels").iterdir())
    assert all(w.endswith(".whl") for w in wheels)
    names = {w.split("-")[0].lower().replace("_", "-") for w in wheels}
    assert {"diaspora-registry", "numpy", "pandas", "scipy", "matplotlib", "opendp", "highspy"} <= names
    assert not names & {"gunicorn", "gevent", "flask", "werkzeug", "psycopg", "altcha"}
    reqs = (bundle / "requirements.txt").read_text()
    pins = [line for line in reqs.splitlines() if line and not line[0].isspace() and not line.startswith("#")]
    assert len(pins) == len(wheels)
    assert reqs.count("--hash=sha256:") >= len(wheels)


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare (util-linux)")
def test_the_bundle_installs_and_the_keyholder_works_with_no_network(
    bundle: Path, signing_key: dict[str, Path], tmp_path: Path
):
    venv = tmp_path / "workstation"
    started = time.monotonic()
    proc = offline(bundle / "install.sh", "--pubkey", signing_key["pub"], venv)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    print(f"installed offline (unshare -n: {UNSHARE}) in {time.monotonic() - started:.1f} s")
    assert f"installed: the keyholder into {venv}" in proc.stdout
    size = subprocess.run(["du", "-sm", venv], capture_output=True, text=True, check=True).stdout.split()[0]
    print(f"workstation venv: {size} MB")

    # Nothing of the web server came with it.
    probe = (
        "import importlib.util as u; print([m for m in ('gunicorn', 'gevent', 'flask', 'psycopg') if u.find_spec(m)])"
    )
    assert offline(venv / "bin" / "python", "-c", probe).stdout.strip() == "[]"
    # The installed code is the wheel's, not this checkout's.
    where = offline(venv / "bin" / "python", "-c", "import keyholder_cli; print(keyholder_cli.__file__)")
    assert where.stdout.startswith(str(venv)), where.stdout + where.stderr

    keyholder = venv / "bin" / "keyholder"
    helped = offline(keyholder, "--help")
    assert helped.returncode == 0 and "publish" in helped.stdout, helped.stderr
    (tmp_path / "pp").write_text("correct horse battery\n")
    vault_dir = tmp_path / "V"
    made = offline(keyholder, "init", "--vault", vault_dir, "--passphrase-file", tmp_path / "pp")
    assert made.returncode == 0, made.stderr
    pk = vault.load_bundle(json.loads((vault_dir / "key-bundle.json").read_text())).public_key
    people = [
        {**VALID_RECORD, "given_name": name, "birth_date": born, "residence_country": "IS"}
        for name, born in [("Arbër", "1951-02-03"), ("Drita", "1964-05-06"), ("Valbona", "1987-08-09")]
    ]
    write_batch_file(tmp_path / "batch", [vault.seal(submission(p), pk).canonical() for p in people])
    imported = offline(keyholder, "import", "--vault", vault_dir, tmp_path / "batch")
    assert imported.returncode == 0, imported.stderr
    out = tmp_path / "publication"
    published = offline(keyholder, "publish", "--vault", vault_dir, "--passphrase-file", tmp_path / "pp", "--out", out)
    assert published.returncode == 0, published.stderr
    assert json.loads((out / "aggregates.json").read_text())["registrants"] == 3
    assert sorted(p.name for p in out.iterdir()) == ["aggregates.json", "manifest.json", "report.html"]


def refused(proc: subprocess.CompletedProcess[str], venv: Path) -> str:
    """The install stopped with status 1 and one line, and left no environment behind."""
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not venv.exists()
    return lines[0]


def test_a_changed_wheel_is_refused_by_the_list(bundle: Path, tmp_path: Path):
    b = copy_of(bundle, tmp_path / "b")
    wheel = change_a_wheel(b)
    venv = tmp_path / "workstation"
    line = refused(offline(b / "install.sh", "--unsigned", venv), venv)
    assert line == f"install.sh: refused: wheels/{wheel.name} does not match SHA256SUMS; nothing installed"


def test_a_changed_wheel_with_a_rewritten_list_is_refused_by_the_signature_and_by_pip(
    bundle: Path, signing_key: dict[str, Path], tmp_path: Path
):
    b = copy_of(bundle, tmp_path / "b")
    wheel = change_a_wheel(b)
    rewrite_sums(b)
    venv = tmp_path / "workstation"
    line = refused(offline(b / "install.sh", "--pubkey", signing_key["pub"], venv), venv)
    assert line == f"install.sh: refused: SHA256SUMS.sig does not verify with {signing_key['pub']}; nothing installed"
    # Without the signature check, pip's own hashes still catch it.
    line = refused(offline(b / "install.sh", "--unsigned", venv, timeout=600), venv)
    assert line == f"install.sh: refused: {wheel.name} does not match its hash in requirements.txt; nothing installed"


def test_the_wrong_key_an_unlisted_file_and_a_missing_choice_are_refused(
    bundle: Path, signing_key: dict[str, Path], tmp_path: Path
):
    venv = tmp_path / "workstation"
    line = refused(offline(bundle / "install.sh", "--pubkey", signing_key["other-pub"], venv), venv)
    assert line.startswith("install.sh: refused: SHA256SUMS.sig does not verify with ")
    line = refused(offline(bundle / "install.sh", venv), venv)
    assert "--pubkey KEY.pem" in line and "--unsigned" in line
    b = copy_of(bundle, tmp_path / "b")
    (b / "wheels" / "extra-1.0-py3-none-any.whl").write_bytes(b"not listed")
    line = refused(offline(b / "install.sh", "--unsigned", venv), venv)
    assert (
        line == "install.sh: refused: wheels/extra-1.0-py3-none-any.whl is not listed in SHA256SUMS; nothing installed"
    )


def test_two_builds_of_one_commit_are_the_same_bytes(bundle: Path, signing_key: dict[str, Path], tmp_path: Path):
    """Same commit, same lock: the same SHA256SUMS, so the signature made once is good for
    a rebuild, and anyone can rebuild the bundle to check it."""
    again = tmp_path / "dvr-keyholder"
    started = time.monotonic()
    proc = build(again, "--sign-key", signing_key["key"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    print(f"second build in {time.monotonic() - started:.1f} s")
    assert (again / "SHA256SUMS").read_bytes() == (bundle / "SHA256SUMS").read_bytes()
    assert (again / "SHA256SUMS.sig").read_bytes() == (bundle / "SHA256SUMS.sig").read_bytes()
