"""The one write path: normalised events -> SQLite, in one transaction.

A normalised event is a dict with the keys of ``EVENT_COLUMNS`` (JSON fields
already serialised to text, ``ts`` in epoch ms) and, for lifecycle events,
``agent_name``/``metadata`` (``session_start``) or ``status``/``final_tokens_in``/
``final_tokens_out``/``metadata`` (``session_end``).

Exactness under retries and reordering comes from two rules:
- ``event_id`` is UNIQUE and inserts use ``ON CONFLICT DO NOTHING``, so a
  repeated event is not stored again;
- every total is moved only by the rows this transaction really inserted
  (those with ``id`` above the largest id before the insert: the write lock
  is held, so nobody else inserts in between).
Lifecycle updates are guarded by time (the earliest session_start names the
session, the latest session_end ends it), so arrival order does not matter.
"""
from dataclasses import dataclass

from ..db import transaction

EVENT_COLUMNS = (
    "event_id", "session_id", "event_type", "ts", "parent_id", "model",
    "tokens_in", "tokens_out", "duration_ms", "input_data", "output_data",
    "tool_call", "tool_name", "decision_trace", "metadata", "is_error", "source",
)
LIFECYCLE_TYPES = ("session_start", "session_end")
COUNTED = "event_type NOT IN ('session_start', 'session_end')"

INSERT_EVENT = (
    f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) "
    f"VALUES ({', '.join(':' + c for c in EVENT_COLUMNS)}) "
    "ON CONFLICT (event_id) DO NOTHING"
)

# Adds the events with ids in [:first, :last] to their sessions' totals,
# creating the sessions first seen here; :sign = -1 takes them out again.
MOVE_SESSION_TOTALS = f"""
INSERT INTO sessions (session_id, started_at, last_event_at, event_count,
                      tokens_in, tokens_out, source)
SELECT session_id, min(ts), max(ts),
       :sign * count(*) FILTER (WHERE {COUNTED}),
       :sign * coalesce(sum(tokens_in) FILTER (WHERE {COUNTED}), 0),
       :sign * coalesce(sum(tokens_out) FILTER (WHERE {COUNTED}), 0),
       min(source)
FROM events
WHERE id BETWEEN :first AND :last
GROUP BY session_id
ON CONFLICT (session_id) DO UPDATE SET
    started_at = min(sessions.started_at, excluded.started_at),
    last_event_at = max(sessions.last_event_at, excluded.last_event_at),
    event_count = sessions.event_count + excluded.event_count,
    tokens_in = sessions.tokens_in + excluded.tokens_in,
    tokens_out = sessions.tokens_out + excluded.tokens_out
"""

MOVE_ROLLUP = f"""
INSERT INTO session_rollup (session_id, event_type, model, hour, events, tokens_in,
                            tokens_out, duration_us, timed_events)
SELECT session_id, event_type, coalesce(model, ''), (ts / 3600000) % 24,
       :sign * count(*),
       :sign * coalesce(sum(tokens_in), 0),
       :sign * coalesce(sum(tokens_out), 0),
       :sign * coalesce(sum(CAST(round(duration_ms * 1000) AS INTEGER)), 0),
       :sign * count(duration_ms)
FROM events
WHERE id BETWEEN :first AND :last AND {COUNTED}
GROUP BY 1, 2, 3, 4
ON CONFLICT (session_id, event_type, model, hour) DO UPDATE SET
    events = session_rollup.events + excluded.events,
    tokens_in = session_rollup.tokens_in + excluded.tokens_in,
    tokens_out = session_rollup.tokens_out + excluded.tokens_out,
    duration_us = session_rollup.duration_us + excluded.duration_us,
    timed_events = session_rollup.timed_events + excluded.timed_events
"""

NAME_SESSION = """
UPDATE sessions
SET agent_name = :agent_name, metadata = json_patch(metadata, coalesce(:metadata, '{}')), named_at = :ts
WHERE session_id = :session_id AND (named_at IS NULL OR :ts < named_at)
"""

END_SESSION = """
UPDATE sessions
SET ended_at = :ts, status = :status, metadata = json_patch(metadata, coalesce(:metadata, '{}')),
    final_tokens_in = :final_tokens_in, final_tokens_out = :final_tokens_out
WHERE session_id = :session_id AND (ended_at IS NULL OR :ts >= ended_at)
"""


@dataclass(frozen=True)
class StoreResult:
    stored: int
    duplicates: int


def store_batch(conn, events):
    """Store normalised events once each; return how many were new."""
    with transaction(conn):
        after = conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]
        stored = conn.executemany(INSERT_EVENT, events).rowcount
        if stored:
            move_totals(conn, after + 1, after + stored, sign=1)
            apply_lifecycle(conn, after, events)
    return StoreResult(stored=stored, duplicates=len(events) - stored)


def move_totals(conn, first, last, sign):
    """Move every total (sessions, rollup) by the events with ids in [first, last], times sign."""
    params = {"first": first, "last": last, "sign": sign}
    conn.execute(MOVE_SESSION_TOTALS, params)
    conn.execute(MOVE_ROLLUP, params)
    if sign < 0:
        conn.execute(
            "DELETE FROM session_rollup WHERE events = 0 AND session_id IN "
            "(SELECT session_id FROM events WHERE id BETWEEN :first AND :last)", params)


def apply_lifecycle(conn, after, events):
    """Apply the session_start/session_end events inserted with id > after."""
    lifecycle = {e["event_id"]: e for e in events if e["event_type"] in LIFECYCLE_TYPES}
    if not lifecycle:
        return
    inserted = conn.execute(
        f"SELECT event_id FROM events WHERE id > ? AND NOT ({COUNTED}) ORDER BY id", (after,)
    ).fetchall()
    for (event_id,) in inserted:
        event = lifecycle[event_id]
        statement = NAME_SESSION if event["event_type"] == "session_start" else END_SESSION
        conn.execute(statement, event)
