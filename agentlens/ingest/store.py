"""The one write path: normalised events (events.make_event) and session updates
(events.session_update) -> the store, in one transaction per call.

Exactness under retries and reordering comes from two rules:
- ``(session_id, event_id, trace_id)`` is UNIQUE and inserts use ``ON CONFLICT
  DO NOTHING ... RETURNING``, so a repeated event is not stored again (within
  one batch, the first occurrence is the one kept);
- every total moves only by what a statement reports it really changed: the
  rows its RETURNING clause gives back (for an insert, the keys of the events
  really inserted, whose figures are the ones sent), and a session's row after
  the change minus before it (session_state.py). No count relies on who else writes or on
  row ids, so the rule holds when events are deleted and with several writers
  (each session row is read and written back inside the transaction).
Work that need not hold the write lock (parsing, validation, JSON) is done by
the formats before; this module only reads and writes.
"""
import functools
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter

from .. import jsonstrict, rollups, rules
from ..db import transaction
from . import session_state
from .events import EVENT_COLUMNS, EXPLICIT_NAME, MAX_DURATION_MS, EventError

# What identifies an event (UNIQUE in the store).
EVENT_KEY = ("session_id", "event_id", "trace_id")
# What each amended, moved or deleted row reports back.
RETURNED = ("event_id", "trace_id", "source", *rollups.EVENT_FACT_COLUMNS)
# What an event's cost is computed from (pricing.book.PriceBook.cost).
PRICED_FROM = ("model", "provider", "ts", "tokens_in", "tokens_out", "cache_read_tokens",
               "cache_write_tokens", "reasoning_tokens")
AMENDED = (*RETURNED, *(c for c in PRICED_FROM if c not in RETURNED), "cost_source")
DEFAULT_MAX_METADATA_BYTES = 1024 * 1024
INSERT_CHUNKS = (64, 16, 4, 1)  # rows per INSERT statement: a few prepared shapes
DELETE_EVENTS = 2_000  # events per deleting transaction: the write lock is held ~0.06 s


@dataclass(frozen=True)
class StoreResult:
    stored: int
    duplicates: int
    # (position in the events given, message): refused by the store itself
    rejected: tuple = field(default=())


def first_occurrences(events):
    """``[(position, event)]`` without repeats of an event seen earlier in the batch."""
    seen, unique = set(), []
    for position, event in enumerate(events):
        key = (event["session_id"], event["event_id"], event["trace_id"])
        if key not in seen:
            seen.add(key)
            unique.append((position, event))
    return unique


# The fields that are keys of indexes, which PostgreSQL caps (an index entry, several
# of these together, is at most about a third of a page); SQLite has no such limit
# (conn.max_key_bytes None).
KEY_FIELDS = ("session_id", "event_id", "trace_id", "event_type", "model", "agent_name")


def check_keys(conn, records):
    """EventError if one of ``records`` (amendments) has a key the store cannot keep."""
    for record in records:
        if problem := key_problem(record, conn.max_key_bytes):
            raise EventError(problem)


def key_problem(record, max_key_bytes):
    """Why the store cannot keep this event's (or update's) keys, or None."""
    if max_key_bytes is None:
        return None
    for name in KEY_FIELDS:
        value = record.get(name)
        if (type(value) is str and len(value) * 4 > max_key_bytes
                and len(value.encode("utf-8", "surrogatepass")) > max_key_bytes):
            return f"{name}: larger than the {max_key_bytes}-byte limit of this store for names and ids"
    return None


def store_batch(conn, events, session_updates=(), trace_claims=(), *,
                max_metadata_bytes=DEFAULT_MAX_METADATA_BYTES):
    """Store normalised events once each and apply session updates; one transaction.

    Events and updates without a session_id belong to the session their trace is
    filed under (``trace_claims`` and events.trace_claim). An event that cannot be
    kept is refused alone (reported in ``rejected``), the rest stored: a key the
    store cannot keep, a session_start whose metadata would grow its session's
    merged metadata past the cap; so is an event whose span carried an update or a
    claim (their ``event``) that cannot be kept, or would grow it (also by moving a
    trace), with its updates and claims. A session update of its own that cannot
    be kept is an EventError for the whole call.
    """
    refused = {position: problem for position, event in enumerate(events)
               if (problem := key_problem(event, conn.max_key_bytes))}
    for record in chain(session_updates, trace_claims):
        if problem := key_problem(record, conn.max_key_bytes):
            if record["event"] is None:
                raise EventError(problem)
            refused.setdefault(record["event"], problem)
    while True:
        kept = [(position, event) for position, event in enumerate(events)
                if position not in refused]
        updates, claims = ([record for record in records if record["event"] not in refused]
                           for records in (session_updates, trace_claims))
        try:
            with transaction(conn):
                stored = Change(conn, max_metadata_bytes).store(kept, updates, claims)
        except session_state.MetadataTooLarge as error:
            if not error.positions:
                raise
            refused.update(dict.fromkeys(error.positions, str(error)))
            continue
        return StoreResult(stored=stored, duplicates=len(kept) - stored,
                           rejected=tuple(sorted(refused.items())))


def amend_events(conn, session_id, amendments, book):
    """Change stored events of a session in place; every total follows exactly.

    Each amendment has the parameters of ``AMEND_EVENT`` and ``event_id``. An
    amended event without a client's cost is priced again with ``book``
    (pricing.book.PriceBook, loaded before): its figures are only known once
    merged with the stored row, so this is the one pricing done under the lock.
    Returns the ids of the events that were not found.
    """
    check_keys(conn, amendments)
    with transaction(conn):
        return Change(conn, book=book).amend(session_id, amendments)


def reprice_events(conn, changes):
    """Give stored events a new cost; every total follows exactly. Each change has
    the parameters of ``reprice_sql``. Returns how many events were repriced."""
    with transaction(conn):
        return Change(conn).reprice(changes)


def delete_session(conn, session_id):
    """Remove a session, its events and everything they fed, in transactions of at
    most DELETE_EVENTS events (the session goes with its last events; every figure
    is exact after each); False if it is unknown."""
    found = False
    while True:
        sessions, events = delete_sessions(conn, lambda conn: [session_id])
        found = found or sessions > 0 or events > 0
        if sessions or not events:
            return found


def delete_sessions(conn, choose):
    """In one transaction, remove the sessions ``choose(conn)`` names, in that order,
    with their events, up to DELETE_EVENTS events: a session that has more keeps
    the rest, and stays (the next call goes on). ``choose`` runs inside the
    transaction, so it sees every write committed before. Returns ``(sessions,
    events)`` removed; ids that name no session are passed over."""
    with transaction(conn):
        return Change(conn).delete(choose(conn), DELETE_EVENTS)


# An amendment changes what it carries (NULL keeps the stored value); ``:end_ts``
# sets the duration from the stored start, and ``:returns`` is a tool's output
# when the event is a tool call, else its output_data.
AMEND_EVENT = f"""
UPDATE events SET
    model = coalesce(:model, model),
    tokens_in = coalesce(:tokens_in, tokens_in),
    tokens_out = coalesce(:tokens_out, tokens_out),
    duration_ms = CASE WHEN CAST(:end_ts AS BIGINT) IS NULL THEN duration_ms
                       WHEN :end_ts > ts THEN :end_ts - ts ELSE 0 END,
    input_data = coalesce(:input_data, input_data),
    output_data = coalesce(:output_data, CASE WHEN tool_call IS NULL THEN :returns END, output_data),
    tool_call = coalesce(:tool_call, tool_call),
    cost_nanos = coalesce(:cost_nanos, cost_nanos),
    cost_source = CASE WHEN CAST(:cost_nanos AS BIGINT) IS NOT NULL THEN 'client'
                       ELSE cost_source END
WHERE id = :id
RETURNING {', '.join(AMENDED)}
"""


def with_output(tool_call, returns):
    """A stored tool call (JSON text) with ``returns`` (JSON text) as its output, or
    None when there is nothing to set."""
    if tool_call is None or returns is None:
        return None
    call = jsonstrict.loads(tool_call)
    if not isinstance(call, dict):
        return None
    call["output"] = jsonstrict.Fragment(returns)
    return jsonstrict.dumps(call)


SET_COST = (f"UPDATE events SET cost_nanos = ?, cost_source = ? WHERE id = ? "
            f"RETURNING {', '.join(RETURNED)}")


@functools.cache
def reprice_sql(same):
    """A new cost for an event, only if nothing its cost is computed from changed since
    it was read (then the row before differs from the one returned by its cost alone).
    ``same``: the store's null-safe equality (``conn.null_safe_equal``)."""
    return f"""
UPDATE events SET cost_nanos = :cost_nanos, cost_source = :cost_source
WHERE id = :id AND cost_nanos {same} :old_cost_nanos AND cost_source {same} :old_cost_source
  AND {' AND '.join(f"{column} {same} :{column}" for column in PRICED_FROM)}
RETURNING {', '.join(RETURNED)}
"""


def insert_sql(rows):
    """Insert ``rows`` events; the statement returns ``(id, *EVENT_KEY)`` of those it
    inserted (the others were there already)."""
    return (f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES "
            + ", ".join([f"({', '.join('?' * len(EVENT_COLUMNS))})"] * rows)
            + f" ON CONFLICT ({', '.join(EVENT_KEY)}) DO NOTHING RETURNING id, {', '.join(EVENT_KEY)}")


INSERT_EVENTS = {rows: insert_sql(rows) for rows in INSERT_CHUNKS}
# A trace's events filed under another session (found through the events' unique key).
MOVE_TRACE = (f"UPDATE events SET session_id = ? WHERE session_id = ? AND trace_id = ? "
              f"RETURNING {', '.join(RETURNED)}")
EVENT_VALUES = itemgetter(*EVENT_COLUMNS)


class Change:
    """One transaction's changes: the sessions it touches, read once and written back,
    and the rollup deltas its statements' RETURNING rows add up to."""

    def __init__(self, conn, max_metadata_bytes=DEFAULT_MAX_METADATA_BYTES, book=None):
        self.conn = conn
        self.book = book        # prices amended events (pricing.book.PriceBook)
        self.max_metadata_bytes = max_metadata_bytes
        self.before = {}        # session_id -> row as read (None: new)
        self.sessions = {}      # session_id -> row being changed
        self.metadata = {}      # session_id -> session_state.Metadata, when merged
        self.deltas = rollups.Deltas()
        self.added_rows = []    # event rows counted in
        self.removed_rows = []  # event rows counted out

    # --- the operations ------------------------------------------------------

    def store(self, kept, session_updates, trace_claims=()):
        traced = {item["trace_id"] for item in (*(e for _, e in kept), *session_updates)
                  if item["session_id"] is None} | {c["trace_id"] for c in trace_claims}
        if traced:
            filed = self.file_traces(traced, trace_claims)
            kept = [(position, self.filed(event, filed)) for position, event in kept]
            session_updates = [self.filed(update, filed) for update in session_updates]
        unique = first_occurrences([event for _, event in kept])
        self.load({event["session_id"] for _, event in unique}
                  | {update["session_id"] for update in session_updates})
        by_key = {(e["session_id"], e["event_id"], e["trace_id"]): (i, e) for i, e in unique}
        # (id, position, event) of each event inserted, in the order of insertion
        inserted = sorted((row[0], *by_key[(row[1], row[2], row[3])])
                          for row in self.insert([event for _, event in unique]))
        for _, _, event in inserted:
            self.count_in(event)
        for _, position, event in inserted:
            if event["event_type"] == "session_start":
                self.start(event, (kept[position][0],))
            elif event["event_type"] == "session_end":
                self.end(event)
        for update in session_updates:
            self.apply_update(update)
        self.settle()
        return len(inserted)

    def amend(self, session_id, amendments):
        self.load({session_id})
        missing = []
        for amendment in amendments:
            old = self.conn.execute(
                f"SELECT id, tool_call, {', '.join(RETURNED)} FROM events "
                "WHERE session_id = ? AND event_id = ?",
                (session_id, amendment["event_id"])).fetchone()
            # A session_start/session_end is the session's, not a call: nothing to amend.
            if old is None or not rules.is_counted(old["event_type"]):
                missing.append(amendment["event_id"])
                continue
            if (amendment["end_ts"] or old["ts"]) - old["ts"] > MAX_DURATION_MS:
                raise EventError(f"end_timestamp: more than {MAX_DURATION_MS} ms after the "
                                 f"start of event {amendment['event_id']!r}")
            new = self.conn.execute(AMEND_EVENT, {
                **amendment, "id": old["id"],
                "tool_call": with_output(old["tool_call"], amendment["returns"])}).fetchone()
            if new["cost_source"] != "client" and rules.is_counted(new["event_type"]):
                cost = self.book.cost(new)
                if cost != (new["cost_nanos"], new["cost_source"]):
                    new = self.conn.execute(SET_COST, (*cost, old["id"])).fetchone()
            self.count_out(old)
            self.count_in(new)
        self.settle()
        return missing

    def reprice(self, changes):
        self.load({change["session_id"] for change in changes})
        repriced = 0
        for change in changes:
            new = self.conn.execute(reprice_sql(self.conn.null_safe_equal), change).fetchone()
            if new is None:  # amended since it was read: the amendment priced it
                continue
            # It matched the row as read, so the row before is this one at its old cost.
            self.count_out({**dict(new), "cost_nanos": change["old_cost_nanos"]})
            self.count_in(new)
            repriced += 1
        self.settle()
        return repriced

    def delete(self, session_ids, max_events):
        """Remove sessions, in order, with their events and traces, up to ``max_events``
        events: a session with more keeps the rest, and stays. ``(sessions, events)``."""
        self.load(session_ids)
        sessions, events = 0, 0
        for session_id in dict.fromkeys(session_ids):
            if events >= max_events:
                break
            if self.sessions[session_id] is None:
                continue
            removed = self.conn.execute(
                "DELETE FROM events WHERE id IN "
                "(SELECT id FROM events WHERE session_id = ? LIMIT ?) "
                f"RETURNING {', '.join(RETURNED)}", (session_id, max_events - events)).fetchall()
            for row in removed:
                self.count_out(row)
            events += len(removed)
            if events == max_events and self.conn.execute(
                    "SELECT 1 FROM events WHERE session_id = ? LIMIT 1", (session_id,)).fetchone():
                break
            self.conn.execute("DELETE FROM traces WHERE session_id = ?", (session_id,))
            self.sessions[session_id] = None
            sessions += 1
        self.settle()
        return sessions, events

    # --- traces --------------------------------------------------------------

    @staticmethod
    def filed(item, filed):
        return item if item["session_id"] is not None else {
            **item, "session_id": filed[item["trace_id"]]}

    def file_traces(self, trace_ids, claims):
        """``{trace_id: session_id}``: where each trace is filed after this change's claims.

        A trace's best claim wins (events.trace_claim); when it beats the one the
        trace was filed under, the trace's stored events move to the new session.
        """
        ids = sorted(trace_ids)
        stored = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for row in self.conn.execute(
                    "SELECT trace_id, session_id, claim_rank FROM traces "
                    f"WHERE trace_id IN ({', '.join('?' * len(chunk))})", chunk):
                stored[row[0]] = (row[2], row[1])
        best = {trace_id: (0, trace_id) for trace_id in ids}
        for claim in (*({"trace_id": t, "rank": r, "session_id": s} for t, (r, s) in stored.items()),
                      *claims):
            rank, session_id = best[claim["trace_id"]]
            if (-claim["rank"], claim["session_id"]) < (-rank, session_id):
                best[claim["trace_id"]] = (claim["rank"], claim["session_id"])
        changed = [(rank, session_id, trace_id) for trace_id, (rank, session_id) in best.items()
                   if stored.get(trace_id) != (rank, session_id)]
        self.conn.executemany(
            "INSERT INTO traces (claim_rank, session_id, trace_id) VALUES (?, ?, ?) "
            "ON CONFLICT (trace_id) DO UPDATE SET claim_rank = excluded.claim_rank, "
            "session_id = excluded.session_id", changed)
        # Refused if what a moved trace brings does not fit: every span that claims it there.
        claimants = defaultdict(list)
        for claim in claims:
            if claim["event"] is not None:
                claimants[claim["trace_id"], claim["session_id"]].append(claim["event"])
        for rank, session_id, trace_id in changed:
            if trace_id in stored:
                self.move_trace(trace_id, stored[trace_id][1], session_id,
                                tuple(claimants[trace_id, session_id]))
        return {trace_id: session_id for trace_id, (_, session_id) in best.items()}

    def move_trace(self, trace_id, old_session_id, new_session_id, claimants):
        """File a trace's stored events under another session (``claimants``: the
        positions of the events whose spans claimed it there). A session left with no
        events and no other trace (it was this trace's alone) goes with them, merged
        into the new one; another keeps what it has and its times follow its events."""
        self.load({old_session_id, new_session_id})
        moved = self.conn.execute(MOVE_TRACE, (new_session_id, old_session_id, trace_id)).fetchall()
        for row in moved:
            self.count_out({**dict(row), "session_id": old_session_id})
            self.count_in(row)
        old = self.sessions[old_session_id]
        if old is None:
            return
        first, last = self.conn.execute("SELECT min(ts), max(ts) FROM events WHERE session_id = ?",
                                        (old_session_id,)).fetchone()
        shared = self.conn.execute("SELECT 1 FROM traces WHERE session_id = ? AND trace_id != ?",
                                   (old_session_id, trace_id)).fetchone()
        if first is None and shared is None:
            self.merge_session(old, self.session(new_session_id, old["started_at"], old["source"]),
                               claimants)
            self.sessions[old_session_id] = None
        elif first is not None:
            old.update(started_at=first, last_event_at=last)

    def merge_session(self, old, new, claimants):
        """What a session had besides its events, given to the session that absorbs it
        (``claimants``: the events refused if its metadata does not fit there)."""
        new["started_at"] = min(new["started_at"], old["started_at"])
        new["last_event_at"] = max(new["last_event_at"], old["last_event_at"])
        if old["name_rank"]:
            session_state.name(new, old["agent_name"], old["name_rank"], old["named_at"])
        if old["ended_at"] is not None:
            session_state.end(new, old["ended_at"], old["status"], old["final_tokens_in"],
                              old["final_tokens_out"])
        metadata = self.session_metadata(old)
        if metadata.start is not None:
            self.session_metadata(new).merge_start(new, metadata.start, old["start_event_at"],
                                                   claimants)
        if metadata.metadata:
            self.session_metadata(new).merge_update(metadata.metadata, claimants)
        del self.metadata[old["session_id"]]

    # --- reading and counting ------------------------------------------------

    def load(self, session_ids):
        ids = sorted(set(session_ids) - self.sessions.keys())
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for row in self.conn.execute(
                    f"SELECT {', '.join(session_state.COLUMNS)} FROM sessions "
                    f"WHERE session_id IN ({', '.join('?' * len(chunk))})", chunk):
                self.before[row["session_id"]] = dict(row)
        for session_id in ids:
            self.before.setdefault(session_id, None)
            row = self.before[session_id]
            self.sessions[session_id] = None if row is None else dict(row)

    def insert(self, events):
        """``[(id, *EVENT_KEY)]`` of the events really inserted."""
        inserted, done = [], 0
        for rows in INSERT_CHUNKS:
            while len(events) - done >= rows:
                params = list(chain.from_iterable(map(EVENT_VALUES, events[done:done + rows])))
                inserted += self.conn.execute(INSERT_EVENTS[rows], params).fetchall()
                done += rows
        return inserted

    def session(self, session_id, ts, source):
        session = self.sessions.get(session_id)
        if session is None:
            session = self.sessions[session_id] = session_state.new_session(session_id, ts, source)
        return session

    def count_in(self, row):
        """An event this change added (a mapping with rollups.EVENT_FACT_COLUMNS and
        ``source``; its totals are summed in :meth:`settle`)."""
        session_state.include_time(self.session(row["session_id"], row["ts"], row["source"]),
                                   row["ts"])
        self.added_rows.append(row)

    def count_out(self, row):
        self.removed_rows.append(row)

    def start(self, event, positions):
        """A session_start really inserted (at ``positions`` in the batch: one): it names
        the session and adds its metadata."""
        session = self.session(event["session_id"], event["ts"], event["source"])
        if event["agent_name"] is not None:
            session_state.name(session, event["agent_name"], EXPLICIT_NAME, event["ts"])
        metadata = {} if event["metadata"] is None else jsonstrict.loads(event["metadata"])
        self.session_metadata(session).merge_start(session, metadata, event["ts"], positions)

    def end(self, event):
        session = self.sessions[event["session_id"]]
        session_state.end(session, event["ts"], event["status"], event["final_tokens_in"],
                          event["final_tokens_out"])

    def apply_update(self, update):
        session = self.session(update["session_id"], update["ts"], update["source"])
        if update["agent_name"] is not None:
            session_state.name(session, update["agent_name"], update["name_rank"], update["ts"])
        if update["metadata"] is not None:
            self.session_metadata(session).merge_update(
                update["metadata"], () if update["event"] is None else (update["event"],))
        if update["status"] is not None:
            session_state.end(session, update["ts"], update["status"], update["final_tokens_in"],
                              update["final_tokens_out"])

    def session_metadata(self, session):
        session_id = session["session_id"]
        if session_id not in self.metadata:
            row = None
            if self.before.get(session_id) is not None:
                row = self.conn.execute("SELECT metadata, start_metadata FROM sessions "
                                        "WHERE session_id = ?", (session_id,)).fetchone()
            self.metadata[session_id] = session_state.Metadata(
                row["metadata"] if row else "{}", row["start_metadata"] if row else None)
        return self.metadata[session_id]

    # --- writing -------------------------------------------------------------

    def settle(self):
        """Sum the rows counted out and in, write the sessions back (each one that changed,
        or whose events did, with a new revision) and move every rollup by what changed."""
        groups = (rollups.event_groups(self.removed_rows, -1),
                  rollups.event_groups(self.added_rows, 1))
        for grouped in groups:
            for key, measures in grouped.items():
                session = self.sessions[key[0]]
                if session is not None:
                    session_state.add_totals(session, measures)
        changed = {row["session_id"] for row in chain(self.removed_rows, self.added_rows)}
        for session_id, session in self.sessions.items():
            if session is not None:
                session_state.settle_totals(session)
                if (session_id in changed or session_id in self.metadata
                        or session != self.before[session_id]):
                    session["revision"] = session_state.new_revision()
        self.write_sessions()
        self.move_rollups(groups)
        self.deltas.apply(self.conn)

    def write_sessions(self):
        new, changed, gone = [], defaultdict(list), []
        for session_id, session in self.sessions.items():
            before = self.before[session_id]
            if session is None:
                if before is not None:
                    gone.append((session_id,))
            elif before is None:
                new.append(session)
            elif session != before:
                # Only the columns that changed: SQLite rewrites the entry of every index
                # on a column an UPDATE sets, changed or not.
                changed[tuple(c for c in session_state.COLUMNS if session[c] != before[c])].append(
                    session)
        columns = session_state.COLUMNS
        if new:
            self.conn.executemany(
                f"INSERT INTO sessions ({', '.join(columns)}) "
                f"VALUES ({', '.join(':' + c for c in columns)})", new)
        for setting, sessions in changed.items():
            self.conn.executemany(
                f"UPDATE sessions SET {', '.join(f'{c} = :{c}' for c in setting)} "
                "WHERE session_id = :session_id", sessions)
        for session_id, metadata in self.metadata.items():
            texts = metadata.texts(self.max_metadata_bytes)
            self.conn.execute("UPDATE sessions SET metadata = ?, start_metadata = ? "
                              "WHERE session_id = ?", (*texts, session_id))
        if gone:
            self.conn.executemany("DELETE FROM sessions WHERE session_id = ?", gone)

    def move_rollups(self, groups):
        """Deltas of this change: sessions filed elsewhere take their stored events
        along; rows counted out and in move the event rollups where their session
        is filed now; each session's figures move from before to after."""
        places = {}
        for session_id, session in self.sessions.items():
            before = self.before[session_id]
            if session is None and before is None:
                continue
            places[session_id] = rollups.session_place(session if session is not None else before)
            if before is not None and session is not None:
                old = rollups.session_place(before)
                if old != places[session_id]:
                    self.deltas.move_events(self.stored_groups(session_id), old, places[session_id])
        for grouped in groups:
            self.deltas.add_events(grouped, places)
        for session_id, session in self.sessions.items():
            self.deltas.change_session(self.before[session_id], session)

    def stored_groups(self, session_id):
        """The session's ``session_rollup`` rows as they were before this change."""
        keys, measures = rollups.SESSION_ROLLUP.keys, rollups.EVENT_MEASURES
        rows = self.conn.execute(f"SELECT {', '.join(keys + measures)} FROM session_rollup "
                                 "WHERE session_id = ?", (session_id,))
        return {tuple(row[:len(keys)]): list(row[len(keys):]) for row in rows}
