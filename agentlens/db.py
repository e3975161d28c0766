"""SQLite connections, transactions and the migration runner.

The schema is ``schema.sql`` (step 1) followed by ``migrations/NNNN_*.sql``
(step NNNN). ``PRAGMA user_version`` records the last step applied; steps run
at the first connection of a process, each inside one write transaction.
"""
import contextlib
import functools
import sqlite3
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
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


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
    """``[(version, sql), ...]`` in the order they apply."""
    package = resources.files(__package__)
    steps = [(1, package.joinpath("schema.sql").read_text())]
    for entry in sorted(package.joinpath("migrations").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".sql"):
            steps.append((int(entry.name.split("_", 1)[0]), entry.read_text()))
    return steps


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


def apply_steps(conn):
    """The steps newer than the version read inside the write transaction."""
    with transaction(conn):
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        for step, sql in migration_steps():
            if step > version:
                for statement in split_statements(sql):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {int(step)}")
                version = step
    return version


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


def stream_query(produce, *args, chunk_size=64 * 1024):
    """Run the generator ``produce(conn, *args)`` on a connection of its own,
    joining the small pieces of text it yields into chunks of about chunk_size.

    A streamed response is read after its view has returned, possibly while
    the thread serves other requests on its kept connection, so it gets a
    connection of its own, and one read snapshot so that all its queries agree.
    """
    path = current_app.config["DATABASE"]

    def chunks():
        conn = connect(path)
        try:
            with snapshot(conn):
                pending, size = [], 0
                for piece in produce(conn, *args):
                    pending.append(piece)
                    size += len(piece)
                    if size >= chunk_size:
                        yield "".join(pending)
                        pending, size = [], 0
                yield "".join(pending)
        finally:
            conn.close()

    return chunks()
