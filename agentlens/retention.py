"""Retention: sessions deleted by last activity, in small batches, and the disk they
used given back to the file system (``agentlens prune``; auto_retention.py applies
AGENTLENS_RETENTION_DAYS with the same functions).

Sessions go by last activity (``last_event_at``), oldest first: those older than a
cutoff, or beyond the N most recently active. Every batch goes through the store's
exact path (``store.delete_sessions``), so every total and rollup moves by what
the batch really removed and analytics afterwards equal a store that never had
those sessions. A batch is one short write transaction of at most BATCH_SESSIONS
sessions and store.DELETE_EVENTS events (a larger session is emptied over several
batches and goes with its last events), which chooses its sessions itself, inside
the transaction: a session that received an event meanwhile is judged on it, and
sessions that arrive meanwhile count for ``keep``. Between batches the pruner
rests as long as the batch took, so that writers waiting for the lock (ingest)
get it. The freed pages are then handed back to the file system in steps of
VACUUM_PAGES (``PRAGMA incremental_vacuum``: the database is in
``auto_vacuum = INCREMENTAL`` since step 8), with the same rests.
"""
import dataclasses
import re
import time

import click
from flask import current_app

from .backup import run_with_progress
from .db import get_db, shown, snapshot, transaction
from .ingest import store
from .timestamps import MAX_MS, MIN_MS, now_ms

BATCH_SESSIONS = 200
VACUUM_PAGES = 512  # pages per transaction (2 MiB at the default page size): ~0.06 s
MIN_REST_SECONDS = 0.01
AFTER_ALL = (MAX_MS + 1, "")  # sorts after every session: "keep 0" deletes them all
BEFORE_BOUND = "(last_event_at, session_id) < (?, ?)"
UNITS_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


@dataclasses.dataclass(frozen=True)
class Policy:
    """Which sessions go: last activity before ``cutoff`` (epoch ms), or not among the
    ``keep`` most recently active; with both, a session goes when either says so."""
    cutoff: int = None
    keep: int = None

    def bound(self, conn):
        """``(last_event_at, session_id)``: the sessions before it in that order go
        (it is a prefix of that order whatever the policy); None: none goes."""
        bounds = []
        if self.cutoff is not None:
            bounds.append((self.cutoff, ""))
        if self.keep == 0:
            bounds.append(AFTER_ALL)
        elif self.keep is not None:
            oldest_kept = conn.execute(
                "SELECT last_event_at, session_id FROM sessions "
                "ORDER BY last_event_at DESC, session_id DESC LIMIT 1 OFFSET ?",
                (self.keep - 1,)).fetchone()
            if oldest_kept is not None:
                bounds.append(tuple(oldest_kept))
        return max(bounds, default=None)

    def next_batch(self, conn):
        """The ids of the next batch to delete, least recently active first."""
        bound = self.bound(conn)
        if bound is None:
            return []
        rows = conn.execute(
            f"SELECT session_id, event_count FROM sessions WHERE {BEFORE_BOUND} "
            "ORDER BY last_event_at, session_id LIMIT ?", (*bound, BATCH_SESSIONS)).fetchall()
        chosen, events = [], 0
        for session_id, event_count in rows:
            if chosen and events + event_count > store.DELETE_EVENTS:
                break
            chosen.append(session_id)
            events += event_count
        return chosen


def cutoff(age_ms):
    """The cutoff of "older than ``age_ms``", now."""
    return max(MIN_MS, now_ms() - age_ms)


@dataclasses.dataclass(frozen=True)
class Estimate:
    sessions: int
    events: int
    bytes: int  # the share of the used pages that these sessions' rows are


def estimate(conn, policy):
    """What a prune by ``policy`` would delete now (``--dry-run``); changes nothing.

    Bytes are estimated by rows: the used part of the file times the share of the
    stored events and sessions that would go (events make up most of a store).
    """
    with snapshot(conn):
        bound = policy.bound(conn)
        sessions, events = 0, 0
        if bound is not None:
            sessions, events = conn.execute(
                f"SELECT (SELECT count(*) FROM sessions WHERE {BEFORE_BOUND}), "
                "(SELECT count(*) FROM events WHERE session_id IN "
                f"(SELECT session_id FROM sessions WHERE {BEFORE_BOUND}))", (*bound, *bound)
            ).fetchone()
        all_sessions, all_events = conn.execute(
            "SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM events)").fetchone()
        used = conn.used_bytes()
    rows = all_sessions + all_events
    return Estimate(sessions, events, round(used * (sessions + events) / rows) if rows else 0)


@dataclasses.dataclass
class Pruned:
    sessions: int = 0
    events: int = 0
    batches: int = 0


def prune(conn, policy, *, guard=None, progress=None):
    """Delete the sessions ``policy`` chooses, batch by batch, until none is left.

    ``guard(conn)`` runs first inside every batch's transaction and raises to stop
    (auto_retention: the lease was lost); ``progress(sessions)`` follows each batch.
    """
    def choose(conn):
        if guard is not None:
            guard(conn)
        return policy.next_batch(conn)

    pruned = Pruned()
    while True:
        started = time.monotonic()
        sessions, events = store.delete_sessions(conn, choose)
        if not sessions and not events:
            return pruned
        pruned.sessions += sessions
        pruned.events += events
        pruned.batches += 1
        if progress is not None:
            progress(pruned.sessions)
        rest(started)


def free_pages(conn, *, guard=None, progress=None):
    """Give the database's free pages back to the file system, VACUUM_PAGES per write
    transaction (SQLite; PostgreSQL reclaims space itself); returns how many were freed. ``guard`` and ``progress(pages)`` as
    for :func:`prune` (the guard in a transaction of its own before each step).

    A passive checkpoint then copies the result into the file, which shrinks once
    the whole write-ahead log is copied (at once unless a reader holds it back;
    else at a later checkpoint).
    """
    if conn.reclaims_space_itself:
        return 0
    freed, free = 0, free_page_count(conn)
    while free:
        started = time.monotonic()
        if guard is not None:
            with transaction(conn):
                guard(conn)
        vacuum_step(conn)
        left = free_page_count(conn)
        if left >= free:  # nothing moved (or ingest reused the pages meanwhile)
            break
        freed, free = freed + free - left, left
        if progress is not None:
            progress(freed)
        rest(started)
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return freed


def vacuum_step(conn):
    """One write transaction of ``PRAGMA incremental_vacuum``. Through executescript:
    ``execute`` would stop after the first page (the pragma returns a row without
    columns per page, and Python's sqlite3 takes a statement without columns as done)."""
    try:
        conn.executescript(f"BEGIN IMMEDIATE; PRAGMA incremental_vacuum({VACUUM_PAGES}); COMMIT;")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def rest(started):
    """Wait as long as the work since ``started`` took: writers waiting for the lock get it."""
    time.sleep(max(MIN_REST_SECONDS, time.monotonic() - started))


def free_page_count(conn):
    if conn.reclaims_space_itself:
        return 0
    return conn.execute("PRAGMA freelist_count").fetchone()[0]


class Duration(click.ParamType):
    """``30d``, ``12h``, ``90m``, ``45s``, ``2w`` -> milliseconds."""
    name = "duration"

    def convert(self, value, param, ctx):
        match = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", str(value))
        if match is None:
            self.fail(f"{value!r} is not a duration: a whole number and a unit "
                      "(s, m, h, d or w), e.g. 30d", param, ctx)
        return int(match[1]) * UNITS_MS[match[2]]


def megabytes(size):
    return f"{size / 1e6:,.1f} MB"


@click.command("prune")
@click.option("--older-than", type=Duration(),
              help="Delete the sessions whose last activity is older than this (30d, 12h, 2w).")
@click.option("--keep-sessions", type=click.IntRange(min=0, max=2**62),
              help="Delete all but the N most recently active sessions.")
@click.option("--dry-run", is_flag=True,
              help="Say what would be deleted (sessions, events, bytes); change nothing.")
def prune_command(older_than, keep_sessions, dry_run):
    """Delete sessions by last activity, in small batches, and shrink the file.

    With both options, a session goes when either says so. Safe while the server
    runs: every batch is a short transaction, and ingest goes on between them.
    """
    if older_than is None and keep_sessions is None:
        raise click.UsageError("Say what to delete: --older-than, --keep-sessions, or both.")
    policy = Policy(cutoff=None if older_than is None else cutoff(older_than), keep=keep_sessions)
    conn, database = get_db(), shown(current_app.config["DATABASE"])
    planned = estimate(conn, policy)
    if dry_run:
        click.echo(f"Would delete {planned.sessions:,} sessions and {planned.events:,} events, "
                   f"about {megabytes(planned.bytes)} of {database}. Nothing was changed.")
        return
    before = conn.size_bytes()
    pruned = run_with_progress("Deleting sessions", lambda progress: prune(
        conn, policy, progress=lambda done: progress(done, max(done, planned.sessions))))
    pages = free_page_count(conn)
    freed = run_with_progress("Freeing pages", lambda progress: free_pages(
        conn, progress=lambda done: progress(done, max(done, pages))))
    after = conn.size_bytes()
    batches = f"{pruned.batches:,} batch{'es' if pruned.batches != 1 else ''}"
    click.echo(f"Deleted {pruned.sessions:,} sessions and {pruned.events:,} events in "
               f"{batches}; freed {freed:,} pages. {database}: "
               f"{megabytes(before[0])} before, {megabytes(after[0])} after "
               f"(write-ahead log {megabytes(after[1])}).")


def init_app(app):
    app.cli.add_command(prune_command)
