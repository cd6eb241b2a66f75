"""02_bronze's figure: what happened to each delivered file (``BronzeReport.to_frame()``), and why files
were rejected."""

from __future__ import annotations

import textwrap

import pandas as pd
from matplotlib.figure import Figure

from altaviz.plots import HEALTH_COLORS, NEUTRAL, horizontal_counts, new_figure, say_empty

# The statuses of BronzeReport.to_frame, in the order a reader asks about them, with their colours.
STATUSES = {"ingested": HEALTH_COLORS["healthy"], "skipped: already ingested": NEUTRAL,
            "rejected": HEALTH_COLORS["critical"], "deferred: still being written": HEALTH_COLORS["warning"],
            "ignored": NEUTRAL}  # no ingest profile reads it


def deliveries(files: pd.DataFrame) -> Figure:
    """Files by status (left) and the rejected files by reason (right); ``files`` has one row per
    landing file: source_file, status, reason."""
    counts = files["status"].value_counts()
    figure, (by_status, by_reason) = new_figure(1, 2, width=11.0, height=3.0,
                                                title=f"Bronze: {len(files)} sensor file(s) seen by this run")
    by_status.set_title("Files by status")
    horizontal_counts(by_status, list(STATUSES), [int(counts.get(s, 0)) for s in STATUSES],
                      color=list(STATUSES.values()), xlabel="files")
    rejected = files[files["status"] == "rejected"]
    if rejected.empty:
        by_reason.set_title("Rejection reasons")
        say_empty(by_reason, "no file rejected")
        return figure
    reasons = rejected["reason"].map(lambda reason: textwrap.shorten(str(reason), 60)).value_counts()
    by_reason.set_title(f"Rejection reasons ({len(rejected)} file(s))")
    horizontal_counts(by_reason, reasons.index.tolist(), reasons.tolist(), color=HEALTH_COLORS["critical"], xlabel="files")
    return figure
