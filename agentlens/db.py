"""SQLite connections, transactions and the migration runner.

The schema is ``schema.sql`` (step 1) followed by ``migrations/NNNN_*.sql``
(step NNNN) and the steps of ``OUTSIDE_TRANSACTION``. ``PRAGMA user_version``
records the last step applied; steps run at the first connection of a process,
each inside one write transaction, except those of OUTSIDE_TRANSACTION (VACUUM
cannot run inside one).
"""
import contextlib
import functools
import sqlite3
import tempfile
import threading
import time
from importlib import resources

import click
from flask import current_app

BUSY_TIMEOUT_MS = 10_000
# Another process may be migrating a large database (minutes for tens of
# millions of events): wait for it rather than fail the request.
MIGRATION_WAIT_MS = 30 * 60_000
# What the WAL file is truncated back to after a checkpoint: a long read
# snapshot can make it grow far beyond the usual ~4 MB (1000 pages).
WAL_SIZE_LIMIT_BYTES = 16 * 1024 * 1024


def connect(path):
    """Open a connection with the per-connection pragmas set in one place.

    ``isolation_level=None`` leaves transactions to :func:`transaction`;
    a streamed response may be read on another thread than the one that
    opened its connection, hence ``check_same_thread=False``.
    """
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                           check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT_BYTES}")
    return conn


@contextlib.contextmanager
def transaction(conn):
    """A write transaction: ``BEGIN IMMEDIATE``, commit, or roll back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")  # may fail too (a deferred foreign key): then roll back
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


@contextlib.contextmanager
def snapshot(conn):
    """A read transaction, so that several queries see the same data."""
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        conn.execute("COMMIT")


@functools.cache
def migration_steps():
    """``[(version, sql), ...]`` in the order they apply (no SQL for the steps
    of OUTSIDE_TRANSACTION)."""
    package = resources.files(__package__)
    steps = [(1, package.joinpath("schema.sql").read_text())]
    for entry in sorted(package.joinpath("migrations").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".sql"):
            steps.append((int(entry.name.split("_", 1)[0]), entry.read_text()))
    steps += [(step, "") for step in OUTSIDE_TRANSACTION]
    return sorted(steps)


def split_statements(script):
    statements, pending = [], ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip():
        statements.append(pending.strip())
    return statements


def use_wal(conn):
    """Switch the database to WAL (once: the mode is kept in the file).

    Changing the journal mode does not wait on busy_timeout, so several
    processes opening a new database at once retry here for a while.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def migrate(conn):
    """Apply every step newer than ``user_version``; return the version reached.

    Safe when several processes start at once: the version is read again
    inside the write transaction, so each step is applied exactly once. An
    up-to-date database takes no write lock.
    """
    # Only a database without tables takes this at once (a new one: the mode must be
    # set before its first table, and before WAL, which writes the header); an
    # older one is converted by step 8.
    conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
    use_wal(conn)
    latest = max(step for step, _ in migration_steps())
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version >= latest:
        return version
    conn.execute(f"PRAGMA busy_timeout = {MIGRATION_WAIT_MS}")
    try:
        return apply_steps(conn)
    finally:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")


def recount_totals(conn):
    from .recount import rebuild  # the write path's own code; imported late (it imports db)

    rebuild(conn)


# Steps after which totals and rollups are recomputed from the events, because
# the step changed what they hold.
AFTER_STEP = {6: recount_totals}

AUTO_VACUUM_INCREMENTAL = 2  # what PRAGMA auto_vacuum reads for INCREMENTAL


def use_incremental_vacuum(conn):
    """Step 8: pages freed by deletes can be given back to the file system
    (``PRAGMA incremental_vacuum``, after a prune). A database made before this
    step is rewritten once by VACUUM, which needs as much free disk again as the
    file (and as much for the WAL, which the checkpoint then empties).

    The mode is read under the write lock, so a process that waited for
    another's VACUUM sees it done and does not repeat it.
    """
    with transaction(conn):
        if conn.execute("PRAGMA auto_vacuum").fetchone()[0] == AUTO_VACUUM_INCREMENTAL:
            return
    conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
    conn.execute("VACUUM")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


# Steps that cannot run inside a transaction (VACUUM): each is a function run on
# its own, then recorded. Processes that start together may both reach one, so
# each finds out itself whether it still has anything to do.
OUTSIDE_TRANSACTION = {8: use_incremental_vacuum}


def apply_steps(conn):
    """The steps newer than the version read inside the write transaction; a step
    of OUTSIDE_TRANSACTION ends that transaction, runs, and is recorded in one
    of its own, then the next steps follow."""
    while True:
        with transaction(conn):
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            for step, sql in migration_steps():
                if step <= version:
                    continue
                if step in OUTSIDE_TRANSACTION:
                    break
                for statement in split_statements(sql):
                    conn.execute(statement)
                if step in AFTER_STEP:
                    AFTER_STEP[step](conn)
                conn.execute(f"PRAGMA user_version = {int(step)}")
                version = step
            else:
                return version
        OUTSIDE_TRANSACTION[step](conn)
        with transaction(conn):
            if conn.execute("PRAGMA user_version").fetchone()[0] < step:
                conn.execute(f"PRAGMA user_version = {int(step)}")


def get_db():
    """This thread's connection to the app's database, opened (and the schema
    migrated) on first use, then kept for the thread's next requests.

    Kept rather than closed after each request: closing the last connection
    to a WAL database checkpoints the log and syncs the file, which would cost
    every request several fsyncs (measured: the write path ran 2-10x slower).
    Keyed by thread id, not thread-local, so that :func:`close_all` can reach
    them; a new thread that reuses a finished one's id reuses its connection.
    """
    connections = current_app.extensions["agentlens_connections"]
    thread = threading.get_ident()
    if thread not in connections:
        conn = connect(current_app.config["DATABASE"])
        migrate(conn)
        connections[thread] = conn  # only once migrated: a failed attempt is retried
    return connections[thread]


def close_all(app):
    """Close every kept connection of ``app`` (at worker exit, after a test)."""
    connections = app.extensions["agentlens_connections"]
    while connections:
        connections.popitem()[1].close()


@click.command("init-db")
def init_db_command():
    """Create or upgrade the database (also done automatically on first use)."""
    version = migrate(get_db())
    click.echo(f"Database {current_app.config['DATABASE']} is at schema version {version}.")


def init_app(app):
    app.extensions["agentlens_connections"] = {}
    app.cli.add_command(init_db_command)


SPOOL_MEMORY_BYTES = 1024 * 1024


def spooled(produce, *args, **kwargs):
    """Run the generator ``produce(conn, *args, **kwargs)`` of text pieces on this
    thread's connection, inside one read snapshot; return the whole text as a list
    of one bytes object, or, past SPOOL_MEMORY_BYTES, as a temporary file wrapped
    for a streamed response.

    All the reading is done before the first byte is sent, so a client that reads
    slowly, or not at all, holds no snapshot (which would keep the WAL from being
    checkpointed) and no connection; memory stays flat for any size.
    """
    pieces, size, spill = [], 0, None
    try:
        with snapshot(get_db()) as conn:
            for piece in produce(conn, *args, **kwargs):
                data = piece.encode()
                if spill is not None:
                    spill.write(data)
                    continue
                pieces.append(data)
                size += len(data)
                if size > SPOOL_MEMORY_BYTES:
                    spill = tempfile.TemporaryFile()
                    spill.writelines(pieces)
                    pieces = None
        if spill is None:
            return [b"".join(pieces)]
        spill.seek(0)
        return SpilledBody(spill)
    except BaseException:
        if spill is not None:
            spill.close()
        raise


class SpilledBody:
    """A response body read from a temporary file, closed once read to the end or when
    the server closes the response (whichever comes first)."""

    def __init__(self, file):
        self.file = file

    def __iter__(self):
        with self.file:
            while chunk := self.file.read(64 * 1024):
                yield chunk

    def close(self):
        self.file.close()
