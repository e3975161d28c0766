"""gunicorn's settings for AgentLens in production: ``gunicorn -b 0.0.0.0:3000 wsgi:app``
from this folder (gunicorn reads ./gunicorn.conf.py). Options on the command line
win over these. Why these values: the README, "Running several workers".
"""
import os
import tempfile

# Every worker counts its metrics in files here, summed by GET /metrics: set before
# anything imports agentlens (prometheus_client reads it at import).
if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="agentlens-metrics-")

from agentlens.db import close_all  # noqa: E402
from agentlens.metrics import child_exit, on_exit, on_starting  # noqa: E402,F401 (gunicorn hooks)
from agentlens.security import per_worker_limits_warning  # noqa: E402
from agentlens.serving import ClientTimeout, set_client_timeouts  # noqa: E402

worker_class = "agentlens.serving.ThreadWorker"
workers = int(os.environ.get("WEB_CONCURRENCY", 4))
# A thread serves one connection while it sends a request or reads a response;
# a client that stalls holds one for at most AGENTLENS_CLIENT_TIMEOUT seconds.
threads = 64
keepalive = 5
timeout = 30
graceful_timeout = 30
# gunicorn answers above these itself, before the app (README: 414, 431, 400).
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190


def post_worker_init(worker):
    app = worker.wsgi
    for listener in worker.sockets:
        set_client_timeouts(listener, app.config["CLIENT_TIMEOUT"])
    app.wsgi_app = ClientTimeout(app.wsgi_app, app.config["CLIENT_TIMEOUT"])
    warning = per_worker_limits_warning(app.config, worker.cfg.workers)
    if warning:
        worker.log.warning(warning)


def worker_exit(server, worker):
    if hasattr(worker, "wsgi"):  # not when the app failed to load
        close_all(worker.wsgi)
