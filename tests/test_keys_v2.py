"""Version 2 (X-Wing) keys through the documented commands: a fresh vault
issues a `dvr-key-bundle/2` with its X25519 companion, the intake installs
both, a rotation takes a version 1 vault to version 2, and one `publish`
opens envelopes of both versions and counts them as it counts version 1."""

from __future__ import annotations

import json
from pathlib import Path

from support import VALID_RECORD, submission
from test_ceremony_cli import b64u, intake, keyholder, one_line_error

import vault
from intake import IntakeConfig, create_app

GIVEN = ["Arta", "Besa", "Dren", "Fatos", "Gent", "Ilir", "Jeta", "Kaltrina", "Luan", "Mimoza"]
FAMILY = ["Berisha", "Gashi", "Krasniqi", "Morina", "Shala"]
# Twenty different people: de-duplication keeps every one of them.
PEOPLE = [
    {"given_name": GIVEN[i % 10], "family_name": FAMILY[i // 4], "birth_date": f"{1950 + 2 * i}-0{1 + i % 9}-1{i % 10}"}
    for i in range(20)
]


def seal_and_post(data: Path, people: range, kind: str) -> list[str]:
    """Seal registrations in an intake (in process) to its current key
    (`kind` "current") or to the companion of the current key ("companion");
    return the envelope formats the intake accepted."""
    app = create_app(IntakeConfig(data_dir=data))
    formats = []
    try:
        client = app.test_client()
        ring = client.get("/api/v1/keys").get_json()
        current = next(b for b in ring["keys"] if b["kid"] == ring["current"])
        if kind == "companion":
            [bundle] = [
                b
                for b in ring["keys"]
                if b["format"] == "dvr-key-bundle/1" and b["signing_key"] == current["signing_key"]
            ]
        else:
            bundle = current
        for i in people:
            record = {**VALID_RECORD, **PEOPLE[i]}
            env = vault.seal(submission(record), b64u(bundle["public_key"]))
            response = client.post("/api/v1/submissions", data=env.canonical(), content_type="application/json")
            assert response.status_code == 201, response.get_json()
            formats.append(env.to_json()["format"])
    finally:
        app.extensions["dvr_store"].close()
    return formats


def export_import(data: Path, vault_dir: Path, out: Path) -> None:
    assert intake("export", "--data", data, "--out", out).exit_code == 0
    result = keyholder("import", "--vault", vault_dir, out)
    assert result.exit_code == 0, result.output


def install(data: Path, vault_dir: Path, rotation: bool = False) -> list[str]:
    """`intake keys add` the current bundle (with its rotation) and its companion, as the keyholder says to."""
    extra = ["--rotation", vault_dir / "key-rotation.json"] if rotation else []
    outputs = []
    for path, more in ((vault_dir / "key-bundle.json", extra), (vault_dir / "key-bundle-v1.json", [])):
        result = intake("keys", "add", "--data", data, path, *more)
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    return outputs


def test_a_fresh_vault_issues_a_v2_bundle_with_a_signed_companion(tmp_path: Path) -> None:
    (tmp_path / "pp").write_text("a passphrase for version 2\n")
    made = keyholder("init", "--vault", tmp_path / "V", "--passphrase-file", tmp_path / "pp")
    assert made.exit_code == 0, made.output
    assert "key-bundle-v1.json" in made.output  # the keyholder names both files to carry
    bundle = vault.load_bundle(json.loads((tmp_path / "V" / "key-bundle.json").read_text()), require_signature=True)
    companion = vault.load_bundle(
        json.loads((tmp_path / "V" / "key-bundle-v1.json").read_text()), require_signature=True
    )
    assert bundle.raw["format"] == "dvr-key-bundle/2" and len(bundle.public_key) == 1216
    assert companion.raw["format"] == "dvr-key-bundle/1" and len(companion.public_key) == 32
    assert companion.signing_key == bundle.signing_key and companion.kid != bundle.kid

    first, second = install(tmp_path / "D", tmp_path / "V")
    assert "it is the current key" in first and "X25519 companion of the current key" in second
    ring = json.loads((tmp_path / "D" / "keys.json").read_text())
    assert ring["current"] == bundle.kid and {k["kid"] for k in ring["keys"]} == {bundle.kid, companion.kid}

    assert seal_and_post(tmp_path / "D", range(6), "current") == ["dvr-envelope/2"] * 6
    assert seal_and_post(tmp_path / "D", range(6, 9), "companion") == ["dvr-envelope/1"] * 3
    export_import(tmp_path / "D", tmp_path / "V", tmp_path / "b1")
    published = keyholder(
        "publish", "--vault", tmp_path / "V", "--passphrase-file", tmp_path / "pp", "--out", tmp_path / "O"
    )
    assert published.exit_code == 0, published.output
    assert "9 envelopes, 9 opened, 0 failed" in published.output
    assert json.loads((tmp_path / "O" / "aggregates.json").read_text())["registrants"] == 9


def test_a_v1_vault_rotates_to_v2_and_one_publish_opens_both(tmp_path: Path) -> None:
    """The existing signed rotation, from an X25519 epoch held by shares to an
    X-Wing epoch held by new shares; envelopes of both versions, and of the
    companion, in one publish; the audit log follows the hand-over."""
    v1 = keyholder(
        "ceremony", "--vault", tmp_path / "V1", "--officers", 3, "--threshold", 2,
        "--shares-out", tmp_path / "V1-shares", "--key-version", 1,
    )  # fmt: skip
    assert v1.exit_code == 0, v1.output
    v, old_shares = tmp_path / "V1", sorted((tmp_path / "V1-shares").glob("*.txt"))
    old = json.loads((v / "key-bundle.json").read_text())
    assert old["format"] == "dvr-key-bundle/1" and not (v / "key-bundle-v1.json").exists()
    assert intake("keys", "add", "--data", tmp_path / "D", v / "key-bundle.json").exit_code == 0
    assert seal_and_post(tmp_path / "D", range(10), "current") == ["dvr-envelope/1"] * 10
    export_import(tmp_path / "D", v, tmp_path / "b1")

    rotated = keyholder(
        "rotate", "--vault", v, "--share-file", old_shares[0], "--share-file", old_shares[2],
        "--officers", 3, "--threshold", 2, "--shares-out", tmp_path / "N-shares",
    )  # fmt: skip
    assert rotated.exit_code == 0, rotated.output
    new = json.loads((v / "key-bundle.json").read_text())
    assert new["format"] == "dvr-key-bundle/2"
    statement = vault.custody.verify_rotation(json.loads((v / "key-rotation.json").read_text()))
    assert statement.previous_kid == old["kid"] and statement.kid == new["kid"]
    install(tmp_path / "D", v, rotation=True)
    assert seal_and_post(tmp_path / "D", range(10, 17), "current") == ["dvr-envelope/2"] * 7
    assert seal_and_post(tmp_path / "D", range(17, 20), "companion") == ["dvr-envelope/1"] * 3
    export_import(tmp_path / "D", v, tmp_path / "b2")

    new_shares = sorted((tmp_path / "N-shares").glob("*.txt"))
    published = keyholder(
        "publish", "--vault", v, "--share-file", new_shares[1], "--share-file", new_shares[2], "--out", tmp_path / "O"
    )
    assert published.exit_code == 0, published.output
    assert "20 envelopes, 20 opened, 0 failed" in published.output
    assert json.loads((tmp_path / "O" / "aggregates.json").read_text())["registrants"] == 20
    audit = keyholder("audit", "verify", "--vault", v, "--publication", tmp_path / "O", "--strict")
    assert audit.exit_code == 0, audit.output
    assert f"key rotated from {old['kid']} to {new['kid']}" in audit.output


def test_an_altered_companion_bundle_stops_the_unlock_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "pp").write_text("a passphrase\n")
    assert keyholder("init", "--vault", tmp_path / "V", "--passphrase-file", tmp_path / "pp").exit_code == 0
    [epoch] = (tmp_path / "V" / "epochs").iterdir()
    other = vault.derive_keys(b"\x09" * 32).bundle().to_json()  # signed, but by another signing key
    (epoch / "bundle-v1.json").write_text(json.dumps(other))
    line = one_line_error(
        keyholder("publish", "--vault", tmp_path / "V", "--passphrase-file", tmp_path / "pp", "--out", tmp_path / "O")
    )
    assert "companion bundle" in line and "is not that of epoch" in line
    assert not (tmp_path / "O").exists()


def test_a_v1_bundle_of_another_signing_key_is_no_companion(tmp_path: Path) -> None:
    (tmp_path / "pp").write_text("a passphrase\n")
    assert keyholder("init", "--vault", tmp_path / "V", "--passphrase-file", tmp_path / "pp").exit_code == 0
    install(tmp_path / "D", tmp_path / "V")
    stranger = tmp_path / "stranger.json"
    stranger.write_text(json.dumps(vault.derive_keys(b"\x0a" * 32).bundle().to_json()))
    before = (tmp_path / "D" / "keys.json").read_bytes()
    assert "different ministry signing key" in one_line_error(intake("keys", "add", "--data", tmp_path / "D", stranger))
    assert (tmp_path / "D" / "keys.json").read_bytes() == before


def test_the_intake_follows_a_rotation_from_an_epoch_whose_companion_is_installed(tmp_path: Path) -> None:
    """The statement names the v2 kid; the companion beside it shares the signing key."""
    (tmp_path / "pp").write_text("first\n")
    (tmp_path / "pp2").write_text("second\n")
    v = tmp_path / "V"
    assert keyholder("init", "--vault", v, "--passphrase-file", tmp_path / "pp").exit_code == 0
    install(tmp_path / "D", v)
    rotated = keyholder(
        "rotate", "--vault", v, "--passphrase-file", tmp_path / "pp", "--new-passphrase-file", tmp_path / "pp2"
    )
    assert rotated.exit_code == 0, rotated.output
    assert "key-bundle-v1.json" in rotated.output
    install(tmp_path / "D", v, rotation=True)
    ring = json.loads((tmp_path / "D" / "keys.json").read_text())
    assert ring["current"] == json.loads((v / "key-bundle.json").read_text())["kid"] and len(ring["keys"]) == 4
    assert seal_and_post(tmp_path / "D", range(3), "companion") == ["dvr-envelope/1"] * 3
