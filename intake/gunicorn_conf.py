# Gunicorn settings for the intake (docs/operations.md).
# Invariant 1: no client addresses, user agents or request times in any log.
from __future__ import annotations

import sys
from typing import Any

from gunicorn.glogging import Logger

from intake.logs import PrivateFormatter


class PrivateLogger(Logger):  # type: ignore[misc]  # gunicorn has no type hints: Logger is Any
    """gunicorn's logger with no access log at all and every error-log line
    through `PrivateFormatter`: the day only, and no address (gunicorn writes
    `Invalid request from ip=...` for each malformed request it refuses)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(PrivateFormatter())
        for handler in self.access_log.handlers:
            self.access_log.removeHandler(handler)

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        return None  # never: an access line is a client's address and the time of a request

    @property
    def access_log_enabled(self) -> bool:
        return False


def on_starting(server: Any) -> None:
    """Refuse to start (one line, exit status 1) on a data directory that
    does not exist, with no key bundle installed, or with a defence switch
    set to neither on nor off (intake/preflight.py); then make the state
    the workers share."""
    from intake.preflight import NotReady, check_environ

    try:
        warning = check_environ()
    except NotReady as exc:
        print(f"intake: error: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)
    if warning:
        print(f"intake: WARNING: {warning}", file=sys.stderr, flush=True)
    # Before any worker forks: one challenge key and one table of used
    # challenges for all of them (intake/pow.py).
    from intake.pow import install_shared_state
    from intake.ratelimit import install_shared_buckets

    install_shared_state()
    install_shared_buckets()  # and one table of rate-limit buckets (intake/ratelimit.py)


logger_class = PrivateLogger
accesslog = None  # no access log at all
disable_redirect_access_to_syslog = True
errorlog = "-"
loglevel = "warning"
# One process per core, each an event loop (gevent): a submission waiting for
# its group commit holds a greenlet, not an OS thread, so thousands can wait
# for one fsync without thread hand-offs or GIL contention. The store runs
# the commit itself in a native thread (intake/store/sqlite.py), off the loop.
worker_class = "gevent"
workers = 2
worker_connections = 1000
forwarded_allow_ips = ""
proxy_allow_ips = ""
