"""SQLite writers queue (db.Writers) before BEGIN IMMEDIATE: a writer starts as soon as
the one before it commits, and one kept waiting past the busy timeout is a 503."""
import contextlib
import fcntl
import os
import sqlite3
import statistics
import threading
import time

import pytest

from agentlens import db
from agentlens.db import get_db, transaction

pytestmark = pytest.mark.sqlite_only

HOLD_SECONDS = 0.26


def handoff_delay(app):
    """Seconds between one thread's commit and the start of another's transaction,
    which waited for it on a connection of its own."""
    committed, started, holding = [], [], threading.Event()

    def first():
        with app.app_context():
            with transaction(get_db()):
                holding.set()
                time.sleep(HOLD_SECONDS)
            committed.append(time.monotonic())

    def second():
        with app.app_context():
            conn = get_db()  # opened before, so that only its turn is timed
            holding.wait()
            with transaction(conn):
                started.append(time.monotonic())

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return started[0] - committed[0]


def test_a_waiting_writer_starts_as_soon_as_the_lock_is_free(app):
    # SQLite alone would have it sleep and retry (1, 2, 5 ... 50 ms apart): after
    # 0.26 s held, it would start 0.07 s after the commit.
    delays = [handoff_delay(app) for _ in range(3)]
    assert statistics.median(delays) < 0.03, delays


@contextlib.contextmanager
def another_writer(app, seconds):
    """Another thread in a write transaction meanwhile: entered once it holds the write
    lock; it commits after ``seconds`` or when the block ends, whichever comes first."""
    holding, done = threading.Event(), threading.Event()

    def writer():
        with app.app_context():
            with transaction(get_db()):
                holding.set()
                done.wait(seconds)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        holding.wait()
        yield
    finally:
        done.set()
        thread.join()


def test_a_connection_opens_at_once_while_another_writes(app):
    # A new thread's connection used to wait for the writer of the moment (setting
    # auto_vacuum on a database that has tables, a no-op, waits for the write lock).
    with another_writer(app, 5):
        started = time.monotonic()
        conn = db.connect(app.config["DATABASE"])
        db.migrate(conn)
        assert conn.execute("SELECT count(*) FROM sessions").fetchone()[0] == 0
        assert time.monotonic() - started < 1
        conn.close()


def test_writers_of_other_processes_queue_on_a_file_beside_the_database(app, client, monkeypatch):
    monkeypatch.setattr(db, "BUSY_TIMEOUT_MS", 300)
    with app.app_context():
        get_db()  # opened, so the file to lock is known
    path = app.config["DATABASE"] + "-writers"
    # Another open file description is another holder, as another process would be.
    holder = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        started = time.monotonic()
        response = client.post("/events", json={"events": [{"session_id": "s", "event_id": "e"}]})
        waited = time.monotonic() - started
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
        assert response.get_json() == {
            "error": "The database stayed busy for 10 s (another writer): try again later"}
        assert 0.3 <= waited < 2
    finally:
        os.close(holder)
    response = client.post("/events", json={"events": [{"session_id": "s", "event_id": "e"}]})
    assert response.get_json() == {"status": "ok", "processed": 1}
    assert [e["event_id"] for e in client.get("/sessions/s").get_json()["events"]] == ["e"]


def test_a_writer_waits_its_turn_as_long_as_its_connection_waits_for_sqlite(app, monkeypatch):
    # A migration raises its connection's busy timeout to wait out another process's;
    # its turn in the queue is bounded by the same timeout, not the default one.
    monkeypatch.setattr(db, "BUSY_TIMEOUT_MS", 200)
    conn = db.connect(app.config["DATABASE"])
    conn.set_busy_timeout(5000)
    try:
        with another_writer(app, 0.8):
            started = time.monotonic()
            with transaction(conn):
                waited = time.monotonic() - started
        assert 0.5 < waited < 3
    finally:
        conn.close()


def lock_files_open(database):
    target = os.path.realpath(database) + "-writers"
    return sum(os.path.realpath(f"/proc/self/fd/{fd}") == target
               for fd in os.listdir("/proc/self/fd") if os.path.exists(f"/proc/self/fd/{fd}"))


def test_closing_an_app_closes_its_lock_file(make_app, tmp_path):
    database = str(tmp_path / "closed.sqlite3")
    app = make_app(DATABASE=database)
    with app.app_context():
        with transaction(get_db()):
            pass
    assert lock_files_open(database) == 1
    db.close_all(app)
    assert lock_files_open(database) == 0
    with app.app_context():  # used again: opened again
        with transaction(get_db()):
            pass
    assert lock_files_open(database) == 1
    db.close_all(app)


def test_a_process_checkpoints_the_wal_after_its_turn_every_thousand_rows(tmp_path, monkeypatch):
    path = str(tmp_path / "ckpt.sqlite3")
    checkpoints = []  # (rows written before it, whether this process's turn was still held)
    written = 0

    def checkpoint(conn):
        checkpoints.append((written, conn.writers.threads.locked()))
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()

    with contextlib.closing(db.connect(path)) as conn:
        db.migrate(conn)
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 4000  # the backstop
        conn.execute("CREATE TABLE filler (n INTEGER)")
        monkeypatch.setattr(conn.writers, "checkpoint", checkpoint)
        conn.writers.rows_since_checkpoint = 0  # what migrating wrote counted too
        for _ in range(12):
            with transaction(conn):
                conn.executemany("INSERT INTO filler VALUES (?)", [(n,) for n in range(250)])
                written += 250
    # after the 4th transaction (1,000 rows), the 8th (1,000 more) and the 12th
    assert checkpoints == [(1000, False), (2000, False), (3000, False)]


def test_a_checkpoint_that_fails_fails_no_write(tmp_path, monkeypatch, caplog):
    path = str(tmp_path / "ckpt.sqlite3")

    def failing(conn):
        raise sqlite3.OperationalError("disk I/O error")

    with contextlib.closing(db.connect(path)) as conn:
        db.migrate(conn)
        monkeypatch.setattr(conn.writers, "checkpoint", failing)
        conn.execute("CREATE TABLE kept (n INTEGER)")
        with transaction(conn):
            conn.executemany("INSERT INTO kept VALUES (?)", [(n,) for n in range(1000)])
        assert conn.execute("SELECT count(*) FROM kept").fetchone()[0] == 1000
    assert "WAL checkpoint after a write failed: disk I/O error" in caplog.text
