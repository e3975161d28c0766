"""Sums over the sessions whose start falls in a range, read from the rollups.

A range [from, to) on the session start is cut into whole UTC days (the
``day_*`` rollups), the whole hours at its edges (``hour_*``), and what is
left at each edge, under an hour (summed in SQL from ``sessions``, with the
SQL form of the write path's rule, and ``session_rollup``). No range means the
all-time rollups. So the cost of a sum depends on the length of the range in
days and on the sessions of at most two partial hours, not on how many
sessions there are.
"""
from collections import defaultdict
from dataclasses import dataclass

from .. import rollups, rules

ALL, DAY, HOUR, EXACT = "all", "day", "hour", "exact"


@dataclass(frozen=True)
class Piece:
    level: str
    lo: object = None  # in the level's unit: day or hour number, or epoch ms; None: open
    hi: object = None

    def where(self, column):
        conditions, params = [], []
        if self.lo is not None:
            conditions.append(f"{column} >= ?")
            params.append(self.lo)
        if self.hi is not None:
            conditions.append(f"{column} < ?")
            params.append(self.hi)
        return conditions, params


def ceil_div(a, b):
    return -(-a // b)


def split(lo, hi):
    """Pieces covering [lo, hi) in epoch ms (None: open on that side)."""
    if lo is None and hi is None:
        return [Piece(ALL)]
    lo_hour = None if lo is None else ceil_div(lo, rules.HOUR_MS)
    hi_hour = None if hi is None else hi // rules.HOUR_MS
    if lo is not None and hi is not None and lo_hour >= hi_hour:
        # No whole hour inside, but perhaps the start of one: cut there, so that each
        # exact piece lies in one hour (and so in one day).
        boundary = lo_hour * rules.HOUR_MS
        cuts = [lo, boundary, hi] if lo < boundary < hi else [lo, hi]
        return [Piece(EXACT, a, b) for a, b in zip(cuts, cuts[1:])] if lo < hi else []
    lo_day = None if lo is None else ceil_div(lo_hour, 24)
    hi_day = None if hi is None else hi_hour // 24
    pieces = []
    if lo is not None and lo < lo_hour * rules.HOUR_MS:
        pieces.append(Piece(EXACT, lo, lo_hour * rules.HOUR_MS))
    if hi is not None and hi_hour * rules.HOUR_MS < hi:
        pieces.append(Piece(EXACT, hi_hour * rules.HOUR_MS, hi))
    if lo_day is not None and hi_day is not None and lo_day >= hi_day:
        pieces.append(Piece(HOUR, lo_hour, hi_hour))
        return pieces
    if lo is not None and lo_hour < lo_day * 24:
        pieces.append(Piece(HOUR, lo_hour, lo_day * 24))
    if hi is not None and hi_day * 24 < hi_hour:
        pieces.append(Piece(HOUR, hi_day * 24, hi_hour))
    pieces.append(Piece(DAY, lo_day, hi_day))
    return pieces


def piece_ms(piece):
    """``(lo, hi)`` of a piece in epoch ms (None: open)."""
    unit = {EXACT: 1, HOUR: rules.HOUR_MS, DAY: rules.DAY_MS}[piece.level]
    return tuple(None if edge is None else edge * unit for edge in (piece.lo, piece.hi))


def add(total, measures):
    for i, value in enumerate(measures):
        total[i] += value


class SessionSums:
    """Session measures (rollups.SESSION_MEASURES) by status, and duration extremes."""

    def __init__(self):
        self.by_status = defaultdict(lambda: [0] * len(rollups.SESSION_MEASURES))
        self.min_duration = self.max_duration = None

    def add(self, status, measures, low, high):
        add(self.by_status[status], measures)
        if low is not None:
            self.min_duration = low if self.min_duration is None else min(self.min_duration, low)
        if high is not None:
            self.max_duration = high if self.max_duration is None else max(self.max_duration, high)

    @classmethod
    def total(cls, parts):
        """The sums of several disjoint groups of sessions together."""
        total = cls()
        for part in parts:
            for status, measures in part.by_status.items():
                total.add(status, measures, part.min_duration, part.max_duration)
        return total

    def __getitem__(self, measure):
        """A measure summed over every status."""
        index = rollups.SESSION_MEASURES.index(measure)
        return sum(values[index] for values in self.by_status.values())

    def sessions(self, status):
        return self.by_status[status][0] if status in self.by_status else 0


def conditions_for(agent_name, status, prefix=""):
    conditions, params = [], []
    for column, value in (("agent_name", agent_name), ("status", status)):
        if value is not None:
            conditions.append(f"{prefix}{column} = ?")
            params.append(value)
    return conditions, params


def where_sql(conditions):
    return " WHERE " + " AND ".join(conditions) if conditions else ""


ROLLUP_SUMS = ", ".join([*(f"sum({m})" for m in rollups.SESSION_MEASURES),
                         "min(min_duration_ms)", "max(max_duration_ms)"])
EXACT_SUMS = ", ".join(rollups.SESSION_SUMS_SQL)
# Where a piece's session sums are read: (table, its time column, that column's units
# in a day), per agent (for an agent filter, or top agents) and over all agents; a
# partial hour from the sessions themselves (EXACT_SUMS, the others ROLLUP_SUMS).
SESSION_SOURCES = {True: {ALL: (rollups.AGENT_SESSIONS.table, None, None),
                          DAY: (rollups.DAY_SESSIONS.table, "start_day", 1),
                          HOUR: (rollups.HOUR_SESSIONS.table, "start_hour", 24),
                          EXACT: ("sessions", "started_at", None)},
                   False: {ALL: (rollups.AGENT_SESSIONS.table, None, None),
                           DAY: (rollups.DAY_TOTALS.table, "start_day", 1),
                           HOUR: (rollups.HOUR_TOTALS.table, "start_hour", 24),
                           EXACT: ("sessions", "started_at", None)}}


def session_sums(conn, lo=None, hi=None, agent_name=None, status=None, group=None):
    """Sums over the sessions started in [lo, hi) (of one agent, in one status): a
    SessionSums, or with ``group`` ("day" or "agent") a dict of them by UTC day
    number or agent."""
    sums = defaultdict(SessionSums)
    width = len(rollups.SESSION_MEASURES)
    selected, selected_params = conditions_for(agent_name, status)
    by_agent = agent_name is not None or group == "agent"
    for piece in split(lo, hi):
        table, column, per_day = SESSION_SOURCES[by_agent][piece.level]
        measures = EXACT_SUMS if piece.level == EXACT else ROLLUP_SUMS
        time, params = piece.where(column) if column else ([], [])
        # "agent_name || ''": grouping by the plain column makes SQLite walk the whole
        # agent index to save a sort, instead of searching by time range. An exact
        # piece lies in one hour (split), so its day is that of its start.
        key_column = {None: "NULL", "agent": "agent_name || ''",
                      "day": "NULL" if piece.level == EXACT else column}[group]
        for row in conn.execute(f"SELECT {key_column}, status, {measures} FROM {table}"
                                f"{where_sql(time + selected)} GROUP BY 1, 2",
                                params + selected_params):
            key = row[0]
            if group == "day":
                key = rules.day_of(piece.lo) if piece.level == EXACT else key // per_day
            sums[key].add(row[1], row[2:2 + width], row[2 + width], row[3 + width])
    return dict(sums) if group else sums[None]


def event_sums(conn, lo=None, hi=None, agent_name=None):
    """Event measures of the sessions started in [lo, hi) (of one agent):
    ``({(event_type, model): measures}, {hour of day: events})``.

    Over all time, the all-time rollups (of the agent, or over everything); over a
    range, whole days from the start-bucket rollups (by agent and day for one agent),
    whole hours from ``hour_*`` over all agents and, for one agent, from the
    per-session rollup of its sessions in them (an index range of that agent), as
    the partial hours."""
    models = defaultdict(lambda: [0] * len(rollups.EVENT_MEASURES))
    clock = defaultdict(int)
    agent, agent_params = conditions_for(agent_name, None)
    for piece in split(lo, hi):
        if piece.level == EXACT or (piece.level == HOUR and agent_name is not None):
            read_sessions(conn, models, clock, piece, agent_name)
        elif piece.level == ALL and agent_name is not None:
            read_models(conn, models, clock, "agent_models", "agent_clock", agent, agent_params)
        elif piece.level == ALL:
            for row in conn.execute("SELECT event_type, model, hour, "
                                    f"{', '.join(rollups.EVENT_MEASURES)} FROM event_rollup"):
                add(models[(row[0], row[1])], row[3:])
                clock[row[2]] += row[3]
        else:
            time, params = piece.where(f"start_{piece.level}")
            prefix = "agent_day" if agent_name is not None else piece.level
            read_models(conn, models, clock, f"{prefix}_models", f"{prefix}_clock",
                        agent + time, agent_params + params)
    return models, clock


def read_models(conn, models, clock, models_table, clock_table, conditions, params):
    measures = ", ".join(f"sum({m})" for m in rollups.EVENT_MEASURES)
    for row in conn.execute(f"SELECT event_type, model, {measures} FROM {models_table}"
                            f"{where_sql(conditions)} GROUP BY event_type, model", params):
        add(models[(row[0], row[1])], row[2:])
    for row in conn.execute(f"SELECT hour, sum(events) FROM {clock_table}"
                            f"{where_sql(conditions)} GROUP BY hour", params):
        clock[row[0]] += row[1]


def read_sessions(conn, models, clock, piece, agent_name):
    """The per-session rollup of the sessions started in a piece (exact, or of hours)."""
    time, params = Piece(EXACT, *piece_ms(piece)).where("s.started_at")
    agent, agent_params = conditions_for(agent_name, None, "s.")
    rows = conn.execute(
        "SELECT r.event_type, r.model, r.hour, "
        f"{', '.join(f'sum(r.{m})' for m in rollups.EVENT_MEASURES)} "
        "FROM sessions AS s JOIN session_rollup AS r ON r.session_id = s.session_id"
        f"{where_sql(time + agent)} GROUP BY 1, 2, 3", params + agent_params)
    for row in rows:
        add(models[(row[0], row[1])], row[3:])
        clock[row[2]] += row[3]
