"""The pages: each parses its query, calls the read functions the JSON API calls,
and renders the result. A bad filter is shown on the page (400), never a JSON error."""
from flask import abort, render_template, request, url_for
from marshmallow import ValidationError
from markdown_it import MarkdownIt

from ..api.args import SessionFilterArgs
from ..api.sessions import EXPORT_ARGS, SessionListArgs, export_download
from ..db import get_db, snapshot
from ..errors import describe_validation_error
from ..ingest.events import STATUSES
from ..read import analytics, compare, explain, sessions
from ..timestamps import format_day, now_ms
from . import bp, charts
from .timeline import timeline_page

# The pages' forms and links name the agent agent_name only (the API's alias is left out).
ANALYTICS_ARGS = SessionFilterArgs(exclude=("agent",))
SESSION_LIST_ARGS = SessionListArgs(exclude=("agent",))
FILTER_NAMES = ("status", "agent_name", "started_from", "started_to")
QUERY_NAMES = ("status", "agent_name", "from", "to", "limit")  # what page links carry along
PAGE_SIZES = (25, 50, 100, 200)
RECENT_FOR_COMPARE = 50
# The explanation's Markdown, rendered with raw HTML off: its text stays text.
MARKDOWN = MarkdownIt("commonmark", {"html": False})


def query_args(schema):
    """``(args, problem)``: the query through the API's schema, blank fields left out
    (an empty form field means no filter)."""
    given = {key: value for key, value in request.args.items() if value.strip()}
    try:
        return schema.load(given), None
    except ValidationError as error:
        return schema.load({}), describe_validation_error(error.normalized_messages())


def filter_query():
    """The page's filters as given (blank fields dropped), for links that keep them."""
    return {key: value for key, value in request.args.items()
            if value.strip() and key in QUERY_NAMES}


def recent_sessions(conn):
    """Ids offered when picking a session to compare with."""
    return [found["session_id"] for found in sessions.list_sessions(conn, limit=RECENT_FOR_COMPARE)[0]]


@bp.get("/")
def sessions_page():
    args, problem = query_args(SESSION_LIST_ARGS)
    args["limit"] = min(max(args["limit"], 1), sessions.MAX_LIMIT)
    listed, total, figures, totals = [], 0, {}, None
    if problem is None:
        filters = {name: args[name] for name in FILTER_NAMES if name in args}
        conn = get_db()
        with snapshot(conn):
            listed, total = sessions.list_sessions(conn, **args)
            figures = sessions.session_figures(conn, [found["session_id"] for found in listed])
            totals = analytics.session_overview(conn, **filters)
    return render_template(
        "web/sessions.html", sessions=listed, total=total, figures=figures, totals=totals,
        problem=problem, offset=args["offset"], limit=args["limit"], statuses=STATUSES,
        page_sizes=sorted({*PAGE_SIZES, args["limit"]}), query=filter_query(),
        show_cost=any("total_cost_usd" in found for found in listed),
    ), 400 if problem else 200


def path_carries(session_id):
    """Whether /ui/sessions/<id> brings a browser to the session: it drops the ``.`` and
    ``..`` segments of a path (``a/../b`` is ``b`` to it), and no route takes an id that
    begins with ``/``. Another id is given by query (:func:`session_by_query`)."""
    return not session_id.startswith("/") and not any(
        segment in (".", "..") for segment in session_id.split("/"))


@bp.app_template_global()
def session_url(session_id, **args):
    """The address of a session's page."""
    if path_carries(session_id):
        return url_for("web.session_page", session_id=session_id, **args)
    return url_for("web.session_by_query", id=session_id, **args)


@bp.app_template_global()
def export_url(session_id, export_format):
    """The address of a session's export, as a download."""
    if path_carries(session_id):
        return url_for("web.export_page", session_id=session_id, format=export_format)
    return url_for("web.export_by_query", id=session_id, format=export_format)


@bp.get("/ui/session")
def session_by_query():
    return session_page(request.args.get("id", ""))


@bp.get("/ui/sessions/<path:session_id>")
def session_page(session_id):
    conn = get_db()
    session = sessions.get_session(conn, session_id)
    if session is None:
        abort(404, f"There is no session “{session_id}”.")
    metrics = compare.session_metrics(conn, session_id)
    page = request.args.get("page", 1, type=int)
    timeline = timeline_page(conn, session, metrics["session_duration_ms"], page)
    explanation = explain.explain_session(conn, session_id)
    return render_template(
        "web/session.html", session=session, metrics=metrics, timeline=timeline,
        explanation=MARKDOWN.render(explanation) if explanation else "",
        recent=recent_sessions(conn))


@bp.get("/ui/export")
def export_by_query():
    return export_page(request.args.get("id", ""))


@bp.get("/ui/export/<path:session_id>")
def export_page(session_id):
    """The exports of the JSON API, as downloads for a signed-in browser."""
    try:
        export_format = EXPORT_ARGS.load(request.args)["format"]
    except ValidationError:
        abort(400, "The export format is json or csv.")
    return export_download(session_id, export_format)


@bp.get("/ui/compare")
def compare_page():
    a, b = request.args.get("a", ""), request.args.get("b", "")
    conn = get_db()
    result, missing = None, []
    if a and b:
        metrics = {which: compare.session_metrics(conn, session_id)
                   for which, session_id in (("a", a), ("b", b))}
        missing = [session_id for which, session_id in (("a", a), ("b", b)) if metrics[which] is None]
        if not missing:
            result = compare.compare(metrics["a"], metrics["b"])
    return render_template(
        "web/compare.html", a=a, b=b, result=result, missing=missing,
        recent=recent_sessions(conn),
    ), 404 if missing else 200


@bp.get("/ui/analytics")
def analytics_page():
    args, problem = query_args(ANALYTICS_ARGS)
    report = None if problem else analytics.analytics(get_db(), **args)
    return render_template(
        "web/analytics.html", report=report, problem=problem, query=filter_query(),
        charts=analytics_charts(report) if report else None,
    ), 400 if problem else 200


def analytics_charts(report):
    """Columns per day (the last 90 days, empty days drawn as zero) and per UTC hour."""
    by_day = {point["day"]: point for point in report["sessions_over_time"]}
    days = [format_day(day) for day in charts.day_range(now_ms(), analytics.TIMELINE_DAYS)]

    def per_day(key, unit, whole=True):
        points = []
        for day in days:
            value = by_day.get(day, {}).get(key) or 0
            points.append((day[5:], value, f"{day}: {value:,} {unit}"))
        return charts.column_chart(points, label_every=15, whole=whole)

    by_hour = {point["hour"]: point["event_count"] for point in report["hourly_activity"]}
    hours = [(f"{hour:02d}", by_hour.get(hour, 0),
              f"{hour:02d}:00–{hour:02d}:59 UTC: {by_hour.get(hour, 0):,} events")
             for hour in range(24)]
    drawn = {"sessions": per_day("session_count", "sessions"),
             "tokens": per_day("total_tokens", "tokens"),
             "hours": charts.column_chart(hours, label_every=3)}
    if any("cost_usd" in point for point in report["sessions_over_time"]):
        drawn["cost"] = per_day("cost_usd", "USD", whole=False)
    return drawn
