"""Data quality: the fleet-wide metrics of the latest pipeline run, with their thresholds and verdicts."""

from __future__ import annotations

import ipywidgets as W
import pandas as pd

from altaviz.dashboard.style import html_table


class QualityPage:
    def __init__(self):
        self.widget = W.Box()

    def show(self, quality: pd.DataFrame) -> None:
        self.widget.children = (html_table(quality, empty="No data-quality metrics yet."),)
