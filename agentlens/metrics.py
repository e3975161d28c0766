"""Prometheus metrics: requests, latency, ingest counts and the store's size.

Without gunicorn (``flask run``, tests) the counters live in this process. Under
gunicorn every worker writes its counters to files in ``PROMETHEUS_MULTIPROC_DIR``
(prometheus_client's multiprocess mode) and ``/metrics`` adds them all up, so it
answers the same whichever worker serves it. prometheus_client chooses the mode
when it is first imported, so ``gunicorn.conf.py`` names the directory before it
imports anything from agentlens, and uses the hooks at the end of this module.
"""
import functools
import os
import time

from flask import g, request, request_finished, request_started
from marshmallow import ValidationError
from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram,
                               generate_latest, multiprocess)
from prometheus_client.core import GaugeMetricFamily

from .errors import APIError
from .ingest.events import EventError

MULTIPROCESS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"
FORMATS = ("agentlens", "agnost", "agentops", "otlp")
UNMATCHED = "(unmatched)"  # the route label of a request no URL rule matched
# Any other method is counted as "other": a client must not be able to add series.
METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

# This process's own metrics (in multiprocess mode they are read back from the files).
REGISTRY = CollectorRegistry()
REQUESTS = Counter("agentlens_http_requests", "HTTP requests by route (URL rule), method and status.",
                   ["route", "method", "status"], registry=REGISTRY)
LATENCY = Histogram("agentlens_http_request_duration_seconds",
                    "Time from the start of a request to its response, by route and method.",
                    ["route", "method"], registry=REGISTRY)
STORED = Counter("agentlens_events_stored", "Events stored, by wire format.",
                 ["format"], registry=REGISTRY)
DUPLICATES = Counter("agentlens_events_duplicate",
                     "Events received again and not stored a second time, by wire format.",
                     ["format"], registry=REGISTRY)
REJECTED = Counter("agentlens_events_rejected", "Events refused as invalid, by wire format.",
                   ["format"], registry=REGISTRY)


def count_ingest(format, stored=0, duplicates=0, rejected=0):
    """Count what one ingest request did with its events."""
    for counter, count in ((STORED, stored), (DUPLICATES, duplicates), (REJECTED, rejected)):
        if count:
            series(counter, format).inc(count)


def counts_refused_event(format):
    """For a view whose request is one event (Agnost's capture-event): a 400 means
    that event was refused."""
    def decorate(view):
        @functools.wraps(view)
        def counted(*args, **kwargs):
            try:
                return view(*args, **kwargs)
            except (ValidationError, EventError, APIError) as error:
                if getattr(error, "status", 400) == 400:
                    count_ingest(format, rejected=1)
                raise
        return counted
    return decorate


@functools.cache  # a few hundred series at most: routes x methods x statuses
def series(metric, *labels):
    """The child of ``metric`` for these label values (prometheus_client checks and
    looks them up under a lock at every ``labels()``)."""
    return metric.labels(*labels)


def _start_timer(app, **extra):
    g.metrics_started = time.perf_counter()


def _count_request(app, response, **extra):
    route = request.url_rule.rule if request.url_rule is not None else UNMATCHED
    method = request.method if request.method in METHODS else "other"
    series(REQUESTS, route, method, str(response.status_code)).inc()
    started = g.get("metrics_started")
    if started is not None:
        series(LATENCY, route, method).observe(time.perf_counter() - started)


def init_app(app):
    """Count every request of ``app``: the signals fire around the before- and
    after-request functions, so rate-limited and failed requests count too.
    Every format's ingest counters show from the start, at 0."""
    request_started.connect(_start_timer, app)
    request_finished.connect(_count_request, app)
    if os.environ.get(MULTIPROCESS_DIRECTORY):
        os.makedirs(os.environ[MULTIPROCESS_DIRECTORY], exist_ok=True)
    for format in FORMATS:
        for counter in (STORED, DUPLICATES, REJECTED):
            counter.labels(format)


def store_counts(conn):
    """``(sessions, counted events)`` stored, from the all-time rollups (a few hundred
    rows whatever the size of the store)."""
    row = conn.execute("SELECT (SELECT coalesce(sum(sessions), 0) FROM agent_sessions), "
                       "(SELECT coalesce(sum(events), 0) FROM event_rollup)")
    return tuple(row.fetchone())


class StoreCollector:
    """The database's figures, read when scraped."""

    def __init__(self, conn):
        self.conn = conn

    def collect(self):
        sessions, events = store_counts(self.conn)
        size, wal_size = self.conn.size_bytes()
        figures = (
            ("agentlens_database_size_bytes",
             "Size of the database (the SQLite file, or PostgreSQL's pg_database_size).", size),
            ("agentlens_database_wal_size_bytes",
             "Size of the SQLite database's write-ahead log (0 on PostgreSQL).", wal_size),
            ("agentlens_sessions_stored", "Sessions in the store.", sessions),
            ("agentlens_events_in_store",
             "Events in the store (session_start and session_end not counted).", events),
        )
        for name, documentation, value in figures:
            yield GaugeMetricFamily(name, documentation, value=value)


class WorkerFiles:
    """Every worker's counters, merged from their files. A worker that is creating its
    file leaves it empty for an instant; read then, it would fail the whole scrape, so
    files without their header yet are left for the next scrape."""

    def __init__(self, directory):
        self.directory = directory

    def collect(self):
        files = [entry.path for entry in os.scandir(self.directory)
                 if entry.name.endswith(".db") and entry.stat().st_size >= 8]
        return multiprocess.MultiProcessCollector.merge(files, accumulate=True)


def exposition(conn):
    """``(body, content type)`` of ``GET /metrics``: every worker's counters
    (or this process's) and the store's figures."""
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROCESS_DIRECTORY):
        registry.register(WorkerFiles(os.environ[MULTIPROCESS_DIRECTORY]))
    else:
        registry.register(REGISTRY)
    registry.register(StoreCollector(conn))
    return generate_latest(registry), CONTENT_TYPE_LATEST


# gunicorn hooks (see gunicorn.conf.py) -----------------------------------------

def _remove_metric_files(directory):
    for entry in os.scandir(directory):
        if entry.name.endswith(".db"):
            os.unlink(entry.path)


def on_starting(server):
    """Start from an empty directory: files left by an earlier run would add its counts."""
    directory = os.environ[MULTIPROCESS_DIRECTORY]
    os.makedirs(directory, exist_ok=True)
    _remove_metric_files(directory)


def child_exit(server, worker):
    """A worker's counters stay (they are part of the totals); its live gauges go."""
    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    directory = os.environ[MULTIPROCESS_DIRECTORY]
    _remove_metric_files(directory)
    try:
        os.rmdir(directory)
    except OSError:  # something else is in it: not ours to remove
        pass
