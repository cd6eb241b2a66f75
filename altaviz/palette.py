"""Health and severity colours: one palette for the notebooks' matplotlib figures (altaviz.plots) and the
dashboard's plotly ones (altaviz.dashboard.style). Its own module so a dashboard kernel does not import
matplotlib for seven strings."""

HEALTH_COLORS = {"healthy": "#2e7d32", "warning": "#ef6c00", "critical": "#c62828"}
SEVERITY_COLORS = {"info": "#1565c0", "warning": HEALTH_COLORS["warning"], "critical": HEALTH_COLORS["critical"]}
NEUTRAL = "#546e7a"
