"""A session told as Markdown, for ``GET /sessions/<id>/explain``.

User data never shapes the document: whitespace in it (newlines included) is
collapsed, excerpts go into code spans whose backtick fence is longer than any
backtick run inside (CommonMark), and names (agent, model, tool, event type)
have their inline Markdown punctuation backslash-escaped.
"""
import functools
import re
import sys

from .. import jsonstrict
from ..db import snapshot
from ..ingest.events import tool_field, tool_name
from ..pricing.money import usd_text
from ..rules import COUNTED, session_duration_ms
from .kept import KeptByRevision
from .sessions import get_session, loads

EXCERPT_CHARS = 120
NAME_CHARS = 80
# Events read to nest the timeline: enough for any parent to be found in
# sessions of ordinary size, bounded for sessions of 100,000 events.
READ_WINDOW = 5000
SUMMARY_TYPES = 20
LABELS = {"llm_call": "LLM call", "tool_call": "Tool call", "error": "Error"}
INPUT_KEYS = ("prompt", "messages", "input", "query", "content", "text")
OUTPUT_KEYS = ("response", "output", "content", "text", "completion")
ERROR_KEYS = ("error", "message")
# Names are never at the start of a line, so the block markers (- + . = and
# digits) are inert there; only punctuation with an inline meaning is escaped.
INLINE_PUNCTUATION = re.compile(r"([\\`*_\[\]<>#!|~&$])")
BACKTICK_RUN = re.compile(r"`+")


RENDERED = KeptByRevision(64, max_bytes=256 * 1024)


def explain_session(conn, session_id, max_items=200):
    """The session as Markdown: header, nested timeline (at most max_items items), summary.

    None when the session is unknown.
    """
    max_items = max(max_items, 0)
    with snapshot(conn):
        row = conn.execute("SELECT revision FROM sessions WHERE session_id = ?",
                           (session_id,)).fetchone()
        if row is None:
            return None
        text = RENDERED.get((session_id, max_items), row[0])
        if text is None:
            text = render(conn, get_session(conn, session_id), max_items)
            RENDERED.put((session_id, max_items), row[0], text, sys.getsizeof(text))
    return text


def render(conn, session, max_items):
    lines = header(conn, session)
    lines += ["", "### Timeline", ""] + timeline(conn, session, max_items)
    lines += ["", "### Summary", ""] + summary(conn, session)
    return "\n".join(lines) + "\n"


def header(conn, session):
    duration_ms = session_duration_ms(*conn.execute(
        "SELECT started_at, ended_at, last_event_at FROM sessions WHERE session_id = ?",
        (session["session_id"],)).fetchone())
    tokens_in, tokens_out = session["total_tokens_in"], session["total_tokens_out"]
    return [
        f"## Agent Session: {name(session['agent_name'])}",
        f"**Duration:** {seconds(duration_ms)}",
        f"**Status:** {name(session['status'])}",
        f"**Tokens:** {tokens_in} in / {tokens_out} out ({tokens_in + tokens_out} total)",
    ]


def timeline(conn, session, max_items):
    """The rendered lines: the tree of the first READ_WINDOW events (ids and parents
    only), then the data of just the events that make it into the first max_items lines."""
    session_id = session["session_id"]
    outline = conn.execute(
        "SELECT id, trace_id, event_id, parent_id FROM events WHERE session_id = ? "
        "ORDER BY ts, id LIMIT ?", (session_id, max(READ_WINDOW, max_items))).fetchall()
    order = render_order(outline, max_items)
    described = {}
    for start in range(0, len(order), 500):
        chunk = [row_id for row_id, _ in order[start:start + 500]]
        for row in conn.execute(f"SELECT id, {DETAIL_COLUMNS} FROM events "
                                f"WHERE id IN ({', '.join('?' * len(chunk))})", chunk):
            described[row[0]] = describe_safely(Event(row), session)
    lines = [" " * indent + marker + described[row_id] for row_id, (indent, marker) in order]
    total = conn.execute(
        "SELECT count(*) FROM events WHERE session_id = ?", (session_id,)
    ).fetchone()[0]
    if total > len(lines):
        more = total - len(lines)
        lines += [""] * bool(lines) + [f"… and {more} more event{'s' if more > 1 else ''}"]
    return lines


PLAIN_COLUMNS = ("event_type", "model", "tokens_in", "tokens_out", "duration_ms")
JSON_COLUMNS = ("input_data", "output_data", "tool_call", "decision_trace", "metadata")
DETAIL_COLUMNS = ", ".join(PLAIN_COLUMNS + JSON_COLUMNS)
JSON_POSITIONS = {key: 1 + len(PLAIN_COLUMNS) + n for n, key in enumerate(JSON_COLUMNS)}


class Event(dict):
    """An event row (``id, DETAIL_COLUMNS``) whose JSON fields are decoded when first read
    (those stored as NULL are None from the start)."""

    def __init__(self, row):
        super().__init__(zip(PLAIN_COLUMNS, row[1:]))
        for key, position in JSON_POSITIONS.items():
            if row[position] is None:
                self[key] = None
        self.row = row

    def __missing__(self, key):
        value = self[key] = loads(self.row[JSON_POSITIONS[key]])
        return value


def render_order(outline, max_items):
    """``[(row id, (indent, list marker))]`` of the first max_items lines: numbered
    top-level items, each child in a sub-list under its parent, in time order. A
    parent is found as :func:`parent_rows` says."""
    parent = parent_rows(outline)
    children = {}
    for row_id, parent_id in parent.items():
        children.setdefault(parent_id, []).append(row_id)
    order, number = [], 0
    stack = [(0, row_id) for row_id in reversed(children.get(None, ()))]
    while stack and len(order) < max_items:
        indent, row_id = stack.pop()
        if indent == 0:
            number += 1
            marker = f"{number}. "
        else:
            marker = "- "
        order.append((row_id, (indent, marker)))
        # A sub-list item must start at its parent's content column.
        stack += [(indent + len(marker), child) for child in reversed(children.get(row_id, ()))]
    return order


def parent_rows(outline):
    """``{row id: the row id of its parent, or None}`` of a session's events (rows with
    ``id``, ``trace_id``, ``event_id`` and ``parent_id``), in the outline's order. A
    parent is found within the event's own trace: span ids are unique only there, and
    two traces of one session may reuse one. An unknown parent, or the event itself,
    makes it a root; a cycle is cut at its earliest event."""
    by_key = {(row["trace_id"], row["event_id"]): row["id"] for row in outline}
    parent = {}
    for row in outline:
        parent_id = by_key.get((row["trace_id"], row["parent_id"]))
        parent[row["id"]] = parent_id if parent_id != row["id"] else None
    break_cycles(parent)
    return parent


def break_cycles(parent):
    """Detach the earliest event of each parent_id cycle, so every event hangs from a root."""
    order = {event_id: i for i, event_id in enumerate(parent)}
    settled = set()
    for start in parent:
        path, node = {}, start  # a dict: ordered, with O(1) membership
        while node is not None and node not in settled and node not in path:
            path[node] = None
            node = parent[node]
        if node in path:
            cycle = list(path)[list(path).index(node):]
            parent[min(cycle, key=order.get)] = None
        settled.update(path)


def describe_safely(event, session):
    try:
        return describe(event, session)
    except RecursionError:  # JSON nested close to the interpreter's limit
        return kind(event["event_type"]) + " (data nested too deeply to show)"


def describe(event, session):
    """One line (without its list marker) for an event."""
    event_type = event["event_type"]
    if event_type == "session_start":
        return "Session started"
    if event_type == "session_end":
        return f"Session ended — {name(session['status'])}"
    tool = event["tool_call"] if isinstance(event["tool_call"], dict) else None
    parts = details(event, tool)
    return title(event, tool) + (" — " + "; ".join(parts) if parts else "")


def kind(event_type):
    return "**" + (LABELS.get(event_type) or name(event_type)) + "**"


def title(event, tool):
    """``**LLM call** gpt-4o (420 in / 96 out tokens, 1180.5 ms)`` and the like."""
    text = kind(event["event_type"])
    for label in (event["model"], tool_name(tool)):
        if label:
            text += " " + name(label)
    stats = []
    if event["tokens_in"] is not None or event["tokens_out"] is not None:
        stats.append(f"{event['tokens_in'] or 0} in / {event['tokens_out'] or 0} out tokens")
    if event["duration_ms"] is not None:
        stats.append(milliseconds(event["duration_ms"]))
    return text + (f" ({', '.join(stats)})" if stats else "")


def details(event, tool):
    """What failed, input, output, tool failure and reasoning, as labelled excerpts."""
    parts, error_from = [], None
    if "error" in event["event_type"].lower():
        error_from, message = error_message(event)
        if message is not None:
            parts.append(excerpt(message))
    if tool:
        inputs, outputs = tool_field(tool, "input"), tool_field(tool, "output")
    else:
        inputs = pick(event["input_data"], INPUT_KEYS)
        outputs = pick(event["output_data"], OUTPUT_KEYS)
    llm = event["event_type"] == "llm_call" and not tool
    if inputs is not None and error_from != "input_data":
        parts.append(("prompt: " if llm else "input: ") + excerpt(inputs))
    if outputs is not None and error_from != "output_data":
        parts.append(("response: " if llm else "output: ") + excerpt(outputs))
    if tool and (tool.get("success") is False or tool.get("error") not in (None, "", False)):
        parts.append("failed: " + excerpt(tool["error"]) if tool.get("error") else "failed")
    reasoning = pick(event["decision_trace"], ("reasoning",))
    if reasoning is not None:
        parts.append("reasoning: " + excerpt(reasoning))
    return parts


def error_message(event):
    """``(field, message)``: what failed, from output_data, input_data or metadata."""
    for field in ("output_data", "input_data", "metadata"):
        value = event[field]
        if isinstance(value, dict):
            for key in ERROR_KEYS:
                if value.get(key) not in (None, ""):
                    return field, value[key]
    return None, None


def summary(conn, session):
    rows = conn.execute(
        f"SELECT event_type, count(*), sum(is_error) FROM events WHERE session_id = ? AND {COUNTED} "
        "GROUP BY event_type ORDER BY count(*) DESC, event_type",
        (session["session_id"],),
    )
    counts, other_types, events, errors = [], 0, 0, 0
    for event_type, count, error_count in rows:
        events += count
        errors += error_count
        if len(counts) < SUMMARY_TYPES:
            counts.append(f"{count} {name(event_type)}")
        else:
            other_types += 1
    if other_types:
        counts.append(f"{other_types} other type{'s' if other_types > 1 else ''}")
    tokens_in, tokens_out = session["total_tokens_in"], session["total_tokens_out"]
    return [
        f"- **Events:** {events}" + (f" ({', '.join(counts)})" if counts else ""),
        f"- **Errors:** {errors}",
        f"- **Tokens:** {tokens_in + tokens_out} total ({tokens_in} in / {tokens_out} out)",
        cost_line(conn, session["session_id"]),
        f"- **Status:** {name(session['status'])}",
    ]


def cost_line(conn, session_id):
    """``- **Cost:** $0.012345``, saying how many events with tokens have no price."""
    cost, unpriced = conn.execute("SELECT cost_nanos, unpriced_events FROM sessions "
                                  "WHERE session_id = ?", (session_id,)).fetchone()
    line = f"- **Cost:** {usd_text(cost)}"
    if unpriced:
        line += (f" (incomplete: {unpriced} event{'s' if unpriced > 1 else ''} "
                 "with tokens but no price)")
    return line


def pick(value, keys):
    """The first of keys that a dict value has (not None), else the whole value."""
    if isinstance(value, dict):
        for key in keys:
            if value.get(key) is not None:
                return value[key]
    return value


def shorten(text, limit):
    """The text with whitespace runs collapsed to one space, cut to ``limit`` characters
    (and "…"). A long text is collapsed a prefix at a time: the collapse of a prefix is a
    prefix of the collapse of the whole, so once it is longer than ``limit`` it decides."""
    size = 2 * limit + 2
    while True:
        collapsed = " ".join(text[:size].split())
        if len(collapsed) > limit:
            return collapsed[:limit].rstrip() + "…"
        if size >= len(text):
            return collapsed
        size *= 4


def name(text):
    if type(text) is str and len(text) <= SHORT_NAME_CHARS:
        return short_name(text)
    return escaped(shorten(str(text), NAME_CHARS))


# Names up to this length are cached as given (1,024 of them: 0.5 to 1.4 MB a worker):
# a response names the same few agents, models, tools and types many times.
SHORT_NAME_CHARS = 2 * NAME_CHARS


@functools.lru_cache(maxsize=1024)
def short_name(text):
    return escaped(shorten(text, NAME_CHARS))


def escaped(text):
    return INLINE_PUNCTUATION.sub(r"\\\1", text) if text else "(blank)"


def excerpt(value):
    """A code span holding the value (compact JSON unless a string), collapsed and shortened."""
    text = value if isinstance(value, str) else jsonstrict.encode(value)
    text = shorten(text, EXCERPT_CHARS)
    if not text:
        return "(empty)"
    fence = "`" * (max(map(len, BACKTICK_RUN.findall(text)), default=0) + 1) if "`" in text else "`"
    # A space on each side is stripped again by CommonMark; it keeps an edge
    # backtick of the text from merging with the fence.
    pad = " " if text[0] == "`" or text[-1] == "`" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def seconds(ms):
    tenths = (max(ms, 0) + 50) // 100  # rounded half up, in integers
    return f"{tenths // 10}.{tenths % 10}s"


def milliseconds(value):
    return f"{value:.2f}".rstrip("0").rstrip(".") + " ms"
