"""Data quality: the fleet-wide metrics of the latest pipeline run, with their thresholds and verdicts."""

from __future__ import annotations

import ipywidgets as W
import pandas as pd

from altaviz.dashboard.style import html_table


class QualityPage:
    def __init__(self, settings, open_unit=None):
        self.settings = settings
        self.widget = W.Box()

    def show(self, view) -> None:
        from altaviz.dashboard import queries
        quality = queries.read_quality(self.settings)
        self.widget.children = (html_table(quality, empty="No data-quality metrics yet."),)
