"""What every page shares: the status colours, the page CSS, how a table and a figure are drawn."""

from __future__ import annotations

import html
import json

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from IPython.display import display

from altaviz.palette import HEALTH_COLORS, NEUTRAL

# A unit's status: its alerts' health, or stale when it went silent (queries.fleet_status).
STATUS_COLORS = {**HEALTH_COLORS, "stale": "#6a1b9a"}
__all__ = ["CSS", "FIGURE_TEMPLATE", "HEALTH_COLORS", "NEUTRAL", "STATUS_COLORS", "html_table", "show_figure"]

# Styles for the KPI cards, tables drawn by html_table and error text; the header carries them once.
CSS = (
    "<style>.kpi{display:inline-block;min-width:104px;margin:4px 8px 4px 0;padding:6px 12px;"
    "background:#fafafa}.kpi-value{font-size:26px;font-weight:600}.kpi-label{color:#555}"
    ".kpi-asof{display:inline-block;margin-left:12px;vertical-align:top;color:#37474f}"
    ".altaviz-table{font-size:13px}.altaviz-table td,.altaviz-table th{padding:2px 8px;text-align:left}"
    ".altaviz-error{color:#b71c1c}</style>"
)

# plotly_white's look for the traces the pages draw (scatter, indicator), with fixed margins. The stock
# template carries defaults for every trace type and grows margins to fit tick labels: together half of
# the browser's time to draw a page's figures (bench/bench_dashboard.py).
_AXIS = {"gridcolor": "#EBF0F8", "linecolor": "#EBF0F8", "zerolinecolor": "#EBF0F8", "zerolinewidth": 2, "ticks": "",
         "automargin": False}
FIGURE_TEMPLATE = go.layout.Template(layout={
    "paper_bgcolor": "white", "plot_bgcolor": "white", "font": {"color": "#2a3f5f"}, "hovermode": "closest",
    "title": {"x": 0.05}, "xaxis": _AXIS, "yaxis": _AXIS,
})


def html_table(frame: pd.DataFrame, *, empty: str, max_height: int | None = None) -> str:
    """A frame as an escaped HTML table (scrolling past ``max_height`` pixels), or the ``empty`` message in
    italics when it has no rows. Pages set it as one HTML widget's value, so a redraw is a single update."""
    if frame.empty:
        return f"<p><i>{html.escape(empty)}</i></p>"
    table = frame.to_html(index=False, border=0, classes="altaviz-table", na_rep="–", escape=True)
    return table if max_height is None else f'<div style="overflow:auto;max-height:{max_height}px">{table}</div>'


# The mimetype the jupyterlab-plotly extension draws offline (no CDN).
PLOTLY_MIMETYPE = "application/vnd.plotly.v1+json"


def show_figure(figure: go.Figure) -> None:
    """Display a figure as the plotly mimetype. Plotly's own renderer would import nbformat and with it
    jsonschema's format checkers: about a second of every dashboard kernel's start."""
    display({PLOTLY_MIMETYPE: {**json.loads(pio.to_json(figure, validate=False)), "config": {}}}, raw=True)
