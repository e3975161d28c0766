"""A session told as Markdown, for ``GET /sessions/<id>/explain``.

User data never shapes the document: whitespace in it (newlines included) is
collapsed, excerpts go into code spans whose backtick fence is longer than any
backtick run inside (CommonMark), and names (agent, model, tool, event type)
have their inline Markdown punctuation backslash-escaped.
"""
import json
import re
from contextlib import closing
from itertools import islice

from ..db import snapshot
from ..ingest.events import tool_field, tool_name
from ..pricing.money import usd_text
from ..rules import COUNTED, session_duration_ms
from .sessions import get_session, iter_events

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


def explain_session(conn, session_id, max_items=200):
    """The session as Markdown: header, nested timeline (at most max_items items), summary.

    None when the session is unknown.
    """
    with snapshot(conn):
        session = get_session(conn, session_id)
        if session is None:
            return None
        lines = header(conn, session)
        lines += ["", "### Timeline", ""] + timeline(conn, session, max(max_items, 0))
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
    session_id = session["session_id"]
    with closing(iter_events(conn, session_id)) as events:
        # Only the rendered line of each event is kept, not its (possibly large) data.
        read = {event["event_id"]: (event["parent_id"], describe_safely(event, session))
                for event in islice(events, max(READ_WINDOW, max_items))}
    lines = render_tree(read, max_items)
    total = conn.execute(
        "SELECT count(*) FROM events WHERE session_id = ?", (session_id,)
    ).fetchone()[0]
    if total > len(lines):
        more = total - len(lines)
        lines += [""] * bool(lines) + [f"… and {more} more event{'s' if more > 1 else ''}"]
    return lines


def render_tree(read, max_items):
    """Numbered top-level items, each child in a sub-list under its parent, in time order."""
    parent = {event_id: p if p in read else None for event_id, (p, _) in read.items()}
    break_cycles(parent)
    children = {}
    for event_id, parent_id in parent.items():
        children.setdefault(parent_id, []).append(event_id)
    lines, number = [], 0
    stack = [(0, event_id) for event_id in reversed(children.get(None, ()))]
    while stack and len(lines) < max_items:
        indent, event_id = stack.pop()
        if indent == 0:
            number += 1
            marker = f"{number}. "
        else:
            marker = "- "
        lines.append(" " * indent + marker + read[event_id][1])
        # A sub-list item must start at its parent's content column.
        stack += [(indent + len(marker), child) for child in reversed(children.get(event_id, ()))]
    return lines


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
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rstrip() + "…"


def name(text):
    text = shorten(str(text), NAME_CHARS)
    return INLINE_PUNCTUATION.sub(r"\\\1", text) if text else "(blank)"


def excerpt(value):
    """A code span holding the value (JSON unless a string), collapsed and shortened."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = shorten(text, EXCERPT_CHARS)
    if not text:
        return "(empty)"
    fence = "`" * (max(map(len, BACKTICK_RUN.findall(text)), default=0) + 1)
    # A space on each side is stripped again by CommonMark; it keeps an edge
    # backtick of the text from merging with the fence.
    pad = " " if text[0] == "`" or text[-1] == "`" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def seconds(ms):
    tenths = (max(ms, 0) + 50) // 100  # rounded half up, in integers
    return f"{tenths // 10}.{tenths % 10}s"


def milliseconds(value):
    return f"{value:.2f}".rstrip("0").rstrip(".") + " ms"
