"""The Voila dashboard: four pages (fleet overview, real-time monitoring, predictive alerts, data quality).

Reads PostgreSQL only, through parameterised SQL (never pyspark). "Now" is the newest reading in the
database or an explicit ``as_of``, never the wall clock, so historical and simulated data stay visible.

``app`` lays out the header, KPI cards and the page switcher and refreshes them; ``queries`` holds every SQL
statement and runs it through ``altaviz.io.db``; ``pages`` has one module per part of the screen.
"""

from altaviz.dashboard.app import Dashboard, page_query_string

__all__ = ["Dashboard", "page_query_string"]
