"""Leases: one process at a time, of all the workers and hosts on a database, does a job.

A lease is a row of ``leases``: who holds it and until when. Taking it is a
conditional UPDATE inside a write transaction (the row is free when its time has
passed), so of several processes trying at once exactly one succeeds, whatever
machine they run on: the database is the only thing they share. The holder
renews it inside each transaction of its work, so that work never goes on once
another process has taken the lease over; when done, it keeps the lease until
the job is next due, which spaces the runs of all processes together.
"""
import os
import secrets
import socket

from .db import transaction
from .timestamps import now_ms


def holder_name():
    """This process, as a lease records it: ``host:pid:random`` (pids repeat across hosts
    and over time)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def holder(conn, name):
    """``(holder, expires_at)`` of the lease ``name`` as last written, or None."""
    row = conn.execute("SELECT holder, expires_at FROM leases WHERE name = ?", (name,)).fetchone()
    return None if row is None else tuple(row)


def take(conn, name, who, seconds, now=None):
    """Take the lease if it is free (never taken, or its time has passed); True if taken."""
    now = now_ms() if now is None else now
    with transaction(conn):
        conn.execute("INSERT INTO leases (name, holder, expires_at) VALUES (?, '', 0) "
                     "ON CONFLICT (name) DO NOTHING", (name,))
        return conn.execute(
            "UPDATE leases SET holder = ?, expires_at = ? WHERE name = ? AND expires_at <= ? "
            "RETURNING 1", (who, now + int(seconds * 1000), name, now)).fetchone() is not None


def renew(conn, name, who, seconds, now=None):
    """Inside the caller's transaction: extend the lease if ``who`` still holds it.

    False when another process has taken it over (it had expired): stop working then.
    """
    now = now_ms() if now is None else now
    return conn.execute(
        "UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ? RETURNING 1",
        (now + int(seconds * 1000), name, who)).fetchone() is not None


def keep_until(conn, name, who, until):
    """The work is done: hold the lease (if still ours) until ``until``, when it is next due."""
    with transaction(conn):
        conn.execute("UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ?",
                     (until, name, who))
