"""AGENTLENS_RETENTION_DAYS: the server prunes by itself, one process at a time.

Triggered after requests: once the interval (AGENTLENS_RETENTION_INTERVAL_SECONDS)
has passed since this process last looked, the request that just finished starts
a background thread (one at a time per process), so no response waits for it. The
thread reads the ``retention`` lease (leases.py) and, if it is free, takes it with
a conditional UPDATE: of all the workers and hosts on the database exactly one
gets it. The holder prunes (retention.prune and free_pages: small batches with
rests, so ingest keeps flowing), renewing the lease inside every batch's
transaction and stopping if another process took it over (possible only once it
expired: LEASE_SECONDS without a batch, e.g. after a crash). When done it keeps
the lease until the interval has passed, so a run starts at most once per
interval across all processes, and the others find it taken without writing.
"""
import logging
import threading
import time

from . import leases
from .db import connect, migrate
from .retention import Policy, cutoff, free_pages, prune
from .rules import DAY_MS
from .timestamps import now_ms

logger = logging.getLogger(__name__)

LEASE = "retention"
LEASE_SECONDS = 60  # renewed at every batch and vacuum step


class LeaseLost(Exception):
    pass


def run_once(conn, days, interval_seconds, who):
    """Prune what is older than ``days`` if the lease is free (taking it as ``who``);
    ``retention.Pruned``, or None when another process holds the lease."""
    current = leases.holder(conn, LEASE)
    if current is not None and current[1] > now_ms():
        logger.info("retention: lease held by %s, not running", current[0])
        return None
    if not leases.take(conn, LEASE, who, LEASE_SECONDS):
        logger.info("retention: lease taken by another process, not running")
        return None

    def guard(conn):
        if not leases.renew(conn, LEASE, who, LEASE_SECONDS):
            raise LeaseLost(f"the retention lease was taken over from {who}")

    started = time.monotonic()
    logger.info("retention: %s started (sessions inactive for %s days)", who, days)
    try:
        pruned = prune(conn, Policy(cutoff=cutoff(days * DAY_MS)), guard=guard,
                       progress=lambda done: logger.info("retention: %s deleted %d sessions",
                                                         who, done))
        pages = free_pages(conn, guard=guard)
    except LeaseLost as lost:
        logger.warning("retention: stopped: %s", lost)
        return None
    leases.keep_until(conn, LEASE, who, now_ms() + int(interval_seconds * 1000))
    logger.info("retention: %s finished in %.1f s: %d sessions and %d events in %d batches, "
                "%d pages freed", who, time.monotonic() - started, pruned.sessions,
                pruned.events, pruned.batches, pages)
    return pruned


class AutoRetention:
    """Starts :func:`run_once` on a thread of its own after a request, at most once
    per interval in this process."""

    def __init__(self, database, days, interval_seconds):
        self.database, self.days, self.interval = database, days, interval_seconds
        self.lock = threading.Lock()
        self.next_look = 0.0  # time.monotonic()
        self.thread = None

    def after_request(self, response):
        if time.monotonic() >= self.next_look:
            with self.lock:
                if time.monotonic() >= self.next_look and not (self.thread and self.thread.is_alive()):
                    self.next_look = time.monotonic() + self.interval
                    self.thread = threading.Thread(target=self.run, name="agentlens-retention",
                                                   daemon=True)
                    self.thread.start()
        return response

    def run(self):
        conn = connect(self.database)
        try:
            migrate(conn)
            run_once(conn, self.days, self.interval, leases.holder_name())
        except Exception:
            logger.exception("retention: the run failed")
        finally:
            conn.close()


def init_app(app):
    if app.config["RETENTION_DAYS"]:
        auto = AutoRetention(app.config["DATABASE"], app.config["RETENTION_DAYS"],
                             app.config["RETENTION_INTERVAL_SECONDS"])
        app.extensions["agentlens_retention"] = auto
        app.after_request(auto.after_request)
