"""The dashboard app: a header of KPI cards over four pages switched without reloading, refreshed on a
timer and on demand. Pages draw lazily: a refresh redraws the page in front, the others when shown."""

from __future__ import annotations

import html
import urllib.parse
from datetime import datetime

import ipywidgets as W
import pandas as pd
import plotly.graph_objects as go
from IPython.display import display

from altaviz.config import Settings, get_settings
from altaviz.dashboard import queries
from altaviz.dashboard.pages.alerts import AlertsPage
from altaviz.dashboard.pages.fleet import FleetPage
from altaviz.dashboard.pages.monitoring import MonitoringPage
from altaviz.dashboard.pages.quality import QualityPage
from altaviz.dashboard.style import CSS, STATUS_COLORS, show_figure
from altaviz.dashboard.view import View
from altaviz.io import db

PAGES = ("Fleet Overview", "Real-Time Monitoring", "Predictive Alerts", "Data Quality")
FLEET, MONITORING = PAGES.index("Fleet Overview"), PAGES.index("Real-Time Monitoring")
WARMUP_DELAY_MS = 1000


def kpi_cards(fleet: pd.DataFrame, as_of: datetime) -> str:
    """One card per count: units, units per status, open alerts by severity; and the data's "now"."""
    statuses = fleet["status"].value_counts()
    cards = [("Compressors", len(fleet), "#37474f")]
    cards += [(status.title(), int(statuses.get(status, 0)), STATUS_COLORS[status])
              for status in ("healthy", "warning", "critical", "stale")]
    cards += [("Critical alerts", int(fleet["critical_alert_count"].sum()), STATUS_COLORS["critical"]),
              ("Warning alerts", int(fleet["warning_alert_count"].sum()), STATUS_COLORS["warning"])]
    body = "".join(
        f'<div class="kpi" style="border-top:4px solid {color}"><div class="kpi-value">{value}</div>'
        f'<div class="kpi-label">{label}</div></div>'
        for label, value, color in cards
    )
    return f'<div class="kpi-row">{body}<div class="kpi-asof">Data as of<br><b>{as_of:%Y-%m-%d %H:%M} UTC</b></div></div>'


def as_of_from_query(query_string: str | None) -> str | None:
    """``as_of`` from the page URL's query string (``?as_of=2026-02-01T12:00``), if present."""
    values = urllib.parse.parse_qs(query_string or "").get("as_of")
    return values[0] if values and values[0] else None


def page_query_string() -> str | None:
    """The query string of the page being served. A kernel Voila preheated waits here for its request;
    outside Voila (JupyterLab, papermill) there is none."""
    try:
        from voila.utils import get_query_string
    except ImportError:
        return None
    return get_query_string()


class Dashboard:
    """The app: built once, refreshed from PostgreSQL on a timer, on demand and after operator actions."""

    def __init__(self, as_of: str | datetime | None = None, settings: Settings | None = None):
        self.settings = settings or get_settings()
        self.requested_as_of = as_of
        self.view: View | None = None
        self.header = W.HTML(CSS + "<h2>Altaviz · compressor fleet</h2>")
        self.cards = W.HTML()
        self.status = W.HTML()
        self.refresh_button = W.Button(description="Refresh", tooltip="re-read PostgreSQL now")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.pages = (
            FleetPage(self.settings, open_unit=self.open_unit),
            MonitoringPage(self.settings),
            AlertsPage(self.settings, on_change=self.refresh, open_unit=self.open_unit),
            QualityPage(self.settings, open_unit=self.open_unit),
        )
        self.drawn: set[int] = set()  # pages drawn from the current view
        self.nav = W.ToggleButtons(options=PAGES, style={"button_width": "170px"})
        # Every page stays in the browser, hidden but for the one in front: a page shown again is not drawn
        # again. (ipywidgets' Stack rebuilds a page on each switch, and plotly draws its figures four times.)
        self.body = W.VBox([page.widget for page in self.pages])
        self.front = FLEET
        self._show_only(FLEET)
        self.nav.observe(lambda change: self.show_page(PAGES.index(change["new"])), names="value")
        # A timer in the browser: it stops when the page closes, so a closed tab costs no queries. The browser
        # starts a Play only when `playing` turns true under a drawn view, so page_up starts it.
        self.timer = W.Play(interval=max(self.settings.dashboard.refresh_seconds, 1) * 1000, max=10**9,
                            playing=False, show_repeat=False, layout=W.Layout(display="none"))
        self.timer.observe(lambda _: self.refresh(), names="value")
        # Plotly's JavaScript takes about 1 s to start, on the first figure; a hidden figure starts it a
        # moment after the page is up (after the map's markers), not when the engineer first opens a chart.
        self.plotly_warmup = W.Output(layout=W.Layout(display="none"))
        self.warmup_timer = W.Play(interval=WARMUP_DELAY_MS, max=1, playing=False, show_repeat=False,
                                   layout=W.Layout(display="none"))
        self.warmup_timer.observe(lambda _: self.warm_up_plotly(), names="value")
        self.up = False  # the browser has drawn the page
        # Nothing tells the kernel that the page is up, but the map sends its bounds each time it is drawn.
        self.pages[FLEET].map.observe(self.page_up, names="bounds")
        self.app = W.VBox([self.header, W.HBox([self.cards]),
                           W.HBox([self.nav, self.refresh_button, self.status, self.timer, self.warmup_timer,
                                   self.plotly_warmup]),
                           self.body])

    def refresh(self) -> None:
        """Re-read the fleet at the (re-resolved) as-of, redraw the page in front, mark the rest stale.
        A database that is down or empty gets plain words; the next refresh recovers."""
        try:
            as_of = queries.resolve_as_of(self.requested_as_of, self.settings)
            if as_of is None:
                self.status.value = "<i>No readings published yet: run <code>make run</code>.</i>"
                return
            self.view = View(as_of=as_of, fleet=queries.read_fleet(self.settings, as_of))
            self.cards.value = kpi_cards(self.view.fleet, as_of)
            self.drawn.clear()
            self.show_page(self.front)
        except db.DatabaseUnavailable as err:
            self.status.value = (f'<span class="altaviz-error"><b>Database unavailable.</b> {html.escape(str(err))}. '
                                 "The page retries on its own; nothing is lost.</span>")
            return
        self.status.value = f"<i>Refreshed {datetime.now():%H:%M:%S}</i>"

    def show_page(self, index: int) -> None:
        """Bring a page to the front, drawing it first if the current view has not been drawn on it."""
        if self.nav.value != PAGES[index]:
            self.nav.value = PAGES[index]  # observed: comes back here once
            return
        if index != self.front:
            self.front = index
            self._show_only(index)
        if self.view is not None and index not in self.drawn:
            self.pages[index].show(self.view)
            self.drawn.add(index)

    def _show_only(self, index: int) -> None:
        for number, page in enumerate(self.pages):
            page.widget.layout.display = None if number == index else "none"

    def page_up(self, _=None) -> None:
        """The browser has drawn the page (once per page load): start the refresh and warm-up timers."""
        if self.up:
            return
        self.up = True
        self.timer.playing = self.settings.dashboard.refresh_seconds > 0
        self.warmup_timer.playing = True

    def warm_up_plotly(self) -> None:
        with self.plotly_warmup:
            show_figure(go.Figure(layout={"width": 10, "height": 10}))

    def open_unit(self, compressor_id: str) -> None:
        """Show one compressor on the monitoring page (from a map marker, a table row or an alert)."""
        self.pages[MONITORING].select(compressor_id)
        self.drawn.discard(MONITORING)
        self.show_page(MONITORING)

    def start(self, query_string: str | None = None) -> None:
        """Fill and display the app; ``?as_of=`` in the page URL overrides the notebook's parameter."""
        self.requested_as_of = as_of_from_query(query_string) or self.requested_as_of
        self.refresh()
        display(self.app)
