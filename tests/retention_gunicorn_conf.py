"""gunicorn -c for the retention test: the automatic policy's log lines (INFO) reach
gunicorn's log, each with the pid of the worker that wrote it."""
import logging

logging.basicConfig(format="%(process)d %(name)s %(message)s")
logging.getLogger("agentlens.auto_retention").setLevel(logging.INFO)
