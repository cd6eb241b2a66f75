"""One module per part of the dashboard: fleet (map, health table), monitoring (sensor trends),
alerts (open alerts and operator actions), quality (the latest run's data-quality metrics)."""
