"""The transparency log's read API under /api/v1/log (docs/transparency.md).

    GET /api/v1/log/checkpoint                the newest signed checkpoint, text/plain
    GET /api/v1/log/key                       the log's verifier key, text/plain
    GET /api/v1/log/inclusion?seq=S&size=N    audit path of seq S in the tree of N leaves
    GET /api/v1/log/consistency?from=M&to=N   proof that tree M is a prefix of tree N

Proofs are JSON `{"hashes": [base64, ...]}` plus the echoed parameters.
Each request reads O(log n) stored node hashes.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, jsonify, request

from .api import api_error
from .config import IntakeConfig
from .store import LogUnavailable
from .tlog import BeyondTree, LogNotReady, TransparencyLog, b64

__all__ = ["make_blueprint"]

_UINT = re.compile(r"[0-9]{1,18}")


class _BadParameter(ValueError):
    pass


def _int_param(name: str, minimum: int) -> int:
    text = request.args.get(name)
    if text is None:
        raise _BadParameter(f"the query parameter {name!r} is missing")
    if not _UINT.fullmatch(text):
        raise _BadParameter(f"the query parameter {name!r} must be a whole number")
    value = int(text)
    if value < minimum:
        raise _BadParameter(f"the query parameter {name!r} must be at least {minimum}")
    return value


def _text(body: str) -> Response:
    response = Response(body, mimetype="text/plain")
    response.headers["Cache-Control"] = "no-store"
    return response


def make_blueprint(config: IntakeConfig, log: TransparencyLog) -> Blueprint:
    bp = Blueprint("log", __name__, url_prefix="/api/v1/log")

    @bp.get("/checkpoint")
    def checkpoint() -> Response:
        return _text(log.latest()[1])

    @bp.get("/key")
    def key() -> Response:
        return _text(log.verifier.encode() + "\n")

    @bp.get("/inclusion")
    def inclusion() -> Response:
        seq = _int_param("seq", 1)
        size = _int_param("size", 1)
        if seq > size:
            raise _BadParameter(f"seq {seq} is not in a tree of {size} entries; ask with size >= seq")
        hashes = log.inclusion_proof(seq - 1, size)
        return jsonify({"seq": seq, "leaf_index": seq - 1, "size": size, "hashes": [b64(h) for h in hashes]})

    @bp.get("/consistency")
    def consistency() -> Response:
        first = _int_param("from", 1)
        second = _int_param("to", 1)
        if first > second:
            raise _BadParameter(f"from ({first}) must not be larger than to ({second})")
        hashes = log.consistency_proof(first, second)
        return jsonify({"from": first, "to": second, "hashes": [b64(h) for h in hashes]})

    @bp.errorhandler(_BadParameter)
    def bad_parameter(exc: _BadParameter) -> Response:
        return api_error(400, "bad_parameter", str(exc))

    @bp.errorhandler(BeyondTree)
    def beyond_tree(exc: BeyondTree) -> Response:
        return api_error(404, "beyond_log", str(exc))

    @bp.errorhandler(LogUnavailable)
    @bp.errorhandler(LogNotReady)
    def unavailable(_exc: Exception) -> Response:
        return api_error(503, "log_unavailable", "the log cannot be read right now; please try again later")

    return bp
