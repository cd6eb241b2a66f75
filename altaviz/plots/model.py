"""05_publish: what the failure model saw before each failure, and whether its probabilities mean what they say.

Both figures read a ``model.evaluate.Backtest`` (stored with each model version), so a later run that reuses a
saved model draws its backtest again without retraining. ``None`` (a cold start: no trained model) draws a
figure that says so.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from altaviz.model.evaluate import RISK_HOURS, Backtest
from altaviz.plots import HEALTH_COLORS, NEUTRAL, SEVERITY_COLORS, new_figure, say_empty

MAX_PANELS = 12
WINDOW_HOURS = RISK_HOURS  # the week before a trip, as much as Backtest.risk keeps
METHOD_MARKERS = {"threshold alerts": ("v", HEALTH_COLORS["warning"]), "model": ("o", SEVERITY_COLORS["info"]),
                  "trend baseline": ("s", NEUTRAL)}


def _note(title: str, text: str) -> Figure:
    figure, (ax,) = new_figure(height=1.6, title=title)
    say_empty(ax, text)
    return figure


def risk_before_failures(backtest: Backtest | None, *, warning_level: float) -> Figure:
    """One panel per failure (the first ``MAX_PANELS``): the model's failure probability (and the early-warning
    classifier's, dashed) over the week before the trip, the prediction-alert level, and each method's first
    alert marked on the curve's time axis."""
    title = "Failure risk before each failure (hours before the trip)"
    if backtest is None:
        return _note(title, "No trained model yet (cold start): nothing to backtest.")
    failures = backtest.risk[["compressor_id", "failure_time", "kind"]].drop_duplicates().head(MAX_PANELS)
    if failures.empty:
        return _note(title, f"No completed failure in the scored hours ({backtest.source}).")
    cols = min(3, len(failures))
    figure, axes = new_figure(math.ceil(len(failures) / cols), cols, width=12.0, height=2.6, title=title)
    for ax, failure in zip(axes, failures.itertuples(index=False)):
        curve = backtest.risk[(backtest.risk["compressor_id"] == failure.compressor_id)
                              & (backtest.risk["failure_time"] == failure.failure_time)]
        ax.plot(-curve["hours_before"], curve["failure_probability"], color=SEVERITY_COLORS["info"], lw=1.5,
                label="failure_probability")
        if "warning_probability" in curve and curve["warning_probability"].notna().any():
            ax.plot(-curve["hours_before"], curve["warning_probability"], color=SEVERITY_COLORS["info"], lw=1.2,
                    ls="--", label="warning_probability")
        ax.axhline(warning_level, color=SEVERITY_COLORS["warning"], ls="--", lw=1)
        leads = backtest.leads[(backtest.leads["compressor_id"] == failure.compressor_id)
                               & (backtest.leads["failure_time"] == failure.failure_time)]
        for lead in leads.dropna(subset=["lead_hours"]).itertuples(index=False):
            marker, color = METHOD_MARKERS.get(lead.method, ("x", NEUTRAL))
            if lead.lead_hours <= WINDOW_HOURS:
                ax.axvline(-lead.lead_hours, color=color, lw=1, alpha=0.8)
            # An alert more than a week ahead sits on the left edge, its line off the window.
            ax.plot([-min(lead.lead_hours, WINDOW_HOURS)], [1.02], marker=marker, color=color, clip_on=False,
                    label=f"first {lead.method}")
        ax.set_xlim(-WINDOW_HOURS, 0)
        ax.set_ylim(0, 1.05)
        ax.set_title(f"{failure.compressor_id} · {str(failure.kind).replace('_', ' ')} · {failure.failure_time:%m-%d %H:%M}",
                     fontsize=9)
    for ax in axes[len(failures):]:
        ax.axis("off")
    axes[0].set_ylabel("probability")
    handles = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    if handles:
        figure.legend(list(handles.values()), list(handles), loc="outside lower center", ncols=len(handles), fontsize=9)
    return figure


def reliability_curve(backtest: Backtest | None) -> Figure:
    """Calibration: mean predicted probability vs the observed failure rate per probability bin (marker area
    ~ hours in the bin); on the diagonal a probability means what it says."""
    title = "Is failure_probability a probability?"
    if backtest is None:
        return _note(title, "No trained model yet (cold start): no probabilities to check.")
    table = backtest.reliability.dropna(subset=["mean_predicted", "observed_rate"])
    figure, (ax,) = new_figure(width=5.5, height=4.5, title=title)
    ax.set_title("out-of-sample scores vs the true outcome", fontsize=9)
    ax.plot([0, 1], [0, 1], color=NEUTRAL, ls=":", lw=1, label="perfectly calibrated")
    sizes = 20 + 180 * np.sqrt(table["hours"] / max(table["hours"].max(), 1))
    ax.plot(table["mean_predicted"], table["observed_rate"], color=SEVERITY_COLORS["info"], lw=1, label="model")
    ax.scatter(table["mean_predicted"], table["observed_rate"], s=sizes, color=SEVERITY_COLORS["info"], zorder=3)
    for row in table.itertuples(index=False):
        ax.annotate(f"{int(row.hours):,} h", (row.mean_predicted, row.observed_rate), fontsize=7,
                    xytext=(4, -10), textcoords="offset points")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed failure rate")
    ax.legend(loc="upper left", fontsize=9)
    return figure
