"""The app around the pages: the fleet as it stood at as-of (open alerts, downtime, stale units), the KPI
cards, as-of from the page URL, and SQLAlchemy reads with plain words when the database is down."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pandas as pd
import psycopg
import pytest
from pandas.testing import assert_frame_equal
from psycopg.conninfo import make_conninfo

import serving_seed
from altaviz.dashboard import queries
from altaviz.dashboard.app import Dashboard, as_of_from_query, kpi_cards
from altaviz.io import db
from serving_seed import AS_OF, unit_id
from reliability import reliability


@pytest.fixture
def seeded(serving_settings):
    serving_seed.seed(serving_settings, compressors=12, days=4)
    return serving_settings


def _status(fleet: pd.DataFrame) -> dict[str, str]:
    return dict(zip(fleet["compressor_id"], fleet["status"]))


def test_fleet_status_at_as_of(seeded):
    fleet = queries.read_fleet(seeded, AS_OF)
    expected = {unit_id(n): "healthy" for n in range(1, 13)}
    expected.update({unit_id(2): "critical", unit_id(3): "warning", unit_id(4): "warning", unit_id(12): "stale"})
    assert _status(fleet) == expected
    silent = fleet.set_index("compressor_id").loc[unit_id(12)]
    assert (silent["stale"], silent["last_reading_time"]) == (True, AS_OF - timedelta(hours=serving_seed.SILENT_HOURS))
    # Earlier, before the unit went silent and before two of the alerts opened: as it stood then.
    earlier = queries.read_fleet(seeded, AS_OF - timedelta(hours=12))
    assert _status(earlier) == {**{unit_id(n): "healthy" for n in range(1, 13)},
                                unit_id(2): "critical", unit_id(3): "warning"}


def test_an_automatic_resolution_is_data_time_an_operators_is_final(seeded):
    """Unit 1's alert resolved itself 2 d 18 h before AS_OF: open before that, closed after. An operator's
    resolution (wall-clock time, long after the data) is final at every as-of."""
    two_days_before = AS_OF - timedelta(days=2, hours=19)
    assert _status(queries.read_fleet(seeded, two_days_before))[unit_id(1)] == "warning"
    assert _status(queries.read_fleet(seeded, AS_OF))[unit_id(1)] == "healthy"
    alert_id = int(db.query("SELECT id FROM alert_history WHERE compressor_id = %s AND NOT resolved",
                            (unit_id(3),), settings=seeded)["id"].iloc[0])
    db.set_alert_operator_state(alert_id, action="resolve", by="field engineer", note=None, settings=seeded)
    assert _status(queries.read_fleet(seeded, AS_OF - timedelta(hours=2)))[unit_id(3)] == "healthy"


def test_logged_downtime_is_not_stale(seeded):
    """A unit silent during logged maintenance is excused; the same silence without the log is stale."""
    with db.transaction(seeded) as conn:
        conn.execute("INSERT INTO maintenance_events (compressor_id, event_date, event_type, downtime_hours) "
                     "VALUES (%s, %s, 'unscheduled', 12)", (unit_id(12), AS_OF - timedelta(hours=7)))
    fleet = queries.read_fleet(seeded, AS_OF).set_index("compressor_id")
    assert fleet.loc[unit_id(12), ["in_downtime", "stale", "status"]].tolist() == [True, False, "healthy"]
    later = queries.read_fleet(seeded, AS_OF + timedelta(hours=6)).set_index("compressor_id")
    assert later.loc[unit_id(12), ["in_downtime", "stale", "status"]].tolist() == [False, True, "stale"]


def test_fleet_status_rules():
    """Critical outranks silence; silence outranks warning and healthy; downtime excuses silence; an open
    stale alert (the pipeline's freshness gate) is silence even when the hourly view looks recent."""
    fleet = pd.DataFrame({
        "compressor_id": ["A", "B", "C", "D", "E", "F", "G", "H"],
        "last_reading_time": [AS_OF, AS_OF - timedelta(hours=2), AS_OF - timedelta(hours=2),
                              AS_OF - timedelta(hours=2), None, AS_OF - timedelta(minutes=59), AS_OF, AS_OF],
        "alert_rank": [1, 2, 1, 0, 0, 0, 1, 1],
        "stale_alert": [False, False, False, False, False, False, True, True],
        "in_downtime": [False, False, False, True, False, False, False, True],
    })
    marked = queries.fleet_status(fleet, AS_OF, stale_after=timedelta(hours=1))
    assert_frame_equal(marked[["compressor_id", "stale", "status"]], pd.DataFrame({
        "compressor_id": ["A", "B", "C", "D", "E", "F", "G", "H"],
        "stale": [False, True, True, False, True, False, True, False],
        "status": ["warning", "critical", "stale", "healthy", "stale", "healthy", "stale", "warning"]}))


def test_kpi_cards_count_units_by_status_and_alerts_by_severity(seeded):
    fleet = queries.read_fleet(seeded, AS_OF)
    cards = kpi_cards(fleet, AS_OF)
    numbers = re.findall(r'kpi-value">(\d+)</div><div class="kpi-label">([^<]+)<', cards)
    assert numbers == [("12", "Compressors"), ("8", "Healthy"), ("2", "Warning"), ("1", "Critical"), ("1", "Stale"),
                       ("1", "Critical alerts"), ("2", "Warning alerts")]
    assert "2026-02-10 00:00 UTC" in cards


@pytest.mark.parametrize("query, expected", [
    ("as_of=2026-02-09T12:00", "2026-02-09T12:00"), ("foo=1&as_of=2026-02-01", "2026-02-01"),
    ("", None), (None, None), ("as_of=", None), ("other=2026-02-01", None),
])
def test_as_of_from_the_page_url(query, expected):
    assert as_of_from_query(query) == expected


@reliability("fault", "The dashboard's database down",
             "plain words naming where, no traceback")
def test_the_app_follows_as_of_and_says_plain_words_when_the_database_is_down(seeded, tmp_path):
    app = Dashboard(as_of="2026-02-09T12:00", settings=seeded)
    app.refresh()
    assert app.view.as_of == AS_OF - timedelta(hours=12)
    assert "2026-02-09 12:00 UTC" in app.cards.value and "Refreshed" in app.status.value
    gone = replace(seeded, database=replace(seeded.database, url="postgresql://postgres@127.0.0.1:9/altaviz"))
    down = Dashboard(settings=gone)
    down.refresh()
    assert "Database unavailable" in down.status.value and "127.0.0.1" in down.status.value
    assert "Traceback" not in down.status.value and down.view is None


@reliability("fault", "The dashboard on a database without the serving tables",
             "plain words: no serving tables yet, run `make run`")
def test_a_database_without_the_serving_tables_gets_plain_words(seeded):
    where = db.target(seeded)
    with psycopg.connect(where.conninfo, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS altaviz_no_tables")
        conn.execute("CREATE DATABASE altaviz_no_tables")
    url = make_conninfo(where.conninfo, dbname="altaviz_no_tables")
    empty = replace(seeded, database=replace(seeded.database, url=url))
    app = Dashboard(settings=empty)
    app.refresh()
    assert "has no serving tables yet" in app.status.value and "make run" in app.status.value
    assert "Traceback" not in app.status.value and app.view is None
    with pytest.raises(Exception, match="syntax error"):  # any other SQL error is a bug, raised as it is
        db.query("SELEC 1", settings=seeded)


def test_pages_stay_in_the_browser_and_only_the_one_in_front_shows(seeded):
    app = Dashboard(settings=seeded)
    app.refresh()
    shown = lambda: [page.widget.layout.display for page in app.pages]  # noqa: E731
    assert (shown(), app.drawn) == ([None, "none", "none", "none"], {0})
    app.show_page(2)
    assert (shown(), app.drawn, app.nav.value) == (["none", "none", None, "none"], {0, 2}, "Predictive Alerts")
    app.refresh()  # the page in front is redrawn, the others when shown
    assert (shown(), app.drawn) == (["none", "none", None, "none"], {2})
    app.open_unit(unit_id(5))
    assert (shown(), app.drawn) == (["none", None, "none", "none"], {1, 2})
    assert app.pages[1].compressor.value == unit_id(5)


@pytest.mark.parametrize("refresh_seconds", [60, 0])
def test_the_map_drawn_in_the_browser_starts_the_refresh_timer_and_plotly_once(seeded, refresh_seconds):
    """A Play widget's timer starts in the browser only when `playing` turns true under a drawn view, so the
    app starts it when the browser reports the map's bounds; the warm-up timer then starts plotly."""
    settings = replace(seeded, dashboard=replace(seeded.dashboard, refresh_seconds=refresh_seconds))
    app = Dashboard(settings=settings)
    app.refresh()
    assert (app.timer.playing, app.warmup_timer.playing, app.up) == (False, False, False)
    app.pages[0].map.set_state({"south": 29.0, "west": -101.0, "north": 33.0, "east": -97.0})  # the browser drew it
    assert (app.timer.playing, app.warmup_timer.playing, app.up) == (refresh_seconds > 0, True, True)
    app.timer.playing = False  # the engineer's page keeps its own state: a later pan changes nothing
    app.pages[0].map.set_state({"south": 30.0, "west": -100.0, "north": 32.0, "east": -98.0})
    assert app.timer.playing is False


@reliability("security", "SQL-injection text as a dashboard query value",
             "bound as a parameter: matches nothing, changes nothing")
def test_db_query_reads_through_sqlalchemy_with_parameters(seeded):
    injected = "COMP-0001' OR '1'='1"
    frame = db.query("SELECT compressor_id FROM compressor_metadata WHERE compressor_id = %(id)s ORDER BY 1",
                     {"id": injected}, settings=seeded)
    assert frame.empty  # the text is a value, not SQL
    assert db.query("SELECT compressor_id FROM compressor_metadata WHERE compressor_id = %s", (unit_id(1),),
                    settings=seeded)["compressor_id"].tolist() == [unit_id(1)]
    assert str(db.engine(seeded).url).startswith("postgresql+psycopg")
