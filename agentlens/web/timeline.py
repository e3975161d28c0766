"""The session page's timeline: events nested by ``parent_id``, a page at a time.

The outline (ids and parents of every event, without their data) is read in one
light query and put in depth-first order; only the events of the page shown are
then read whole. A 10,000-event session costs the same page as a 10-event one.
"""
import math
from dataclasses import dataclass, field

from ..ingest.events import tool_name
from ..rules import is_error
from ..read.explain import parent_rows
from ..read.sessions import event_outline, events_by_row
from ..timestamps import parse_iso

PAGE_SIZE = 100
# The narrowest bar drawn, in percent of the session's length, so instants show.
MIN_BAR = 0.4


@dataclass
class Row:
    event: dict | None  # None: a stand-in for an ancestor on an earlier page (continued)
    depth: int
    error: bool
    name: str | None  # the model or the tool
    kind: str  # llm, tool, error, lifecycle, other or continued: how the row is drawn
    offset_ms: int
    bar: tuple  # (x, width) in percent of the session's time axis
    children: list = field(default_factory=list)
    type: str | None = None  # a stand-in's event type


@dataclass
class Timeline:
    rows: list  # the page's top rows, each holding its children
    page: int
    pages: int
    total: int
    first: int  # 1-based position of the page's first event
    last: int
    context: list  # outline rows of the ancestors of the page's first event


def depth_first(outline):
    """``([(row id, depth)], {row id: parent row id})``: each event after its parent,
    children in time order, parents found as read.explain.parent_rows says (an
    unknown parent makes an event a top row; a cycle is cut at its earliest event)."""
    parent = parent_rows(outline)
    children = {}
    for row_id, parent_id in parent.items():
        children.setdefault(parent_id, []).append(row_id)
    order, stack = [], [(row_id, 0) for row_id in reversed(children.get(None, ()))]
    while stack:
        row_id, depth = stack.pop()
        order.append((row_id, depth))
        stack += [(child, depth + 1) for child in reversed(children.get(row_id, ()))]
    return order, parent


def bar(start_ms, span_ms, ts, duration_ms):
    """Where an event sits on the session's time axis, in percent."""
    if span_ms <= 0:
        return 0.0, 100.0 if duration_ms else MIN_BAR
    x = min(max((ts - start_ms) / span_ms * 100, 0.0), 100.0 - MIN_BAR)
    width = max((duration_ms or 0) / span_ms * 100, MIN_BAR)
    return round(x, 3), round(min(width, 100.0 - x), 3)


def kind(event, error):
    if error:
        return "error"
    if event["event_type"] in ("session_start", "session_end"):
        return "lifecycle"
    if event["model"] or event["event_type"] == "llm_call":
        return "llm"
    if event["tool_call"] is not None or event["event_type"] == "tool_call":
        return "tool"
    return "other"


def continued(entry, depth):
    """The row standing in for an ancestor (an outline entry) shown on an earlier page."""
    return Row(event=None, depth=depth, error=False, kind="continued",
               name=entry["model"] or entry["tool_name"] or entry["event_id"],
               offset_ms=0, bar=(0.0, 0.0), type=entry["event_type"])


def timeline_page(conn, session, duration_ms, page=1, page_size=PAGE_SIZE):
    """Page ``page`` (1-based, clamped) of the session's nested timeline."""
    session_id = session["session_id"]
    outline = event_outline(conn, session_id)
    order, parent = depth_first(outline)
    pages = max(1, math.ceil(len(order) / page_size))
    page = min(max(page, 1), pages)
    shown = order[(page - 1) * page_size: page * page_size]
    events = events_by_row(conn, session_id, [row_id for row_id, _ in shown])

    context = []  # the ancestors of the page's first event, root first
    if shown:
        described = {entry["id"]: entry for entry in outline}
        ancestor = parent[shown[0][0]]
        while ancestor is not None:
            context.append(described[ancestor])
            ancestor = parent[ancestor]
        context.reverse()

    start_ms, span_ms = parse_iso(session["started_at"]), duration_ms or 0
    top, open_rows = [], []  # open_rows: the path from a top row down to the last row
    for row_id, depth in shown:
        event = events[row_id]
        ts = parse_iso(event["timestamp"])
        error = is_error(event["event_type"], event["tool_call"])
        row = Row(event=event, depth=depth, error=error, kind=kind(event, error),
                  name=event["model"] or tool_name(event["tool_call"]), offset_ms=ts - start_ms,
                  bar=bar(start_ms, span_ms, ts, event["duration_ms"]))
        while open_rows and open_rows[-1].depth >= depth:
            open_rows.pop()
        # Events whose ancestors are on an earlier page hang from stand-ins for them.
        while (open_rows[-1].depth + 1 if open_rows else 0) < depth:
            level = open_rows[-1].depth + 1 if open_rows else 0
            stand_in = continued(context[level], level)
            (open_rows[-1].children if open_rows else top).append(stand_in)
            open_rows.append(stand_in)
        (open_rows[-1].children if open_rows else top).append(row)
        open_rows.append(row)

    first = (page - 1) * page_size + 1 if shown else 0
    return Timeline(rows=top, page=page, pages=pages, total=len(order), first=first,
                    last=first + len(shown) - 1 if shown else 0, context=context)
