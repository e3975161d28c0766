"""The web viewer in a real browser (Debian's Chromium, headless, through playwright)
against a real gunicorn server holding sessions sent through ``POST /events``.

Figures are read from the rendered page, as a person sees them; every test writes a
screenshot of what it looked at into ``tests/artifacts/`` (git-ignored).
"""
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from playwright.sync_api import expect, sync_playwright

import server as live
import web_fixture as fx

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"  # Debian's; scripts/prepare-test-machine installs it
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
KEYS = "web-test-key-1,web-test-key-2"


@dataclass
class Tab:
    """A browser page and what it did: dialogs opened, requests made, console messages."""
    page: object
    base: str
    dialogs: list = field(default_factory=list)
    requests: list = field(default_factory=list)
    console: list = field(default_factory=list)

    def open(self, path):
        response = self.page.goto(self.base + path)
        return response

    def figure(self, name):
        return self.page.locator(f'[data-figure="{name}"]').inner_text().strip()

    def shot(self, name):
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def row_ids(self):
        return self.page.locator("tr[data-session-id]").evaluate_all(
            "rows => rows.map(row => row.dataset.sessionId)")


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def started(tmp_path_factory, name, events, api_key=None):
    site = live.start_server(tmp_path_factory.mktemp(name), api_key=api_key)
    try:
        fx.send(site, events)
    except BaseException:
        site.stop()
        raise
    return site


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site = started(tmp_path_factory, "web", fx.FIXTURE_EVENTS + fx.huge())
    yield site
    site.stop()


@pytest.fixture(scope="module")
def keyed_site(tmp_path_factory):
    site = started(tmp_path_factory, "web-keyed", fx.alpha(), api_key=KEYS)
    yield site
    site.stop()


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory):
    site = started(tmp_path_factory, "web-hostile", fx.HOSTILE_EVENTS)
    yield site
    site.stop()


def open_tab(browser, base):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    tab = Tab(context.new_page(), base)
    tab.page.set_default_timeout(10_000)

    def on_dialog(dialog):
        tab.dialogs.append(dialog.message)
        dialog.dismiss()

    tab.page.on("dialog", on_dialog)
    tab.page.on("request", lambda request: tab.requests.append((request.resource_type, request.url)))
    tab.page.on("console", lambda message: tab.console.append(message.text))
    return tab


@pytest.fixture
def tab(browser, site):
    tab = open_tab(browser, site.url)
    yield tab
    tab.page.context.close()


def session_path(session_id):
    return "/ui/sessions/" + quote(session_id, safe="/")


# ---------------------------------------------------------------------------
# sessions list


def test_sessions_page_shows_the_totals_and_the_newest_sessions_first(tab):
    tab.open("/")
    expected = fx.EXPECTED
    assert tab.figure("total_sessions") == f"{len(expected)}"
    tokens = sum(s["tokens_in"] + s["tokens_out"] for s in expected.values())
    assert tab.figure("total_tokens") == f"{tokens:,}"
    assert tab.figure("total_events") == f"{sum(s['events'] for s in expected.values()):,}"
    assert tab.figure("error_sessions") == "1"
    newest_first = ["beta-2", "alpha-1", *[f"bulk-{n:02d}" for n in range(fx.BULK)], fx.HUGE_ID]
    assert tab.row_ids() == newest_first
    alpha = tab.page.locator('tr[data-session-id="alpha-1"]')
    assert alpha.locator('[data-cell="duration"]').inner_text() == "10.0 s"
    assert alpha.locator('[data-cell="events"]').inner_text() == "5"
    assert alpha.locator('[data-cell="tokens"]').inner_text() == "1,600 / 400"
    assert alpha.locator(".status").inner_text() == "completed"
    huge = tab.page.locator(f'tr[data-session-id="{fx.HUGE_ID}"]')
    assert huge.locator('[data-cell="events"]').inner_text() == "10,000"
    tab.shot("sessions")


def test_filters_and_paging_change_what_is_listed(tab):
    tab.open("/")
    tab.page.select_option("select[name=status]", "error")
    tab.page.click("form.filters button[type=submit]")
    expect(tab.page).to_have_url(f"{tab.base}/?status=error&limit=50")
    assert tab.row_ids() == ["beta-2"]
    assert tab.figure("total_sessions") == "1"

    tab.page.select_option("select[name=status]", "")
    tab.page.fill("input[name=agent_name]", "batch-bot")
    tab.page.select_option("select[name=limit]", "25")
    tab.page.click("form.filters button[type=submit]")
    assert tab.row_ids() == [f"bulk-{n:02d}" for n in range(25)]
    assert tab.figure("range") == f"1–25 of {fx.BULK}"
    tab.page.click("a[rel=next]")
    assert tab.row_ids() == [f"bulk-{n:02d}" for n in range(25, fx.BULK)]
    assert tab.figure("range") == f"26–{fx.BULK} of {fx.BULK}"
    assert "agent_name=batch-bot" in tab.page.url and "offset=25" in tab.page.url
    tab.page.click("a[rel=prev]")
    assert tab.figure("range") == f"1–25 of {fx.BULK}"

    # Started in [BASE - 3 h, BASE + 2 h): bulk-02 (the bound), bulk-01, bulk-00, alpha, beta.
    tab.page.fill("input[name=agent_name]", "")
    tab.page.fill("input[name=from]", (fx.BASE - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"))
    tab.page.fill("input[name=to]", (fx.BASE + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    tab.page.click("form.filters button[type=submit]")
    assert tab.row_ids() == ["beta-2", "alpha-1", "bulk-00", "bulk-01", "bulk-02"]
    assert tab.figure("total_tokens") == f"{2000 + 700 + 3 * 15:,}"
    assert "agent_name" not in tab.page.url  # blank fields stay out of the URL
    tab.shot("sessions-filtered")
    tab.page.click("a.reset")
    assert len(tab.row_ids()) == len(fx.EXPECTED)


def test_a_bad_filter_is_explained_on_the_page(tab):
    response = tab.open("/?from=yesterday")
    assert response.status == 400
    expect(tab.page.locator(".problem")).to_contain_text("from")
    tab.shot("sessions-bad-filter")


# ---------------------------------------------------------------------------
# one session


def test_session_page_nests_the_child_under_its_parent(tab):
    tab.open("/ui/sessions/alpha-1")
    assert tab.figure("agent_name") == "planner"
    assert tab.figure("event_count") == "5"
    assert tab.figure("total_tokens") == "2,000"
    assert tab.figure("duration") == "10.0 s"
    page = tab.page
    chain = 'li[data-event-id="a-llm"] li[data-event-id="a-search"] li[data-event-id="a-fetch"]'
    expect(page.locator(chain)).to_have_count(1)
    expect(page.locator('li[data-event-id="a-llm"] li[data-event-id="a-error"]')).to_have_count(0)
    parent = page.locator('li[data-event-id="a-llm"] > details > summary').bounding_box()
    child = page.locator('li[data-event-id="a-search"] > details > summary').bounding_box()
    grandchild = page.locator('li[data-event-id="a-fetch"] > details > summary').bounding_box()
    assert parent["x"] < child["x"] < grandchild["x"]  # drawn indented, too
    assert parent["y"] < child["y"] < grandchild["y"]

    error = page.locator('li[data-event-id="a-error"]')
    expect(error).to_have_class("event is-error")
    expect(error.locator("> details > summary .flag")).to_have_text("error")

    detail = page.locator('li[data-event-id="a-llm"] > details > .detail')
    expect(detail).to_be_hidden()
    page.click('li[data-event-id="a-llm"] > details > summary')
    expect(detail).to_be_visible()
    expect(detail.locator("pre").first).to_have_text('{\n  "prompt": "Plan the search"\n}')
    page.click("button[data-expand=open]")
    expect(page.locator('li[data-event-id="a-fetch"] > details > .detail')).to_be_visible()
    expect(page.locator(".explanation")).to_contain_text("Agent Session: planner")
    tab.shot("session")


def test_session_exports_download_as_the_api_gives_them(tab, site):
    tab.open("/ui/sessions/alpha-1")
    with tab.page.expect_download() as download:
        tab.page.click("text=Export CSV")
    csv_bytes = Path(download.value.path()).read_bytes()
    assert csv_bytes == site.get("/sessions/alpha-1/export?format=csv").content
    assert download.value.suggested_filename == "session-alpha-1.csv"
    with tab.page.expect_download() as download:
        tab.page.click("text=Export JSON")
    assert download.value.suggested_filename == "session-alpha-1.json"


def test_a_10000_event_session_opens_a_page_at_a_time(tab):
    tab.open(f"/ui/sessions/{fx.HUGE_ID}")
    total = 1 + fx.HUGE_GROUPS * fx.HUGE_GROUP_SIZE
    assert tab.figure("timeline_range") == f"events 1–100 of {total:,}"
    expect(tab.page.locator("li.event")).to_have_count(100)
    assert tab.figure("event_count") == f"{total - 1:,}"
    tab.shot("session-10k")
    tab.page.click("button[data-expand=open]")  # a page of it expands at once
    expect(tab.page.locator("li.event details[open]")).to_have_count(100)
    tab.page.locator("a[rel=next]").first.click()
    assert tab.figure("timeline_range") == f"events 101–200 of {total:,}"
    # The page starts inside the first turn: its parent is named above it.
    expect(tab.page.locator(".context")).to_contain_text("agent_turn turn-0")
    tab.page.locator("a[rel=last]").last.click()
    assert tab.figure("timeline_range") == f"events 10,001–10,001 of {total:,}"


def test_unknown_session_is_a_404_page(tab):
    response = tab.open("/ui/sessions/no-such-session")
    assert response.status == 404
    expect(tab.page.locator("h1")).to_have_text("Not Found")
    expect(tab.page.locator(".message")).to_contain_text("no-such-session")
    tab.shot("not-found")


# ---------------------------------------------------------------------------
# compare and analytics


def test_compare_page_shows_the_deltas_by_direction(tab):
    tab.open("/ui/sessions/alpha-1")
    tab.page.fill("input[name=b]", "beta-2")
    tab.page.click(".compare-with button")
    expect(tab.page).to_have_url(f"{tab.base}/ui/compare?a=alpha-1&b=beta-2")
    rows = {
        # metric: (A, B, B - A, change); A and B from the fixture, percent = (B - A) / A
        "total_tokens": ("2,000", "700", "−1,300", "▼ −65.00 %"),
        "event_count": ("5", "2", "−3", "▼ −60.00 %"),
        "error_count": ("1", "1", "0", "= 0.00 %"),
        "total_processing_ms": ("3.2 s", "3.9 s", "+700 ms", "▲ +21.88 %"),
    }
    for metric, (a, b, absolute, change) in rows.items():
        row = tab.page.locator(f'tr[data-metric="{metric}"]')
        assert row.locator('[data-side="a"]').inner_text() == a, metric
        assert row.locator('[data-side="b"]').inner_text() == b, metric
        assert row.locator('[data-cell="absolute"]').inner_text() == absolute, metric
        assert row.locator('[data-cell="percent"]').inner_text() == change, metric
    expect(tab.page.locator('tr[data-metric="total_tokens"]')).to_have_class("delta down")
    expect(tab.page.locator('tr[data-metric="total_processing_ms"]')).to_have_class("delta up")
    models = tab.page.locator('[data-table="models"] tbody tr')
    expect(models.nth(0)).to_have_class("shared")  # gpt-4o, in both
    expect(models.nth(1)).to_contain_text("gpt-4o-mini only A")
    tab.shot("compare")


def test_compare_names_a_missing_session(tab):
    response = tab.open("/ui/compare?a=alpha-1&b=nope")
    assert response.status == 404
    expect(tab.page.locator(".problem")).to_have_text("There is no session “nope”.")


def test_analytics_page_shows_the_overview_and_charts(tab):
    tab.open("/ui/analytics")
    expected = fx.EXPECTED
    assert tab.figure("total_sessions") == f"{len(expected)}"
    tokens = sum(s["tokens_in"] + s["tokens_out"] for s in expected.values())
    assert tab.figure("total_tokens") == f"{tokens:,}"
    agents = tab.page.locator('[data-table="top_agents"] tbody tr td:first-child').all_inner_texts()
    assert agents[:3] == ["planner", "coder", "batch-bot"]  # by tokens: 2,000, 700, 450
    charts = tab.page.locator("svg.chart")
    # gpt-4o at $2.50 / $10 per million tokens, gpt-4o-mini at $0.15 / $0.60: alpha
    # 1200 x 2.5 + 300 x 10 + 400 x 0.15 + 100 x 0.6 = 6120 µ$, beta 500 x 2.5 + 200 x 10 =
    # 3250 µ$, the 30 bulk sessions 30 x (10 x 0.15 + 5 x 0.6) = 135 µ$
    assert tab.figure("total_cost_usd") == "$0.009505"
    expect(charts.nth(0).locator("rect.column")).to_have_count(91)  # the last 90 days and today
    expect(charts.nth(2).locator("rect.column")).to_have_count(91)  # cost per day
    expect(charts.nth(3).locator("rect.column")).to_have_count(24)
    base_day = fx.BASE.date()
    in_base_day = sum(1 for start in fx.STARTS.values() if start.date() == base_day)
    titles = charts.nth(0).locator("rect.column title").all_text_contents()
    assert f"{base_day:%Y-%m-%d}: {in_base_day} sessions" in titles
    tab.shot("analytics")

    tab.page.fill("input[name=agent_name]", "coder")
    tab.page.click("form.filters button[type=submit]")
    assert tab.figure("total_sessions") == "1"
    assert tab.figure("total_tokens") == "700"
    tab.shot("analytics-filtered")


# ---------------------------------------------------------------------------
# access with keys set


def test_login_and_logout_with_a_key_set(browser, keyed_site):
    tab = open_tab(browser, keyed_site.url)
    page = tab.page
    try:
        tab.open("/ui/sessions/alpha-1")
        expect(page).to_have_url(f"{tab.base}/ui/login?next=/ui/sessions/alpha-1")
        tab.shot("login")
        page.fill("input[name=key]", "not-a-key")
        page.click("button[type=submit]")
        expect(page.locator(".problem")).to_have_text("That is not one of this server's API keys.")
        page.fill("input[name=key]", KEYS.split(",")[1])
        page.click("button[type=submit]")
        expect(page).to_have_url(f"{tab.base}/ui/sessions/alpha-1")
        assert tab.figure("total_tokens") == "2,000"

        (cookie,) = page.context.cookies()
        assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax"
        assert "web-test-key" not in cookie["value"]
        # The JSON API takes X-API-Key only, never the page's cookie.
        assert page.request.get(f"{tab.base}/sessions").status == 401
        keyed = page.request.get(f"{tab.base}/sessions", headers={"X-API-Key": KEYS.split(",")[0]})
        assert keyed.status == 200

        tab.open("/")
        expect(page.locator("tr[data-session-id]")).to_have_count(1)
        page.click("text=Sign out")
        expect(page).to_have_url(f"{tab.base}/ui/login")
        tab.open("/ui/analytics")
        expect(page).to_have_url(f"{tab.base}/ui/login?next=/ui/analytics")
    finally:
        page.context.close()


# ---------------------------------------------------------------------------
# hostile data


def hostile_pages():
    payload = quote(fx.PAYLOAD, safe="")
    return {
        "hostile-sessions": "/",
        "hostile-sessions-filter": f"/?agent_name={quote('agent ' + fx.PAYLOAD, safe='')}",
        "hostile-session": session_path(fx.HOSTILE_A),
        "hostile-missing-session": session_path("x " + fx.PAYLOAD),
        "hostile-compare": f"/ui/compare?a={quote(fx.HOSTILE_A, safe='')}&b={quote(fx.HOSTILE_B, safe='')}",
        "hostile-compare-missing": f"/ui/compare?a={payload}&b={payload}",
        "hostile-analytics": "/ui/analytics",
        "hostile-analytics-filter": f"/ui/analytics?agent_name={quote('agent ' + fx.PAYLOAD, safe='')}",
    }


def assert_nothing_injected(tab, where):
    page = tab.page
    scripts = page.locator("script").evaluate_all("nodes => nodes.map(node => node.src)")
    assert scripts == [f"{tab.base}/ui/static/agentlens.js"], where
    images = page.locator("img").evaluate_all("nodes => nodes.map(node => node.src)")
    assert images == [f"{tab.base}/ui/static/favicon.svg"], where
    handlers = page.evaluate("""() => [...document.querySelectorAll('*')].flatMap(
        node => [...node.attributes].filter(a => a.name.startsWith('on')).map(a => a.name))""")
    assert handlers == [], where


def test_hostile_payload_in_every_text_field_runs_nothing(browser, hostile_site):
    tab = open_tab(browser, hostile_site.url)
    try:
        for name, path in hostile_pages().items():
            tab.open(path)
            if tab.page.locator("button[data-expand=open]").count():
                tab.page.click("button[data-expand=open]")
            assert_nothing_injected(tab, name)
            assert fx.PAYLOAD in tab.page.locator("main").inner_text(), name  # shown, as text
            tab.shot(name)
        tab.open(session_path(fx.HOSTILE_A))
        tab.page.click("button[data-expand=open]")
        session_text = tab.page.locator("main").inner_text()
        for shown in (f"agent {fx.PAYLOAD}", f"llm {fx.PAYLOAD}", f"model {fx.PAYLOAD}",
                      f"tool {fx.PAYLOAD}", f"child {fx.PAYLOAD}", f"root {fx.PAYLOAD}"):
            assert shown in session_text, shown
        assert tab.page.evaluate("""([root, child]) => {
            const parent = [...document.querySelectorAll("li.event")]
                .find(node => node.dataset.eventId === root);
            return [...parent.querySelectorAll("li.event")]
                .some(node => node.dataset.eventId === child);
        }""", [f"root {fx.PAYLOAD}", f"child {fx.PAYLOAD}"])
    finally:
        tab.page.context.close()
    assert tab.dialogs == []
    strange = [(kind, url) for kind, url in tab.requests
               if urlsplit(url).netloc != urlsplit(tab.base).netloc
               or (kind != "document" and not urlsplit(url).path.startswith("/ui/static/"))]
    assert strange == []
    assert [message for message in tab.console if "Content Security Policy" in message] == []


def test_hostile_next_on_the_login_page_stays_text(browser, keyed_site):
    tab = open_tab(browser, keyed_site.url)
    try:
        tab.open("/ui/login?next=" + quote("/" + fx.PAYLOAD, safe=""))
        assert_nothing_injected(tab, "login")
        tab.page.fill("input[name=key]", KEYS.split(",")[0])
        tab.page.click("button[type=submit]")
        assert urlsplit(tab.page.url).netloc == urlsplit(tab.base).netloc
    finally:
        tab.page.context.close()
    assert tab.dialogs == []


@pytest.mark.parametrize("path", ["/", "/ui/compare?a=alpha-1&b=beta-2", "/ui/analytics",
                                  "/ui/sessions/alpha-1", f"/ui/sessions/{fx.HUGE_ID}?page=3"])
def test_a_phone_sees_every_page_without_scrolling_sideways(browser, site, path):
    context = browser.new_context(viewport={"width": 375, "height": 800})
    try:
        page = context.new_page()
        assert page.goto(site.url + path).status == 200
        # A wide table scrolls inside its own box; the page itself does not.
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        names = page.locator("li.event .what").evaluate_all(
            "cells => cells.map(cell => cell.getBoundingClientRect().width)")
        assert all(width >= 60 for width in names), names  # an event's name still shows
    finally:
        context.close()
