"""``agentlens backup PATH`` and ``agentlens restore PATH``, with SQLite's online backup API.

A backup copies the database while the server goes on taking writes: it holds one
read transaction on the source for the whole copy, so the copy is the database as
it was when the backup began (every write committed before, none after), and in
WAL mode that read transaction never blocks a writer. Copying page by page inside
that one snapshot also keeps SQLite from restarting the copy when others write.

A restore copies a backup over the configured database through the same API, so
SQLite's own locking applies; it refuses while another process has the database
open (see :func:`process_holding`), unless forced.
"""
import fcntl
import os
import sqlite3
import struct
import sys
from pathlib import Path

import click
from flask import current_app

from .db import BUSY_TIMEOUT_MS, connect, is_postgresql, migration_steps

PAGES_PER_STEP = 256  # 1 MiB at the default page size: a progress bar that moves
# SQLite's unix VFS: every connection to a WAL database holds a shared lock on this
# byte of ``<database>-shm`` from its first read until it closes (the "DMS" slot).
SHM_DMS_BYTE = 128
FLOCK = "hhqqi4x"  # struct flock on Linux: type, whence, start, len, pid (+ padding)


class BackupError(click.ClickException):
    pass


def open_read_only(path):
    if not Path(path).is_file():
        raise BackupError(f"No database at {path}")
    conn = sqlite3.connect(f"{Path(path).absolute().as_uri()}?mode=ro", uri=True,
                           isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return conn


def integrity(conn):
    rows = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    return "ok" if rows == ["ok"] else "; ".join(rows[:5])


def store_summary(conn):
    """``(sessions, events)`` in an AgentLens database; BackupError if it is not one."""
    try:
        return conn.execute(
            "SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM events)").fetchone()
    except sqlite3.DatabaseError as error:
        raise BackupError(f"Not an AgentLens database: {error}")


def copy_pages(source, target, progress):
    """Copy every page of ``source`` into ``target``; ``progress(done, total)`` after each step."""
    source.backup(target, pages=PAGES_PER_STEP,
                  progress=lambda status, remaining, total: progress(total - remaining, total))


def backup(database, path, progress=lambda done, total: None):
    """Copy ``database`` to the new file ``path``, checked; returns ``(sessions, events)``.

    The copy is written beside ``path`` and renamed into place once it passes
    ``PRAGMA integrity_check``; it is a single file (rollback journal, not WAL).
    """
    if os.path.exists(path):
        raise BackupError(f"{path} exists: back up to a new file")
    source = open_read_only(database)
    partial = f"{path}.partial"
    try:
        source.execute("BEGIN")
        summary = store_summary(source)  # the first read: the snapshot starts here
        target = sqlite3.connect(partial, isolation_level=None)
        try:
            copy_pages(source, target, progress)
            target.execute("PRAGMA journal_mode = DELETE")
            status = integrity(target)
        finally:
            target.close()
        if status != "ok":
            raise BackupError(f"The copy failed its integrity check: {status}")
        os.replace(partial, path)
    finally:
        source.close()
        if os.path.exists(partial):
            os.unlink(partial)
    return tuple(summary)


def process_holding(database):
    """The PID of another process that has ``database`` open, or None.

    SQLite keeps a shared POSIX lock on byte 128 of ``<database>-shm`` for every
    open connection to a WAL database (AgentLens always uses WAL), from its first
    read to its close; F_GETLK asks the kernel who holds a lock that a write lock
    there would conflict with. A server that has not yet served a request holds
    no connection, and is not hurt by a restore either.
    """
    try:
        descriptor = os.open(f"{database}-shm", os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        query = struct.pack(FLOCK, fcntl.F_WRLCK, os.SEEK_SET, SHM_DMS_BYTE, 1, 0)
        lock_type, _, _, _, pid = struct.unpack(FLOCK, fcntl.fcntl(descriptor, fcntl.F_GETLK, query))
    finally:
        os.close(descriptor)
    return None if lock_type == fcntl.F_UNLCK else pid


def check_backup(path):
    """Open the backup read-only: it must pass integrity_check and be an AgentLens
    database no newer than this version knows. Returns ``(sessions, events)``."""
    conn = open_read_only(path)
    try:
        status = integrity(conn)
        if status != "ok":
            raise BackupError(f"{path} failed its integrity check: {status}")
        summary = store_summary(conn)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        latest = max(step for step, _ in migration_steps())
        if version > latest:
            raise BackupError(f"{path} is at schema version {version}; this AgentLens knows "
                              f"up to {latest}: upgrade AgentLens first")
        return tuple(summary)
    finally:
        conn.close()


def restore(path, database, force=False, progress=lambda done, total: None):
    """Put the backup ``path`` in place of ``database``; returns ``(sessions, events)``."""
    summary = check_backup(path)
    holder = process_holding(database)
    if holder is not None and not force:
        raise BackupError(f"{database} is open in process {holder} (a running server?): "
                          "stop it first, or restore with --force")
    source = open_read_only(path)
    target = connect(database)
    try:
        copy_pages(source, target, progress)
        status = integrity(target)
    except sqlite3.Error as error:  # e.g. a WAL database with another page size
        raise BackupError(f"Could not restore into {database}: {error}")
    finally:
        target.close()
        source.close()
    if status != "ok":
        raise BackupError(f"The restored database failed its integrity check: {status}")
    return summary


def run_with_progress(label, operation):
    """``operation(progress)`` with click's progress bar (only its label when not on a terminal)."""
    with click.progressbar(length=1, label=label, file=sys.stderr) as bar:
        def progress(done, total):
            bar.length = total
            bar.update(done - bar.pos)
        return operation(progress)


def sqlite_database():
    database = current_app.config["DATABASE"]
    if is_postgresql(database):
        raise click.ClickException(
            "backup and restore copy a SQLite file; a PostgreSQL store is backed up with "
            "its own tools (pg_dump, or a base backup with WAL archiving).")
    return database


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False))
def backup_command(path):
    """Copy the database to PATH (a new file) while the server runs."""
    database = sqlite_database()
    sessions, events = run_with_progress(
        f"Backing up {database}", lambda progress: backup(database, path, progress))
    click.echo(f"Backed up {sessions} sessions and {events} events to {path} "
               f"({os.path.getsize(path)} bytes, integrity check ok).")


@click.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--force", is_flag=True,
              help="Restore even though another process has the database open.")
def restore_command(path, force):
    """Replace the database with the backup at PATH."""
    database = sqlite_database()
    sessions, events = run_with_progress(
        f"Restoring {path}", lambda progress: restore(path, database, force, progress))
    click.echo(f"Restored {sessions} sessions and {events} events into {database}.")


def init_app(app):
    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)
