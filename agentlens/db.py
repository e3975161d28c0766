"""Connections, transactions and the migration runner.

SQLite is the store unless ``DATABASE`` is a ``postgresql://`` URL (then
:mod:`agentlens.postgresql`). Both connections have the same interface:
``execute``/``executemany``, rows by index and by name, ``transaction()`` (the one
serialised writer), ``snapshot()`` (consistent reads), ``migrate()``,
``duration_us_sql`` and the storage figures. The code above them writes its SQL once.

SQLite's schema is ``schema.sql`` (step 1) followed by ``migrations/NNNN_*.sql``
(step NNNN) and the steps of ``OUTSIDE_TRANSACTION``. ``PRAGMA user_version``
records the last step applied; steps run at the first connection of a process,
each inside one write transaction, except those of OUTSIDE_TRANSACTION (VACUUM
cannot run inside one).
"""
import contextlib
import fcntl
import functools
import logging
import os
import re
import sqlite3
import tempfile
import threading
import time
from importlib import resources

import click
from flask import current_app, g

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
# Another process may be migrating a large database (minutes for tens of
# millions of events): wait for it rather than fail the request.
MIGRATION_WAIT_MS = 30 * 60_000
# What the WAL file is truncated back to after a checkpoint: a long read
# snapshot can make it grow far beyond the usual ~4 MB (1000 pages).
WAL_SIZE_LIMIT_BYTES = 16 * 1024 * 1024
# A process checkpoints the WAL after a write transaction, out of the writers' queue
# (Writers.wrote), once its transactions have changed this many rows since its last
# checkpoint: about as many pages at batch 1 (an event, its session and 13 rollup
# rows: some 16 pages), fewer in batches of ~1 KB events (against the code before,
# bench/ingest.py: 1,000 rows 1.01-1.17x its events/s at batch 1 and 1.06-1.11x at
# 100 in two runs; 2,000 rows 1.11x and 1.02x). SQLite's own automatic checkpoint,
# which runs inside COMMIT, stays as a backstop (for rows of a page or more) at
# four times its default of 1,000 pages.
CHECKPOINT_ROWS = 1000
BACKSTOP_CHECKPOINT_PAGES = 4000


class SqliteConnection(sqlite3.Connection):
    dialect = "sqlite"
    # How a duration in float milliseconds becomes integer microseconds (the SQL form
    # of rules.duration_us): SQLite's round() of a non-negative value is floor(x + 0.5).
    duration_us_sql = "CAST(round(duration_ms * 1000) AS INTEGER)"
    reclaims_space_itself = False  # pages freed by deletes stay in the file until a vacuum
    max_key_bytes = None  # an id or name of any length can be a key
    null_safe_equal = "IS"  # IS NOT DISTINCT FROM needs SQLite 3.39

    writers = None  # set by connect(): the Writers of its file
    busy_timeout_ms = BUSY_TIMEOUT_MS  # what PRAGMA busy_timeout was last set to (set_busy_timeout)

    def set_busy_timeout(self, milliseconds):
        """How long a writer waits for its turn, in the queue and then for SQLite's lock."""
        self.execute(f"PRAGMA busy_timeout = {int(milliseconds)}")
        self.busy_timeout_ms = milliseconds

    @contextlib.contextmanager
    def transaction(self):
        """A write transaction: ``BEGIN IMMEDIATE`` in turn (Writers), commit, or roll
        back on any error."""
        with self.writers.turn(self.busy_timeout_ms / 1000):
            self.execute("BEGIN IMMEDIATE")
            changes = self.total_changes
            try:
                yield self
                self.execute("COMMIT")  # may fail too (a deferred foreign key): then roll back
            except BaseException:
                if self.in_transaction:
                    self.execute("ROLLBACK")
                raise
        self.writers.wrote(self, self.total_changes - changes)

    @contextlib.contextmanager
    def snapshot(self):
        """A read transaction, so that several queries see the same data."""
        self.execute("BEGIN")
        try:
            yield self
        finally:
            self.execute("COMMIT")

    def migrate(self):
        return migrate_sqlite(self)

    def pipeline(self):
        """Nothing to gain in-process: PostgreSQL's sends statements without waiting."""
        return contextlib.nullcontext()

    def path(self):
        return self.execute("PRAGMA database_list").fetchone()["file"]

    def size_bytes(self):
        """``(database file, write-ahead log)`` sizes in bytes."""
        path = self.path()
        return tuple(os.path.getsize(p) if p and os.path.exists(p) else 0
                     for p in (path, f"{path}-wal"))

    def used_bytes(self):
        pages, free, size = (self.execute(f"PRAGMA {name}").fetchone()[0]
                             for name in ("page_count", "freelist_count", "page_size"))
        return (pages - free) * size


def is_postgresql(database):
    """Whether ``database`` names a PostgreSQL database (psycopg, an extra, is only
    imported then)."""
    return database.startswith(("postgresql://", "postgres://"))


class Writers:
    """Where the writers of one SQLite file queue, before ``BEGIN IMMEDIATE``.

    SQLite alone makes a writer that finds its lock taken sleep and try again,
    backing off to 100 ms between tries: under load, writers slept long after the
    lock was free (p99 of 42 ms at batch 1, 0.9 s at batch 500, each write taking
    a few milliseconds). Here a process's threads wait on one lock, which the
    next takes as soon as it is released, and processes on an flock of a file
    beside the database (``<database>-writers``), tried again every millisecond
    at most. This is only a queue: SQLite's own lock still makes writes safe,
    also against a writer that does not queue here. A wait longer than the busy
    timeout fails as SQLite's would ("database is locked").
    """

    def __init__(self, path):
        self.path = path  # None: no file to lock (an in-memory database)
        self.pid = None

    def turn(self, timeout):
        if self.pid != os.getpid():  # new, or inherited by fork: a lock and file of its own
            with WRITERS_LOCK:
                if self.pid != os.getpid():
                    self.threads, self.fd = threading.Lock(), self.open_file()
                    self.checkpointing, self.rows_since_checkpoint = threading.Lock(), 0
                    self.pid = os.getpid()
        return self.held(timeout)

    def open_file(self):
        if self.path is None:
            return None
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:  # a read-only folder: then only SQLite's own lock
            return None

    def close(self):
        """Close this process's lock file (a writer after this opens it again)."""
        if self.pid == os.getpid() and self.fd is not None:
            with self.threads:  # not while a writer of this process holds it
                os.close(self.fd)
                self.fd = None
        self.pid = None

    @contextlib.contextmanager
    def held(self, timeout):
        deadline = time.monotonic() + timeout
        if not self.threads.acquire(timeout=timeout):
            raise sqlite3.OperationalError("database is locked")
        try:
            if self.fd is not None:
                self.lock_file(deadline)
            try:
                yield
            finally:
                if self.fd is not None:
                    fcntl.flock(self.fd, fcntl.LOCK_UN)
        finally:
            self.threads.release()

    def wrote(self, conn, rows):
        """After a write transaction of ``rows`` changes, out of the queue: checkpoint the
        WAL when this process has changed CHECKPOINT_ROWS rows since its last one.

        SQLite's automatic checkpoint runs inside COMMIT, and so held every other
        writer back while it copied the pages. A passive checkpoint waits for nobody;
        writers go on meanwhile. One that fails fails nothing: what was written is
        committed, and the next one catches up.
        """
        if self.path is None:  # in memory: no WAL
            return
        self.rows_since_checkpoint += rows  # a count lost to a race only delays one
        checkpointing = self.checkpointing  # the one acquired is the one released
        if self.rows_since_checkpoint < CHECKPOINT_ROWS or not checkpointing.acquire(
                blocking=False):
            return
        try:
            self.rows_since_checkpoint = 0
            self.checkpoint(conn)
        except sqlite3.Error as error:
            logger.warning("WAL checkpoint after a write failed: %s", error)
        finally:
            checkpointing.release()

    @staticmethod
    def checkpoint(conn):
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()

    def lock_file(self, deadline):
        pause = 0.00005
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise sqlite3.OperationalError("database is locked")
                time.sleep(pause)
                pause = min(pause * 2, 0.001)


WRITERS = {}
WRITERS_LOCK = threading.Lock()


def writers_key(database):
    """``(key, lock file or None)``: "" and ":memory:" give each connection a
    database of its own, nothing to share with another process."""
    if database in ("", ":memory:"):
        return database, None
    path = os.path.realpath(database)
    return path, path + "-writers"


def writers_of(database):
    """The one Writers of a SQLite database in this process."""
    key, lock_file = writers_key(database)
    with WRITERS_LOCK:
        if key not in WRITERS:
            WRITERS[key] = Writers(lock_file)
        return WRITERS[key]


def close_writers(database):
    """Forget the database's Writers in this process, closing its lock file."""
    with WRITERS_LOCK:
        writers = WRITERS.pop(writers_key(database)[0], None)
    if writers is not None:
        writers.close()


def shown(database):
    """``database`` as it may be printed: a URL without its password."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", database)


def connect(database):
    """Open a connection to ``database``: a SQLite file (with the per-connection
    pragmas set here), or a ``postgresql://`` URL.

    For SQLite, ``isolation_level=None`` leaves transactions to
    ``transaction()``; a streamed response may be read on another thread than the
    one that opened its connection, hence ``check_same_thread=False``.
    """
    if is_postgresql(database):
        from . import postgresql
        return postgresql.connect(database)
    conn = sqlite3.connect(database, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                           check_same_thread=False, factory=SqliteConnection)
    conn.row_factory = sqlite3.Row
    conn.writers = writers_of(database)
    conn.set_busy_timeout(BUSY_TIMEOUT_MS)
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT_BYTES}")
    conn.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_CHECKPOINT_PAGES}")
    return conn


def transaction(conn):
    """The store's write transaction: commit, or roll back on any error."""
    return conn.transaction()


def snapshot(conn):
    """A read transaction, so that several queries see the same data."""
    return conn.snapshot()


def migrate(conn):
    """Bring the schema up to date; return the version reached."""
    return conn.migrate()


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


def migrate_sqlite(conn):
    """Apply every step newer than ``user_version``; return the version reached.

    Safe when several processes start at once: the version is read again
    inside the write transaction, so each step is applied exactly once. An
    up-to-date database takes no write lock.
    """
    # Only a database without tables takes this at once (a new one: the mode must be
    # set before its first table, and before WAL, which writes the header); an
    # older one is converted by step 8. Not asked of one with tables: the pragma
    # waits for the write lock even when it changes nothing, so each new connection
    # (a new thread's) waited for the writer of the moment.
    if conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone() is None:
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
    use_wal(conn)
    latest = max(step for step, _ in migration_steps())
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version >= latest:
        return version
    conn.set_busy_timeout(MIGRATION_WAIT_MS)
    try:
        return apply_steps(conn)
    finally:
        conn.set_busy_timeout(BUSY_TIMEOUT_MS)


def recount_totals(conn):
    """Step 6: every total and the rollups of its time recomputed from the events."""
    from . import recount, rollups  # the write path's own code; imported late (recount imports db)

    recount.rebuild(conn, [r for r in rollups.ALL if r not in rollups.AGENT_DAY_ROLLUPS])


def fill_agent_days(conn):
    """Step 12 (PostgreSQL's 3): the rollups it adds, summed from the per-session rollup."""
    from . import recount, rollups

    recount.fill_rollups(conn, rollups.AGENT_DAY_ROLLUPS)


# Steps after which totals and rollups are computed again, because the step changed
# what they hold or added some.
AFTER_STEP = {6: recount_totals, 12: fill_agent_days}

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
    """The connection of this request (or CLI command) to the app's database; the
    schema is migrated on first use."""
    return current_app.extensions["agentlens_store"].connection()


class KeptConnections:
    """SQLite: each thread's connection, opened (and the schema migrated) on first
    use, then kept for the thread's next requests.

    Kept rather than closed after each request: closing the last connection
    to a WAL database checkpoints the log and syncs the file, which would cost
    every request several fsyncs (measured: the write path ran 2-10x slower).
    Keyed by thread id, not thread-local, so that :meth:`close` can reach
    them; a new thread that reuses a finished one's id reuses its connection.
    """

    def __init__(self, path):
        self.path = path
        self.connections = {}

    def connection(self):
        thread = threading.get_ident()
        if thread not in self.connections:
            conn = connect(self.path)
            migrate(conn)
            self.connections[thread] = conn  # only once migrated: a failed attempt is retried
        return self.connections[thread]

    def release(self):
        pass

    def close(self):
        while self.connections:
            self.connections.popitem()[1].close()
        close_writers(self.path)


class PooledConnections:
    """PostgreSQL: a connection from the process's pool for each app context (a
    request, a CLI command), given back when the context ends."""

    def __init__(self, url):
        from . import postgresql
        self.pool = postgresql.Pool(url)

    def connection(self):
        if "agentlens_db" not in g:
            g.agentlens_db = self.pool.get()
        return g.agentlens_db

    def release(self):
        conn = g.pop("agentlens_db", None)
        if conn is not None:
            conn.close()

    def close(self):
        self.pool.close()


def close_all(app):
    """Close every connection of ``app`` (at worker exit, after a test)."""
    app.extensions["agentlens_store"].close()


@click.command("init-db")
def init_db_command():
    """Create or upgrade the database (also done automatically on first use)."""
    version = migrate(get_db())
    click.echo(f"Database {shown(current_app.config['DATABASE'])} is at schema version {version}.")


def init_app(app):
    database = app.config["DATABASE"]
    app.extensions["agentlens_store"] = (PooledConnections(database) if is_postgresql(database)
                                         else KeptConnections(database))
    app.teardown_appcontext(lambda error: app.extensions["agentlens_store"].release())
    app.cli.add_command(init_db_command)


SPOOL_MEMORY_BYTES = 1024 * 1024


def spooled(produce, *args, **kwargs):
    """Run the generator ``produce(conn, *args, **kwargs)`` of bytes pieces on this
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
                if spill is not None:
                    spill.write(piece)
                    continue
                pieces.append(piece)
                size += len(piece)
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
