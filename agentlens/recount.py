"""Every session total and rollup recomputed from the stored events, with the
write path's own functions (rules.py, rollups.py, session_state.py).

``check`` compares the recount with what is stored, inside one read snapshot
(no write lock: a live server keeps ingesting); ``rebuild`` writes it, which a
migration does after changing what the totals hold. Sessions are read in
chunks, in id order, so memory stays bounded by the chunk and the buckets.
"""
import sys
from dataclasses import dataclass

import click
from flask.cli import with_appcontext

from . import rollups
from .db import get_db, snapshot
from .ingest import session_state

# The session columns that are sums over its events (or follow from them).
DERIVED = ("event_count", "tokens_in", "tokens_out", "total_tokens_in", "total_tokens_out",
           "cost_nanos", "unpriced_events")
CHUNK_SESSIONS = 2000


@dataclass
class Difference:
    table: str
    key: tuple
    stored: object
    recounted: object

    def __str__(self):
        return f"{self.table} {self.key}: stored {self.stored}, recounted {self.recounted}"


class Recount:
    def __init__(self, conn, progress=None):
        self.conn = conn
        self.progress = progress or (lambda done, total: None)
        self.deltas = rollups.Deltas()

    def chunks(self):
        """Per chunk of sessions: ``(stored rows, recounted rows, session_rollup rows)``;
        the other rollups are summed into ``self.deltas`` meanwhile."""
        total = self.conn.execute("SELECT count(*) FROM sessions").fetchone()[0]
        done, last = 0, None
        # Not the revision: no total depends on it, and migration 6 (a rebuild) predates it.
        columns = ", ".join(c for c in session_state.COLUMNS if c != "revision")
        while True:
            stored = [dict(row) for row in sessions_after(self.conn, columns, last)]
            if not stored:
                return
            first, last = stored[0]["session_id"], stored[-1]["session_id"]
            events = self.conn.execute(
                f"SELECT {', '.join(rollups.EVENT_FACT_COLUMNS)} FROM events "
                "WHERE session_id BETWEEN ? AND ?", (first, last)).fetchall()
            recounted = {row["session_id"]: {**row, **dict.fromkeys(DERIVED, 0)} for row in stored}
            groups = rollups.event_groups(events)
            for key, measures in groups.items():
                session_state.add_totals(recounted[key[0]], measures)
            for session in recounted.values():
                session_state.settle_totals(session)
                self.deltas.change_session(None, session)
            places = {sid: rollups.session_place(session) for sid, session in recounted.items()}
            self.deltas.add_events(groups, places)
            per_session = self.deltas.rows.pop(rollups.SESSION_ROLLUP)
            self.deltas.rows[rollups.SESSION_ROLLUP] = type(per_session)(per_session.default_factory)
            yield stored, list(recounted.values()), per_session
            done += len(stored)
            self.progress(done, total)


def sessions_after(conn, columns, last):
    """The next CHUNK_SESSIONS sessions by id after ``last`` (None: from the first), a
    search of the primary key (``? IS NULL OR`` would scan it from the start)."""
    after, params = ("", ()) if last is None else ("WHERE session_id > ? ", (last,))
    return conn.execute(f"SELECT {columns} FROM sessions {after}ORDER BY session_id LIMIT ?",
                        (*params, CHUNK_SESSIONS))


def check(conn, progress=None):
    """The differences between what is stored and a recount (none: all exact)."""
    recount, differences = Recount(conn, progress), []
    with snapshot(conn):
        for stored, recounted, per_session in recount.chunks():
            for old, new in zip(stored, recounted):
                for column in DERIVED:
                    if old[column] != new[column]:
                        differences.append(Difference("sessions", (old["session_id"], column),
                                                      old[column], new[column]))
            first, last = stored[0]["session_id"], stored[-1]["session_id"]
            differences += compare(rollups.SESSION_ROLLUP, stored_rows(
                conn, rollups.SESSION_ROLLUP, "WHERE session_id BETWEEN ? AND ?", (first, last)),
                per_session, {})
        for rollup in rollups.ALL:
            if rollup is not rollups.SESSION_ROLLUP:
                differences += compare(rollup, stored_rows(conn, rollup),
                                       recount.deltas.rows[rollup],
                                       recount.deltas.extremes.get(rollup, {}))
    return differences


def rebuild(conn, targets, progress=None):
    """Recompute and write every derived session column and the rollups of ``targets``
    (inside the caller's write transaction). Draws no revision (migration 6, its one
    caller, predates the column): a caller on a live store must, or explain and compare
    keep serving what they computed before (read/kept.py)."""
    for rollup in targets:
        conn.execute(f"DELETE FROM {rollup.table}")
    recount = Recount(conn, progress)
    sets = ", ".join(f"{column} = :{column}" for column in DERIVED)
    for _, recounted, per_session in recount.chunks():
        conn.executemany(f"UPDATE sessions SET {sets} WHERE session_id = :session_id", recounted)
        if rollups.SESSION_ROLLUP in targets:
            conn.executemany(rollups.upsert_sql(rollups.SESSION_ROLLUP),
                             [(*key, *measures) for key, measures in per_session.items()])
    recount.deltas.apply(conn, targets)


def fill_rollups(conn, targets):
    """Write event rollups that a migration adds (``targets``, empty) from the stored
    ``session_rollup`` and each session's place, in chunks of sessions: the same sums
    the write path would have made, without reading the events."""
    deltas, last = rollups.Deltas(), None
    keys = ", ".join(f"r.{key}" for key in rollups.SESSION_ROLLUP.keys)
    measures = ", ".join(f"r.{measure}" for measure in rollups.EVENT_MEASURES)
    while True:
        sessions = {row["session_id"]: rollups.session_place(row) for row in sessions_after(
            conn, "session_id, agent_name, started_at", last)}
        if not sessions:
            break
        first, last = min(sessions), max(sessions)
        groups = {tuple(row[:4]): list(row[4:]) for row in conn.execute(
            f"SELECT {keys}, {measures} FROM session_rollup AS r "
            "WHERE r.session_id BETWEEN ? AND ?", (first, last))}
        deltas.add_events(groups, sessions, targets)
    deltas.apply(conn, targets)


def stored_rows(conn, rollup, where="", params=()):
    width = len(rollup.keys)
    extremes = rollups.EXTREMES if rollup in rollups.SESSION_ROLLUPS else ()
    columns = (*rollup.keys, *rollup.measures, *extremes)
    return {tuple(row[:width]): tuple(row[width:]) for row in conn.execute(
        f"SELECT {', '.join(columns)} FROM {rollup.table} {where}", params)}


def compare(rollup, stored, counted, extremes):
    expected = {}
    for key, measures in counted.items():
        if any(measures):
            with_extremes = rollup in rollups.SESSION_ROLLUPS
            expected[key] = (*measures, *(extremes.get(key, (None, None)) if with_extremes else ()))
    return [Difference(rollup.table, key, stored.get(key), expected.get(key))
            for key in sorted(stored.keys() | expected.keys(), key=repr)
            if stored.get(key) != expected.get(key)]


@click.command("check")
@with_appcontext
def check_command():
    """Recount every total and rollup from the events and compare (read-only)."""
    conn = get_db()
    total = conn.execute("SELECT count(*) FROM sessions").fetchone()[0]
    with click.progressbar(length=total, label="Recounting sessions", file=sys.stderr) as bar:
        done = [0]

        def progress(count, _total):
            bar.update(count - done[0])
            done[0] = count

        differences = check(conn, progress)
    for difference in differences[:50]:
        click.echo(str(difference))
    if differences:
        more = " (the first 50 shown)" if len(differences) > 50 else ""
        raise click.ClickException(f"{len(differences)} totals differ from a recount{more}")
    click.echo(f"All totals of {total} sessions match a recount of their events.")


def init_app(app):
    app.cli.add_command(check_command)
