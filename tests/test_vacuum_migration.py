"""Step 8: databases give freed pages back to the file system (auto_vacuum = INCREMENTAL).
New ones are made so; an older one is rewritten once by VACUUM, outside any transaction,
and keeps every row."""
import threading

import pytest

from agentlens import db, recount, rollups
from agentlens.ingest import session_state
from agentlens.ingest.formats import agentlens
from agentlens.ingest.store import store_batch
from agentlens.read import analytics

LATEST = max(step for step, _ in db.migration_steps())
INCREMENTAL = 2


@pytest.fixture(autouse=True)
def close_connections(monkeypatch):
    """Every connection a test opens (several per test, some in threads) is closed after it."""
    opened, connect = [], db.connect

    def tracked(path):
        opened.append(connect(path))
        return opened[-1]

    monkeypatch.setattr(db, "connect", tracked)
    yield
    for conn in opened:
        conn.close()


def database_before_step_8(path):
    """A database made by the steps before 8, with three sessions stored."""
    conn = db.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    for step, sql in db.migration_steps():
        if step < 8:
            for statement in db.split_statements(sql):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {step}")
    events, rejected = agentlens.parse_batch({"events": [
        {"event_type": "llm_call", "session_id": f"s{number}", "event_id": f"e{index}",
         "model": "gpt-4o", "tokens_in": number + index, "timestamp": "2026-02-14T10:30:00Z",
         "input_data": {"prompt": "x" * 3000}}
        for number in range(3) for index in range(40)]}, max_batch=1000, max_field_bytes=10**6)
    assert rejected == []
    # Stored as the store of that time did: sessions had no revision column (step 11),
    # and there were no rollups by agent and day (step 12).
    saved = session_state.COLUMNS, rollups.EVENT_ROLLUPS, rollups.ALL
    session_state.COLUMNS = tuple(c for c in saved[0] if c != "revision")
    rollups.EVENT_ROLLUPS = tuple(r for r in saved[1] if r not in rollups.AGENT_DAY_ROLLUPS)
    rollups.ALL = tuple(r for r in saved[2] if r not in rollups.AGENT_DAY_ROLLUPS)
    try:
        store_batch(conn, events)
    finally:
        session_state.COLUMNS, rollups.EVENT_ROLLUPS, rollups.ALL = saved
    return conn


def statements(conn):
    """Every statement ``conn`` runs from now on, as a list that grows."""
    seen = []
    conn.set_trace_callback(seen.append)
    return seen


def test_a_new_database_is_incremental_from_its_first_table(tmp_path):
    conn = db.connect(str(tmp_path / "new.sqlite3"))
    ran = statements(conn)
    assert db.migrate(conn) == LATEST
    assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == INCREMENTAL
    assert "VACUUM" not in ran  # set before the first table: nothing to rewrite


def test_an_older_database_is_rewritten_once_and_keeps_every_row(tmp_path):
    conn = database_before_step_8(str(tmp_path / "old.sqlite3"))
    assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 0
    before = analytics.analytics(conn, now=1_771_065_000_000)
    events = conn.execute("SELECT * FROM events ORDER BY id").fetchall()
    ran = statements(conn)

    assert db.migrate(conn) == LATEST
    assert ran.count("VACUUM") == 1
    assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == INCREMENTAL
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT * FROM events ORDER BY id").fetchall() == events
    assert analytics.analytics(conn, now=1_771_065_000_000) == before
    assert recount.check(conn) == []

    # Pages freed by a delete now go back to the file system.
    conn.execute("DELETE FROM events WHERE session_id = 's0'")
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.executescript("PRAGMA incremental_vacuum")
    assert free > 20
    assert conn.execute("PRAGMA page_count").fetchone()[0] == pages - free


def test_a_process_that_finds_it_done_does_not_rewrite_again(tmp_path):
    path = str(tmp_path / "old.sqlite3")
    database_before_step_8(path)
    first = db.connect(path)
    db.use_incremental_vacuum(first)
    second = db.connect(path)
    ran = statements(second)
    db.use_incremental_vacuum(second)
    assert "VACUUM" not in ran


def test_processes_starting_together_all_reach_the_latest_step(tmp_path):
    path = str(tmp_path / "old.sqlite3")
    database_before_step_8(path).close()
    reached, errors = [], []

    def start():
        try:
            reached.append(db.migrate(db.connect(path)))
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert (errors, reached) == ([], [LATEST] * 3)
    conn = db.connect(path)
    assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == INCREMENTAL
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 120
    assert recount.check(conn) == []


def test_the_steps_after_8_are_applied_after_it(tmp_path):
    conn = database_before_step_8(str(tmp_path / "old.sqlite3"))
    db.migrate(conn)
    assert [row[0] for row in conn.execute(
        "SELECT name FROM sqlite_schema WHERE name IN ('leases', 'sessions_by_last_event') "
        "ORDER BY name")] == ["leases", "sessions_by_last_event"]
