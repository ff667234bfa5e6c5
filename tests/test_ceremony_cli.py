"""Key custody through the command line: `keyholder ceremony`, quorum unlock
for `publish`, `rotate`, `audit verify`, and `intake keys add`, with every
refusal one clear line that changes nothing and never shows a share word."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
import rfc8785
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from shamir_mnemonic.wordlist import WORDLIST
from support import VALID_RECORD, full_disk_for, submission

import vault
from intake import IntakeConfig, create_app
from intake.cli import main as intake_main
from keyholder_cli.commands import main as keyholder_main

OFFICERS = ["Alice (director)", "Bekim", "Carol", "Drita", "Edon"]


def b64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def keyholder(*args, input: str | None = None):  # noqa: A002 - click's name
    return CliRunner().invoke(keyholder_main, [str(a) for a in args], input=input)


def intake(*args):
    return CliRunner().invoke(intake_main, [str(a) for a in args])


def one_line_error(result) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def ceremony(root: Path, name: str = "V", officers: int = 5, threshold: int = 3) -> tuple[Path, list[Path]]:
    args = ["ceremony", "--vault", root / name, "--officers", officers, "--threshold", threshold]
    args += ["--shares-out", root / f"{name}-shares"]
    for officer in OFFICERS[:officers]:
        args += ["--officer-name", officer]
    result = keyholder(*args)
    assert result.exit_code == 0, result.output
    assert "WARNING" in result.stderr
    return root / name, sorted((root / f"{name}-shares").glob("*.txt"))


def deliver(data: Path, vault_dir: Path, out: Path, people: range) -> None:
    """Seal registrations in an intake (its Flask app, in process), export a batch, import it."""
    app = create_app(IntakeConfig(data_dir=data))
    try:
        client = app.test_client()
        ring = client.get("/api/v1/keys").get_json()
        current = next(b for b in ring["keys"] if b["kid"] == ring["current"])
        for i in people:
            env = vault.seal(submission({**VALID_RECORD, "given_name": f"Person{i}"}), b64u(current["public_key"]))
            assert (
                client.post("/api/v1/submissions", data=env.canonical(), content_type="application/json").status_code
                == 201
            )
    finally:
        app.extensions["dvr_store"].close()
    assert intake("export", "--data", data, "--out", out).exit_code == 0
    result = keyholder("import", "--vault", vault_dir, out)
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """A 3-of-5 ceremony, its bundle installed in an intake, 12 registrations imported."""
    root = tmp_path_factory.mktemp("pristine")
    vault_dir, _shares = ceremony(root)
    added = intake("keys", "add", "--data", root / "D", vault_dir / "key-bundle.json")
    assert added.exit_code == 0, added.output
    deliver(root / "D", vault_dir, root / "b1", range(12))
    return root


@pytest.fixture
def world(pristine, tmp_path) -> Path:
    shutil.copytree(pristine, tmp_path / "w")
    return tmp_path / "w"


def shares(world: Path, *numbers: int) -> list[str]:
    files = sorted((world / "V-shares").glob("*.txt"))
    return [x for n in numbers for x in ("--share-file", files[n - 1])]


def vault_state(vault_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(vault_dir)): p.read_bytes() for p in sorted(vault_dir.rglob("*")) if p.is_file()}


def only_failed_unlocks_logged(vault_dir: Path, before: dict[str, bytes]) -> bool:
    """The vault is as it was `before`, but for unsigned `unlock_failed`
    entries appended to its audit log (issue 14: failed unlocks are logged)."""
    after = vault_state(vault_dir)
    old, new = before.pop("audit.log"), after.pop("audit.log")
    added = [json.loads(line) for line in new[len(old) :].splitlines()]
    return (
        after == before
        and new.startswith(old)
        and bool(added)
        and all(e["kind"] == "unlock_failed" and e["sig"] is None for e in added)
    )


def test_the_bundle_verifies_with_an_independent_ed25519(world):
    bundle = json.loads((world / "V" / "key-bundle.json").read_text())
    unsigned = {k: v for k, v in bundle.items() if k != "signature"}
    Ed25519PublicKey.from_public_bytes(b64u(bundle["signing_key"])).verify(
        b64u(bundle["signature"]), rfc8785.dumps(unsigned)
    )
    epoch = world / "V" / "epochs" / bundle["kid"]
    assert json.loads((epoch / "bundle.json").read_text()) == bundle
    custody = json.loads((epoch / "custody.json").read_text())
    assert (custody["officers"], custody["threshold"], custody["officer_names"]) == (5, 3, OFFICERS)
    share_files = sorted((world / "V-shares").glob("*.txt"))
    assert len(share_files) == 5 and all(p.stat().st_mode & 0o077 == 0 for p in share_files)
    assert {vault.shares.describe_share(p.read_text().splitlines()[-1]).identifier for p in share_files} == {
        custody["slip39_identifier"]
    }
    texts = [p.read_text().splitlines()[-1].split() for p in share_files]
    windows = {" ".join(words[i : i + 3]) for words in texts for i in range(len(words) - 2)}
    for name, data in vault_state(world / "V").items():  # no share content anywhere in the vault
        if name.endswith((".json", ".log", ".head")):
            assert not any(w in data.decode() for w in windows), name
    first = json.loads((world / "V" / "audit.log").read_text().splitlines()[0])
    assert first["kind"] == "ceremony" and first["details"]["officer_names"] == OFFICERS
    assert first["details"]["signing_key"] == bundle["signing_key"]


def test_publish_with_three_shares_succeeds_and_the_auditor_can_check_it(world):
    result = keyholder("publish", "--vault", world / "V", *shares(world, 1, 3, 5), "--out", world / "O")
    assert result.exit_code == 0, result.output
    assert "12 envelopes, 12 opened" in result.output
    manifest = json.loads((world / "O" / "manifest.json").read_text())
    bundle = json.loads((world / "V" / "key-bundle.json").read_text())
    unsigned = {k: v for k, v in manifest.items() if k != "signature"}
    Ed25519PublicKey.from_public_bytes(b64u(bundle["signing_key"])).verify(
        b64u(manifest["signature"]), rfc8785.dumps(unsigned)
    )
    assert set(manifest["files"]) == {p.name for p in (world / "O").iterdir()} - {"manifest.json"}
    entries = [json.loads(x) for x in (world / "V" / "audit.log").read_text().splitlines()]
    kinds = [e["kind"] for e in entries]
    assert kinds[0] == "ceremony" and "import" in kinds and kinds[-2:] == ["unlock", "publish"]
    assert entries[-2]["details"]["shares"] == [1, 3, 5] and entries[-1]["details"]["counts"]["opened"] == 12
    assert (
        entries[-1]["details"]["files"]["manifest.json"]
        == hashlib.sha256((world / "O" / "manifest.json").read_bytes()).hexdigest()
    )
    audit = keyholder("audit", "verify", "--vault", world / "V", "--publication", world / "O")
    assert audit.exit_code == 0, audit.output
    assert "shares 1 (Alice (director)), 3 (Carol), 5 (Edon)" in audit.output
    assert f"every file matches audit entry {len(entries)}" in audit.output
    copies = keyholder(
        "audit",
        "verify",
        "--log",
        world / "V" / "audit.log",
        "--key-bundle",
        world / "V" / "key-bundle.json",
        "--head",
        world / "V" / "audit.head",
        "--publication",
        world / "O",
        "--strict",
    )
    assert copies.exit_code == 0, copies.output


def test_two_shares_refuse_in_one_line_and_change_nothing(world):
    before = vault_state(world / "V")
    line = one_line_error(keyholder("publish", "--vault", world / "V", *shares(world, 2, 4), "--out", world / "O"))
    assert "2 shares given, but key" in line and "needs 3" in line
    assert not (world / "O").exists()
    assert only_failed_unlocks_logged(world / "V", before)


def test_a_mistyped_word_names_the_share_file_and_shows_no_words(world):
    files = sorted((world / "V-shares").glob("*.txt"))
    words = files[1].read_text().splitlines()[-1].split()
    for i, wrong in ((7, next(w for w in WORDLIST if w != words[7])), (3, "banana")):
        typo = words[:]
        typo[i] = wrong
        bad = world / "typed-share.txt"
        bad.write_text(" ".join(typo) + "\n")
        before = vault_state(world / "V")
        result = keyholder(
            "publish",
            "--vault",
            world / "V",
            "--share-file",
            files[0],
            "--share-file",
            bad,
            "--share-file",
            files[2],
            "--out",
            world / "O",
        )
        line = one_line_error(result)
        assert "typed-share.txt" in line and ("does not check out" in line or "word 4" in line)
        assert not any(" ".join(typo[k : k + 3]) in line for k in range(len(typo) - 2))
        assert not (world / "O").exists() and only_failed_unlocks_logged(world / "V", before)


def test_shares_from_another_ceremony_are_refused(world):
    _other, other_files = ceremony(world, "X", officers=3, threshold=2)
    before = vault_state(world / "V")
    mixed = ["--share-file", other_files[0], *shares(world, 2, 3)]
    line = one_line_error(keyholder("publish", "--vault", world / "V", *mixed, "--out", world / "O"))
    assert other_files[0].name in line and "another ceremony" in line
    alien = [x for f in other_files for x in ("--share-file", f)]
    line = one_line_error(keyholder("publish", "--vault", world / "V", *alien, "--out", world / "O"))
    assert "another ceremony" in line
    assert not (world / "O").exists() and only_failed_unlocks_logged(world / "V", before)


def test_shares_typed_at_the_prompt_unlock_and_are_never_echoed(world):
    files = sorted((world / "V-shares").glob("*.txt"))
    typed = [files[n].read_text().splitlines()[-1] for n in (4, 0, 1)]
    result = keyholder("publish", "--vault", world / "V", "--out", world / "O", input="\n".join(typed) + "\n")
    assert result.exit_code == 0, result.output
    assert not any(" ".join(share.split()[k : k + 3]) in result.output for share in typed for k in range(30))
    entry = json.loads((world / "V" / "audit.log").read_text().splitlines()[-2])
    assert entry["kind"] == "unlock" and entry["details"]["shares"] == [5, 1, 2]


def test_the_wrong_custody_mode_is_named(world, tmp_path):
    (tmp_path / "pp").write_text("a passphrase\n")
    line = one_line_error(
        keyholder("publish", "--vault", world / "V", "--passphrase-file", tmp_path / "pp", "--out", world / "O")
    )
    assert "--share-file" in line


def edits(log: bytes) -> dict[str, bytes]:
    lines = log.splitlines(keepends=True)
    forged = vault.auditlog.new_entry(
        vault.audit.verify_log(log).entries[-1], "publish", {}, vault.derive_keys(b"\x09" * 32)
    )
    edited = {
        "unlock entry edited": log.replace(b'"shares":[1,2,3]', b'"shares":[1,2,4]'),
        "publish entry edited": log.replace(b'"opened":12', b'"opened":13'),
        "unsigned import edited": log.replace(b'"new":12', b'"new":11'),
        "dropped entry 2": b"".join(lines[:1] + lines[2:]),
        "swapped 2 and 3": b"".join([lines[0], lines[2], lines[1], *lines[3:]]),
        "cut last entry": b"".join(lines[:-1]),
        "appended forgery": log + forged.line() + b"\n",
    }
    assert all(v != log for v in edited.values())
    return edited


@pytest.mark.parametrize(
    "edit",
    [
        "unlock entry edited",
        "publish entry edited",
        "unsigned import edited",
        "dropped entry 2",
        "swapped 2 and 3",
        "cut last entry",
        "appended forgery",
    ],
)
def test_audit_verify_fails_after_any_edit_of_the_log(world, edit):
    assert keyholder("publish", "--vault", world / "V", *shares(world, 1, 2, 3), "--out", world / "O").exit_code == 0
    log = world / "V" / "audit.log"
    assert keyholder("audit", "verify", "--vault", world / "V").exit_code == 0
    log.write_bytes(edits(log.read_bytes())[edit])
    line = one_line_error(keyholder("audit", "verify", "--vault", world / "V"))
    assert line.startswith("keyholder: error: audit log entry ")
    # The key cannot be used over a tampered log either.
    line = one_line_error(keyholder("publish", "--vault", world / "V", *shares(world, 1, 2, 3), "--out", world / "O2"))
    assert "audit log entry" in line and not (world / "O2").exists()


def test_an_edited_publication_file_is_named(world):
    assert keyholder("publish", "--vault", world / "V", *shares(world, 1, 2, 3), "--out", world / "O").exit_code == 0
    # (This world has fewer than min_cell registrants, so the publication is the count and the report.)
    with open(world / "O" / "report.html", "a") as fp:
        fp.write("<p>1000 people in XX</p>\n")
    line = one_line_error(keyholder("audit", "verify", "--vault", world / "V", "--publication", world / "O"))
    assert re.search(r"report\.html does not match the SHA-256 logged in audit entry \d+$", line)


def test_a_forged_unsigned_import_entry_is_never_signed_over(world):
    log = world / "V" / "audit.log"
    last = vault.audit.verify_log(log.read_bytes()).entries[-1]
    fake = vault.auditlog.new_entry(
        last,
        "import",
        {"batch": "x", "batch_sha256": "0" * 64, "first_seq": 13, "last_seq": 99, "new": 87, "repeated": 0},
        None,
    )
    log.write_bytes(log.read_bytes() + fake.line() + b"\n")
    verified = keyholder("audit", "verify", "--vault", world / "V")
    assert verified.exit_code == 0 and "not yet covered by a signature" in verified.output
    assert keyholder("audit", "verify", "--vault", world / "V", "--strict").exit_code == 1
    line = one_line_error(keyholder("publish", "--vault", world / "V", *shares(world, 1, 2, 3), "--out", world / "O"))
    assert f"audit log entry {fake.seq}:" in line and "matches no import" in line


def test_rotation_keeps_old_envelopes_open_and_the_intake_follows_it(world, tmp_path):
    old_bundle = json.loads((world / "V" / "key-bundle.json").read_text())
    result = keyholder(
        "rotate",
        "--vault",
        world / "V",
        *shares(world, 2, 4, 5),
        "--officers",
        3,
        "--threshold",
        2,
        "--shares-out",
        world / "N-shares",
    )
    assert result.exit_code == 0, result.output
    new_bundle = json.loads((world / "V" / "key-bundle.json").read_text())
    assert new_bundle["kid"] != old_bundle["kid"] and new_bundle["signing_key"] != old_bundle["signing_key"]
    line = one_line_error(intake("keys", "add", "--data", world / "D", world / "V" / "key-bundle.json"))
    assert "different ministry signing key" in line
    added = intake(
        "keys",
        "add",
        "--data",
        world / "D",
        world / "V" / "key-bundle.json",
        "--rotation",
        world / "V" / "key-rotation.json",
    )
    assert added.exit_code == 0, added.output
    ring = json.loads((world / "D" / "keys.json").read_text())
    assert ring["current"] == new_bundle["kid"] and [k["kid"] for k in ring["keys"]] == [
        old_bundle["kid"],
        new_bundle["kid"],
    ]
    deliver(world / "D", world / "V", world / "b2", range(12, 20))  # sealed to the new key

    new_files = sorted((world / "N-shares").glob("*.txt"))
    line = one_line_error(keyholder("publish", "--vault", world / "V", *shares(world, 1, 2, 3), "--out", world / "O"))
    assert "another ceremony" in line
    result = keyholder(
        "publish",
        "--vault",
        world / "V",
        "--share-file",
        new_files[0],
        "--share-file",
        new_files[2],
        "--out",
        world / "O",
    )
    assert result.exit_code == 0, result.output
    assert "20 envelopes, 20 opened, 0 failed" in result.output
    audit = keyholder("audit", "verify", "--vault", world / "V", "--publication", world / "O", "--strict")
    assert audit.exit_code == 0, audit.output
    assert f"key rotated from {old_bundle['kid']} to {new_bundle['kid']}" in audit.output
    # An auditor holding only the first bundle still follows the log to the new key.
    (tmp_path / "first.json").write_text(json.dumps(old_bundle))
    first = keyholder("audit", "verify", "--log", world / "V" / "audit.log", "--key-bundle", tmp_path / "first.json")
    assert first.exit_code == 0, first.output


def test_a_passphrase_vault_has_a_signed_log_too(tmp_path):
    (tmp_path / "pp").write_text("correct horse battery\n")
    assert keyholder("init", "--vault", tmp_path / "V", "--passphrase-file", tmp_path / "pp").exit_code == 0
    (tmp_path / "O").mkdir()
    assert (
        keyholder(
            "publish", "--vault", tmp_path / "V", "--passphrase-file", tmp_path / "pp", "--out", tmp_path / "O"
        ).exit_code
        == 0
    )
    audit = keyholder("audit", "verify", "--vault", tmp_path / "V", "--publication", tmp_path / "O")
    assert audit.exit_code == 0, audit.output
    assert "custody: passphrase key file" in audit.output and "the passphrase key file for `publish`" in audit.output
    files = [tmp_path / "V-shares" / "none.txt"]
    files[0].parent.mkdir()
    files[0].write_text("academic acid\n")
    line = one_line_error(
        keyholder("publish", "--vault", tmp_path / "V", "--share-file", files[0], "--out", tmp_path / "O2")
    )
    assert "--passphrase-file" in line


@pytest.mark.parametrize(("officers", "threshold", "out"), [(3, 4, "S"), (17, 2, "S"), (3, 1, "S"), (3, 2, "V/S")])
def test_impossible_quorums_and_shares_in_the_vault_are_refused(tmp_path, officers, threshold, out):
    result = keyholder(
        "ceremony",
        "--vault",
        tmp_path / "V",
        "--officers",
        officers,
        "--threshold",
        threshold,
        "--shares-out",
        tmp_path / out,
    )
    assert result.exit_code != 0
    assert not (tmp_path / "V").exists() and not (tmp_path / "S").exists()


def test_the_interactive_ceremony_shows_each_share_alone_and_checks_it(tmp_path, monkeypatch):
    import random

    from shamir_mnemonic import shamir

    import keyholder_cli.ceremony as ceremony_module

    master = bytes(range(100, 132))
    monkeypatch.setattr(ceremony_module, "new_master_secret", lambda: master)
    monkeypatch.setattr(shamir, "RANDOM_BYTES", random.Random(7).randbytes)  # noqa: S311 - a reproducible split for the test
    expected = vault.shares.split_secret(master, 2, 2).shares
    monkeypatch.setattr(shamir, "RANDOM_BYTES", random.Random(7).randbytes)  # noqa: S311 - a reproducible split for the test
    wrong = expected[1].split()
    wrong[2] = next(w for w in WORDLIST if w != wrong[2])
    answers = [
        "",
        "",
        expected[0],  # officer 1: ready, written down, typed back
        "",
        "",
        " ".join(wrong),
        "n",
        expected[1].upper(),  # officer 2: one word wrong, no re-show, then right
    ]
    result = keyholder(
        "ceremony",
        "--vault",
        tmp_path / "V",
        "--officers",
        2,
        "--threshold",
        2,
        "--officer-name",
        "Ana",
        "--officer-name",
        "Ben",
        input="\n".join(answers) + "\n",
    )
    assert result.exit_code == 0, result.output
    assert "word 3 differs" in result.output
    assert all(word in result.output for share in expected for word in share.split())  # each share was shown
    assert "Officer 1 of 2: Ana" in result.output and "Officer 2 of 2: Ben" in result.output
    assert not list(tmp_path.glob("**/*share*"))
    custody = json.loads(next((tmp_path / "V" / "epochs").glob("*/custody.json")).read_text())
    assert custody["slip39_identifier"] == vault.shares.describe_share(expected[0]).identifier


def test_an_officer_who_cannot_confirm_stops_the_ceremony(tmp_path):
    answers = ["", "", "wrong", "n", "wrong", "n", "wrong", "n"]
    result = keyholder(
        "ceremony", "--vault", tmp_path / "V", "--officers", 2, "--threshold", 2, input="\n".join(answers) + "\n"
    )
    assert result.exit_code == 1
    assert "could not confirm share 1" in result.stderr
    assert not (tmp_path / "V").exists()


def test_check_share_names_the_holder_and_logs_nothing(world):
    files = sorted((world / "V-shares").glob("*.txt"))
    before = vault_state(world / "V")
    result = keyholder("check-share", "--vault", world / "V", "--share-file", files[3])
    assert result.exit_code == 0, result.output
    assert "share 4 of 5 (Drita)" in result.output and "the current key" in result.output
    words = files[3].read_text().splitlines()[-1].split()
    words[20] = next(w for w in WORDLIST if w != words[20])
    (world / "bad.txt").write_text(" ".join(words))
    line = one_line_error(keyholder("check-share", "--vault", world / "V", "--share-file", world / "bad.txt"))
    assert "does not check out" in line
    assert vault_state(world / "V") == before


def test_a_passphrase_vault_rotates_to_shares_and_back(tmp_path):
    (tmp_path / "pp").write_text("correct horse battery\n")
    (tmp_path / "pp2").write_text("another long passphrase\n")
    assert keyholder("init", "--vault", tmp_path / "V", "--passphrase-file", tmp_path / "pp").exit_code == 0
    first = json.loads((tmp_path / "V" / "key-bundle.json").read_text())
    assert intake("keys", "add", "--data", tmp_path / "D", tmp_path / "V" / "key-bundle.json").exit_code == 0
    result = keyholder(
        "rotate",
        "--vault",
        tmp_path / "V",
        "--passphrase-file",
        tmp_path / "pp",
        "--officers",
        3,
        "--threshold",
        2,
        "--shares-out",
        tmp_path / "S",
    )
    assert result.exit_code == 0, result.output
    files = sorted((tmp_path / "S").glob("*.txt"))
    result = keyholder(
        "rotate",
        "--vault",
        tmp_path / "V",
        "--share-file",
        files[0],
        "--share-file",
        files[2],
        "--new-passphrase-file",
        tmp_path / "pp2",
    )
    assert result.exit_code == 0, result.output
    audit = keyholder("audit", "verify", "--vault", tmp_path / "V", "--strict")
    assert audit.exit_code == 0, audit.output
    assert [line.split()[2] for line in audit.output.splitlines()[1:4]] == ["init", "unlock", "rotation"]
    # The third epoch's passphrase opens all three epochs.
    (tmp_path / "O").mkdir()
    assert (
        keyholder(
            "publish", "--vault", tmp_path / "V", "--passphrase-file", tmp_path / "pp2", "--out", tmp_path / "O"
        ).exit_code
        == 0
    )
    unlock = [json.loads(x) for x in (tmp_path / "V" / "audit.log").read_text().splitlines()][-2]
    assert unlock["kind"] == "unlock" and len(unlock["details"]["epochs"]) == 3
    assert first["kid"] in unlock["details"]["epochs"]
    line = one_line_error(
        keyholder("publish", "--vault", tmp_path / "V", "--passphrase-file", tmp_path / "pp", "--out", tmp_path / "O2")
    )
    assert "wrong passphrase" in line


def test_the_intake_refuses_a_rotation_not_endorsed_by_its_pinned_key(world, tmp_path):
    mallory = vault.derive_keys(b"\x66" * 32)
    bundle = mallory.bundle()
    (tmp_path / "m.json").write_text(json.dumps(bundle.to_json()))
    self_endorsed = vault.custody.rotation_statement(vault.derive_keys(b"\x65" * 32), bundle)
    (tmp_path / "r.json").write_text(json.dumps(self_endorsed))
    line = one_line_error(
        intake("keys", "add", "--data", world / "D", tmp_path / "m.json", "--rotation", tmp_path / "r.json")
    )
    assert "not endorsed by an installed ministry key" in line
    unsigned = {k: v for k, v in bundle.to_json().items() if k not in ("signature", "signing_key")}
    (tmp_path / "u.json").write_text(json.dumps(unsigned))
    assert "not signed" in one_line_error(intake("keys", "add", "--data", world / "D", tmp_path / "u.json"))
    ring = json.loads((world / "D" / "keys.json").read_text())
    assert len(ring["keys"]) == 1 and "rotations" not in ring


def stopped_rotation(tmp_path: Path) -> tuple[Path, str, bytes]:
    """A passphrase vault whose rotation was logged but stopped before the new
    bundle became current (a full disk, a power cut): the vault's files as
    `rotate` leaves them at that moment. Returns the vault, the new kid and
    the new bundle's bytes."""
    (tmp_path / "pp").write_text("correct horse battery\n")
    (tmp_path / "pp2").write_text("a new passphrase for the new epoch\n")
    v = tmp_path / "V"
    assert keyholder("init", "--vault", v, "--passphrase-file", tmp_path / "pp").exit_code == 0
    old_bundle = (v / "key-bundle.json").read_bytes()
    rotated = keyholder(
        "rotate", "--vault", v, "--passphrase-file", tmp_path / "pp", "--new-passphrase-file", tmp_path / "pp2"
    )
    assert rotated.exit_code == 0, rotated.output
    new_bundle = (v / "key-bundle.json").read_bytes()
    (v / "key-bundle.json").write_bytes(old_bundle)
    (v / "key-rotation.json").unlink()
    return v, json.loads(new_bundle)["kid"], new_bundle


def test_a_stopped_rotation_is_finished_by_the_next_command(tmp_path):
    v, new_kid, new_bundle = stopped_rotation(tmp_path)
    result = keyholder("audit", "verify", "--vault", v)
    assert result.exit_code == 0, result.output
    assert f"WARNING: finished the rotation to key {new_kid}" in result.output
    assert (v / "key-bundle.json").read_bytes() == new_bundle
    assert json.loads((v / "key-rotation.json").read_text()) == json.loads(
        (v / "epochs" / new_kid / "rotation.json").read_text()
    )
    again = keyholder("audit", "verify", "--vault", v)
    assert again.exit_code == 0 and "WARNING" not in again.output
    assert f"current key {new_kid[:8]}" in again.output
    (tmp_path / "O").mkdir()
    published = keyholder("publish", "--vault", v, "--passphrase-file", tmp_path / "pp2", "--out", tmp_path / "O")
    assert published.exit_code == 0, published.output  # the new epoch's passphrase unlocks it


def test_rotate_run_again_after_a_stop_finishes_that_rotation_and_starts_none(tmp_path):
    v, new_kid, new_bundle = stopped_rotation(tmp_path)
    result = keyholder(
        "rotate", "--vault", v, "--passphrase-file", tmp_path / "pp", "--new-passphrase-file", tmp_path / "pp2"
    )
    assert result.exit_code == 0, result.output
    assert f"finished the rotation to key {new_kid}" in result.output and "no new rotation started" in result.output
    assert (v / "key-bundle.json").read_bytes() == new_bundle
    assert len(list((v / "epochs").iterdir())) == 2


def test_a_stopped_rotation_whose_epoch_files_were_altered_is_refused(tmp_path):
    v, new_kid, _ = stopped_rotation(tmp_path)
    (v / "epochs" / new_kid / "rotation.json").write_text("{}\n")
    before = (v / "key-bundle.json").read_bytes()
    line = one_line_error(keyholder("audit", "verify", "--vault", v))
    assert f"the log's current key is {new_kid}" in line
    assert (v / "key-bundle.json").read_bytes() == before and not (v / "key-rotation.json").exists()


def test_a_ceremony_stopped_by_a_full_disk_keeps_nothing_and_can_be_run_again(tmp_path, monkeypatch):
    full_disk_for(monkeypatch, lambda dest: dest.name == "key-bundle.json")  # the ceremony's last file
    args = ["ceremony", "--vault", tmp_path / "V", "--officers", 3, "--threshold", 2]
    result = keyholder(*args, "--shares-out", tmp_path / "S1")
    assert result.exit_code == 1 and "Traceback" not in result.output
    line = result.stderr.strip().splitlines()[-1]  # after the --shares-out warnings
    assert line.startswith("keyholder: error: could not write the new vault")
    assert line.endswith("nothing of it was kept")
    assert [p for p in (tmp_path / "V").rglob("*") if p.is_file()] == []
    monkeypatch.undo()
    v, shares = ceremony(tmp_path)  # the same directory, a new ceremony
    assert v == tmp_path / "V" and len(shares) == 5
    assert keyholder("audit", "verify", "--vault", v).exit_code == 0


def passphrase_vault(tmp_path: Path) -> Path:
    (tmp_path / "pp").write_text("correct horse battery\n")
    (tmp_path / "pp2").write_text("a new passphrase for the new epoch\n")
    assert keyholder("init", "--vault", tmp_path / "V", "--passphrase-file", tmp_path / "pp").exit_code == 0
    return tmp_path / "V"


def log_kinds(v: Path) -> list[str]:
    return [json.loads(line)["kind"] for line in (v / "audit.log").read_text().splitlines()]


def test_a_rotate_refused_after_its_unlock_logs_why_and_leaves_no_epoch(tmp_path):
    v = passphrase_vault(tmp_path)
    (tmp_path / "empty").write_text("")
    epochs = sorted(p.name for p in (v / "epochs").iterdir())
    args = ["rotate", "--vault", v, "--passphrase-file", tmp_path / "pp", "--new-passphrase-file"]
    line = one_line_error(keyholder(*args, tmp_path / "empty"))
    assert line == "keyholder: error: the passphrase is empty"
    assert sorted(p.name for p in (v / "epochs").iterdir()) == epochs
    assert log_kinds(v)[-2:] == ["unlock", "rotation_failed"]
    audit = keyholder("audit", "verify", "--vault", v)
    assert audit.exit_code == 0 and "rotation stopped before it was logged: KeyholderError" in audit.output
    assert keyholder(*args, tmp_path / "pp2").exit_code == 0
    assert log_kinds(v)[-2:] == ["unlock", "rotation"]


def test_a_rotate_stopped_by_a_full_disk_removes_the_new_epoch(tmp_path, monkeypatch):
    v = passphrase_vault(tmp_path)
    old_kid = json.loads((v / "key-bundle.json").read_text())["kid"]
    # The new epoch's last file.
    full_disk_for(monkeypatch, lambda dest: dest.name == "bundle.json" and dest.parent.name != old_kid)
    args = ["rotate", "--vault", v, "--passphrase-file", tmp_path / "pp", "--new-passphrase-file", tmp_path / "pp2"]
    line = one_line_error(keyholder(*args))
    assert "No space left on device" in line
    assert [p.name for p in (v / "epochs").iterdir()] == [old_kid]  # previous.json and all went with it
    assert log_kinds(v)[-2:] == ["unlock", "rotation_failed"]
    monkeypatch.undo()
    assert keyholder(*args).exit_code == 0
    assert json.loads((v / "key-bundle.json").read_text())["kid"] != old_kid
