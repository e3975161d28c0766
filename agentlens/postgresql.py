"""PostgreSQL as the store (``AGENTLENS_DATABASE=postgresql://...``).

The rest of AgentLens writes SQL once, in the subset both stores speak, against a
connection that behaves like the SQLite one (:class:`Connection`). What differs
lives here, one place per concern:

- placeholders: ``?`` and ``:name`` become psycopg's ``%s`` and ``%(name)s``
  (:func:`translate`, :func:`numbered_insert`); parameters are bound on the server
  for inserts and on the client otherwise (:meth:`Connection.cursor`); values come back as SQLite gives
  them: rows by index and by name, sums as ``int``;
- locking: every write transaction takes one advisory lock first
  (:data:`WRITE_LOCK`), so writers are serialised as SQLite serialises them, on
  every host at once. That is what keeps the totals exact: a change reads the
  session's row, works out what its rows add, and writes the totals, and no other
  writer can come between (a statement in READ COMMITTED sees every commit made
  before it, so each transaction starts from all the others' work). Parsing,
  validation and reads run in parallel on every host;
- reads that must agree with each other run in one REPEATABLE READ snapshot;
- migrations: ``migrations/postgresql/NNNN_*.sql``, recorded in ``schema_migrations``,
  applied by one process at a time under an advisory lock;
- the database is created on first use when it does not exist;
- storage figures (database size) for the metrics and ``prune``.
"""
import contextlib
import functools
import itertools
import re
import threading
import time
from importlib import resources
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import pq, sql
from psycopg.adapt import Dumper, Loader
from psycopg_pool import ConnectionPool, PoolTimeout

from .db import fill_agent_days
from .errors import APIError

# Advisory lock keys (any two distinct 64-bit numbers no other application uses).
WRITE_LOCK = 0x4147_4C57_5249_5445  # "AGLWRITE"
MIGRATION_LOCK = 0x4147_4C4D_4947_5241  # "AGLMIGRA"
# Ids and names that are index keys (session, event, trace, type, model, agent): a
# B-tree entry is at most 2,704 bytes, and the widest holds four of them (session,
# type, model and hour), so each is at most 640 bytes; longer ones are refused, per event.
MAX_KEY_BYTES = 640
# READ COMMITTED whatever the server's default: each statement after the lock sees
# every write committed before it.
BEGIN_WRITING = f"BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock({WRITE_LOCK})"
# Connections per process (a request holds one while it waits for the write lock); a
# request that waits POOL_TIMEOUT_SECONDS for one is a 503.
POOL_SIZE = 16
POOL_TIMEOUT_SECONDS = 30
STATEMENT_CACHE = 4096
# How a duration in float milliseconds becomes integer microseconds (rules.duration_us):
# floor(x + 0.5); PostgreSQL's round() of a double rounds half to even.
DURATION_US_SQL = "CAST(floor(duration_ms * 1000 + 0.5) AS BIGINT)"


_TOKENS = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"|::|\?|:[A-Za-z_]\w*|%")


@functools.lru_cache(maxsize=STATEMENT_CACHE)
def translate(statement):
    """SQLite's placeholders as psycopg's; a literal ``%`` doubled (quoted text untouched)."""
    def replace(match):
        token = match[0]
        if token == "?":
            return "%s"
        if token == "%":
            return "%%"
        if token[0] == ":" and token != "::":
            return f"%({token[1:]})s"
        return token
    return _TOKENS.sub(replace, statement)


@functools.lru_cache(maxsize=STATEMENT_CACHE)
def numbered_insert(statement):
    """An INSERT whose placeholders are all ``?``, with ``$1``, ``$2``... instead;
    None for any other statement."""
    if statement.lstrip()[:6].upper() != "INSERT":
        return None
    numbers = itertools.count(1)

    def replace(match):
        token = match[0]
        if token[0] == ":" and token != "::":
            raise LookupError(token)
        return f"${next(numbers)}" if token == "?" else token
    try:
        return _TOKENS.sub(replace, statement)
    except LookupError:  # a named placeholder: bound on the client
        return None


# psycopg refuses text with U+0000 before sending anything (nothing is stored with one:
# every write path refuses it), so a lookup (a SELECT) by such text is sent again with
# a stand-in that matches nothing stored either, and finds nothing, as on SQLite.
NUL_REFUSED = "cannot contain NUL"
NUL_STAND_IN = "\uffff"


def without_nul(parameters):
    def clean(value):
        return value.replace("\x00", NUL_STAND_IN) if isinstance(value, str) else value
    if isinstance(parameters, dict):
        return {key: clean(value) for key, value in parameters.items()}
    return [clean(value) for value in parameters]


class Row:
    """A result row read by position or by column name, as ``sqlite3.Row``."""
    __slots__ = ("_values", "_names")

    def __init__(self, values, names):
        self._values, self._names = values, names

    def __getitem__(self, key):
        return self._values[self._names[key] if isinstance(key, str) else key]

    def keys(self):
        return list(self._names)

    def __iter__(self):
        return iter(self._values)

    def __len__(self):
        return len(self._values)

    def __repr__(self):
        return f"Row({dict(zip(self._names, self._values))!r})"


def row_factory(cursor):
    names = {}
    for position, column in enumerate(cursor.description or ()):
        names.setdefault(column.name, position)
    return lambda values: Row(values, names)


class NumberLoader(Loader):
    """``numeric`` as SQLite answers: ``sum()`` of integers is an ``int`` (PostgreSQL
    widens it to numeric), ``avg()`` a ``float``."""

    def load(self, data):
        text = bytes(data)
        return int(text) if text.lstrip(b"-").isdigit() else float(text)


class BoolDumper(Dumper):
    """Python's booleans stored as SQLite stores them: 1 and 0."""
    oid = psycopg.adapters.types["int4"].oid

    def dump(self, value):
        return b"1" if value else b"0"

    def quote(self, value):
        return self.dump(value)


def configure(raw):
    raw.adapters.register_loader("numeric", NumberLoader)
    raw.adapters.register_dumper(bool, BoolDumper)


def open_raw(url):
    """A psycopg connection in autocommit mode (transactions are explicit, as with
    SQLite); the database is created first when it does not exist yet."""
    options = dict(autocommit=True, row_factory=row_factory, cursor_factory=psycopg.ClientCursor)
    try:
        raw = psycopg.connect(url, **options)
    except psycopg.OperationalError as error:
        if not re.search(r'database ".*" does not exist', str(error)):
            raise
        create_database(url)
        raw = psycopg.connect(url, **options)
    configure(raw)
    return raw


def create_database(url):
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as admin:
        try:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
            pass  # another process created it meanwhile


class Connection:
    """A psycopg connection with the interface of AgentLens's SQLite connections."""
    dialect = "postgresql"
    duration_us_sql = DURATION_US_SQL
    reclaims_space_itself = True  # autovacuum makes deleted rows' space reusable
    max_key_bytes = MAX_KEY_BYTES
    null_safe_equal = "IS NOT DISTINCT FROM"

    def __init__(self, raw, release=None):
        self.raw = raw
        self._release = release

    def cursor(self, statement):
        """``(cursor, statement for it)``. An INSERT with ``?`` placeholders binds on
        the server, numbered ``$1``... (its values go to typed columns; psycopg would
        parse a long statement of ``%s`` again at every call, and quoting rows of text
        on the client costs as much); anything else binds on the client, where a bare
        ``? IS NULL`` needs no type."""
        numbered = numbered_insert(statement)
        if numbered is not None:
            return psycopg.RawCursor(self.raw, row_factory=row_factory), numbered
        return self.raw.cursor(), translate(statement)

    def execute(self, statement, parameters=()):
        cursor, sent = self.cursor(statement)
        try:
            return cursor.execute(sent, parameters)
        except psycopg.DataError as error:
            if NUL_REFUSED not in str(error) or not sent.lstrip()[:6].upper() == "SELECT":
                raise
            return cursor.execute(sent, without_nul(parameters))

    def executemany(self, statement, rows):
        cursor, sent = self.cursor(statement)
        cursor.executemany(sent, rows)
        return cursor

    def pipeline(self):
        """Statements sent without waiting for each one's answer (errors are raised at
        the end of the block)."""
        return self.raw.pipeline()

    @property
    def in_transaction(self):
        return self.raw.info.transaction_status != pq.TransactionStatus.IDLE

    def close(self):
        if self._release is not None:
            self._release(self.raw)
        else:
            self.raw.close()

    @contextlib.contextmanager
    def transaction(self):
        """A write transaction, serialised with every other writer on every host."""
        self.raw.execute(BEGIN_WRITING)  # one round trip
        try:
            yield self
            self.raw.execute("COMMIT")
        except BaseException:
            if self.in_transaction:
                self.raw.execute("ROLLBACK")
            raise

    @contextlib.contextmanager
    def snapshot(self):
        self.raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            yield self
        finally:
            self.raw.execute("ROLLBACK" if self.raw.info.transaction_status
                             == pq.TransactionStatus.INERROR else "COMMIT")

    def migrate(self):
        return migrate(self.raw)

    def size_bytes(self):
        """``(database, write-ahead log)``: the log is the server's, not this database's."""
        return self.execute("SELECT pg_database_size(current_database())").fetchone()[0], 0

    def used_bytes(self):
        return self.size_bytes()[0]


@functools.cache
def migration_steps():
    """``[(version, sql), ...]`` of ``migrations/postgresql``, in order."""
    folder = resources.files(__package__).joinpath("migrations", "postgresql")
    return sorted((int(entry.name.split("_", 1)[0]), entry.read_text())
                  for entry in folder.iterdir() if entry.name.endswith(".sql"))


def applied_version(raw):
    if raw.execute("SELECT to_regclass('schema_migrations')").fetchone()[0] is None:
        return 0
    return raw.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]


# Steps after which the rollups they add are filled from what is stored (as SQLite's).
AFTER_STEP = {3: fill_agent_days}


def migrate(raw):
    """Apply the steps not yet recorded; one process at a time (the others wait for
    the lock, then find nothing left to do). An up-to-date database takes no lock."""
    latest = migration_steps()[-1][0]
    if applied_version(raw) >= latest:
        return latest
    raw.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    try:
        raw.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                    "version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)")
        done = applied_version(raw)
        for version, script in migration_steps():
            if version <= done:
                continue
            with raw.transaction():
                raw.execute(script)
                if version in AFTER_STEP:
                    AFTER_STEP[version](Connection(raw))
                raw.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (%s, %s)",
                            (version, int(time.time() * 1000)))
        return latest
    finally:
        raw.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))


def connect(url):
    """One connection of its own (a CLI command, the retention thread), not pooled."""
    return Connection(open_raw(url))


class Pool:
    """An app's connections: one taken from a psycopg pool per request (per app
    context), given back when it ends. The schema is migrated once per process."""

    def __init__(self, url):
        self.url = url
        self.pool = None
        self.lock = threading.Lock()

    def _open(self):
        with self.lock:
            if self.pool is None:
                raw = open_raw(self.url)
                try:
                    migrate(raw)
                finally:
                    raw.close()
                self.pool = ConnectionPool(
                    self.url, min_size=1, max_size=POOL_SIZE, timeout=POOL_TIMEOUT_SECONDS,
                    kwargs=dict(autocommit=True, row_factory=row_factory,
                                cursor_factory=psycopg.ClientCursor),
                    configure=configure, check=ConnectionPool.check_connection,
                    open=True, name="agentlens")
        return self.pool

    def get(self):
        pool = self.pool or self._open()
        try:
            return Connection(pool.getconn(), release=pool.putconn)
        except PoolTimeout:
            raise APIError(503, f"No database connection free after {POOL_TIMEOUT_SECONDS} s: "
                                "the server is overloaded, try again later") from None

    def close(self):
        if self.pool is not None:
            self.pool.close()
            self.pool = None
