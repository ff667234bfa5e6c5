"""The JSON API under /api/v1 (FORMATS.md section 4)."""

from __future__ import annotations

import functools
import json
import logging
import os
import re
from collections.abc import Callable, Iterable
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request
from werkzeug.exceptions import ClientDisconnected, HTTPException
from werkzeug.http import parse_options_header

from vault import ENVELOPE_FORMATS, MalformedEnvelope, parse_envelope

from . import pages
from .config import IntakeConfig
from .keyring import Keyring, load_keyring
from .pow import CHALLENGE_PATH, ProofOfWork, ProofRefused
from .ratelimit import RateLimiter
from .store import CommitUnconfirmed, EnvelopeStore, LogUnavailable, StorageUnavailable, Stored
from .tlog import TransparencyLog

__all__ = [
    "MAX_DEPTH",
    "SUBMISSIONS",
    "KeyCache",
    "SubmissionHandler",
    "api_error",
    "init_errors",
    "is_api_path",
    "make_blueprint",
    "receipt_json",
]

SUBMISSIONS = "/api/v1/submissions"
StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

RECEIPT_FORMAT = "dvr-receipt/1"


def error_body(code: str, message: str) -> bytes:
    """An API error's JSON, as Flask's jsonify writes it (sorted keys,
    compact, ASCII only, a final newline): `SubmissionHandler` and the Flask
    routes answer in the same bytes."""
    obj = {"error": {"code": code, "message": message}}
    return (json.dumps(obj, separators=(",", ":"), sort_keys=True) + "\n").encode("ascii")


def api_error(status: int, code: str, message: str) -> Response:
    return Response(error_body(code, message), status=status, mimetype="application/json")


@functools.lru_cache(maxsize=64)
def _json_string(text: str) -> str:
    return json.dumps(text)


_RECEIPT_FORMAT_JSON = json.dumps(RECEIPT_FORMAT)


def receipt_json(stored: Stored, log_members: dict[str, Any] | None) -> str:
    """The receipt, byte for byte as jsonify writes it (sorted keys, compact,
    ASCII only, a final newline), but formatted directly: one is written per
    submission (docs/performance.md). Hex and base64 need no escaping; the
    day and the group's checkpoint note are escaped once and remembered.
    tests/test_api.py checks it against json.dumps for any values."""
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

# How deeply JSON may nest arrays and objects (docs/formats.md): an envelope
# is one flat object; 32 is far past any format here, and far short of the
# depth (about 1,000) at which Python's parser raises RecursionError.
MAX_DEPTH = 32
# A string (to its end, closed or not: never rescanned) or a bracket.
_STRING_OR_BRACKET = re.compile(rb'"(?:[^"\\]+|\\.)*"?|[\[\]{}]')


def too_deep(text: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether JSON `text` nests more than `limit` arrays and objects inside
    one another (brackets inside strings do not count). Costs two byte
    counts for a body with at most `limit` brackets, as any envelope is; a
    scan in linear time otherwise."""
    if text.count(b"[") + text.count(b"{") <= limit:
        return False
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif token in (b"]", b"}"):
            depth -= 1
    return False


class KeyCache:
    """The installed keys, re-read when keys.json changes, so `intake keys
    add` takes effect without a restart. `kid in cache` looks at the file
    only for a kid not seen yet: keys.json only grows, so a submission with
    a known kid costs no stat of the file."""

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

    def version_of(self, kid: str) -> int | None:
        """The envelope version the installed key `kid` takes (1 for X25519,
        2 for X-Wing), or None for a kid not installed."""
        version = self._ring.versions.get(kid)
        return version if version is not None else self.get().versions.get(kid)


def make_blueprint(keys: KeyCache, proof: ProofOfWork | None = None) -> Blueprint:
    """The API's routes other than the submission itself: GET /keys and GET
    /challenge. (`SubmissionHandler` answers every request to the submission
    path, in front of Flask: there is no Flask view for it.)"""
    bp = Blueprint("api", __name__, url_prefix="/api/v1")

    @bp.get("/keys")
    def get_keys() -> Response:
        return jsonify(keys.get().to_api())

    @bp.get(CHALLENGE_PATH.removeprefix("/api/v1"))
    def get_challenge() -> Response:
        if proof is None:
            return api_error(
                404, "proof_of_work_off", "this intake asks for no proof of work: send submissions without X-Altcha"
            )
        return jsonify(proof.challenge())

    return bp


def is_api_path(path: str) -> bool:
    """Whether `path` is under /api/, however many slashes it is spelt with."""
    path = _SLASHES.sub("/", path)
    return path == "/api" or path.startswith("/api/")


_SLASHES = re.compile("/{2,}")


def init_errors(app: Flask, config: IntakeConfig) -> None:
    """Every error Flask answers under /api/ (an unknown path, another
    method, a body over the limit, a 500) in the JSON error shape
    (FORMATS.md section 4); elsewhere Flask's page. pages.py's after-request
    hook adds the security headers to both."""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response | HTTPException:
        if not is_api_path(request.path):
            return exc
        status = exc.code or 500
        if status == 413:
            response = api_error(413, "too_large", f"the body is over {config.max_body} bytes")
        elif status >= 500:
            response = api_error(status, "internal_error", _FAILED)
        else:
            response = api_error(status, (exc.name or "error").lower().replace(" ", "_"), exc.description or "")
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value  # Allow, for a 405
        return response


class _Refused(Exception):
    """A submission answered with an error: its status line and JSON body."""

    def __init__(self, status: str, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = error_body(code, message)


class _Unreadable(Exception):
    """The server raised `cause` while the body was read."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _read_body(stream: Any, size: int) -> bytes:
    """Up to `size` bytes of the body; a client gone is a short body."""
    try:
        return bytes(stream.read(size))
    except (OSError, ClientDisconnected):
        return b""
    except Exception as exc:
        raise _Unreadable(exc) from exc


_FAILED = "the server could not answer this request"
_BAD_REQUEST = "400 BAD REQUEST"
_TOO_LARGE = "413 REQUEST ENTITY TOO LARGE"
_UNAVAILABLE = "503 SERVICE UNAVAILABLE"


class SubmissionHandler:
    """The one implementation of /api/v1/submissions (FORMATS.md section 4):
    a plain WSGI handler in front of Flask (in `app.wsgi_app`), because every
    registration is one such request and Flask's per-request machinery cost
    about a third of it (docs/performance.md). It answers as Flask would: the
    JSON errors, pages.DEFAULT_HEADERS, no cookie; any other method is a 405
    here, a failure of its own a JSON 500. Every other path goes to Flask."""

    def __init__(
        self,
        app: WSGIApp,
        config: IntakeConfig,
        store: EnvelopeStore,
        log: TransparencyLog | None,
        keys: KeyCache,
        logger: logging.Logger,
        proof: ProofOfWork | None = None,
    ) -> None:
        self.app = app
        self.max_body = config.max_body
        self.store = store
        self.log = log
        self.keys = keys
        self.logger = logger
        self.headers = list(pages.DEFAULT_HEADERS)
        self.proof = proof
        limits = config.rate_limits
        self.limiter = (
            RateLimiter(limits, address_header=config.client_address_header, logger=logger) if limits else None
        )

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != SUBMISSIONS:
            return self.app(environ, start_response)
        extra: list[tuple[str, str]] = []
        try:
            if environ.get("REQUEST_METHOD") != "POST":  # methods are case-sensitive: `post` is not POST
                extra = [("Allow", "POST")]
                raise _Refused("405 METHOD NOT ALLOWED", "method_not_allowed", "send a submission with POST")
            if self.limiter is not None:
                self.limit(environ, extra)
            status, body = "201 CREATED", self.submit(environ)
        except _Refused as refused:
            status, body = refused.status, refused.body
        except _Unreadable as exc:
            raise exc.cause from None  # the server's own refusal of a malformed body (a bad chunk): its to answer
        except Exception:
            self.logger.exception("a submission failed; it was answered with 500")
            status, body = "500 INTERNAL SERVER ERROR", error_body("internal_error", _FAILED)
        start_response(
            status,
            [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *self.headers, *extra],
        )
        return [body]

    def limit(self, environ: dict[str, Any], extra: list[tuple[str, str]]) -> None:
        """Refuse with 429 and Retry-After a client over its limit
        (intake/ratelimit.py, the only reader of the client's address)."""
        assert self.limiter is not None  # noqa: S101 - the caller checked; for mypy
        wait = self.limiter.check_request(environ)
        if wait is not None:
            extra.append(("Retry-After", f"{wait:.0f}"))
            raise _Refused(
                "429 TOO MANY REQUESTS",
                "rate_limited",
                "too many submissions from this network in a short time; nothing was stored:"
                f" send again in {wait:.0f} s",
            )

    def body(self, environ: dict[str, Any]) -> bytes:
        """The request body, refused with 413 over the limit, and with 400
        if shorter than its declared length (the client stopped early).

        A declared length over the limit is refused unread. A body without
        one (chunked, which the server marks `wsgi.input_terminated`) is read
        up to one byte past the limit, and refused if it gets there rather
        than parsed cut short. With neither, there is no body (werkzeug's
        rule). Either way a body of exactly the limit is accepted."""
        stream = environ["wsgi.input"]
        declared = environ.get("CONTENT_LENGTH")
        if declared:
            length = int(declared) if declared.isascii() and declared.isdigit() else -1
            if length < 0:
                raise _Refused(_BAD_REQUEST, "bad_request", "the Content-Length is not a number")
            if length > self.max_body:
                raise _Refused(_TOO_LARGE, "too_large", f"the body is over {self.max_body} bytes")
            body = _read_body(stream, length)
            if len(body) != length:  # the client stopped sending (or closed) before the end
                raise _Refused(
                    _BAD_REQUEST,
                    "short_body",
                    f"the body ended after {len(body)} of the {length} bytes its Content-Length declares",
                )
            return body
        if not environ.get("wsgi.input_terminated"):
            return b""
        body = _read_body(stream, self.max_body + 1)
        if len(body) > self.max_body:
            raise _Refused(_TOO_LARGE, "too_large", f"the body is over {self.max_body} bytes")
        return body

    def submit(self, environ: dict[str, Any]) -> bytes:
        """Store the envelope in the request and return its receipt; raise
        _Refused if it is not one, or could not be stored."""
        content_type = environ.get("CONTENT_TYPE", "")
        if content_type != "application/json" and parse_options_header(content_type)[0].lower() != "application/json":
            raise _Refused(
                "415 UNSUPPORTED MEDIA TYPE",
                "unsupported_media_type",
                "send the envelope as Content-Type: application/json",
            )
        body = self.body(environ)
        if too_deep(body):
            raise _Refused(_BAD_REQUEST, "too_deep", f"the JSON nests arrays and objects deeper than {MAX_DEPTH}")
        try:
            obj = _ENVELOPE_JSON.decode(body.decode("utf-8"))
        except _DuplicateMember:
            raise _Refused(_BAD_REQUEST, "not_an_envelope", "the envelope repeats a member") from None
        except (ValueError, UnicodeDecodeError):
            raise _Refused(_BAD_REQUEST, "not_json", "the body is not JSON") from None
        try:
            envelope = parse_envelope(obj, self.keys)
        except MalformedEnvelope as exc:
            raise _Refused(
                _BAD_REQUEST if exc.code == "not_an_envelope" else "422 UNPROCESSABLE ENTITY", exc.code, str(exc)
            ) from None
        takes = self.keys.version_of(envelope.kid)
        if takes is not None and envelope.format != ENVELOPE_FORMATS[takes]:
            # e.g. an X-Wing-sized ciphertext naming an X25519 key: no keyholder could ever open it
            raise _Refused(
                "422 UNPROCESSABLE ENTITY",
                "format_mismatch",
                f"the envelope is {envelope.format} but key {envelope.kid} takes {ENVELOPE_FORMATS[takes]}",
            )
        if self.proof is not None:
            try:
                self.proof.verify(environ)
            except ProofRefused as exc:
                status = _UNAVAILABLE if exc.code == "proof_of_work_busy" else "403 FORBIDDEN"
                raise _Refused(status, exc.code, str(exc)) from None
        try:
            stored = self.store.append(envelope)
        except CommitUnconfirmed:
            self.logger.error("a commit was not confirmed in time; a submission was answered with 503")
            raise _Refused(
                _UNAVAILABLE,
                "storage_unavailable",
                "the registration was not confirmed in time and may have been stored;"
                " sending the same envelope again is safe: it is stored once and gets its receipt",
            ) from None
        except StorageUnavailable:
            self.logger.error("storage unavailable; a submission was refused with 503")
            raise _Refused(
                _UNAVAILABLE,
                "storage_unavailable",
                "the registration could not be stored; nothing was kept, please try again later",
            ) from None
        members = None
        if self.log is not None:  # leaf_index, checkpoint, inclusion_proof (docs/transparency.md)
            try:
                members = self.log.receipt_members(stored.seq, stored.log_size, stored.checkpoint)
            except LogUnavailable:
                raise _Refused(
                    _UNAVAILABLE,
                    "log_unavailable",
                    "the registration was stored but its log proof could not be made; send it again for the receipt",
                ) from None
        return receipt_json(stored, members).encode("ascii")
