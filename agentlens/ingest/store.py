"""The one write path: normalised events -> SQLite, in one transaction.

A normalised event is a dict with the keys of ``EVENT_COLUMNS`` (JSON fields
already serialised to text, ``ts`` in epoch ms) and, for lifecycle events,
``agent_name`` (``session_start``) or ``status``/``final_tokens_in``/
``final_tokens_out`` (``session_end``). A session update (:func:`session_update`)
names a session, merges into its metadata or ends it.

Exactness under retries and reordering comes from two rules:
- ``(session_id, event_id)`` is UNIQUE and inserts use ``ON CONFLICT DO
  NOTHING``, so a repeated event is not stored again (within one batch, the
  first occurrence is the one kept);
- every total is moved only by the rows this transaction really inserted
  (those with ``id`` above the largest id before the insert: the write lock
  is held, so nobody else inserts in between).
Session updates are guarded so that arrival order does not matter: the most
authoritative, then earliest, name wins (see migration 3), the latest
session_end ends the session, session_starts' metadata merge with the
earliest winning, and what other sources add is merged over it.
"""
import json
from dataclasses import dataclass

from ..db import transaction
from ..read.numbers import DURATION_US
from .events import MAX_DURATION_MS, EventError, check_text

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
    "ON CONFLICT (session_id, event_id) DO NOTHING"
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

ROLLUP_MEASURES = ("events", "tokens_in", "tokens_out", "duration_us", "timed_events")


def move_rollup_sql(table, keys):
    """Add the counted events with ids in [:first, :last], times :sign, to a rollup
    keyed by ``keys`` (session_rollup: per session; event_rollup: over all)."""
    updates = ", ".join(f"{m} = {table}.{m} + excluded.{m}" for m in ROLLUP_MEASURES)
    return f"""
INSERT INTO {table} ({keys}, {', '.join(ROLLUP_MEASURES)})
SELECT {keys}, :sign * count(*), :sign * coalesce(sum(tokens_in), 0),
       :sign * coalesce(sum(tokens_out), 0), :sign * coalesce(sum(duration_us), 0),
       :sign * count(duration_us)
FROM (SELECT session_id, event_type, coalesce(model, '') AS model,
             (ts % 86400000 + 86400000) % 86400000 / 3600000 AS hour,
             tokens_in, tokens_out, {DURATION_US} AS duration_us
      FROM events WHERE id BETWEEN :first AND :last AND {COUNTED})
WHERE true
GROUP BY {keys}
ON CONFLICT ({keys}) DO UPDATE SET {updates}
"""


MOVE_ROLLUPS = (
    move_rollup_sql("session_rollup", "session_id, event_type, model, hour"),
    move_rollup_sql("event_rollup", "event_type, model, hour"),
)

ENSURE_SESSION = """
INSERT INTO sessions (session_id, started_at, last_event_at, source)
VALUES (:session_id, :ts, :ts, :source)
ON CONFLICT (session_id) DO NOTHING
"""

# A higher rank wins, then the earlier time, then (a tie) the smaller name.
NAME_SESSION = """
UPDATE sessions SET agent_name = :agent_name, name_rank = :name_rank, named_at = :ts
WHERE session_id = :session_id
  AND (:name_rank > name_rank
       OR (:name_rank = name_rank AND (named_at IS NULL OR :ts < named_at
                                       OR (:ts = named_at AND :agent_name < agent_name))))
"""

END_SESSION = """
UPDATE sessions
SET ended_at = :ts, status = :status,
    final_tokens_in = :final_tokens_in, final_tokens_out = :final_tokens_out
WHERE session_id = :session_id AND (ended_at IS NULL OR :ts >= ended_at)
"""

# An amendment changes what it carries (NULL keeps the stored value);
# ``:end_ts`` sets the duration from the stored start, and ``:returns`` is a
# tool's output when the event is a tool call, else its output_data.
AMEND_EVENT = """
UPDATE events SET
    model = coalesce(:model, model),
    tokens_in = coalesce(:tokens_in, tokens_in),
    tokens_out = coalesce(:tokens_out, tokens_out),
    duration_ms = coalesce(max(:end_ts - ts, 0), duration_ms),
    input_data = coalesce(:input_data, input_data),
    output_data = coalesce(:output_data, CASE WHEN tool_call IS NULL THEN :returns END, output_data),
    tool_call = CASE WHEN tool_call IS NOT NULL AND :returns IS NOT NULL
                     THEN json_set(tool_call, '$.output', json(:returns)) ELSE tool_call END
WHERE id = :id
"""


@dataclass(frozen=True)
class StoreResult:
    stored: int
    duplicates: int


def session_update(session_id, ts, source, *, agent_name=None, name_rank=2, metadata=None,
                   start_metadata=None, status=None, final_tokens_in=None, final_tokens_out=None):
    """A change to a session itself: its name, its metadata (JSON text: a session_start's
    ``start_metadata``, or ``metadata`` merged over it), or its end (``status``)."""
    update = {"session_id": session_id, "ts": ts, "source": source, "agent_name": agent_name,
              "name_rank": name_rank, "metadata": metadata, "start_metadata": start_metadata,
              "status": status, "final_tokens_in": final_tokens_in,
              "final_tokens_out": final_tokens_out}
    return check_text(update)


def first_occurrences(events):
    """The events without repeats of a (session_id, event_id) seen earlier in the batch."""
    seen, unique = set(), []
    for event in events:
        key = (event["session_id"], event["event_id"])
        if key not in seen:
            seen.add(key)
            unique.append(event)
    return unique


def store_batch(conn, events, session_updates=()):
    """Store normalised events once each, then apply session updates; one transaction.

    Session updates come from the lifecycle events really inserted here and
    from ``session_updates`` (formats that change sessions without an event).
    """
    unique = first_occurrences(events)
    with transaction(conn):
        after = conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]
        stored = conn.executemany(INSERT_EVENT, unique).rowcount if unique else 0
        updates = list(session_updates)
        if stored:
            move_totals(conn, after + 1, after + stored, sign=1)
            updates[:0] = lifecycle_updates(conn, after, unique)
        for update in updates:
            apply_session_update(conn, update)
    return StoreResult(stored=stored, duplicates=len(events) - stored)


def amend_events(conn, session_id, amendments):
    """Change stored events of a session in place; every total follows exactly.

    Each amendment has the parameters of ``AMEND_EVENT`` and ``event_id``.
    Returns the ids of the events that were not found.
    """
    missing = []
    with transaction(conn):
        for amendment in amendments:
            row = conn.execute("SELECT id, ts FROM events WHERE event_id = ? AND session_id = ?",
                               (amendment["event_id"], session_id)).fetchone()
            if row is None:
                missing.append(amendment["event_id"])
                continue
            if (amendment["end_ts"] or row["ts"]) - row["ts"] > MAX_DURATION_MS:
                raise EventError(f"end_timestamp: more than {MAX_DURATION_MS} ms after the "
                                 f"start of event {amendment['event_id']!r}")
            move_totals(conn, row["id"], row["id"], sign=-1)
            conn.execute(AMEND_EVENT, {**amendment, "id": row["id"]})
            move_totals(conn, row["id"], row["id"], sign=1)
    return missing


def move_totals(conn, first, last, sign):
    """Move every total (sessions, rollup) by the events with ids in [first, last], times sign."""
    params = {"first": first, "last": last, "sign": sign}
    conn.execute(MOVE_SESSION_TOTALS, params)
    for statement in MOVE_ROLLUPS:
        conn.execute(statement, params)
    if sign < 0:
        conn.execute(
            "DELETE FROM session_rollup WHERE events = 0 AND session_id IN "
            "(SELECT session_id FROM events WHERE id BETWEEN :first AND :last)", params)
        conn.execute("DELETE FROM event_rollup WHERE events = 0")


def lifecycle_updates(conn, after, events):
    """Session updates of the session_start/session_end events inserted with id > after."""
    lifecycle = {(e["session_id"], e["event_id"]): e
                 for e in events if e["event_type"] in LIFECYCLE_TYPES}
    if not lifecycle:
        return []
    inserted = conn.execute(
        f"SELECT session_id, event_id FROM events WHERE id > ? AND NOT ({COUNTED}) ORDER BY id",
        (after,),
    ).fetchall()
    updates = []
    for key in inserted:
        event = lifecycle[tuple(key)]
        if event["event_type"] == "session_start":
            updates.append(session_update(event["session_id"], event["ts"], event["source"],
                                          agent_name=event["agent_name"],
                                          start_metadata=event["metadata"] or "{}"))
        else:
            updates.append(session_update(event["session_id"], event["ts"], event["source"],
                                          status=event["status"],
                                          final_tokens_in=event["final_tokens_in"],
                                          final_tokens_out=event["final_tokens_out"]))
    return updates


def apply_session_update(conn, update):
    conn.execute(ENSURE_SESSION, update)
    if update["agent_name"] is not None:
        conn.execute(NAME_SESSION, update)
    if update["start_metadata"] is not None or update["metadata"] is not None:
        merge_metadata(conn, update)
    if update["status"] is not None:
        conn.execute(END_SESSION, update)


def merge_metadata(conn, update):
    """Shallow merges that keep null values, as the metadata was sent.

    A session_start's metadata is kept; several starts merge, the earliest
    winning key by key (a tie: the smaller JSON text). Other metadata (SDK
    session updates) is merged over it, in arrival order.
    """
    row = conn.execute("SELECT metadata, start_metadata, start_event_at FROM sessions "
                       "WHERE session_id = ?", (update["session_id"],)).fetchone()
    metadata, start, start_at = row["metadata"], row["start_metadata"], row["start_event_at"]
    if update["metadata"] is not None:
        metadata = json.dumps({**json.loads(metadata), **json.loads(update["metadata"])})
    new_start = update["start_metadata"]
    if new_start is not None:
        if start is None:
            start, start_at = new_start, update["ts"]
        else:
            earlier, later = sorted([(update["ts"], new_start), (start_at, start)])
            start = json.dumps({**json.loads(later[1]), **json.loads(earlier[1])})
            start_at = earlier[0]
    conn.execute("UPDATE sessions SET metadata = ?, start_metadata = ?, start_event_at = ? "
                 "WHERE session_id = ?", (metadata, start, start_at, update["session_id"]))
