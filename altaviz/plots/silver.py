"""03_silver's figures: why rows were quarantined, which compressors' readings were flagged as outliers,
and the four data-quality metrics against their gates. Each figure takes a small pandas frame from the
stage's report (``SilverReport``), so drawing them reads nothing from the lake again."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from altaviz.plots import HEALTH_COLORS, NEUTRAL, horizontal_counts, new_figure, say_empty
from altaviz.registry import SensorRegistry, get_registry
from altaviz.schemas import REASON_CODES

TOP_UNITS = 15  # per-compressor panels show the worst units only, so a large fleet stays readable
# Each metric's axis label, how a value prints and whether higher is better (freshness is an age).
METRICS = {
    "completeness": ("received / expected readings", "{:.2%}", True),
    "freshness": ("minutes from newest reading to as_of", "{:,.0f} min", False),
    "consistency": ("1 - duplicate rate", "{:.2%}", True),
    "accuracy": ("1 - rejection rate", "{:.2%}", True),
}


def quarantine_counts(counts: Mapping[str, int]) -> pd.DataFrame:
    """The silver report's rows per reason code (``SilverReport.quarantine_counts``, what this run wrote to
    ``sensors_quarantine``) as reason, rows: every code, in judging order."""
    return pd.DataFrame({"reason": REASON_CODES, "rows": [int(counts.get(code, 0)) for code in REASON_CODES]})


def quarantine_by_reason(counts: pd.DataFrame) -> Figure:
    """Quarantined rows per reason code (``counts``: reason, rows), every rule listed in judging order."""
    figure, (ax,) = new_figure(width=8.0, height=3.4)
    total = int(counts["rows"].sum())
    ax.set_title(f"Quarantined rows by reason ({total:,} in all)" if total else "Quarantined rows by reason: none")
    horizontal_counts(ax, [reason.replace("_", " ") for reason in counts["reason"]], counts["rows"].tolist(),
                      color=HEALTH_COLORS["critical"])
    return figure


def outliers_by_compressor(flags: pd.DataFrame, *, registry: SensorRegistry | None = None) -> Figure:
    """Outlier flags per compressor, stacked by sensor (``flags``: compressor_id, sensor, flags); the
    units with most flags first. Flags mark readings, they never change or drop them."""
    figure, (ax,) = new_figure(width=10.0, height=3.6)
    if flags.empty:
        ax.set_title("Outlier flags per compressor: none")
        say_empty(ax, "no reading was flagged as an outlier")
        return figure
    table = flags.pivot_table(index="compressor_id", columns="sensor", values="flags", aggfunc="sum", fill_value=0)
    order = table.sum(axis=1).sort_values(ascending=False, kind="stable").index
    shown = table.loc[order[:TOP_UNITS]]
    units = f"{len(shown)} of {len(table)} compressors" if len(table) > len(shown) else f"{len(table)} compressor(s)"
    ax.set_title(f"Outlier flags per compressor ({int(table.values.sum()):,} flags, {units})")
    signals = (registry or get_registry()).signals
    bottom = pd.Series(0, index=shown.index)
    for sensor in shown.columns:
        bars = ax.bar(shown.index, shown[sensor], bottom=bottom, width=0.6,
                      label=signals[sensor].label if sensor in signals else sensor)
        bottom = bottom + shown[sensor]
    ax.bar_label(bars, labels=[f"{total:,}" for total in bottom], padding=2, fontsize=8)  # on the top segment
    ax.margins(y=0.12)
    ax.set_ylabel("flags (reading x sensor)")
    ax.tick_params(axis="x", labelrotation=45)
    ax.legend(title="sensor", fontsize=8, loc="upper right")
    return figure


def quality_against_gates(metrics: pd.DataFrame) -> Figure:
    """One panel per quality metric: the fleet and its worst compressors, each bar green when it
    meets the gate, red when not, and the fleet's gate as a dashed line."""
    figure, axes = new_figure(2, 2, width=11.0, height=3.0, title="Data quality against the gates")
    for ax, (metric_type, (label, fmt, higher_is_better)) in zip(axes, METRICS.items()):
        rows = metrics[metrics["metric_type"] == metric_type]
        ax.set_title(metric_type.capitalize())
        if rows.empty:
            say_empty(ax, f"no {metric_type} metric in this run")
            continue
        fleet = rows[rows["compressor_id"].isna()]
        units = rows[rows["compressor_id"].notna()].sort_values(
            "metric_value", ascending=higher_is_better, na_position="first", kind="stable").head(TOP_UNITS)
        shown = pd.concat([fleet.assign(compressor_id="fleet"), units])
        values = shown["metric_value"].astype(float).fillna(0.0)
        colors = [HEALTH_COLORS["healthy"] if passed else HEALTH_COLORS["critical"] for passed in shown["pass_threshold"]]
        # The value goes in the row label: near 100 % a bar-end label would leave the axes.
        names = [f"{unit}  {('nothing new' if passed else 'n/a') if pd.isna(v) else fmt.format(v)}"
                 for unit, v, passed in zip(shown["compressor_id"], shown["metric_value"], shown["pass_threshold"])]
        ax.barh(names, values, color=colors)
        ax.invert_yaxis()
        if not fleet.empty:
            gate = fleet["threshold_value"].iloc[0]
            ax.axvline(gate, color=NEUTRAL, linestyle="--", linewidth=1.2)
            ax.set_title(f"{metric_type.capitalize()} (gate {'≥' if higher_is_better else '≤'} {fmt.format(gate)}, dashed)")
        if higher_is_better:  # ratios sit near 1: zoom on the span between the worst value and the gate
            low = min(values.min(), fleet["threshold_value"].min() if not fleet.empty else 1.0)
            ax.set_xlim(max(0.0, low - 0.25 * (1.0 - low) - 1e-3), 1.0)
            ax.xaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_xlabel(label)
        ax.tick_params(axis="y", labelsize=8)
    return figure
