"""What every page is drawn from: the dashboard's as-of and the fleet as it stood then."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd


@dataclass(frozen=True)
class View:
    """One refresh's snapshot. ``fleet`` is ``queries.read_fleet(settings, as_of)``: one row per compressor
    with ``status`` (healthy, warning, stale, critical), open alerts by severity and the latest prediction."""

    as_of: datetime
    fleet: pd.DataFrame
