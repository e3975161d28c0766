"""The web viewer without a browser: access, CSRF, headers, errors, limits, the
figures pages take from the read functions, and the timeline's shape and speed.
(What a person sees in a browser is in test_web_browser.py.)"""
import re
import time
from http.cookies import SimpleCookie

import pytest
from flask.sessions import SecureCookieSessionInterface
from markupsafe import escape

import web_fixture as fx
from agentlens.web import charts, format
from agentlens.web.timeline import PAGE_SIZE, bar, depth_first

PAGES = ["/", "/ui/sessions/alpha-1", "/ui/compare", "/ui/compare?a=alpha-1&b=beta-2",
         "/ui/analytics", "/ui/analytics?agent_name=planner", "/?status=error&limit=1"]
KEY = "page-key-1"


def send(client, events, headers=None):
    response = client.post("/events", json={"events": events}, headers=headers or {})
    assert response.status_code == 200, response.get_data(as_text=True)


@pytest.fixture
def client(make_app):
    client = make_app().test_client()
    send(client, fx.alpha() + fx.beta())
    return client


@pytest.fixture
def keyed_app(make_app):
    app = make_app(API_KEYS=[KEY, "page-key-2"])
    send(app.test_client(), fx.alpha(), {"X-API-Key": KEY})
    return app


def csrf_token(client, path="/ui/login"):
    """The form token of the page at ``path`` (the login page sets it in the cookie)."""
    text = client.get(path).get_data(as_text=True)
    return text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def sign_in(client, key=KEY, next_path=None):
    form = {"key": key, "csrf_token": csrf_token(client)}
    if next_path is not None:
        form["next"] = next_path
    return client.post("/ui/login", data=form)


def session_cookie(response):
    cookies = SimpleCookie()
    for header in response.headers.getlist("Set-Cookie"):
        cookies.load(header)
    return cookies["session"], " ".join(response.headers.getlist("Set-Cookie"))


# ---------------------------------------------------------------------------
# headers and errors


@pytest.mark.parametrize("path", PAGES + ["/ui/sessions/nope", "/?from=never"])
def test_every_page_has_a_strict_csp_and_is_not_cached(client, path):
    response = client.get(path)
    assert response.mimetype == "text/html"
    policy = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    assert "style-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    assert " style=" not in html and "<style" not in html  # the CSP would block them
    assert "<script>" not in html and " on" + "click=" not in html


def test_dev_mode_needs_no_sign_in_and_sets_no_cookie(client):
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 200, path
        assert "Set-Cookie" not in response.headers, path
    assert client.get("/ui/login").headers["Location"] == "/"
    assert "dev mode" in client.get("/").get_data(as_text=True)


def test_unknown_session_is_a_404_page_and_the_api_stays_json(client):
    page = client.get("/ui/sessions/nope")
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert "There is no session “nope”." in page.get_data(as_text=True)
    api = client.get("/sessions/nope")
    assert api.status_code == 404 and api.get_json() == {"error": "Session not found"}
    assert client.get("/ui/nope").get_json() == {"error": "Not found: /ui/nope"}


@pytest.mark.parametrize("query", [
    "status=finished", "from=yesterday", "limit=ten", "from=2026-02-02&to=2026-02-01",
])
def test_a_bad_filter_is_a_400_page_saying_what_the_api_says(client, query):
    response = client.get(f"/?{query}")
    assert response.status_code == 400 and response.mimetype == "text/html"
    problem = escape(client.get(f"/sessions?{query}").get_json()["error"])
    assert f'<p class="problem" role="alert">{problem}</p>' in response.get_data(as_text=True)
    assert "data-session-id" not in response.get_data(as_text=True)


@pytest.mark.parametrize("page", ["/", "/ui/analytics"])
def test_the_pages_filter_by_agent_name_only(client, page):
    """The API's alias ``agent`` is not a filter of the pages, whose forms and links
    carry ``agent_name``: a page given it shows what it shows without it."""
    assert client.get(f"{page}?agent=nobody").get_data() == client.get(page).get_data()


def test_an_unexpected_error_is_a_500_page_without_internals(client, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("agentlens.read.sessions.list_sessions", explode)
    response = client.get("/")
    assert response.status_code == 500 and response.mimetype == "text/html"
    assert "secret internals" not in response.get_data(as_text=True)
    assert "Content-Security-Policy" in response.headers


# ---------------------------------------------------------------------------
# sign-in, CSRF and the API's own credential


def test_pages_send_a_browser_to_sign_in_and_back(keyed_app):
    client = keyed_app.test_client()
    response = client.get("/ui/sessions/alpha-1?page=1")
    assert response.status_code == 302
    assert response.headers["Location"] == "/ui/login?next=/ui/sessions/alpha-1?page%3D1"
    login = sign_in(client, next_path="/ui/sessions/alpha-1?page=1")
    assert login.status_code == 302 and login.headers["Location"] == "/ui/sessions/alpha-1?page=1"
    assert client.get("/ui/sessions/alpha-1").status_code == 200
    assert client.get("/ui/login").headers["Location"] == "/"  # already signed in


def test_the_cookie_is_httponly_samesite_and_holds_no_key(keyed_app):
    client = keyed_app.test_client()
    cookie, header = session_cookie(sign_in(client))
    assert "HttpOnly" in header and "SameSite=Lax" in header
    serializer = SecureCookieSessionInterface().get_signing_serializer(keyed_app)
    stored = serializer.loads(cookie.value)
    assert set(stored) == {"key"} and KEY not in str(stored)
    assert KEY not in cookie.value


@pytest.mark.parametrize("key, status, message", [
    ("wrong", 401, "That is not one of this server&#39;s API keys."),
    ("", 401, "Enter an API key."),
    (KEY[:-1], 401, "That is not one of this server&#39;s API keys."),
])
def test_a_wrong_key_does_not_sign_in(keyed_app, key, status, message):
    client = keyed_app.test_client()
    response = sign_in(client, key)
    assert response.status_code == status
    assert message in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_each_configured_key_signs_in(keyed_app):
    for key in (KEY, "page-key-2", f"  {KEY} "):
        client = keyed_app.test_client()
        assert sign_in(client, key).status_code == 302
        assert client.get("/").status_code == 200


def test_forms_without_their_token_are_refused(keyed_app):
    client = keyed_app.test_client()
    client.get("/ui/login")
    refused = client.post("/ui/login", data={"key": KEY})
    assert refused.status_code == 400 and refused.mimetype == "text/html"
    assert client.post("/ui/login", data={"key": KEY, "csrf_token": "guess"}).status_code == 400
    assert client.get("/").status_code == 302  # not signed in
    sign_in(client)
    assert client.post("/ui/logout").status_code == 400  # a cross-site logout does nothing
    assert client.get("/").status_code == 200
    token = csrf_token(client, "/")
    assert client.post("/ui/logout", data={"csrf_token": token}).headers["Location"] == "/ui/login"
    assert client.get("/").status_code == 302


def test_the_json_api_never_takes_the_page_cookie(keyed_app):
    client = keyed_app.test_client()
    sign_in(client)
    assert client.get("/").status_code == 200
    for path in ("/sessions", "/sessions/alpha-1", "/analytics"):
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.get_json() == {"error": "Missing API key: send it in the X-API-Key header"}
    assert client.get("/sessions", headers={"X-API-Key": KEY}).status_code == 200


def test_a_cookie_stops_working_when_its_key_is_removed(make_app, tmp_path):
    database = str(tmp_path / "rotation.sqlite3")
    before = make_app(DATABASE=database, API_KEYS=[KEY, "page-key-2"])
    client = before.test_client()
    cookie, _ = session_cookie(sign_in(client))
    after = make_app(DATABASE=database, API_KEYS=["page-key-2"]).test_client()
    after.set_cookie("session", cookie.value)
    assert after.get("/").status_code == 302


@pytest.mark.parametrize("target", [
    "//evil.example/x", "/\\evil.example", "https://evil.example/", "/\t/evil.example",
    "javascript:alert(1)", "evil", "/ok\x00", "",
])
def test_sign_in_never_redirects_off_site(keyed_app, target):
    response = sign_in(keyed_app.test_client(), next_path=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


# ---------------------------------------------------------------------------
# limits


def test_pages_have_their_own_count_at_the_sessions_limit(make_app):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_SESSIONS="2/minute")
    client = app.test_client()
    assert [client.get(path).status_code for path in ("/", "/ui/analytics")] == [200, 200]
    limited = client.get("/")
    assert limited.status_code == 429 and limited.mimetype == "text/html"
    assert "Rate limit exceeded: 2 per 1 minute" in limited.get_data(as_text=True)
    assert "Content-Security-Policy" in limited.headers
    assert client.get("/sessions").status_code == 200  # the API's count is its own
    for _ in range(5):  # the stylesheet and script are never limited
        with client.get("/ui/static/agentlens.css") as stylesheet:
            assert stylesheet.status_code == 200


# ---------------------------------------------------------------------------
# figures: the pages read what the API reads


def test_the_list_shows_what_get_sessions_gives(client):
    html = client.get("/").get_data(as_text=True)
    api = client.get("/sessions").get_json()
    assert api["total"] == 2
    for listed in api["sessions"]:
        assert f'data-session-id="{listed["session_id"]}"' in html
        tokens = f'{listed["total_tokens_in"]:,} / {listed["total_tokens_out"]:,}'
        assert f'<td class="num" data-cell="tokens">{tokens}</td>' in html
    assert html.index('data-session-id="beta-2"') < html.index('data-session-id="alpha-1"')
    assert '<td class="num" data-cell="events">5</td>' in html  # alpha's counted events
    assert '<td class="num" data-cell="duration">10.0 s</td>' in html
    # gpt-4o at $2.50 / $10 per million tokens, gpt-4o-mini at $0.15 / $0.60: alpha
    # 1200 x 2.5 + 300 x 10 + 400 x 0.15 + 100 x 0.6 = 6120 µ$, beta 500 x 2.5 + 200 x 10
    assert '<th class="num">Cost</th>' in html
    assert '<td class="num" data-cell="cost">$0.006120</td>' in html
    assert '<td class="num" data-cell="cost">$0.003250</td>' in html


def test_cost_shows_wherever_the_read_functions_carry_it(client, monkeypatch):
    from agentlens.read import sessions

    def with_cost(read):
        def wrapped(*args, **kwargs):
            found = read(*args, **kwargs)
            for session in (found[0] if isinstance(found, tuple) else [found]):
                session.update(total_cost_usd=0.0123456, cost_complete=False)
            return found
        return wrapped

    monkeypatch.setattr(sessions, "list_sessions", with_cost(sessions.list_sessions))
    monkeypatch.setattr(sessions, "get_session", with_cost(sessions.get_session))
    listing = client.get("/").get_data(as_text=True)
    assert '<th class="num">Cost</th>' in listing
    assert 'data-cell="cost">$0.012346<span class="incomplete"' in listing
    page = client.get("/ui/sessions/alpha-1").get_data(as_text=True)
    assert 'data-figure="total_cost_usd">$0.012346</div>' in page
    assert "some events unpriced" in page


def test_cost_shows_in_analytics(client):
    # alpha 6120 µ$ (gpt-4o 6000, gpt-4o-mini 120), beta 3250 µ$ (gpt-4o): see above
    page = client.get("/ui/analytics").get_data(as_text=True)
    assert 'data-figure="total_cost_usd">$0.009370</div>' in page
    assert "Cost per day" in page
    assert page.count("$0.006120") == 1 and page.count("$0.003250") == 1  # planner, coder
    assert page.count('<td class="num">$0.009250</td>') == 1  # gpt-4o
    assert page.count('<td class="num">$0.000120</td>') == 1  # gpt-4o-mini


def test_a_session_id_with_slashes_has_its_page(client):
    send(client, [{"session_id": "team/conv-7", "event_type": "session_start", "agent_name": "x"}])
    response = client.get("/ui/sessions/team/conv-7")
    assert response.status_code == 200
    assert 'data-figure="session_id">team/conv-7</span>' in response.get_data(as_text=True)
    assert 'href="/ui/sessions/team/conv-7"' in client.get("/").get_data(as_text=True)


def test_exports_download_what_the_api_exports(client):
    for export_format in ("csv", "json"):
        page = client.get(f"/ui/export/alpha-1?format={export_format}")
        api = client.get(f"/sessions/alpha-1/export?format={export_format}")
        assert page.status_code == 200
        assert page.headers["Content-Disposition"] == (
            f'attachment; filename="session-alpha-1.{export_format}"')
        if export_format == "csv":
            assert page.get_data() == api.get_data()
        else:  # the same but for the moment it was exported
            assert {**page.get_json(), "exported_at": None} == {**api.get_json(), "exported_at": None}
    assert client.get("/ui/export/alpha-1?format=xml").status_code == 400
    for export_format in ("csv", "json"):
        missing = client.get(f"/ui/export/nope?format={export_format}")
        assert missing.status_code == 404
        assert missing.mimetype == "text/html"
        assert "There is no session “nope”." in missing.get_data(as_text=True)


# ---------------------------------------------------------------------------
# the timeline


def outline(*pairs, trace_id=""):
    """Outline rows (as read.sessions.event_outline gives them) of (event_id, parent_id)
    pairs, row ids in order from 1."""
    return [{"id": n, "trace_id": trace_id, "event_id": event_id, "parent_id": parent_id}
            for n, (event_id, parent_id) in enumerate(pairs, start=1)]


def event_ids(order, rows):
    ids = {row["id"]: row["event_id"] for row in rows}
    return [(ids[row_id], depth) for row_id, depth in order]


def test_depth_first_nests_children_in_time_order():
    rows = outline(("start", None), ("llm", None), ("tool", "llm"), ("sub", "tool"),
                   ("late", "llm"), ("orphan", "missing"), ("end", None))
    order, _ = depth_first(rows)
    assert event_ids(order, rows) == [("start", 0), ("llm", 0), ("tool", 1), ("sub", 2),
                                      ("late", 1), ("orphan", 0), ("end", 0)]


def test_depth_first_cuts_a_parent_cycle_at_its_earliest_event():
    rows = outline(("a", "c"), ("b", "a"), ("c", "b"), ("self", "self"))
    order, _ = depth_first(rows)
    assert event_ids(order, rows) == [("a", 0), ("b", 1), ("c", 2), ("self", 0)]


def test_depth_first_survives_a_chain_deeper_than_the_recursion_limit():
    rows = outline(("e0", None), *((f"e{n}", f"e{n - 1}") for n in range(1, 5000)))
    order, _ = depth_first(rows)
    assert event_ids(order, rows)[-1] == ("e4999", 4999)


def test_depth_first_finds_parents_within_their_trace():
    # Two traces of one session reuse span ids: each child under its own trace's root.
    first, second = outline(("root", None), ("child", "root"), trace_id="t1"), outline(
        ("root", None), ("child", "root"), trace_id="t2")
    for n, row in enumerate(second, start=3):
        row["id"] = n
    order, parent = depth_first([first[0], second[0], first[1], second[1]])
    assert order == [(1, 0), (2, 1), (3, 0), (4, 1)]
    assert parent == {1: None, 3: None, 2: 1, 4: 3}


def test_the_timeline_shows_every_event_of_traces_that_reuse_span_ids(client):
    spans = [{"session_id": "shared", "event_id": event_id, "parent_id": parent_id,
              "event_type": "llm_call", "timestamp": f"2026-02-14T10:00:0{n}.000Z"}
             for n, (event_id, parent_id) in enumerate([("a1", None), ("a2", "a1")])]
    send(client, spans)
    conn_events = [("t1", "b1", None), ("t1", "b2", "b1"), ("t2", "b1", None),
                   ("t2", "b2", "b1")]
    with client.application.app_context():
        from agentlens.db import get_db
        from agentlens.ingest.events import make_event
        from agentlens.ingest.store import store_batch
        store_batch(get_db(), [make_event(
            session_id="shared", trace_id=trace_id, event_id=event_id, parent_id=parent_id,
            event_type="tool_call", source="otlp", ts=1771063205000 + n, max_field_bytes=10**6)
            for n, (trace_id, event_id, parent_id) in enumerate(conn_events)])
    page = client.get("/ui/sessions/shared").get_data(as_text=True)
    assert "events 1–6 of 6" in page
    assert page.count('<li class="event') == 6
    # Depth first, each b2 right after its own trace's b1 (under one b1, both would follow it).
    assert re.findall(r'data-event-id="([^"]+)"', page) == ["a1", "a2", "b1", "b2", "b1", "b2"]


@pytest.mark.parametrize("ts, duration, expected", [
    (0, 0, (0.0, 0.4)),          # an instant at the start: a sliver
    (5000, 2500, (50.0, 25.0)),  # half-way, a quarter long
    (9000, 5000, (90.0, 10.0)),  # cut at the session's end
    (20000, None, (99.6, 0.4)),  # after the end (a late event): at the edge
])
def test_bars_sit_on_the_sessions_time_axis(ts, duration, expected):
    assert bar(0, 10_000, ts, duration) == expected


def test_a_10000_event_session_page_takes_well_under_a_second(make_app):
    client = make_app().test_client()
    events = fx.huge()
    for first in range(0, len(events), 1000):
        send(client, events[first:first + 1000])
    for path in (f"/ui/sessions/{fx.HUGE_ID}", f"/ui/sessions/{fx.HUGE_ID}?page=60"):
        started = time.perf_counter()
        response = client.get(path)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert html.count('<li class="event') == PAGE_SIZE
        assert elapsed < 1.0, f"{path} took {elapsed:.3f} s"
    assert "Continued under:" in html and "turn-23" in html  # page 60 starts inside turn 23


# ---------------------------------------------------------------------------
# how figures read


@pytest.mark.parametrize("ms, text", [
    (None, "—"), (0, "0 ms"), (150.25, "150.25 ms"), (999, "999 ms"), (1000, "1.0 s"),
    (9049, "9.0 s"), (61_000, "1 min 1 s"), (3_600_000, "1 h 0 min"), (90_061_000, "1 d 1 h"),
])
def test_durations_read_as_people_write_them(ms, text):
    assert format.duration(ms) == text


@pytest.mark.parametrize("value, text", [
    (None, "—"), (0, "0"), (1234567, "1,234,567"), (250.5, "250.5"), (3.0, "3"), (0.125, "0.13"),
])
def test_numbers_have_thousands_separators(value, text):
    assert format.number(value) == text


@pytest.mark.parametrize("value, text", [
    (None, "new"), (0, "0.00 %"), (0.0, "0.00 %"), (12.5, "+12.50 %"), (-65.0, "−65.00 %"),
])
def test_percentages_carry_their_sign(value, text):
    assert format.signed_percent(value) == text


def test_long_values_are_shortened_on_the_page():
    text = format.pretty_json({"x": "y" * 50_000})
    assert len(text) < format.MAX_SHOWN_CHARS + 200
    assert text.endswith("the JSON export has the whole value")


def test_a_cost_delta_under_a_millionth_of_a_dollar_still_has_its_direction(client):
    # gpt-4o-mini at $0.15 per million input tokens: 150 n$ and 300 n$, both shown as
    # $0.000000, B 100 % more: drawn as more, not as the same.
    send(client, [{"session_id": session_id, "event_type": "llm_call", "model": "gpt-4o-mini",
                   "tokens_in": tokens, "tokens_out": 0, "timestamp": "2026-02-14T10:00:00Z"}
                  for session_id, tokens in (("tiny-a", 1), ("tiny-b", 2))])
    page = client.get("/ui/compare?a=tiny-a&b=tiny-b").get_data(as_text=True)
    assert '<tr class="delta up" data-metric="cost_usd">' in page
    assert '<tr class="delta same" data-metric="event_count">' in page


@pytest.mark.parametrize("value, whole, top", [
    (0, True, 4), (3, True, 4), (5, True, 8), (37, True, 40), (999, True, 1000),
    (0.14, False, 0.2), (0.035, False, 0.04), (0.0003, False, 0.0004), (4.2, False, 8)])
def test_an_axis_fits_counts_in_whole_ticks_and_amounts_of_cents(value, whole, top):
    assert charts.nice_top(value, whole) == pytest.approx(top)


def test_a_cost_axis_is_labelled_in_cents():
    chart = charts.column_chart([("12-01", 0.036935, ""), ("12-02", 0.14, "")], whole=False)
    assert [format.compact(value) for _, value in chart.ticks] == [
        "0", "0.05", "0.1", "0.15", "0.2"]
    assert chart.columns[1].height == pytest.approx(0.14 / 0.2 * (200 - 26 - 10))


def test_a_later_page_nests_its_events_under_stand_ins_for_their_ancestors(client):
    # root > agent > 150 tools: page 2 (events 101-152) starts at tool 99, at depth 2.
    events = [{"session_id": "deep-pages", "event_id": "root", "event_type": "agent_call",
               "timestamp": "2026-02-14T10:00:00.000Z"},
              {"session_id": "deep-pages", "event_id": "agent", "parent_id": "root",
               "event_type": "agent_call", "timestamp": "2026-02-14T10:00:00.001Z"}]
    events += [{"session_id": "deep-pages", "event_id": f"tool-{n:03d}", "parent_id": "agent",
                "event_type": "tool_call", "tool_call": {"name": "search"},
                "timestamp": f"2026-02-14T10:00:{1 + n // 1000:02d}.{n % 1000:03d}Z"}
               for n in range(150)]
    events.append({"session_id": "deep-pages", "event_id": "last", "event_type": "llm_call",
                   "timestamp": "2026-02-14T10:01:00.000Z"})
    send(client, events)
    html = client.get("/ui/sessions/deep-pages?page=2").get_data(as_text=True)
    assert "events 101–153 of 153" in html
    timeline = html[html.index('<ol class="tree">'):html.index('<details class="panel explanation"')]
    tags = re.findall(r'<ol class="tree">|</ol>|<li class="continued"|data-event-id="[^"]+"',
                      timeline)
    # Stand-ins for root, then agent in it, the tools inside them, then "last" at the top.
    assert tags[:6] == ['<ol class="tree">', '<li class="continued"', '<ol class="tree">',
                        '<li class="continued"', '<ol class="tree">', 'data-event-id="tool-098"']
    assert tags[-5:] == ['data-event-id="tool-149"', "</ol>", "</ol>", 'data-event-id="last"',
                         "</ol>"]


@pytest.mark.parametrize("session_id, href", [
    ("team/conv-7", "/ui/sessions/team/conv-7"),
    ("ids/x/../y", "/ui/session?id=ids/x/../y"),    # a browser would open ids/y
    ("ids/./dot", "/ui/session?id=ids/./dot"),
    ("..", "/ui/session?id=.."),
    ("/lead-slash", "/ui/session?id=/lead-slash"),  # no route takes it by path
])
def test_every_session_has_a_page_a_browser_can_reach(client, session_id, href):
    send(client, [{"session_id": session_id, "event_type": "llm_call", "event_id": "e1",
                   "timestamp": "2026-02-14T10:00:00Z"}])
    listed = client.get("/").get_data(as_text=True)
    assert f'<a href="{escape(href)}">{escape(session_id)}</a>' in listed
    page = client.get(href)
    assert page.status_code == 200
    assert 'data-event-id="e1"' in page.get_data(as_text=True)
    export = href.replace("/ui/sessions/", "/ui/export/").replace("/ui/session?", "/ui/export?")
    exported = client.get(export + ("&" if "?" in export else "?") + "format=json")
    assert exported.get_json()["session"]["session_id"] == session_id


def test_the_page_size_shown_is_the_one_listed(client):
    page = client.get("/?limit=7").get_data(as_text=True)
    assert '<option value="7" selected>7</option>' in page
    assert '<option value="25">25</option>' in page
