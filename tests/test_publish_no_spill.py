"""`keyholder publish` writes nothing but its outputs: the publication
directory (staged beside it, then renamed into place) and the vault's audit
log. No library spills decrypted records (or anything else) to a temporary
file: every system call of the command and its workers that could create or
change a file is traced (strace -f) and its path checked, with TMPDIR and
HOME pointing at paths that cannot hold a file (even for root), so a library
that wants a scratch file has nowhere it was told to put one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import submission, write_batch_file

import vault
from simulate.population import generate

pytestmark = pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace (.ci/run installs it)")

_WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND")
# Syscalls that create, change or remove a file, and where their path argument is.
# A line is `pid  call(args) = ret`, or `pid  call(args <unfinished ...>` when another
# process's call came in between (then counted whatever its outcome).
_PATH_CALLS = re.compile(
    r"^\d+\s+(?P<call>openat|open|creat|mkdir|mkdirat|rename|renameat2?|link|linkat|symlink|"
    r"symlinkat|unlink|unlinkat|rmdir|truncate|chmod|fchmodat)\((?P<args>.*?)(?:\)\s+=\s+(?P<ret>-?\d+)|\s*<unfinished)"
)


def _run_traced(trace: Path, args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / args[0]
    calls = "openat,open,creat,mkdir,mkdirat,rename,renameat,renameat2,link,linkat,symlink,symlinkat,unlink,unlinkat,rmdir,truncate,chmod,fchmodat"
    cmd = ["strace", "-f", "-qq", "-s", "4096", "-e", f"trace={calls}", "-o", str(trace), str(exe), *args[1:]]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=300, check=False)


def _written_paths(trace: Path, cwd: Path) -> set[str]:
    """Paths the traced processes created, opened for writing, renamed or removed (successfully)."""
    out = set()
    for line in trace.read_text().splitlines():
        m = _PATH_CALLS.match(line)
        if not m or (m["ret"] or "").startswith("-"):
            continue
        call, arg_text = m["call"], m["args"]
        if call in ("openat", "open") and not any(f in arg_text for f in _WRITE_FLAGS):
            continue
        for path in re.findall(r'"((?:[^"\\]|\\.)*)"', arg_text):
            out.add(os.path.normpath(path if path.startswith("/") else str(cwd / path)))
    return out


@pytest.mark.parametrize("noise", [[], ["--epsilon", "1.0"]], ids=["suppression", "differential-privacy"])
def test_publish_writes_only_its_outputs(tmp_path, vault_dir, noise):
    pk = vault.load_bundle(json.loads((vault_dir / "key-bundle.json").read_text())).public_key
    subs = generate(400, seed=5).submissions
    envs = [vault.seal(json.dumps(s, ensure_ascii=False).encode("utf-8"), pk).canonical() for s in subs]
    envs.append(vault.seal(submission(), pk).canonical())
    write_batch_file(tmp_path / "b", envs)
    env = {**os.environ, "DVR_INSECURE_FAST_KDF": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    assert (
        subprocess.run(
            [str(Path(sys.executable).parent / "keyholder"), "import", "--vault", str(vault_dir), str(tmp_path / "b")],
            env=env,
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    env.update(TMPDIR=str(blocker / "tmp"), HOME=str(blocker / "home"), XDG_CACHE_HOME=str(blocker / "cache"))
    # matplotlib keeps a cache of the system's fonts (no record data) in its config dir; given
    # none it can write, it would make a temporary one, which the check below would catch.
    fonts = tmp_path / "mpl"
    fonts.mkdir()
    env["MPLCONFIGDIR"] = str(fonts)
    store = hashlib.sha256((vault_dir / "envelopes.sqlite").read_bytes()).hexdigest()
    work = tmp_path / "cwd"
    work.mkdir()
    out = tmp_path / "pub" / "O"
    trace = tmp_path / "trace"
    proc = _run_traced(
        trace,
        [
            "keyholder",
            "publish",
            "--vault",
            str(vault_dir),
            "--passphrase-file",
            str(tmp_path / "pp"),
            "--out",
            str(out),
            *noise,
        ],
        env,
        work,
    )
    assert proc.returncode == 0, proc.stderr
    aggregates = json.loads((out / "aggregates.json").read_text())
    assert aggregates["tables"]  # a publication with breakdowns (the solver and the charts ran)
    assert aggregates["disclosure"]["epsilon"] == (1.0 if noise else None)  # and OpenDP, when asked
    written = _written_paths(trace, work)
    allowed_dirs = (str(out.parent) + "/", str(fonts) + "/")
    # The vault's own files: the audit log and its signed head (replaced atomically), and the
    # envelope store (ciphertext), which SQLite opens with its WAL and shared-memory index.
    vault_files = ["audit.log", "audit.head", "envelopes.sqlite", "envelopes.sqlite-wal", "envelopes.sqlite-shm"]
    allowed = {str(out), str(out.parent), str(fonts), "/dev/null", "/dev/tty"} | {
        str(vault_dir / f) for f in vault_files
    }
    staged_head = re.compile(re.escape(str(vault_dir)) + r"/\.audit\.head\.\w+\.partial")
    stray = sorted(
        p
        for p in written
        if p not in allowed
        and not p.startswith(allowed_dirs)
        and not p.startswith("/dev/shm/")  # the workers' semaphores: memory, not disk
        and not staged_head.fullmatch(p)
    )
    assert stray == []
    assert {Path(p).name for p in written if p.startswith(str(fonts) + "/")} <= {
        f"{name}{lock}" for name in ("fontlist-v390.json", "fontlist-v3.11.0.json") for lock in ("", ".matplotlib-lock")
    }
    # The trace sees the writes that are allowed (else it would see nothing at all).
    assert str(vault_dir / "audit.log") in written
    assert any(p.startswith(str(out.parent) + "/.O.") and p.endswith("aggregates.json") for p in written)
    assert sorted(os.listdir(out.parent)) == ["O"]  # the staging directory is gone
    assert os.listdir(work) == []
    assert hashlib.sha256((vault_dir / "envelopes.sqlite").read_bytes()).hexdigest() == store
