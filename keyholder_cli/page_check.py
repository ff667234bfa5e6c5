"""`keyholder audit page`: an auditor checks the live registrant page, from
any machine, against the static manifest the ministry signed.

    keyholder audit page https://registry.example --key KEY [--signed-manifest FILE] [--fingerprint HEX]

KEY is the ministry's signed key bundle (a file) or its signing key (b64u);
its fingerprint (`vault.pagetrust.signing_key_fingerprint`) is printed to compare with
the one the ministry publishes out of band (or given with --fingerprint to
compare automatically). The signed manifest is fetched from
`/.well-known/dvr-static-manifest.sig` unless a copy is given. Then every
page and asset it lists is fetched and hashed, and the served
`/.well-known/dvr-static-manifest.json` must list exactly the same. One line
per difference and exit status 1; one OK line otherwise.

Only `vault` and the standard library: no intake code runs on the auditor's side.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from pathlib import Path

from vault import InvalidKeyBundle, InvalidSignature, load_bundle
from vault.canonical import b64u_decode
from vault.pagetrust import PIN_PATH, open_page_manifest, pin_asset, signing_key_fingerprint
from vault.transparency import InvalidNote

from .errors import KeyholderError

__all__ = ["SIGNED_MANIFEST", "check_page", "read_signing_key"]

JSON_MANIFEST = "/.well-known/dvr-static-manifest.json"
SIGNED_MANIFEST = "/.well-known/dvr-static-manifest.sig"
_MAX = 4 << 20  # no page or asset is near this; a larger answer is refused, not read


class FetchFailed(Exception):
    pass


def _fetch(base: str, path: str) -> bytes:
    url = base.rstrip("/") + path
    if not url.startswith(("https://", "http://")):
        raise FetchFailed(f"{url} is not an http(s) URL")
    request = urllib.request.Request(url, headers={"Cache-Control": "no-cache"})  # noqa: S310 - http(s) checked above
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - http(s) checked above
            data: bytes = response.read(_MAX + 1)
    except urllib.error.HTTPError as exc:
        raise FetchFailed(f"HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise FetchFailed(str(getattr(exc, "reason", exc))) from None
    if len(data) > _MAX:
        raise FetchFailed("the answer is larger than any page or asset")
    return data


def read_signing_key(text: str) -> bytes:
    """The ministry signing key from a key bundle file, or from its b64u text."""
    path = Path(text)
    if path.is_file():
        try:
            bundle = load_bundle(json.loads(path.read_text(encoding="utf-8")), require_signature=True)
        except (ValueError, InvalidKeyBundle) as exc:
            raise KeyholderError(f"{path} is not a signed key bundle: {exc}") from None
        assert bundle.signing_key is not None  # noqa: S101 - require_signature guarantees it
        return bundle.signing_key
    try:
        key = b64u_decode(text.strip())
    except ValueError:
        key = b""
    if len(key) != 32:
        raise KeyholderError(f"{text!r} is neither a key bundle file nor a base64url Ed25519 key")
    return key


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_page(base: str, signing_key: bytes, note: str | None = None) -> tuple[dict[str, str], list[str]]:
    """Return the signed manifest's files and one line per difference; raise KeyholderError if no
    manifest signed by `signing_key` can be had."""
    if note is None:
        try:
            note = _fetch(base, SIGNED_MANIFEST).decode("utf-8")
        except FetchFailed as exc:
            raise KeyholderError(f"the signed manifest {SIGNED_MANIFEST} could not be fetched: {exc}") from None
        except UnicodeDecodeError:
            raise KeyholderError(f"{SIGNED_MANIFEST} is not a signed manifest (not UTF-8)") from None
    try:
        listed = open_page_manifest(note, signing_key)
    except InvalidSignature:
        raise KeyholderError(
            f"the static manifest is not signed by the key {signing_key_fingerprint(signing_key)}"
        ) from None
    except InvalidNote as exc:
        raise KeyholderError(f"the static manifest is malformed: {exc}") from None
    problems = []
    if listed.get(PIN_PATH) != _digest(pin_asset(signing_key)):
        problems.append(f"PIN {PIN_PATH}: the signed manifest's page does not pin the key you gave")
    for path, digest in listed.items():
        try:
            served = _digest(_fetch(base, path))
        except FetchFailed as exc:
            problems.append(f"MISSING {path}: {exc}")
            continue
        if served != digest:
            problems.append(f"CHANGED {path}: served sha256 {served}, signed manifest {digest}")
    problems.extend(_compare_json_manifest(base, listed))
    return listed, problems


def _compare_json_manifest(base: str, listed: dict[str, str]) -> list[str]:
    try:
        obj = json.loads(_fetch(base, JSON_MANIFEST))
        served = {**obj["assets"], **obj["pages"]}
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in served.items()):
            raise TypeError
    except FetchFailed as exc:
        return [f"MISSING {JSON_MANIFEST}: {exc}"]
    except (ValueError, KeyError, TypeError, AttributeError):
        return [f"CHANGED {JSON_MANIFEST}: not a dvr-static-manifest/1 object with assets and pages"]
    lines = []
    for path in sorted(set(served) | set(listed)):
        if path not in listed:
            lines.append(f"EXTRA {path}: listed in {JSON_MANIFEST} but not in the signed manifest")
        elif path not in served:
            lines.append(f"OMITTED {path}: in the signed manifest but not listed in {JSON_MANIFEST}")
        elif served[path] != listed[path]:
            lines.append(f"CHANGED {path}: {JSON_MANIFEST} says sha256 {served[path]}, signed manifest {listed[path]}")
    return lines
