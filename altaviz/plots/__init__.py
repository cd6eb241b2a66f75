"""Figures for the executed notebooks: each pipeline notebook ends with one or two pictures of what its
stage did, drawn here so the notebook stays one call per step.

Figures are static matplotlib images (``show`` displays a PNG): an executed copy under ``runs/`` shows them
in JupyterLab (trusted or not), in ``jupyter nbconvert --to html`` and offline, with no JavaScript. One
module per stage (``simulate``, ``bronze``, ``silver``, ``gold``, ``serving``, ``model``); every figure
function takes plain pandas frames (the caller collects from Spark or PostgreSQL) and returns a
``matplotlib.figure.Figure`` built without pyplot's global state, so tests can inspect its axes and lines.
"""

from __future__ import annotations

import io

from matplotlib.figure import Figure

# Health and severity colours, shared with the dashboard (altaviz/dashboard/style.py).
HEALTH_COLORS = {"healthy": "#2e7d32", "warning": "#ef6c00", "critical": "#c62828"}
SEVERITY_COLORS = {"info": "#1565c0", "warning": HEALTH_COLORS["warning"], "critical": HEALTH_COLORS["critical"]}
NEUTRAL = "#546e7a"
DPI = 96


def new_figure(rows: int = 1, cols: int = 1, *, width: float = 10.0, height: float = 3.2, title: str = "",
               sharex: bool = False) -> tuple[Figure, list]:
    """A figure of ``rows`` x ``cols`` axes (returned as a flat list), ``height`` inches per row."""
    figure = Figure(figsize=(width, height * rows), dpi=DPI, layout="constrained")
    axes = figure.subplots(rows, cols, sharex=sharex, squeeze=False).ravel().tolist()
    if title:
        figure.suptitle(title, fontsize=12, fontweight="bold")
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    return figure, axes


def png_bytes(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def show(figure: Figure) -> None:
    """Display ``figure`` in the running notebook as a PNG (no backend, no JavaScript: readable offline)."""
    from IPython.display import Image, display

    display(Image(png_bytes(figure)))
