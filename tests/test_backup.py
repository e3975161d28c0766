"""agentlens backup / restore, for real: the commands run while a gunicorn server takes
events, and the restored store holds every event acknowledged before the backup began,
exactly once, with totals that agree with its events."""
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import server
from agentlens import backup, create_app
from agentlens.db import connect, get_db
from agentlens.ingest.events import make_event
from agentlens.ingest.store import store_batch

AGENTLENS = str(Path(sys.executable).parent / "agentlens")
PADDING = "x" * 4000


def agentlens(*args, database):
    env = server.clean_environment({"AGENTLENS_DATABASE": str(database),
                                    "AGENTLENS_SECRET_KEY": server.SECRET_KEY})
    return subprocess.run([AGENTLENS, *args], env=env, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)


def load(database, *batches):
    """Store the batches through the app in this process, then close its connection
    (an open one would count as a process using the database)."""
    app = create_app({"DATABASE": str(database), "RATELIMIT_ENABLED": False,
                      "SECRET_KEY": server.SECRET_KEY})
    client = app.test_client()
    for events in batches:
        assert client.post("/events", json={"events": events}).status_code == 200
    with app.app_context():
        get_db().close()


def prefill(database, batches):
    """Some bulk (``batches`` × 1000 events of 4 kB) so that a backup takes a while."""
    load(database, *([{"event_type": "llm_call", "session_id": f"bulk-{number}",
                       "event_id": f"bulk-{number}-{index}", "tokens_in": 1,
                       "input_data": {"prompt": PADDING}} for index in range(1000)]
                     for number in range(batches)))


class Sender(threading.Thread):
    """Sends batches of 5 new events until stopped; ``acks`` lists (time acknowledged,
    session id) of every batch the server answered with ``processed: 5``."""

    def __init__(self, live):
        super().__init__(daemon=True)
        self.live, self.acks, self.stopping, self.error = live, [], threading.Event(), None

    def run(self):
        number = 0
        try:
            while not self.stopping.is_set():
                session_id = f"live-{number}"
                events = [{"event_type": "llm_call", "session_id": session_id,
                           "event_id": f"{session_id}-{index}", "tokens_in": 2}
                          for index in range(5)]
                body = self.live.post_json("/events", {"events": events})
                assert body == {"status": "ok", "processed": 5}, body
                self.acks.append((time.monotonic(), session_id))
                number += 1
        except BaseException as error:  # reported by the test
            self.error = error

    def stop(self):
        self.stopping.set()
        self.join(30)
        assert self.error is None, self.error


def stored_events(database):
    conn = sqlite3.connect(database)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        counts = dict(conn.execute(
            "SELECT session_id, count(*) FROM events WHERE session_id LIKE 'live-%' "
            "GROUP BY session_id"))
        disagreeing = conn.execute(
            "SELECT count(*) FROM sessions s WHERE event_count != "
            "(SELECT count(*) FROM events e WHERE e.session_id = s.session_id) "
            "OR tokens_in != (SELECT coalesce(sum(tokens_in), 0) FROM events e "
            "WHERE e.session_id = s.session_id)").fetchone()[0]
        ids = conn.execute("SELECT count(*), count(DISTINCT session_id || '/' || event_id) "
                           "FROM events").fetchone()
        return counts, disagreeing, ids
    finally:
        conn.close()


def prefilled_server(directory, batches):
    directory.mkdir()
    prefill(directory / "agentlens.sqlite3", batches)
    return server.start_server(directory)


@pytest.fixture
def busy(tmp_path):
    """A server on 32 MB of events."""
    started = prefilled_server(tmp_path / "server", batches=8)
    yield started
    started.stop()


@pytest.fixture
def live(tmp_path):
    """A server on 1000 events."""
    started = prefilled_server(tmp_path / "server", batches=1)
    yield started
    started.stop()


def test_backup_under_load_restores_every_acknowledged_event_once(busy, tmp_path):
    live = busy
    sender = Sender(live)
    sender.start()
    while len(sender.acks) < 20:
        time.sleep(0.01)
    began = time.monotonic()
    result = agentlens("backup", str(tmp_path / "copy.sqlite3"), database=live.database)
    ended = time.monotonic()
    time.sleep(0.2)
    sender.stop()
    assert result.returncode == 0, result.stderr
    assert "integrity check ok" in result.stdout
    assert f"Backing up {live.database}" in result.stderr  # the progress bar's label off a terminal
    before = [session for at, session in sender.acks if at < began]
    during = [session for at, session in sender.acks if began <= at < ended]
    assert len(before) >= 20 and len(during) > 0, (len(before), len(during))

    restored = tmp_path / "restored.sqlite3"
    result = agentlens("restore", str(tmp_path / "copy.sqlite3"), database=restored)
    assert result.returncode == 0, result.stderr
    counts, disagreeing, (events, distinct) = stored_events(restored)
    assert all(counts.get(session) == 5 for session in before), \
        [session for session in before if counts.get(session) != 5]
    assert set(counts.values()) == {5}  # whole batches only: one snapshot
    assert disagreeing == 0 and events == distinct
    assert events == 8000 + 5 * len(counts)


def test_restore_refused_while_a_server_has_the_database_open(live, tmp_path):
    ours = tmp_path / "ours.sqlite3"
    copy = tmp_path / "copy.sqlite3"
    load(ours, [{"event_type": "session_start", "session_id": "restored", "agent_name": "a"}])
    assert agentlens("backup", str(copy), database=ours).returncode == 0
    live.get_json("/health")  # the worker that answers opens the database

    refused = agentlens("restore", str(copy), database=live.database)
    assert refused.returncode == 1
    workers = Path(f"/proc/{live.pid}/task/{live.pid}/children").read_text().split()
    assert any(f"{live.database} is open in process {pid} " in refused.stderr for pid in workers)
    assert "stop it first, or restore with --force" in refused.stderr
    assert live.get_json("/sessions?limit=1")["total"] == 1

    forced = agentlens("restore", "--force", str(copy), database=live.database)
    assert forced.returncode == 0, forced.stderr
    assert "Restored 1 sessions and 1 events" in forced.stdout
    sessions = live.get_json("/sessions")
    assert [s["session_id"] for s in sessions["sessions"]] == ["restored"]


def test_restore_once_the_server_has_stopped(live, tmp_path):
    copy = tmp_path / "copy.sqlite3"
    assert agentlens("backup", str(copy), database=live.database).returncode == 0
    live.post_json("/events", {"events": [{"event_type": "llm_call", "session_id": "later"}]})
    live.stop()
    result = agentlens("restore", str(copy), database=live.database)
    assert result.returncode == 0, result.stderr
    counts, disagreeing, (events, distinct) = stored_events(live.database)
    assert events == 1000 and disagreeing == 0


def test_refusals(tmp_path):
    database = tmp_path / "db.sqlite3"
    assert agentlens("backup", str(tmp_path / "x"), database=database).stderr.strip().endswith(
        f"Error: No database at {database}")
    load(database)
    taken = tmp_path / "taken"
    taken.write_text("")
    result = agentlens("backup", str(taken), database=database)
    assert result.returncode == 1 and f"{taken} exists: back up to a new file" in result.stderr
    not_sqlite = tmp_path / "notes.txt"
    not_sqlite.write_text("hello " * 1000)
    result = agentlens("restore", str(not_sqlite), database=database)
    assert result.returncode == 1 and "file is not a database" in result.stderr
    other = tmp_path / "other.sqlite3"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    result = agentlens("restore", str(other), database=database)
    assert result.returncode == 1 and "Not an AgentLens database" in result.stderr


def test_writes_during_the_copy_neither_wait_nor_restart_it(tmp_path):
    """A write committed between two steps of the copy goes through at once, and the
    copy goes on where it was (a restart would make ``done`` go back) without it."""
    database = tmp_path / "db.sqlite3"
    prefill(database, batches=2)
    steps, writes = [], []

    def progress(done, total):
        steps.append((done, total))
        if len(steps) == 2:
            conn = connect(str(database))
            started = time.monotonic()
            store_batch(conn, [make_event(session_id="mid-copy", event_type="llm_call",
                                          source="agentlens", max_field_bytes=1000)])
            writes.append(time.monotonic() - started)
            conn.close()

    assert backup.backup(str(database), str(tmp_path / "copy.sqlite3"), progress) == (2, 2000)
    total = steps[-1][1]
    assert len(steps) == -(-total // backup.PAGES_PER_STEP) > 2
    assert [done for done, _ in steps] == sorted({done for done, _ in steps})
    assert steps[-1] == (total, total)
    assert writes[0] < 1.0
    copy = sqlite3.connect(tmp_path / "copy.sqlite3")
    assert copy.execute("SELECT count(*) FROM events WHERE session_id = 'mid-copy'").fetchone() == (0,)
    assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    copy.close()
    source = sqlite3.connect(database)
    assert source.execute("SELECT count(*) FROM events WHERE session_id = 'mid-copy'").fetchone() == (1,)
    source.close()
