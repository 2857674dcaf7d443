"""gunicorn settings for bin/run and the compose `web` service (`gunicorn -c deploy/gunicorn.conf.py`).

Threads (gthread) are cheap slots for requests that wait on the database; bounded timeouts replace
a stuck worker instead of letting it hold its slots forever. Slow clients are the reverse proxy's
job (deploy/nginx/portal.conf): without one, as with bin/run on one machine, a few dozen clients
trickling requests can still occupy every thread. Every value can be overridden from the
environment (GUNICORN_*)."""

from __future__ import annotations

import os


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


wsgi_app = "portal.wsgi:application"
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = _int("GUNICORN_WORKERS", 2)
threads = _int("GUNICORN_THREADS", 16)
# A worker that does not answer its arbiter for this long is killed and replaced.
timeout = _int("GUNICORN_TIMEOUT", 60)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 20)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# Recycle workers now and then so a slow leak cannot grow without bound.
max_requests = _int("GUNICORN_MAX_REQUESTS", 5000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 500)
# Request line and header limits (gunicorn's defaults, stated): oversized headers get 400.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
# Behind the compose proxy, X-Forwarded-* from it are trusted.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-")
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "warning")
