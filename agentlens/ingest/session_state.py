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
        self.updates = []  # (positions of the events to refuse for it, metadata) merged
        self.start_positions = []  # the same, of each session_start's metadata merged

    def merge_start(self, session, metadata, ts, positions):
        """A session_start's metadata (``positions``: of the events to refuse if it does
        not fit): the earliest start wins key by key (a tie: the smaller JSON text)."""
        self.start_positions.append(positions)
        if self.start is None:
            self.start, session["start_event_at"] = metadata, ts
        else:
            ours = (session["start_event_at"], jsonstrict.dumps(self.start), self.start)
            theirs = (ts, jsonstrict.dumps(metadata), metadata)
            earlier, later = sorted([ours, theirs], key=lambda side: side[:2])
            self.start = {**later[2], **earlier[2]}
            session["start_event_at"] = earlier[0]

    def merge_update(self, metadata, positions):
        """Metadata from an SDK update (``positions``: of the events to refuse if it does
        not fit; none for an update of its own), merged over what is there; objects
        merge key by key (AgentOps' ``agents`` map gains one agent per create_agent)."""
        self.metadata = deep_merge(self.metadata, metadata)
        self.updates.append((positions, metadata))

    def texts(self, limit):
        """``(metadata, start_metadata)`` as JSON; MetadataTooLarge if one is over ``limit``
        (blamed on the updates that did not fit, else on the last session_start)."""
        texts = (jsonstrict.dump_bytes(self.metadata),
                 None if self.start is None else jsonstrict.dump_bytes(self.start))
        if len(texts[0]) > limit:
            raise MetadataTooLarge(limit, self.updates_over(limit))
        if texts[1] is not None and len(texts[1]) > limit:
            raise MetadataTooLarge(limit, self.start_positions[-1])
        return tuple(None if text is None else text.decode() for text in texts)

    def updates_over(self, limit):
        """The positions of the updates to leave out for the others to fit, merged again
        in order: each that would take what fits before it past ``limit`` (none when one
        of them is an update of its own: then the whole change is refused)."""
        merged, left_out = self.stored, []
        for positions, metadata in self.updates:
            candidate = deep_merge(merged, metadata)
            if len(jsonstrict.dump_bytes(candidate)) <= limit:
                merged = candidate
            elif not positions:
                return []
            else:
                left_out += positions
        return left_out


def deep_merge(base, update):
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            value = deep_merge(merged[key], value)
        merged[key] = value
    return merged
