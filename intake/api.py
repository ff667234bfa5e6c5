"""The JSON API under /api/v1 (FORMATS.md section 4)."""

from __future__ import annotations

import functools
import json
import os
import sqlite3
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from vault import MalformedEnvelope, parse_envelope

from .config import IntakeConfig
from .keyring import Keyring, load_keyring
from .store import CommitUnconfirmed, EnvelopeStore, StorageUnavailable, Stored
from .tlog import TransparencyLog

__all__ = ["api_error", "make_blueprint"]

RECEIPT_FORMAT = "dvr-receipt/1"


def api_error(status: int, code: str, message: str) -> Response:
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


@functools.lru_cache(maxsize=64)
def _json_string(text: str) -> str:
    return json.dumps(text)


_RECEIPT_FORMAT_JSON = json.dumps(RECEIPT_FORMAT)


def receipt_json(stored: Stored, log_members: dict[str, Any] | None) -> str:
    """The receipt, byte for byte as jsonify writes it (sorted keys, compact,
    ASCII only, a final newline), formatted directly, because one is written
    for every submission. The integers need no care; the hash is lowercase
    hex and the audit path base64, which JSON never escapes; the day and the
    checkpoint note (shared by a whole group, with its newlines and em dash)
    are escaped by `json` once each and remembered. tests/test_api.py checks
    this against json.dumps for any values."""
    sha, seq, fmt, day = stored.envelope_sha256, stored.seq, _RECEIPT_FORMAT_JSON, _json_string(stored.received_on)
    if log_members is None:
        return f'{{"envelope_sha256":"{sha}","format":{fmt},"received_on":{day},"seq":{seq:d}}}\n'
    checkpoint, index = _json_string(log_members["checkpoint"]), log_members["leaf_index"]
    path = ",".join([f'"{h}"' for h in log_members["inclusion_proof"]])
    return (
        f'{{"checkpoint":{checkpoint},"envelope_sha256":"{sha}","format":{fmt},"inclusion_proof":[{path}],'
        f'"leaf_index":{index:d},"received_on":{day},"seq":{seq:d}}}\n'
    )


class _DuplicateMember(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _DuplicateMember(key)
        obj[key] = value
    return obj


# One decoder for every request (json.loads with a hook builds one per call).
# FORMATS.md: JSON is UTF-8.
_ENVELOPE_JSON = json.JSONDecoder(object_pairs_hook=_no_duplicates)


def _body(max_body: int) -> bytes:
    """The request body; RequestEntityTooLarge (413) if it is over `max_body`.

    With a Content-Length within the limit, as browsers and clients send it,
    it is read straight from the WSGI input, which the server ends at that
    length. Otherwise werkzeug reads it: a declared length over the limit is
    refused at once, and a body without a length (chunked) is read up to the
    limit, where werkzeug stops without a word; a body that reaches the limit
    is refused then, rather than parsed cut short."""
    length = request.content_length
    if length is not None and length <= max_body:
        return bytes(request.environ["wsgi.input"].read(length))
    body = request.get_data(cache=False)
    if len(body) >= max_body:
        raise RequestEntityTooLarge()
    return body


class _KeyCache:
    """Re-reads keys.json when it changes, so `intake keys add` takes effect
    without a restart.

    As a container of kids (what a submission is checked against) it looks
    at the file only for a kid it does not know yet: keys.json only grows
    (`intake keys add` is the one writer), so a kid once seen stays
    installed, and a submission need not cost a stat of the file."""

    def __init__(self, config: IntakeConfig) -> None:
        self._path = config.keys_path
        self._stamp: tuple[int, int] | None = None
        self._ring = Keyring([], None)

    def get(self) -> Keyring:
        try:
            st = os.stat(self._path)
            stamp = (st.st_mtime_ns, st.st_ino)
        except FileNotFoundError:
            return Keyring([], None)
        if stamp != self._stamp:
            self._ring = load_keyring(self._path)
            self._stamp = stamp
        return self._ring

    def __contains__(self, kid: object) -> bool:
        return kid in self._ring.kids or kid in self.get().kids


def make_blueprint(config: IntakeConfig, store: EnvelopeStore, log: TransparencyLog | None = None) -> Blueprint:
    bp = Blueprint("api", __name__, url_prefix="/api/v1")
    keys = _KeyCache(config)

    @bp.get("/keys")
    def get_keys() -> Response:
        return jsonify(keys.get().to_api())

    @bp.post("/submissions")
    def post_submission() -> Response:
        if request.environ.get("CONTENT_TYPE") != "application/json" and request.mimetype != "application/json":
            return api_error(415, "unsupported_media_type", "send the envelope as Content-Type: application/json")
        try:
            obj = _ENVELOPE_JSON.decode(_body(config.max_body).decode("utf-8"))
        except _DuplicateMember:
            return api_error(400, "not_an_envelope", "the envelope repeats a member")
        except (ValueError, UnicodeDecodeError):
            return api_error(400, "not_json", "the body is not JSON")
        try:
            envelope = parse_envelope(obj, keys)
        except MalformedEnvelope as exc:
            status = 400 if exc.code == "not_an_envelope" else 422
            return api_error(status, exc.code, str(exc))
        try:
            stored = store.append(envelope)
        except CommitUnconfirmed:
            current_app.logger.error("a commit was not confirmed in time; a submission was answered with 503")
            return api_error(
                503,
                "storage_unavailable",
                "the registration was not confirmed in time and may have been stored;"
                " sending the same envelope again is safe: it is stored once and gets its receipt",
            )
        except StorageUnavailable:
            current_app.logger.error("storage unavailable; a submission was refused with 503")
            return api_error(
                503,
                "storage_unavailable",
                "the registration could not be stored; nothing was kept, please try again later",
            )
        members = None
        if log is not None:  # leaf_index, checkpoint, inclusion_proof (docs/transparency.md)
            try:
                members = log.receipt_members(stored.seq, stored.log_size, stored.checkpoint)
            except sqlite3.Error:
                return api_error(
                    503,
                    "log_unavailable",
                    "the registration was stored but its log proof could not be made; send it again for the receipt",
                )
        return Response(receipt_json(stored, members), status=201, mimetype="application/json")

    @bp.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        if exc.code == 413:
            return api_error(413, "too_large", f"the body is over {config.max_body} bytes")
        return api_error(exc.code or 500, (exc.name or "error").lower().replace(" ", "_"), exc.description or "")

    return bp
