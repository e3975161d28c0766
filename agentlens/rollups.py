"""Summaries kept exact by the write path, so that analytics never scan events.

Two families, each a set of tables with the same measures and different keys:

- Event rollups sum the counted events: ``session_rollup`` per session ×
  type × model × hour of the day (the base), ``event_rollup`` over
  everything, ``agent_models``/``agent_clock`` per agent, and per
  session-start bucket (``day_*`` by UTC day, ``hour_*`` by UTC hour of the
  session's start, ``agent_day_*`` by agent and UTC day): ``*_models`` by
  type × model, ``*_clock`` by the events' hour of the day.
- Session rollups sum the sessions themselves by status (token totals as
  the sessions state them, cost, ended sessions' durations):
  ``agent_sessions`` per agent over all time, ``day_sessions`` and
  ``hour_sessions`` per start bucket and agent, ``day_totals`` and
  ``hour_totals`` per start bucket over all agents.

A rollup's key is made of where its session is filed (its ``place``: agent,
start day and hour, and for session rollups its status) and of the event
group's own keys. Every change reaches them as a delta: the contributions of
the rows a statement really inserted, updated or deleted (its ``RETURNING``
rows), and of a session's state after a change minus before it. Durations'
min and max cannot be taken out again, so a key that loses an ended session
has them recomputed from the level below (sessions → hours → days → agents).
"""
import functools
from collections import defaultdict
from dataclasses import dataclass, field
from operator import add, itemgetter

from . import rules

EVENT_MEASURES = ("events", "tokens_in", "tokens_out", "duration_us", "timed_events",
                  "cost_nanos", "unpriced_events", "unpriced_tokens")
SESSION_MEASURES = ("sessions", "events", "tokens_in", "tokens_out", "cost_nanos",
                    "ended_sessions", "duration_ms")
EXTREMES = ("min_duration_ms", "max_duration_ms")
# What an event group (see event_groups) is keyed by.
GROUP_KEYS = ("session_id", "event_type", "model", "hour")


def picker(names):
    """A function of a mapping (or sequence) -> the tuple of its values at ``names``."""
    if not names:
        return lambda _: ()
    if len(names) == 1:
        return lambda mapping, name=names[0]: (mapping[name],)
    return itemgetter(*names)


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: cheap dict keys
class Rollup:
    table: str
    place: tuple     # keys taken from where the session is filed
    own: tuple       # keys taken from the event group (event rollups only)
    measures: tuple
    # the key's parts from a place (a mapping) and from an event group (a tuple of GROUP_KEYS)
    from_place: object = field(init=False, repr=False)
    from_group: object = field(init=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "from_place", picker(self.place))
        object.__setattr__(self, "from_group", picker([GROUP_KEYS.index(k) for k in self.own]))

    @property
    def keys(self):
        return self.place + self.own

    @property
    def count(self):
        """The measure that is 0 exactly when nothing is summed in a row."""
        return self.measures[0]


SESSION_ROLLUP = Rollup("session_rollup", (), GROUP_KEYS, EVENT_MEASURES)
# Added by step 12 (one agent over a range of days): a rebuild of step 6 leaves them out.
AGENT_DAY_ROLLUPS = (
    Rollup("agent_day_models", ("agent_name", "start_day"), ("event_type", "model"),
           EVENT_MEASURES),
    Rollup("agent_day_clock", ("agent_name", "start_day"), ("hour",), ("events",)),
)
EVENT_ROLLUP = Rollup("event_rollup", (), ("event_type", "model", "hour"), EVENT_MEASURES)
EVENT_ROLLUPS = (
    SESSION_ROLLUP, EVENT_ROLLUP,
    Rollup("agent_models", ("agent_name",), ("event_type", "model"), EVENT_MEASURES),
    Rollup("agent_clock", ("agent_name",), ("hour",), ("events",)),
    Rollup("day_models", ("start_day",), ("event_type", "model"), EVENT_MEASURES),
    Rollup("day_clock", ("start_day",), ("hour",), ("events",)),
    Rollup("hour_models", ("start_hour",), ("event_type", "model"), EVENT_MEASURES),
    Rollup("hour_clock", ("start_hour",), ("hour",), ("events",)),
    *AGENT_DAY_ROLLUPS,
)
EVENT_ROLLUP_BY_TABLE = {rollup.table: rollup for rollup in EVENT_ROLLUPS}
AGENT_SESSIONS = Rollup("agent_sessions", ("agent_name", "status"), (), SESSION_MEASURES)
DAY_SESSIONS = Rollup("day_sessions", ("start_day", "agent_name", "status"), (), SESSION_MEASURES)
HOUR_SESSIONS = Rollup("hour_sessions", ("start_hour", "agent_name", "status"), (),
                       SESSION_MEASURES)
DAY_TOTALS = Rollup("day_totals", ("start_day", "status"), (), SESSION_MEASURES)
HOUR_TOTALS = Rollup("hour_totals", ("start_hour", "status"), (), SESSION_MEASURES)
# Finest first: each one's extremes are recomputed from the one before it.
SESSION_ROLLUPS = (HOUR_SESSIONS, DAY_SESSIONS, AGENT_SESSIONS, HOUR_TOTALS, DAY_TOTALS)
ALL = (*EVENT_ROLLUPS, *SESSION_ROLLUPS)

# The event columns a contribution needs (RETURNING lists, rebuilds).
EVENT_FACT_COLUMNS = ("session_id", "event_type", "ts", "model", "tokens_in", "tokens_out",
                      "duration_ms", "cost_nanos")


def event_groups(rows, sign=1):
    """Sum event rows (mappings with EVENT_FACT_COLUMNS) into ``session_rollup`` keys.

    Lifecycle events are not counted and contribute nothing.
    """
    groups = defaultdict(lambda: [0] * len(EVENT_MEASURES))
    for row in rows:
        if not rules.is_counted(row["event_type"]):
            continue
        tokens_in, tokens_out, cost = row["tokens_in"], row["tokens_out"], row["cost_nanos"]
        duration = rules.duration_us(row["duration_ms"])
        unpriced = rules.is_unpriced(tokens_in, tokens_out, cost)
        measures = groups[(row["session_id"], row["event_type"], row["model"] or "",
                           rules.clock_hour(row["ts"]))]
        measures[0] += sign
        measures[1] += sign * (tokens_in or 0)
        measures[2] += sign * (tokens_out or 0)
        measures[3] += sign * (duration or 0)
        measures[4] += sign * (duration is not None)
        measures[5] += sign * (cost or 0)
        measures[6] += sign * unpriced
        measures[7] += sign * ((tokens_in or 0) + (tokens_out or 0)) * unpriced
    return groups


def session_place(session):
    """Where a session's events are filed: its agent and start buckets."""
    started = session["started_at"]
    return {"agent_name": session["agent_name"], "start_day": rules.day_of(started),
            "start_hour": rules.hour_of(started)}


def session_key(session):
    """Where a session's own figures are filed: its place and its status."""
    return {**session_place(session), "status": session["status"]}


def session_contribution(session):
    """``(measures, duration or None)`` of a session (a mapping with its started_at,
    ended_at, event_count, total_tokens_in, total_tokens_out and cost_nanos)."""
    ended = session["ended_at"] is not None
    duration = session["ended_at"] - session["started_at"] if ended else None
    measures = (1, session["event_count"], session["total_tokens_in"], session["total_tokens_out"],
                session["cost_nanos"], int(ended), duration or 0)
    return measures, duration


# session_contribution summed over a group of sessions in SQL (SESSION_MEASURES, then
# the least and greatest duration of those that ended); a test checks both forms agree.
SESSION_SUMS_SQL = (
    "count(*)", "sum(event_count)", "sum(total_tokens_in)", "sum(total_tokens_out)",
    "sum(cost_nanos)", "count(ended_at)", "coalesce(sum(ended_at - started_at), 0)",
    "min(ended_at - started_at)", "max(ended_at - started_at)")


class Deltas:
    """Changes to the rollups, gathered in Python and written by :meth:`apply`."""

    def __init__(self):
        self.rows = {rollup: defaultdict(lambda r=rollup: [0] * len(r.measures)) for rollup in ALL}
        self.extremes = defaultdict(dict)  # session rollup -> key -> [min, max] added
        self.dirty = defaultdict(set)      # session rollup -> keys that lost an ended session

    def add(self, rollup, key, measures):
        """Add ``measures`` (its first ones, for a rollup that keeps fewer) at ``key``."""
        rows = self.rows[rollup]
        rows[key] = list(map(add, rows[key], measures))

    def add_events(self, groups, places, targets=None):
        """``groups`` from :func:`event_groups`, each filed where ``places[session_id]`` says,
        in every event rollup (or those of ``targets``)."""
        for group, measures in groups.items():
            place = places[group[0]]
            for rollup in EVENT_ROLLUPS if targets is None else targets:
                self.add(rollup, key_of(rollup, place, group), measures)

    def move_events(self, groups, old_place, new_place):
        """A session's stored events, filed again after its agent or start changed."""
        for group, measures in groups.items():
            for rollup in EVENT_ROLLUPS:
                old, new = key_of(rollup, old_place, group), key_of(rollup, new_place, group)
                if old != new:
                    self.add(rollup, old, [-m for m in measures])
                    self.add(rollup, new, measures)

    def change_session(self, before, after):
        """A session's figures moved from ``before`` to ``after`` (either may be None)."""
        old = session_contribution(before) if before is not None else None
        new = session_contribution(after) if after is not None else None
        old_place = session_key(before) if before is not None else None
        new_place = session_key(after) if after is not None else None
        if old == new and old_place == new_place:
            return
        for rollup in SESSION_ROLLUPS:
            old_key = None if old is None else key_of(rollup, old_place)
            new_key = None if new is None else key_of(rollup, new_place)
            if old is not None:
                self.add(rollup, old_key, [-m for m in old[0]])
                if old[1] is not None and (old_key, old[1]) != (new_key, new and new[1]):
                    self.dirty[rollup].add(old_key)
            if new is not None:
                self.add(rollup, new_key, new[0])
                if new[1] is not None:
                    extremes = self.extremes[rollup].setdefault(new_key, [new[1], new[1]])
                    extremes[0], extremes[1] = min(extremes[0], new[1]), max(extremes[1], new[1])

    def apply(self, conn, targets=None):
        """Write the changes to every rollup (or to those of ``targets``)."""
        with conn.pipeline():  # on PostgreSQL, the statements go without waiting for each answer
            self.write(conn, ALL if targets is None else targets)

    def write(self, conn, targets):
        for rollup in targets:
            changes = {key: measures for key, measures in self.rows[rollup].items() if any(measures)}
            with_extremes = rollup in SESSION_ROLLUPS
            if with_extremes:
                extremes = self.extremes.get(rollup, {})
                for key in extremes.keys() - changes.keys():
                    changes[key] = [0] * len(rollup.measures)
            if not changes:
                continue
            conn.executemany(upsert_sql(rollup, with_extremes), [
                (*key, *measures, *extremes.get(key, (None, None))) if with_extremes
                else key + tuple(measures) for key, measures in changes.items()])
            emptied = [key for key, measures in changes.items() if min(measures) < 0]
            if emptied:
                conn.executemany(delete_empty_sql(rollup), emptied)
        for rollup in SESSION_ROLLUPS:  # finest first: each is recomputed from the one before
            if rollup in targets and self.dirty.get(rollup):
                conn.executemany(recompute_extremes_sql(rollup), [
                    extremes_params(rollup, key) for key in self.dirty[rollup]])


def key_of(rollup, place, group=()):
    """A rollup's key for a session filed at ``place`` (and an event group: a tuple of
    GROUP_KEYS, as :func:`event_groups` keys them)."""
    return rollup.from_place(place) + rollup.from_group(group)


@functools.cache
def key_match(rollup):
    return " AND ".join(f"{k} = ?" for k in rollup.keys)


@functools.cache
def upsert_sql(rollup, with_extremes=False):
    columns = (*rollup.keys, *rollup.measures, *(EXTREMES if with_extremes else ()))
    updates = [f"{m} = {rollup.table}.{m} + excluded.{m}" for m in rollup.measures]
    if with_extremes:
        updates += [
            *(f"{extreme}_duration_ms = CASE WHEN excluded.{extreme}_duration_ms {better} "
              f"{rollup.table}.{extreme}_duration_ms OR {rollup.table}.{extreme}_duration_ms "
              f"IS NULL THEN excluded.{extreme}_duration_ms "
              f"ELSE {rollup.table}.{extreme}_duration_ms END"
              for extreme, better in (("min", "<"), ("max", ">"))),
        ]
    return (f"INSERT INTO {rollup.table} ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' * len(columns))}) "
            f"ON CONFLICT ({', '.join(rollup.keys)}) DO UPDATE SET {', '.join(updates)}")


@functools.cache
def delete_empty_sql(rollup):
    return f"DELETE FROM {rollup.table} WHERE {key_match(rollup)} AND {rollup.count} = 0"


# The finer level each session rollup's extremes are recomputed from: (table, its
# condition, the duration expression when reading sessions themselves).
EXTREMES_SOURCE = {
    "hour_sessions": ("sessions", "agent_name = :agent_name AND status = :status AND "
                      "started_at >= :lo AND started_at < :hi AND ended_at IS NOT NULL",
                      "ended_at - started_at"),
    "day_sessions": ("hour_sessions", "agent_name = :agent_name AND status = :status AND "
                     "start_hour >= :lo AND start_hour < :hi", None),
    "agent_sessions": ("day_sessions", "agent_name = :agent_name AND status = :status", None),
    "hour_totals": ("sessions", "status = :status AND started_at >= :lo AND started_at < :hi "
                    "AND ended_at IS NOT NULL", "ended_at - started_at"),
    "day_totals": ("hour_totals", "status = :status AND start_hour >= :lo AND start_hour < :hi",
                   None),
}


@functools.cache
def recompute_extremes_sql(rollup):
    source, where, expression = EXTREMES_SOURCE[rollup.table]
    low = expression or "min_duration_ms"
    high = expression or "max_duration_ms"
    match = " AND ".join(f"{k} = :{k}" for k in rollup.keys)
    return (f"UPDATE {rollup.table} SET "
            f"min_duration_ms = (SELECT min({low}) FROM {source} WHERE {where}), "
            f"max_duration_ms = (SELECT max({high}) FROM {source} WHERE {where}) "
            f"WHERE {match}")


def extremes_params(rollup, key):
    params = dict(zip(rollup.keys, key))
    if "start_hour" in params:
        params.update(lo=params["start_hour"] * rules.HOUR_MS,
                      hi=(params["start_hour"] + 1) * rules.HOUR_MS)
    elif "start_day" in params:
        params.update(lo=params["start_day"] * 24, hi=(params["start_day"] + 1) * 24)
    return params
