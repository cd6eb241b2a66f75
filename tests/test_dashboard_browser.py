"""The served dashboard in Debian's chromium, against a seeded serving database (tests/serving_seed.py):
every page renders with no error text, one clickable marker per compressor, a compressor choice redraws
the gauges and trends, a filter changes the alert rows, an acknowledgement reaches PostgreSQL, a silent
unit shows as stale, and a database that goes away gives plain words and comes back. Screenshots of every
page are kept under test-artifacts/dashboard/ (the README shows them)."""

from __future__ import annotations

import re
import time

import pytest

import serving_seed
from altaviz.io import db
from dashboard_fixtures import ARTIFACTS, COMPRESSORS, ERROR_TEXT, PAGES, body_text, serving, show
from reliability import reliability

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def dashboard_url(seeded):
    """The dashboard with its timer off: a test's clicks are the only refreshes."""
    with serving(seeded[1], refresh_seconds=0, log_name="voila.log") as served:
        yield served.url


@pytest.fixture
def page(chromium, dashboard_url, request):
    """A fresh page on the dashboard, with every request that tried to leave the machine recorded."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        tab.outside_requests = []
        tab.on("request", lambda r: tab.outside_requests.append(r.url)
               if not r.url.startswith(("http://127.0.0.1", "data:", "blob:")) else None)
        tab.goto(dashboard_url, timeout=120_000)
        tab.wait_for_selector("text=Compressors", timeout=120_000)
        yield tab
        failed = getattr(request.node, "report_call", None)
        if failed is not None and failed.failed:
            tab.screenshot(path=str(ARTIFACTS / f"failed-{request.node.name}.png"), full_page=True)
        browser.close()


def cards(page) -> list[str]:
    return [" ".join(card.split()) for card in page.locator(".kpi").all_inner_texts()]


@reliability("security", "A page load on an isolated network",
             "no request leaves the machine")
def test_every_page_renders_without_error_text_and_nothing_leaves_the_machine(page):
    for index, name in enumerate((*PAGES[1:], PAGES[0]), start=2):
        show(page, name)
        number = index if index <= len(PAGES) else 1
        page.screenshot(path=str(ARTIFACTS / f"page{number}-{name.lower().replace(' ', '-')}.png"), full_page=True)
        assert not ERROR_TEXT.search(body_text(page)), name
    assert page.outside_requests == []
    assert "Reads:" not in body_text(page)  # the notebook's developer notes stay in JupyterLab


def test_one_clickable_marker_per_compressor_the_worst_on_top_and_a_click_opens_the_unit(page):
    show(page, "Fleet Overview")
    markers = page.locator(".leaflet-overlay-pane path.altaviz-unit.leaflet-interactive")
    assert markers.count() == COMPRESSORS
    classes = [markers.nth(i).get_attribute("class") for i in range(COMPRESSORS)]
    statuses = [re.search(r"altaviz-(healthy|warning|stale|critical)", c).group(1) for c in classes]
    assert statuses == ["healthy"] * 8 + ["warning"] * 2 + ["stale", "critical"]  # drawn in order: worst last
    assert page.locator("path.altaviz-outline.leaflet-interactive").count() == 0  # the outline takes no clicks
    markers.nth(COMPRESSORS - 1).click()
    page.get_by_role("button", name="Open COMP-0002 in monitoring").click(timeout=60_000)
    page.wait_for_selector("text=COMP-0002: 1 h windows", timeout=120_000)
    chooser = page.get_by_label("Compressor").filter(visible=True).first
    assert chooser.evaluate("e => e.options[e.selectedIndex].text").startswith("COMP-0002")


def _gauge_numbers(page, unlike: list[str] | None = None) -> list[str]:
    """The six readings of the gauge figure in front once they are drawn (and differ from ``unlike``): plotly
    draws the gauges a moment after the title of the new unit shows, so a single look can find none. When they
    do not come, the page's figures at that moment (and a screenshot of it) say what was there instead."""
    gauges = page.locator(".js-plotly-plot", has_text="Latest hourly means").filter(visible=True)
    deadline = time.monotonic() + 60
    while True:
        numbers = gauges.first.locator("text.number").all_text_contents() if gauges.count() else []
        if len(numbers) == 6 and numbers != unlike:
            return numbers
        if time.monotonic() > deadline:
            page.screenshot(path=str(ARTIFACTS / "gauges-not-drawn.png"), full_page=True)
            titles = page.locator(".js-plotly-plot >> visible=true").locator(".gtitle").all_text_contents()
            images = page.locator(".plot-img >> visible=true").count()
            raise AssertionError(f"gauge readings {numbers} (unlike {unlike}) after 60 s; visible figures {titles}, "
                                 f"{images} shown as images")
        page.wait_for_timeout(250)


def test_choosing_a_compressor_redraws_gauges_and_trends(page):
    show(page, "Real-Time Monitoring")
    page.wait_for_selector("text=COMP-0002: 1 h windows", timeout=60_000)
    before = _gauge_numbers(page)
    chooser = page.locator("select").filter(visible=True).first  # the hidden pages have selects too
    label = next(text for text in chooser.locator("option").all_inner_texts() if text.startswith("COMP-0005"))
    chooser.select_option(label=label)
    page.wait_for_selector("text=COMP-0005: 1 h windows", timeout=60_000)
    after = _gauge_numbers(page, unlike=before)
    assert before != after
    assert "COMP-0002: 1 h windows" not in body_text(page)


def _open_alert_units(page, count: str) -> list[str]:
    """The units of the open-alerts table in its order, once its count reads ``count`` (the resolved history
    further down has a count of its own and is left out). The count and the rows are one widget."""
    deadline = time.monotonic() + 60
    while True:
        open_section = body_text(page).split("Resolved in")[0]
        if f"showing {count}" in open_section or time.monotonic() > deadline:
            return re.findall(r"#\d+ (?:critical|warning) (COMP-\d{4})", open_section)
        page.wait_for_timeout(250)


def test_a_filter_changes_the_alert_rows_and_the_exact_count(page):
    show(page, "Predictive Alerts")
    assert _open_alert_units(page, "3 of 3") == ["COMP-0002", "COMP-0004", "COMP-0003"]  # critical, then newest
    page.get_by_label("Severity").select_option(label="warning")
    assert _open_alert_units(page, "2 of 2") == ["COMP-0004", "COMP-0003"]
    page.get_by_label("Acknowledged").select_option(label="no")
    assert _open_alert_units(page, "1 of 1") == ["COMP-0004"]


@reliability("security", "SQL-injection text in an acknowledgement note typed in the browser",
             "stored as text; nothing else changes")
def test_an_acknowledgement_from_the_page_is_written_to_postgresql(page, seeded):
    settings, _, _ = seeded
    show(page, "Predictive Alerts")
    alert = page.get_by_label("Alert", exact=True)
    label = next(text for text in alert.locator("option").all_inner_texts() if "COMP-0004" in text)
    alert.select_option(label=label)
    page.get_by_label("Name").fill("Dana (field)")
    page.get_by_label("Note").fill("suction strainer checked'; DROP TABLE alert_history; --")
    page.get_by_role("button", name="Acknowledge", exact=True).click()
    page.wait_for_selector("text=acknowledged by Dana", timeout=30_000)
    stored = db.query("SELECT compressor_id, acknowledged, acknowledged_by, note FROM alert_history "
                      "WHERE compressor_id = %s", (serving_seed.unit_id(4),), settings=settings)
    assert stored.values.tolist() == [["COMP-0004", True, "Dana (field)",
                                       "suction strainer checked'; DROP TABLE alert_history; --"]]


def test_a_silent_unit_shows_as_stale(page):
    assert cards(page) == [f"{COMPRESSORS} Compressors", "8 Healthy", "2 Warning", "1 Critical", "1 Stale",
                           "1 Critical alerts", "2 Warning alerts"]
    assert re.search(r"COMP-0012 stale .* 2026-02-09 18:00", body_text(page))
    assert page.locator("path.altaviz-unit.altaviz-stale").count() == 1


def test_as_of_from_the_page_url_moves_every_page(page, dashboard_url):
    page.goto(dashboard_url + "?as_of=2026-02-09T12:00", timeout=120_000)
    page.wait_for_selector("text=2026-02-09 12:00 UTC", timeout=120_000)
    # Twelve hours earlier: unit 12 still reported and unit 4's alert had not opened yet.
    assert cards(page) == [f"{COMPRESSORS} Compressors", "10 Healthy", "1 Warning", "1 Critical", "0 Stale",
                           "1 Critical alerts", "1 Warning alerts"]
    show(page, "Predictive Alerts")
    assert _open_alert_units(page, "2 of 2") == ["COMP-0002", "COMP-0003"]
    show(page, "Data Quality")  # the seeded runs are a day apart, the last one at the seed's as-of
    assert "Latest run at or before as-of: seed-run-1" in body_text(page) and "2 run(s) drawn" in body_text(page)


@reliability("fault", "The database goes away under an open page",
             "plain words, and the page recovers on the next refresh")
def test_a_stopped_database_gives_plain_words_and_the_page_recovers(page, seeded):
    _, _, outage = seeded
    outage.down()
    try:
        page.get_by_role("button", name="Refresh").click()
        page.wait_for_selector("text=Database unavailable", timeout=30_000)
        assert "127.0.0.1" in body_text(page) and not ERROR_TEXT.search(body_text(page))
    finally:
        outage.up()
    page.get_by_role("button", name="Refresh").click()
    page.wait_for_selector("text=Refreshed", timeout=30_000)
    assert "Database unavailable" not in body_text(page)


@reliability("fault", "An outage while nobody touches the page",
             "the refresh timer shows it and clears it with no click")
def test_the_timer_refreshes_the_page_through_an_outage_with_no_click(chromium, seeded):
    """Refreshed every 2 s by the browser's timer: the outage shows, then clears, and nobody clicks. Plotly
    has started (a hidden figure) while the engineer is still on the fleet page."""
    from playwright.sync_api import sync_playwright

    _, url, outage = seeded
    with serving(url, refresh_seconds=2, log_name="voila-timer.log") as dashboard, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        tab.goto(dashboard.url, timeout=120_000)
        tab.wait_for_selector("text=Refreshed", timeout=120_000)
        tab.wait_for_selector(".js-plotly-plot", state="attached", timeout=30_000)
        assert tab.locator(".js-plotly-plot >> visible=true").count() == 0
        first = tab.locator("text=Refreshed").inner_text()
        tab.wait_for_function("t => !document.body.innerText.includes(t)", arg=first, timeout=30_000)
        outage.down()
        try:
            tab.wait_for_selector("text=Database unavailable", timeout=30_000)
        finally:
            outage.up()
        tab.wait_for_selector("text=Database unavailable", state="detached", timeout=30_000)
        assert "Refreshed" in body_text(tab)
        browser.close()
