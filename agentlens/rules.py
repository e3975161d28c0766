"""The counting rules, each defined once. The write path, the rebuild behind
``agentlens check`` and the readers all take them from here; the only SQL
form of a rule (``COUNTED``) is generated from the Python one.

Times are integer milliseconds since the Unix epoch, UTC; days and hours are
UTC buckets of those (floor division, so times before 1970 fall in the right
bucket too).
"""
import math

LIFECYCLE_TYPES = ("session_start", "session_end")
# What every count, sum and average covers: all events but the lifecycle ones.
COUNTED = "event_type NOT IN ({})".format(", ".join(f"'{t}'" for t in LIFECYCLE_TYPES))

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
NANOS_PER_USD = 10**9


def is_counted(event_type):
    return event_type not in LIFECYCLE_TYPES


def is_error(event_type, tool_call):
    """An error event: its type says error, or its tool call says it failed."""
    if "error" in event_type.lower():
        return True
    if isinstance(tool_call, dict):
        return tool_call.get("success") is False or bool(tool_call.get("error"))
    return False


def lifecycle_event_id(session_id, event_type, source):
    """The id of a session_start/session_end sent without one, so that a retry is
    recognised: ``<session>:<type>``, or ``<session>:<format>:<type>`` from an SDK
    format, so that one session started through two formats keeps both."""
    return ":".join([session_id, *([source] if source != "agentlens" else []), event_type])


def day_of(ts):
    """The UTC day number (days since 1970-01-01) of a time."""
    return ts // DAY_MS


def hour_of(ts):
    """The UTC hour number (hours since 1970-01-01 00:00) of a time."""
    return ts // HOUR_MS


def clock_hour(ts):
    """The hour of the day, 0-23 UTC."""
    return ts // HOUR_MS % 24


def duration_us(duration_ms):
    """A duration in integer microseconds, rounded half up: sums of these are exact
    whatever the order, where sums of float milliseconds are not."""
    return None if duration_ms is None else math.floor(duration_ms * 1000 + 0.5)


# Its SQL form, for sums over one session's events, is each store's
# ``duration_us_sql`` (a test checks that the forms agree).


def session_tokens(summed, stated):
    """A session's token total: the final count a session_end stated, else the sum."""
    return summed if stated is None else stated


def session_duration_ms(started_at, ended_at, last_event_at):
    """A session's wall-clock length: to its end, or while it runs, to its latest event."""
    return (last_event_at if ended_at is None else ended_at) - started_at


def is_unpriced(tokens_in, tokens_out, cost_nanos):
    """An event that used tokens but has no price: its cost is unknown, not zero."""
    return cost_nanos is None and bool(tokens_in or tokens_out)
