"""Figures for the executed notebooks: each pipeline notebook ends with one or two pictures of what its
stage did, drawn here so the notebook stays one call per step.

Figures are static matplotlib images (``show`` displays a PNG): an executed copy under ``runs/`` shows them
in JupyterLab (trusted or not), in ``jupyter nbconvert --to html`` and offline, with no JavaScript. One
module per stage (``simulate``, ``bronze``, ``silver``, ``gold``, ``serving``, ``model``); every figure
function takes plain pandas frames and returns a ``matplotlib.figure.Figure`` built without pyplot's
global state, so tests can inspect its axes and lines. Each module's ``read_*`` functions collect those
frames: small aggregates from the landing folder, Spark (grouped in Spark, then ``toPandas``) or
PostgreSQL (parameterised SQL through ``altaviz.io.db``). The helpers below are what two modules share.
"""

from __future__ import annotations

import base64
import io

import matplotlib.dates as mdates
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from altaviz.palette import HEALTH_COLORS, NEUTRAL, SEVERITY_COLORS  # noqa: F401 - the plots modules use them

DPI = 96


def new_figure(rows: int = 1, cols: int = 1, *, width: float = 10.0, height: float = 3.2, title: str = "",
               sharex: bool = False) -> tuple[Figure, list]:
    """A figure of ``rows`` x ``cols`` axes (returned as a flat list), ``height`` inches per row."""
    figure = _figure(width, height * rows, title)
    axes = figure.subplots(rows, cols, sharex=sharex, squeeze=False).ravel().tolist()
    for ax in axes:
        style_axes(ax)
    return figure, axes


def new_mosaic(mosaic: list[list[str]], *, width: float = 10.0, height: float = 2.4, title: str = "",
               sharex: bool = False) -> tuple[Figure, dict]:
    """A figure laid out by ``mosaic`` (matplotlib's subplot_mosaic: a name per cell, a name repeated
    to span cells), ``height`` inches per row; returns the axes by name."""
    figure = _figure(width, height * len(mosaic), title)
    axes = figure.subplot_mosaic(mosaic, sharex=sharex)
    for ax in axes.values():
        style_axes(ax)
    return figure, axes


def _figure(width: float, height: float, title: str) -> Figure:
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    if title:
        figure.suptitle(title, fontsize=12, fontweight="bold")
    return figure


def style_axes(ax) -> None:
    """The house look of one axes: a light grid, no top or right frame."""
    ax.grid(True, alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)


def say_empty(ax, text: str) -> None:
    """Write ``text`` across an axes that has nothing to draw, so an empty stage reads as such, not as a bug."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color=NEUTRAL, fontsize=11)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.spines[["left", "bottom"]].set_visible(False)


def utc_naive(times) -> pd.Series:
    """Times as naive UTC datetimes: matplotlib's date axis ignores zones, so every figure draws UTC."""
    stamps = pd.to_datetime(pd.Series(times), utc=True)
    return stamps.dt.tz_localize(None)


def date_axis(ax) -> None:
    """Short, non-overlapping date ticks (month and year said once) on the x axis."""
    locator = mdates.AutoDateLocator(maxticks=8)
    # Matplotlib's steps stop short of the next unit (30 s, 30 min, 12 h, 6 months), so some spans (4 minutes,
    # 4 hours, 4 days, 4 years) fit no step within eight ticks: it warns and crowds the axis. The next unit closes
    # those gaps.
    for frequency, step in ((mdates.SECONDLY, 60), (mdates.MINUTELY, 60), (mdates.HOURLY, 24), (mdates.MONTHLY, 12)):
        locator.intervald[frequency] = [*locator.intervald[frequency], step]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def break_gaps(frame: pd.DataFrame, *, time_column: str = "time", longer_than: pd.Timedelta = pd.Timedelta(minutes=30)) -> pd.DataFrame:
    """``frame`` with an all-NaN row inside every gap longer than ``longer_than``, so a line stops at an
    outage or downtime instead of drawing a straight ramp across it."""
    after_gap = frame[time_column].diff() > longer_than
    markers = frame.loc[after_gap, [time_column]] - pd.Timedelta(microseconds=1)
    return pd.concat([frame, markers]).sort_values(time_column, kind="stable", ignore_index=True)


def horizontal_counts(ax, labels: list[str], counts: list[int], *, color: str | list[str] = NEUTRAL, xlabel: str = "rows") -> None:
    """One labelled horizontal bar per item, first item on top, the count printed at its end."""
    bars = ax.barh(labels, counts, color=color)
    ax.invert_yaxis()
    ax.bar_label(bars, fmt="{:,.0f}", padding=3, fontsize=9)
    ax.set_xlabel(xlabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.margins(x=0.15)


def png_bytes(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def figure_title(figure: Figure) -> str:
    """The figure's title, or its first axes title: what a text-only reader of the output sees."""
    titles = [figure.get_suptitle(), *(ax.get_title() for ax in figure.axes)]
    return next((title for title in titles if title), "untitled")


def show(figure: Figure) -> None:
    """Display ``figure`` in the running notebook as a PNG (no backend, no JavaScript: readable offline), with
    its title as the plain-text form, which is what ``altaviz run`` prints as progress."""
    from IPython.display import display

    encoded = base64.b64encode(png_bytes(figure)).decode("ascii")  # how notebook JSON stores a PNG
    display({"image/png": encoded, "text/plain": f"[figure] {figure_title(figure)}"}, raw=True)
