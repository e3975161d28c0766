"""The stores the suite runs on: every test that builds an app (``make_app`` and the
fixtures on it) runs once on SQLite and once on PostgreSQL, unless ``--store`` names
one, or the test is marked ``sqlite_only`` (it is about the SQLite file itself:
its pragmas, query plans, migrations of old files, backup, vacuum).

On PostgreSQL each app gets a schema of its own in one database made for this run
(``agentlens_test_<pid>``, dropped at the end), through the URL's ``search_path``
option. Migrating a new schema takes ~0.2 s, so a test's schemas are emptied when
it ends (every row deleted, sequences reset, the rows the migrations put there
put back) and given to later tests. The server is ``AGENTLENS_TEST_POSTGRESQL`` (default: the local one, as
``scripts/prepare-test-machine`` starts it).
"""
import itertools
import os
from contextlib import closing
from urllib.parse import quote

import psycopg
from psycopg import sql

from agentlens import db

SERVER = os.environ.get("AGENTLENS_TEST_POSTGRESQL", "postgresql://127.0.0.1:5432")
STORES = ("sqlite", "postgresql")
_schemas = itertools.count()


def admin_url():
    return f"{SERVER}/postgres"


class TestDatabase:
    """This run's PostgreSQL database: one schema per app."""

    def __init__(self):
        self.name = f"agentlens_test_{os.getpid()}"
        self.created = False
        self.free = []  # URLs of emptied schemas
        self.seeds = None  # {table: rows} a migrated schema starts with

    def create(self):
        if not self.created:
            with psycopg.connect(admin_url(), autocommit=True) as admin:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(self.name)))
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))
            self.created = True

    def url(self, schema=None):
        base = f"{SERVER}/{self.name}"
        # A test's commits need not wait for the disk (a crash loses nothing of value).
        options = "-c synchronous_commit=off" + ("" if schema is None else f" -c search_path={schema}")
        return f"{base}?options={quote(options)}"

    def new_schema(self):
        """A URL whose connections see only a schema of their own, as a new database
        would be: migrated, with nothing stored."""
        if self.free:
            return self.free.pop()
        self.create()
        schema = f"app_{next(_schemas)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        url = self.url(schema)
        with closing(db.connect(url)) as conn:
            conn.migrate()
            if self.seeds is None:
                self.seeds = {table: [tuple(row) for row in conn.execute(f"SELECT * FROM {table}")]
                              for table in tables(conn)}
        return url

    def release(self, url):
        """Empty a schema a test is done with, for the next one (unless a connection
        left open still holds one of its tables: then it is left alone)."""
        with closing(db.connect(url)) as conn:
            try:
                with db.transaction(conn):
                    conn.execute("SET LOCAL lock_timeout = '2s'")
                    for table in tables(conn):  # DELETE: TRUNCATE takes ~0.1 s, this ~4 ms
                        conn.execute(f"DELETE FROM {table}")
                    conn.execute("SELECT setval(oid, 1, false) FROM pg_class WHERE relkind = 'S' "
                                 "AND relnamespace = current_schema()::regnamespace")
                    for table, rows in self.seeds.items():
                        for row in rows:
                            conn.execute(f"INSERT INTO {table} VALUES "
                                         f"({', '.join('?' * len(row))})", row)
            except psycopg.errors.LockNotAvailable:
                return
        self.free.append(url)

    def drop(self):
        self.free.clear()
        if self.created:
            with psycopg.connect(admin_url(), autocommit=True) as admin:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(self.name)))


def tables(conn):
    """The tables of the schema a connection sees, but the migrations' record."""
    return [row[0] for row in conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
        "AND tablename <> 'schema_migrations' ORDER BY tablename")]
