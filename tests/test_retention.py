"""Retention: ``agentlens prune`` deletes by last activity through the store's exact path,
in small batches, and gives the disk back; the automatic policy takes a lease first.

Expected sessions, events and sizes come from the test's own data (store_figures.py
and the bulk sessions here), never from the code under test."""
import os

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from agentlens import auto_retention, config, leases, recount, retention
from agentlens.db import get_db
from agentlens.ingest import store
from agentlens.rules import DAY_MS, HOUR_MS
from agentlens.timestamps import format_ms
from helpers import freeze_server_clock
from store_figures import NOW, SESSIONS, assert_same_as_fresh, figures, last_activity, load


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    freeze_server_clock(monkeypatch, NOW)


@pytest.fixture
def small_batches(monkeypatch):
    """Batches of 2 sessions and 3 events: every prune here takes many transactions,
    and the larger sessions are emptied over several."""
    monkeypatch.setattr(retention, "BATCH_SESSIONS", 2)
    monkeypatch.setattr(store, "DELETE_EVENTS", 3)


def by_activity():
    """The sessions, least recently active first (ties by id), from their events."""
    return sorted(SESSIONS, key=lambda session_id: (last_activity(session_id), session_id))


def expected_kept(older_than_days=None, keep=None):
    order = by_activity()
    gone = set()
    if older_than_days is not None:
        gone |= {s for s in order if last_activity(s) < NOW - older_than_days * DAY_MS}
    if keep is not None:
        gone |= set(order[:max(0, len(order) - keep)])
    return sorted(set(SESSIONS) - gone)


def stored_events(session_ids):
    return sum(len(SESSIONS[session_id]) for session_id in session_ids)


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(older_than_days=st.none() | st.integers(0, 45), keep=st.none() | st.integers(0, 16))
def test_after_a_prune_every_figure_equals_a_store_loaded_with_the_kept_sessions(
        make_app, small_batches, older_than_days, keep):
    app = make_app()
    with app.app_context():
        client, conn = app.test_client(), get_db()
        load(client, sorted(SESSIONS))
        policy = retention.Policy(
            cutoff=None if older_than_days is None else NOW - older_than_days * DAY_MS, keep=keep)
        kept = expected_kept(older_than_days, keep)
        gone = sorted(set(SESSIONS) - set(kept))
        planned = retention.estimate(conn, policy)
        assert (planned.sessions, planned.events) == (len(gone), stored_events(gone))
        pruned = retention.prune(conn, policy)
        retention.free_pages(conn)
        assert (pruned.sessions, pruned.events) == (len(gone), stored_events(gone))
        assert retention.estimate(conn, policy) == retention.Estimate(0, 0, 0)
        assert_same_as_fresh(client, conn, make_app, kept)


def stored_rows(conn):
    return [tuple(row) for table in ("sessions", "events", "session_rollup", "agent_sessions")
            for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3")]


def test_a_dry_run_says_what_would_go_and_changes_nothing(app, client, conn, runner):
    load(client, sorted(SESSIONS))
    database = app.config["DATABASE"]
    before = figures(client, conn), stored_rows(conn)
    result = runner.invoke(args=["prune", "--older-than", "20d", "--dry-run"])
    gone = sorted(set(SESSIONS) - set(expected_kept(older_than_days=20)))
    assert result.exit_code == 0, result.output
    assert result.output.startswith(
        f"Would delete {len(gone)} sessions and {stored_events(gone)} events, about ")
    assert result.output.endswith(f" MB of {database}. Nothing was changed.\n")
    assert (figures(client, conn), stored_rows(conn)) == before


def test_prune_on_the_command_line(client, conn, runner):
    load(client, sorted(SESSIONS))
    kept = expected_kept(older_than_days=25, keep=6)
    gone = sorted(set(SESSIONS) - set(kept))
    result = runner.invoke(args=["prune", "--older-than", "25d", "--keep-sessions", "6"])
    assert result.exit_code == 0, result.output
    assert f"Deleted {len(gone)} sessions and {stored_events(gone)} events in 1 batch;" in result.output
    assert sorted(row[0] for row in conn.execute("SELECT session_id FROM sessions")) == kept
    assert recount.check(conn) == []


@pytest.mark.parametrize("args, message", [
    ([], "Say what to delete: --older-than, --keep-sessions, or both."),
    (["--older-than", "30"], "'30' is not a duration: a whole number and a unit"),
    (["--older-than", "3x"], "'3x' is not a duration"),
    (["--older-than", "-3d"], "'-3d' is not a duration"),
    (["--keep-sessions", "-1"], "-1 is not in the range"),
])
def test_prune_refuses_what_it_cannot_read(client, runner, args, message):
    load(client, ["s-0"])
    result = runner.invoke(args=["prune", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert client.get("/sessions/s-0").status_code == 200


@pytest.mark.parametrize("text, ms", [("45s", 45_000), ("90m", 5_400_000), ("12h", 43_200_000),
                                      ("30d", 30 * DAY_MS), ("2w", 14 * DAY_MS), (" 7 d ", 7 * DAY_MS)])
def test_durations(text, ms):
    assert retention.Duration().convert(text, None, None) == ms


def test_each_batch_judges_the_sessions_as_they_are_when_it_runs(conn, client, small_batches,
                                                               monkeypatch):
    """A session that receives an event while the prune runs (between its batches) is
    kept, even though it was due when the prune began."""
    load(client, sorted(SESSIONS))
    due = [s for s in by_activity() if last_activity(s) < NOW - 20 * DAY_MS]
    revived = due[-1]  # due in the last batch
    real, batches = store.delete_sessions, []

    def then_an_event_arrives(conn, choose):
        result = real(conn, choose)
        batches.append(result)
        if len(batches) == 1:
            assert client.post("/events", json={"events": [{
                "event_type": "llm_call", "session_id": revived, "event_id": "late",
                "timestamp": format_ms(NOW)}]}).status_code == 200
        return result

    monkeypatch.setattr(store, "delete_sessions", then_an_event_arrives)
    retention.prune(conn, retention.Policy(cutoff=NOW - 20 * DAY_MS))
    remaining = sorted(row[0] for row in conn.execute("SELECT session_id FROM sessions"))
    assert remaining == sorted(set(SESSIONS) - set(due) | {revived})
    assert len(batches) > 3
    assert recount.check(conn) == []


def test_a_guard_that_raises_stops_the_prune_between_exact_batches(conn, client, small_batches):
    load(client, sorted(SESSIONS))
    calls = []

    def guard(conn):
        calls.append(1)
        if len(calls) == 3:
            raise auto_retention.LeaseLost("taken over")

    with pytest.raises(auto_retention.LeaseLost):
        retention.prune(conn, retention.Policy(keep=0), guard=guard)
    events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    assert events == stored_events(SESSIONS) - 2 * 3
    assert recount.check(conn) == []


# --- disk ---------------------------------------------------------------------

PADDING = "x" * 2000
BULK_SESSIONS, BULK_EVENTS = 200, 20


def load_bulk(client):
    """200 sessions of 20 events of ~2 kB each; session i was last active i hours ago."""
    events = [{"event_type": "llm_call", "session_id": f"bulk-{number}",
               "event_id": f"e{index}", "tokens_in": index, "input_data": {"prompt": PADDING},
               "timestamp": format_ms(NOW - number * HOUR_MS - (BULK_EVENTS - index) * 1000)}
              for number in range(BULK_SESSIONS) for index in range(BULK_EVENTS)]
    for start in range(0, len(events), 1000):
        assert client.post("/events", json={"events": events[start:start + 1000]}).status_code == 200


@pytest.mark.sqlite_only
def test_the_file_shrinks_by_about_what_was_removed(app, client, conn, runner):
    load_bulk(client)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    database = app.config["DATABASE"]
    size_before = os.path.getsize(database)
    pages_before = conn.execute("PRAGMA page_count").fetchone()[0]
    dry_run = runner.invoke(args=["prune", "--keep-sessions", "50", "--dry-run"])
    assert dry_run.output.startswith("Would delete 150 sessions and 3,000 events, about ")
    estimate = retention.estimate(conn, retention.Policy(keep=50))

    result = runner.invoke(args=["prune", "--keep-sessions", "50"])
    assert result.exit_code == 0, result.output
    assert "Deleting sessions" in result.output and "Freeing pages" in result.output
    size_after = os.path.getsize(database)
    pages_after = conn.execute("PRAGMA page_count").fetchone()[0]
    # 3/4 of the events went: the file keeps about a quarter, plus what does not
    # shrink with the events (the schema, the rollups of the 50 kept sessions).
    assert conn.execute("PRAGMA freelist_count").fetchone()[0] == 0
    assert size_after == pages_after * conn.execute("PRAGMA page_size").fetchone()[0]
    assert 0.24 < pages_after / pages_before < 0.30
    assert abs((size_before - size_after) - estimate.bytes) < 0.1 * estimate.bytes
    assert f"{size_before / 1e6:,.1f} MB before, {size_after / 1e6:,.1f} MB after" in result.output


@pytest.mark.sqlite_only
def test_new_databases_are_in_incremental_auto_vacuum(conn):
    assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2


# --- the automatic policy -----------------------------------------------------

def test_a_lease_goes_to_one_holder_until_it_expires(conn):
    assert leases.take(conn, "job", "a", 60, now=1000)
    assert not leases.take(conn, "job", "b", 60, now=60_999)
    assert leases.holder(conn, "job") == ("a", 61_000)
    with store.transaction(conn):
        assert leases.renew(conn, "job", "a", 60, now=30_000)
        assert not leases.renew(conn, "job", "b", 60, now=30_000)
    assert not leases.take(conn, "job", "b", 60, now=89_999)
    assert leases.take(conn, "job", "b", 60, now=90_000)
    with store.transaction(conn):
        assert not leases.renew(conn, "job", "a", 60, now=90_001)  # a must stop
    leases.keep_until(conn, "job", "a", 10**15)  # not a's any more: no effect
    assert leases.holder(conn, "job") == ("b", 150_000)


def load_aged(client):
    """Sessions 60 days old and recent ones (SESSIONS are 1 to 41 days old)."""
    old = [{"event_type": "llm_call", "session_id": f"old-{number}", "event_id": "e",
            "tokens_in": 5, "timestamp": format_ms(NOW - 60 * DAY_MS + number)}
           for number in range(5)]
    assert client.post("/events", json={"events": old}).status_code == 200
    load(client, sorted(SESSIONS))


def test_a_run_prunes_when_the_lease_is_free_then_holds_it_for_the_interval(conn, client):
    load_aged(client)
    assert leases.take(conn, auto_retention.LEASE, "other", 60)
    assert auto_retention.run_once(conn, 30, 600, "me") is None  # held: nothing happens
    assert conn.execute("SELECT count(*) FROM sessions").fetchone()[0] == 5 + len(SESSIONS)

    conn.execute("UPDATE leases SET expires_at = ?", (NOW,))  # expired now
    pruned = auto_retention.run_once(conn, 30, 600, "me")
    kept = expected_kept(older_than_days=30)
    assert (pruned.sessions, pruned.events) == (5 + len(SESSIONS) - len(kept), 5 + stored_events(
        set(SESSIONS) - set(kept)))
    assert leases.holder(conn, auto_retention.LEASE) == ("me", NOW + 600_000)
    assert auto_retention.run_once(conn, 30, 600, "me") is None  # not due again yet
    assert recount.check(conn) == []


def test_the_server_prunes_after_a_request_at_most_once_per_interval(make_app, tmp_path):
    database = str(tmp_path / "aged.sqlite3")
    load_aged(make_app(DATABASE=database).test_client())
    app = make_app(DATABASE=database, RETENTION_DAYS=30, RETENTION_INTERVAL_SECONDS=600)
    client = app.test_client()
    assert client.get("/health").status_code == 200  # starts a run: wait for it
    auto = app.extensions["agentlens_retention"]
    auto.thread.join(30)
    first = auto.thread
    with app.app_context():
        remaining = [row[0] for row in get_db().execute("SELECT session_id FROM sessions")]
    assert sorted(remaining) == expected_kept(older_than_days=30)
    assert client.get("/health").status_code == 200
    assert auto.thread is first


def test_without_retention_days_nothing_is_pruned(make_app):
    app = make_app()
    load_aged(app.test_client())
    assert "agentlens_retention" not in app.extensions


@pytest.mark.parametrize("variable, value", [
    ("AGENTLENS_RETENTION_DAYS", "0"), ("AGENTLENS_RETENTION_DAYS", "1.5"),
    ("AGENTLENS_RETENTION_INTERVAL_SECONDS", "-1"), ("AGENTLENS_RETENTION_INTERVAL_SECONDS", "inf"),
])
def test_retention_settings_must_be_positive(variable, value):
    with pytest.raises(SystemExit, match=variable):
        config.from_environment({variable: value})


def test_retention_settings_from_the_environment():
    assert config.from_environment({"AGENTLENS_RETENTION_DAYS": "30",
                                    "AGENTLENS_RETENTION_INTERVAL_SECONDS": "2.5"}) == {
        "RETENTION_DAYS": 30, "RETENTION_INTERVAL_SECONDS": 2.5}
