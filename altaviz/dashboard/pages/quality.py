"""Data quality as it stood at the dashboard's as-of: the fleet's four metrics per run against their limits,
the latest run's compressors worst first, what silver quarantined and which landing files bronze rejected."""

from __future__ import annotations

import html
from collections.abc import Callable

import ipywidgets as W
import pandas as pd
import plotly.graph_objects as go

from altaviz.config import Settings
from altaviz.dashboard import queries
from altaviz.dashboard.style import FIGURE_TEMPLATE, HEALTH_COLORS, NEUTRAL, html_table, show_figure
from altaviz.io import db

METRICS = ("freshness", "completeness", "consistency", "accuracy")
TITLES = {
    "freshness": "Freshness: stalest unit, minutes behind as-of",
    "completeness": "Completeness: readings received / expected",
    "consistency": "Consistency: 1 − duplicate rate",
    "accuracy": "Accuracy: 1 − rejection rate",
}
# Freshness is good below its limit (an SLA in minutes); the three shares are good above theirs.
VERDICT_COLORS = {True: HEALTH_COLORS["healthy"], False: HEALTH_COLORS["critical"]}
LIMIT_COLOR = HEALTH_COLORS["warning"]
TABLE_ROWS = 50  # worst units listed; every unit stays in the picker


def metric_figure(history: pd.DataFrame) -> go.Figure:
    """One panel per metric type (``METRICS``, two to a row), each run a point coloured by its verdict, the
    limit (``threshold_value`` per run, so a changed gate shows) as a dashed step line with a tick per run.
    Several checks of one type (``metric_name``) are separate series in its panel; an unmeasured run
    (value NULL, failing) is a cross on the limit."""
    from plotly.subplots import make_subplots

    figure = make_subplots(rows=2, cols=2, shared_xaxes=True, vertical_spacing=0.16,
                           subplot_titles=[TITLES[metric] for metric in METRICS])
    for index, metric in enumerate(METRICS):
        row, col = index // 2 + 1, index % 2 + 1
        rows = history[history["metric_type"] == metric]
        for name, check in rows.groupby("metric_name", sort=True):
            label = f"{metric} · {name}" if name else metric
            measured, unmeasured = check[check["metric_value"].notna()], check[check["metric_value"].isna()]
            figure.add_trace(go.Scatter(
                x=measured["metric_timestamp"], y=measured["metric_value"], mode="lines+markers", name=label,
                line={"color": NEUTRAL, "width": 1},
                marker={"color": [VERDICT_COLORS[bool(v)] for v in measured["pass_threshold"]], "size": 8},
                customdata=measured[["run_id"]], hovertemplate="run %{customdata[0]}<br>%{x}<br>%{y}<extra></extra>",
            ), row=row, col=col)
            if not unmeasured.empty:
                figure.add_trace(go.Scatter(
                    x=unmeasured["metric_timestamp"], y=unmeasured["threshold_value"], mode="markers",
                    name=f"{label}: not measured",
                    marker={"color": VERDICT_COLORS[False], "symbol": "x", "size": 10},
                    customdata=unmeasured[["run_id"]],
                    hovertemplate="run %{customdata[0]}: not measured<extra></extra>",
                ), row=row, col=col)
            # A tick per run as well as the line: a single run has a limit to see too.
            figure.add_trace(go.Scatter(
                x=check["metric_timestamp"], y=check["threshold_value"], mode="lines+markers", name=f"{label} limit",
                line={"color": LIMIT_COLOR, "dash": "dash", "shape": "hv"},
                marker={"color": LIMIT_COLOR, "symbol": "line-ew-open", "size": 16},
                hovertemplate="limit %{y}<extra></extra>",
            ), row=row, col=col)
        if metric != "freshness":
            figure.update_yaxes(tickformat=".2%", row=row, col=col)
    stamps = pd.to_datetime(history["metric_timestamp"])
    if len(stamps) and stamps.max() - stamps.min() < pd.Timedelta(days=1):
        # Runs within one day (often just one): a day either side, not an axis of milliseconds.
        figure.update_xaxes(range=[stamps.min() - pd.Timedelta(days=1), stamps.max() + pd.Timedelta(days=1)])
    figure.update_annotations(font_size=13)
    figure.update_layout(height=560, showlegend=False, template=FIGURE_TEMPLATE,
                         margin={"l": 60, "r": 20, "t": 60, "b": 30},
                         title="Fleet data quality per run (green: within the limit, red: broke it)")
    return figure


def worst_units(units: pd.DataFrame) -> pd.DataFrame:
    """Units worst first: most failed checks, then the lowest completeness, the stalest, the most rows
    quarantined (duplicates + rejected); an unmeasured value counts as the worst."""
    ranked = units.assign(
        _failed=-units["failed_count"].astype(int),
        _completeness=units["completeness"].astype(float).fillna(-1.0),
        _freshness=-units["freshness_minutes"].astype(float).fillna(float("inf")),
        _quarantined=-(units["duplicates"].fillna(0) + units["rejected"].fillna(0)).astype(int),
    )
    order = ["_failed", "_completeness", "_freshness", "_quarantined", "compressor_id"]
    return ranked.sort_values(order, kind="stable").drop(columns=order[:-1]).reset_index(drop=True)


def unit_table(units: pd.DataFrame) -> pd.DataFrame:
    """``worst_units`` formatted for display: one row per compressor."""
    ordered = worst_units(units)
    freshness = [
        "downtime" if down else ("–" if pd.isna(minutes) else f"{minutes:,.0f}")
        for minutes, down in zip(ordered["freshness_minutes"], ordered["in_downtime"])
    ]
    duplicates, rejected = ordered["duplicates"].fillna(0).astype(int), ordered["rejected"].fillna(0).astype(int)
    return pd.DataFrame({
        "compressor": ordered["compressor_id"],
        "failed checks": ordered["failed_checks"].replace("", "–"),
        "completeness": ["–" if pd.isna(v) else f"{v:.2%}" for v in ordered["completeness"]],
        "freshness (min)": freshness,
        "quarantined rows": duplicates + rejected,
        "rejected rows": rejected,
    })


def reason_counts(quarantine: pd.DataFrame) -> pd.DataFrame:
    """Quarantined rows per reason, most first: rows, units (a missing id counts as one) and one example."""
    if quarantine.empty:
        return pd.DataFrame(columns=["reason", "rows", "units", "example"])
    grouped = quarantine.assign(unit=quarantine["compressor_id"].fillna("(no id)")).groupby("reason", sort=True)
    counts = pd.DataFrame({
        "rows": grouped["row_count"].sum().astype(int),
        "units": grouped["unit"].nunique(),
        "example": grouped["example_detail"].min(),
    }).reset_index()
    return counts.sort_values(["rows", "reason"], ascending=[False, True], ignore_index=True)


def quarantine_table(quarantine: pd.DataFrame, *, limit: int = 20) -> pd.DataFrame:
    """The largest (compressor, reason) counts, for display."""
    top = quarantine.head(limit)
    return pd.DataFrame({
        "compressor": top["compressor_id"].fillna("(no id)"),
        "reason": top["reason"],
        "rows": top["row_count"].astype(int),
        "files": top["source_files"].astype(int),
        "example": top["example_detail"],
    })


class QualityPage:
    """The metric panels, the latest run's units (a picker opens one in the monitoring page), the
    quarantine reasons and the rejected files."""

    def __init__(self, settings: Settings, open_unit: Callable[[str], None] | None = None):
        self.settings = settings
        self.open_unit = open_unit
        self.heading = W.HTML()
        self.metrics = W.Output()
        self.units_table = W.HTML()
        self.unit = W.Select(description="Unit", rows=6, layout=W.Layout(width="360px"))
        self.open_button = W.Button(description="Open in monitoring", disabled=open_unit is None,
                                    tooltip="show this compressor's sensor trends")
        self.open_button.on_click(lambda _: self.open_selected())
        self.quarantine_tables = W.HTML()
        self.rejected_table = W.HTML()
        self.widget = W.VBox([
            self.heading, self.metrics,
            W.HTML("<h4>Compressors in the latest run, worst first</h4>"), self.units_table,
            W.HBox([self.unit, self.open_button]),
            W.HTML("<h4>Quarantined rows by reason</h4>"), self.quarantine_tables,
            W.HTML("<h4>Files rejected at bronze</h4>"), self.rejected_table,
        ])

    def show(self, view) -> None:
        """Redraw every part from PostgreSQL at ``view.as_of``. Everything is read before anything is drawn:
        with the database down the heading says so in plain words and the parts keep what they showed (the
        error used to escape the page switch, and the browser showed no word of it)."""
        as_of = view.as_of
        try:
            run = queries.read_quality_run(self.settings, as_of)
            history = queries.read_quality_history(self.settings, as_of)
            if run is None:
                units = quarantine = pd.DataFrame()
            else:
                units = queries.read_unit_quality(self.settings, run["run_id"])
                quarantine = queries.read_quarantine(self.settings, run["run_id"])
            rejected = queries.read_rejected_files(self.settings, as_of)
        except db.DatabaseUnavailable as err:
            self.heading.value = (f'<p><span class="altaviz-error"><b>Database unavailable.</b> '
                                  f"{html.escape(str(err))}. Try again in a moment.</span></p>")
            return
        self.metrics.clear_output(wait=True)
        if run is None:
            self.heading.value = (f"<p><i>No data-quality run at or before {as_of:%Y-%m-%d %H:%M} UTC yet: "
                                  "03_silver measures quality, 05_publish loads it.</i></p>")
        else:
            self.heading.value = (f"<p>Latest run at or before as-of: <b>{html.escape(run['run_id'])}</b>, measured at "
                                  f"{pd.Timestamp(run['metric_timestamp']):%Y-%m-%d %H:%M} UTC; "
                                  f"{history['run_id'].nunique()} run(s) drawn.</p>"
                                  + ("" if not history.empty else "<p><i>No fleet-wide metrics to draw yet.</i></p>"))
        if not history.empty:
            with self.metrics:
                show_figure(metric_figure(history))
        self.show_units(units)
        self.quarantine_tables.value = (
            html_table(reason_counts(quarantine), empty="Nothing quarantined in this run (or not published yet).")
            + ("" if quarantine.empty else "<b>Largest by compressor</b>" + html_table(quarantine_table(quarantine),
                                                                                       empty="")))
        self.rejected_table.value = html_table(rejected, empty="No landing file was rejected.")

    def show_units(self, units: pd.DataFrame) -> None:
        if units.empty:
            self.units_table.value = html_table(units, empty="No per-compressor metrics in this run.")
            self.unit.options = []
            return
        table = unit_table(units)
        shown = table.head(TABLE_ROWS)
        shown_note = "" if len(table) <= TABLE_ROWS else f"The {TABLE_ROWS} worst of {len(table):,} units. "
        note = (f"<p><i>{shown_note}Quarantined rows: duplicates and rows a validity rule rejected (rows a later "
                "delivery restated are not the unit's fault and not counted).</i></p>")
        self.units_table.value = html_table(shown, empty="") + note
        self.unit.options = [(unit if failed == "–" else f"{unit} · {failed} failed", unit)
                             for unit, failed in zip(table["compressor"], table["failed checks"])]

    def open_selected(self) -> None:
        if self.open_unit is not None and self.unit.value:
            self.open_unit(self.unit.value)
