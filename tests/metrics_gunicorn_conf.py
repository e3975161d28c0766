"""The lines gunicorn.conf.py needs for /metrics to count every worker (tests use this file
with ``gunicorn -c``)."""
import os
import tempfile

# prometheus_client chooses multiprocess mode when first imported: name the directory
# before anything imports agentlens. The hooks empty it at start and remove it at exit.
if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="agentlens-metrics-")

from agentlens.metrics import child_exit, on_exit, on_starting  # noqa: E402,F401
