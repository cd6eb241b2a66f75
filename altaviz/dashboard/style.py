"""What every page shares: the health colours and how a table is drawn."""

from __future__ import annotations

import html

import ipywidgets as W
import pandas as pd

from altaviz.plots import HEALTH_COLORS  # noqa: F401  one palette for the notebooks' figures and the dashboard

# Styles for the KPI cards and for tables drawn by html_table; the header carries them once.
CSS = (
    "<style>.kpi{display:inline-block;min-width:110px;margin:4px 8px 4px 0;padding:6px 12px;"
    "background:#fafafa}.kpi-value{font-size:26px;font-weight:600}.kpi-label{color:#555}"
    ".altaviz-table{font-size:13px}.altaviz-table td,.altaviz-table th{padding:2px 8px;text-align:left}</style>"
)


def html_table(frame: pd.DataFrame, *, empty: str) -> W.HTML:
    """A frame as an escaped HTML table, or the ``empty`` message in italics when it has no rows."""
    if frame.empty:
        return W.HTML(f"<p><i>{html.escape(empty)}</i></p>")
    return W.HTML(frame.to_html(index=False, border=0, classes="altaviz-table", na_rep="–", escape=True))
