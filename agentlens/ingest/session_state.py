"""How a session's row changes, as plain Python over a dict of its columns.

The store reads the rows a change touches (under the write lock), applies these
rules, and writes the rows back; the rollups move by the difference. Each rule
makes the result independent of arrival order:
- the most authoritative, then earliest, name wins (its rank: events.UNNAMED to
  events.EXPLICIT_NAME);
- the latest session_end ends the session, with its status and final counts;
- session_starts' metadata merge, the earliest winning key by key; what other
  sources add (SDK session updates) is merged over it, in arrival order.
"""
import secrets
from operator import itemgetter

from .. import jsonstrict, rollups, rules
from .events import UNNAMED, EventError

# The columns the store reads and writes back; metadata is read only when merged.
COLUMNS = ("session_id", "agent_name", "name_rank", "named_at", "status", "started_at",
           "ended_at", "last_event_at", "start_event_at", "tokens_in", "tokens_out",
           "final_tokens_in", "final_tokens_out", "total_tokens_in", "total_tokens_out",
           "event_count", "cost_nanos", "unpriced_events", "source", "revision")


class MetadataTooLarge(EventError):
    """Merging would make a session's metadata larger than the cap. ``positions``: the
    events (their positions in the batch) to refuse for the rest to fit: session_starts,
    or events whose spans carried updates; empty when an update of its own is to blame."""

    def __init__(self, limit, positions):
        super().__init__(f"metadata: the session's merged metadata would be larger than "
                         f"the {limit}-byte field limit")
        self.positions = positions


def new_session(session_id, ts, source):
    return {"session_id": session_id, "agent_name": "unknown", "name_rank": UNNAMED,
            "named_at": None,
            "status": "active", "started_at": ts, "ended_at": None, "last_event_at": ts,
            "start_event_at": None, "tokens_in": 0, "tokens_out": 0, "final_tokens_in": None,
            "final_tokens_out": None, "total_tokens_in": 0, "total_tokens_out": 0,
            "event_count": 0, "cost_nanos": 0, "unpriced_events": 0, "source": source,
            "revision": 0}


def new_revision():
    """A session's tag after a change: random, so that no two states of a session share
    one, also across a delete and a new session of the same id, a restored backup or
    another store (a counter would repeat there); 62 bits fit any store's integer."""
    return secrets.randbits(62)


# A session's own totals, and the event measure (rollups.EVENT_MEASURES) each one sums.
TOTALS = tuple((column, rollups.EVENT_MEASURES.index(measure)) for column, measure in (
    ("event_count", "events"), ("tokens_in", "tokens_in"), ("tokens_out", "tokens_out"),
    ("cost_nanos", "cost_nanos"), ("unpriced_events", "unpriced_events")))


def add_totals(session, measures):
    """Add one group of rollups.event_groups (signed) to the session's totals."""
    for column, index in TOTALS:
        session[column] += measures[index]


def include_time(session, ts):
    """A session runs from its earliest known time to its latest."""
    if ts < session["started_at"]:
        session["started_at"] = ts
    if ts > session["last_event_at"]:
        session["last_event_at"] = ts


def settle_totals(session):
    session["total_tokens_in"] = rules.session_tokens(session["tokens_in"], session["final_tokens_in"])
    session["total_tokens_out"] = rules.session_tokens(session["tokens_out"], session["final_tokens_out"])


def name(session, agent_name, rank, ts):
    current = (session["name_rank"], session["named_at"], session["agent_name"])
    if rank > current[0] or (rank == current[0] and (
            current[1] is None or ts < current[1] or (ts == current[1] and agent_name < current[2]))):
        session.update(agent_name=agent_name, name_rank=rank, named_at=ts)


def end(session, ts, status, final_tokens_in, final_tokens_out):
    if session["ended_at"] is None or ts >= session["ended_at"]:
        session.update(ended_at=ts, status=status, final_tokens_in=final_tokens_in,
                       final_tokens_out=final_tokens_out)


class Metadata:
    """A session's two metadata texts, read on first use and written back if changed."""

    def __init__(self, metadata, start_metadata):
        self.stored = self.metadata = jsonstrict.loads(metadata)
        self.start = None if start_metadata is None else jsonstrict.loads(start_metadata)
        # What was merged, in order: (positions of the events to refuse if it does not
        # fit, the metadata; for a start, with its time).
        self.updates, self.starts = [], []
        self.stored_start = None  # (start_event_at, start metadata) as read

    def merge_start(self, session, metadata, ts, positions):
        """A session_start's metadata (``positions``: of the events to refuse if it does
        not fit): the earliest start wins key by key (see earliest_first)."""
        if not self.starts:
            self.stored_start = (session["start_event_at"], self.start)
        self.starts.append((positions, (ts, metadata)))
        session["start_event_at"], self.start = earliest_first(
            (session["start_event_at"], self.start), (ts, metadata))

    def merge_update(self, metadata, positions):
        """Metadata from an SDK update (``positions``: of the events to refuse if it does
        not fit; none for an update of its own), merged over what is there; objects
        merge key by key (AgentOps' ``agents`` map gains one agent per create_agent)."""
        self.metadata = deep_merge(self.metadata, metadata)
        self.updates.append((positions, metadata))

    def texts(self, limit):
        """``(metadata, start_metadata)`` as JSON; MetadataTooLarge if one is over ``limit``,
        blamed on the updates, or the starts, that do not fit (see left_out)."""
        texts = (jsonstrict.dump_bytes(self.metadata),
                 None if self.start is None else jsonstrict.dump_bytes(self.start))
        if len(texts[0]) > limit:
            raise MetadataTooLarge(limit, left_out(self.stored, self.updates, deep_merge,
                                                   limit, lambda merged: merged))
        if texts[1] is not None and len(texts[1]) > limit:
            raise MetadataTooLarge(limit, left_out(self.stored_start, self.starts,
                                                   earliest_first, limit, itemgetter(1)))
        return tuple(None if text is None else text.decode() for text in texts)


def left_out(stored, merges, merge, limit, content):
    """The positions of the events whose merges to leave out for the others to fit:
    merged again in order from ``stored``, each that would take ``content`` of what
    fits before it past ``limit`` (none when one of them is not an event's: then the
    whole change is refused). The change made again without them merges the rest in
    the same order, to what fitted here."""
    merged, refused = stored, []
    for positions, value in merges:
        candidate = merge(merged, value)
        if len(jsonstrict.dump_bytes(content(candidate))) <= limit:
            merged = candidate
        elif not positions:
            return []
        else:
            refused += positions
    return refused


def earliest_first(ours, theirs):
    """Two session_starts' ``(ts, metadata)`` merged: the earliest wins key by key (a
    tie: the smaller JSON text); the time is the earliest."""
    if ours[1] is None:
        return theirs
    earlier, later = sorted([ours, theirs], key=lambda side: (side[0], jsonstrict.dumps(side[1])))
    return earlier[0], {**later[1], **earlier[1]}


def deep_merge(base, update):
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            value = deep_merge(merged[key], value)
        merged[key] = value
    return merged
