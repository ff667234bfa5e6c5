# Gunicorn settings for the intake (docs/operations.md).
# Invariant 1: no client addresses, user agents or request times in any log.
accesslog = None  # no access log at all
disable_redirect_access_to_syslog = True
errorlog = "-"
loglevel = "warning"
# Threads share one group-commit queue per process: many concurrent
# submissions become durable with one fsync.
worker_class = "gthread"
workers = 2
threads = 32
forwarded_allow_ips = ""
proxy_allow_ips = ""
