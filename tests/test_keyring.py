"""intake.keyring: which key bundles keys.json admits, which signing key the
page pins, and what a damaged or foreign file gives (one clear error,
nothing rewritten)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vault
from intake.keyring import KEYRING_FORMAT, add_bundle, load_keyring
from vault import InvalidKeyBundle

FIRST = vault.derive_keys(b"\x31" * 32)
SECOND = vault.derive_keys(b"\x32" * 32)
STRANGER = vault.derive_keys(b"\x33" * 32)


def _keys(tmp_path: Path) -> Path:
    return tmp_path / "keys.json"


def test_no_file_is_an_empty_keyring_that_pins_nothing(tmp_path):
    ring = load_keyring(_keys(tmp_path))
    assert ring.bundles == [] and ring.current is None and ring.kids == frozenset()
    assert ring.pinned_signing_key() is None
    assert ring.to_api() == {"current": None, "keys": [], "rotations": []}


def test_the_first_bundle_is_current_and_pins_its_signing_key(tmp_path):
    bundle, new = add_bundle(_keys(tmp_path), FIRST.bundle().to_json())
    assert new and bundle.kid == FIRST.kid
    ring = load_keyring(_keys(tmp_path))
    assert ring.current == FIRST.kid and ring.kids == {FIRST.kid}
    assert ring.pinned_signing_key() == FIRST.signing_key
    assert json.loads(_keys(tmp_path).read_text())["format"] == KEYRING_FORMAT
    assert [b["kid"] for b in ring.to_api()["keys"]] == [FIRST.kid]


def test_adding_the_same_bundle_again_changes_nothing(tmp_path):
    # One bundle, added twice: two calls to bundle() could fall either side
    # of a second and differ in `created`, which is rightly a different bundle.
    bundle = FIRST.bundle().to_json()
    add_bundle(_keys(tmp_path), bundle)
    before = _keys(tmp_path).read_bytes()
    _bundle, new = add_bundle(_keys(tmp_path), json.loads(json.dumps(bundle)))
    assert not new
    assert load_keyring(_keys(tmp_path)).kids == {FIRST.kid}
    assert json.loads(_keys(tmp_path).read_bytes()) == json.loads(before)


def test_an_unsigned_bundle_is_refused_and_nothing_is_written(tmp_path):
    unsigned = {k: v for k, v in FIRST.bundle().to_json().items() if k not in ("signing_key", "signature")}
    with pytest.raises(InvalidKeyBundle):
        add_bundle(_keys(tmp_path), unsigned)
    assert not _keys(tmp_path).exists()


def test_a_bundle_from_another_signing_key_needs_its_rotation_statement(tmp_path):
    add_bundle(_keys(tmp_path), FIRST.bundle().to_json())
    before = _keys(tmp_path).read_bytes()
    with pytest.raises(InvalidKeyBundle, match="rotation statement"):
        add_bundle(_keys(tmp_path), SECOND.bundle().to_json())
    assert _keys(tmp_path).read_bytes() == before

    statement = vault.custody.rotation_statement(FIRST, SECOND.bundle())
    _bundle, new = add_bundle(_keys(tmp_path), SECOND.bundle().to_json(), rotation=statement)
    assert new
    ring = load_keyring(_keys(tmp_path))
    assert ring.current == SECOND.kid and ring.kids == {FIRST.kid, SECOND.kid}
    assert ring.rotations == [statement]
    assert ring.pinned_signing_key() == SECOND.signing_key  # followed from the root through the statement
    assert ring.to_api()["rotations"] == [statement]


def test_a_rotation_not_endorsed_by_an_installed_key_is_refused(tmp_path):
    add_bundle(_keys(tmp_path), FIRST.bundle().to_json())
    before = _keys(tmp_path).read_bytes()
    forged = vault.custody.rotation_statement(STRANGER, SECOND.bundle())
    with pytest.raises(InvalidKeyBundle, match="not endorsed by an installed"):
        add_bundle(_keys(tmp_path), SECOND.bundle().to_json(), rotation=forged)
    other = vault.custody.rotation_statement(FIRST, STRANGER.bundle())  # endorsed, but for another bundle
    with pytest.raises(InvalidKeyBundle, match="for another key"):
        add_bundle(_keys(tmp_path), SECOND.bundle().to_json(), rotation=other)
    assert _keys(tmp_path).read_bytes() == before


def test_make_current_false_keeps_the_current_key(tmp_path):
    add_bundle(_keys(tmp_path), FIRST.bundle().to_json())
    statement = vault.custody.rotation_statement(FIRST, SECOND.bundle())
    add_bundle(_keys(tmp_path), SECOND.bundle().to_json(), make_current=False, rotation=statement)
    assert load_keyring(_keys(tmp_path)).current == FIRST.kid


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "is damaged: it is not JSON"),
        ("[]", f"is not a {KEYRING_FORMAT} file"),
        ('{"format": "something-else/1"}', f"is not a {KEYRING_FORMAT} file"),
        (json.dumps({"format": KEYRING_FORMAT}), "without its keys"),
        (json.dumps({"format": KEYRING_FORMAT, "keys": 5, "current": None}), "without its keys"),
    ],
)
def test_a_damaged_or_foreign_file_is_one_clear_error(tmp_path, text, message):
    _keys(tmp_path).write_text(text)
    with pytest.raises(ValueError, match=message):
        load_keyring(_keys(tmp_path))
    with pytest.raises(ValueError, match=message):
        add_bundle(_keys(tmp_path), FIRST.bundle().to_json())
    assert _keys(tmp_path).read_text() == text  # never replaced by a fresh keyring


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_any_tampered_bundle_is_refused(tmp_path_factory, data):
    original = FIRST.bundle().to_json()
    field = data.draw(st.sampled_from(sorted(original)))
    value = data.draw(st.one_of(st.text(max_size=60), st.integers(), st.none()))
    tampered = {**original, field: value}
    if tampered == original:
        return
    path = tmp_path_factory.mktemp("k") / "keys.json"
    with pytest.raises((InvalidKeyBundle, ValueError)):
        add_bundle(path, tampered)
    assert not path.exists()
