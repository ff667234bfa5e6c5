# Gunicorn settings for the intake (docs/operations.md).
# Invariant 1: no client addresses, user agents or request times in any log.
accesslog = None  # no access log at all
disable_redirect_access_to_syslog = True
errorlog = "-"
loglevel = "warning"
# One process per core, each an event loop (gevent): a submission waiting for
# its group commit holds a greenlet, not an OS thread, so thousands can wait
# for one fsync without thread hand-offs or GIL contention. The store runs
# the commit itself in a native thread (intake/store.py), off the loop.
worker_class = "gevent"
workers = 2
worker_connections = 1000
forwarded_allow_ips = ""
proxy_allow_ips = ""
