"""The intake's log lines: the day, the level and the message, with any
network address taken out (ARCHITECTURE.md invariant 1: no client address
and no time finer than the day in any log).

`PrivateFormatter` writes every line the intake's loggers, gunicorn's
(intake/gunicorn_conf.py) and werkzeug's (`intake serve`) write: it dates a
line by its day only and replaces any IPv4 or IPv6 address in the whole
line, traceback included, with `-`, whichever library put it there (gunicorn
writes `Invalid request from ip=...` for every malformed request it
refuses). `quiet_loggers()` puts it on the application's loggers.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import TextIO

__all__ = ["DAY", "FORMAT", "PrivateFormatter", "quiet_loggers", "scrub"]

FORMAT = "%(asctime)s [%(levelname)s] %(message)s"
DAY = "%Y-%m-%d"

_V4 = r"(?:\d{1,3}\.){3}\d{1,3}"
_H = r"[0-9A-Fa-f]{1,4}"
# Any run of hex groups and colons with at least two colons (every IPv6 form,
# "::1" and "::ffff:1.2.3.4" included; a clock time too, which is no loss), an
# optional zone ("%eth0"), in brackets or not, and a port after either.
_V6 = rf"(?:{_H})?(?::(?:{_H})?){{2,7}}(?:{_V4})?(?:%[\w.-]+)?"
_ADDRESS = re.compile(
    rf"\(\s*'[^']*'\s*,\s*\d+(?:\s*,\s*\d+){{0,2}}\s*\)"  # Python's ('host', port[, flow, scope]) tuple
    rf"|\[{_V6}\](?::\d+)?"
    rf"|(?<![\w:.]){_V6}(?![\w:])"
    rf"|(?<![\w.]){_V4}(?::\d+)?(?![\w.])"
)
_INVALID_REQUEST = "Invalid request from ip="  # gunicorn/workers/base.py handle_error


def scrub(text: str) -> str:
    """`text` with every network address (and an address's port) replaced by `-`."""
    if text.startswith(_INVALID_REQUEST):  # "Invalid request from ip=ADDR: error" (ADDR may be empty)
        head, sep, rest = text[len(_INVALID_REQUEST) :].partition(": ")
        text = "Invalid request: " + rest if sep else "Invalid request"
    return _ADDRESS.sub("-", text)


class PrivateFormatter(logging.Formatter):
    """The day, the level, the message; no address anywhere in the line."""

    def __init__(self, fmt: str = FORMAT) -> None:
        super().__init__(fmt, DAY)

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]  # generic in typeshed only, not at run time
    """Writes to whatever `sys.stderr` is when a line is written (a test
    runner, or gunicorn, may replace it after the handler is made)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


_MARK = "_dvr_private"


def quiet_loggers(*names: str) -> None:
    """Give each named logger one handler, to stderr through
    `PrivateFormatter`, in place of whatever would otherwise write it (Flask's
    default handler dates a line to the millisecond). Idempotent."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(getattr(h, _MARK, False) for h in logger.handlers):
            handler = _Stderr()
            handler.setFormatter(PrivateFormatter())
            setattr(handler, _MARK, True)
            logger.addHandler(handler)
        logger.propagate = False
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)
