"""The whole pipeline, end to end: `altaviz run` on a small fleet against a real embedded PostgreSQL,
then the Voila dashboard in headless Chromium. Both share one run (it takes a few minutes)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from altaviz.io import db
from altaviz.config import PROJECT_ROOT, load_settings
from registry_fixtures import registry_with_lube_oil
from reliability import reliability

pytestmark = pytest.mark.integration

RUN_ARGS = ["--compressors", "4", "--start", "2026-01-01", "--end", "2026-01-15", "--seed", "7", "--run-id", "e2e"]
TABLES = ("station_locations", "compressor_metadata", "sensor_readings_agg", "maintenance_events",
          "alert_history", "data_quality_metrics", "ml_predictions")
VIEWS = ("v_latest_readings", "v_active_alerts", "v_fleet_health_summary")


SECRET = "e2e-Known-Secret-5f1c"  # the run's database password: it must appear in nothing the run writes


def database_with_password(embedded_settings) -> str:
    """A URL for this data root's embedded server (started now) as a login role with a known password, so
    the run connects the way a user's external database would, credentials in DATABASE_URL."""
    where = db.target(embedded_settings)
    with psycopg.connect(where.conninfo, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE altaviz_e2e LOGIN SUPERUSER PASSWORD '{SECRET}'")
    return make_conninfo(where.conninfo, user="altaviz_e2e", password=SECRET)


@pytest.fixture(scope="module")
def e2e(tmp_path_factory):
    """Run the pipeline once into its own data root, on a registry with a seventh sensor (lube oil
    pressure, which the fleet's first bearing wear starves); yield
    (environment, settings, completed process)."""
    root = tmp_path_factory.mktemp("e2e")
    env = {**os.environ, "ALTAVIZ_DATA_DIR": str(root / "data"), "ALTAVIZ_RUNS_DIR": str(root / "runs"),
           "ALTAVIZ_SENSOR_REGISTRY": str(registry_with_lube_oil(root))}
    env["DATABASE_URL"] = database_with_password(load_settings(env=env))
    completed = subprocess.run([sys.executable, "-m", "altaviz.cli", "run", *RUN_ARGS], env=env,
                               capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=1800)
    settings = load_settings(env=env)
    yield env, settings, completed
    db.stop_embedded(settings)


def test_run_succeeds_and_keeps_executed_notebooks(e2e):
    env, settings, completed = e2e
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    run_folder = settings.pipeline.runs_dir / "e2e"
    manifest = json.loads((run_folder / "manifest.json").read_text())
    assert manifest["status"] == "succeeded"
    assert [(s["notebook"], s["status"]) for s in manifest["stages"]] == [
        (name, "ok") for name in ("01_simulate", "02_bronze", "03_silver", "04_gold", "05_publish")]
    assert manifest["params"]["compressor_count"] == 4
    for stage in manifest["stages"]:
        assert Path(stage["output"]).exists()
    assert manifest["row_counts"]["01_simulate"]["landing_readings"] > 0
    # The summary names rows, alerts, quality verdicts, the run folder and the dashboard command.
    for expected in ("Rows per layer", "Open alerts", "Data quality (fleet)", str(run_folder), "make dashboard"):
        assert expected in completed.stdout


@pytest.mark.parametrize("relation", TABLES + VIEWS)
def test_every_table_and_view_holds_rows(e2e, relation):
    _, settings, _ = e2e
    count = db.query(f"SELECT count(*) AS n FROM {relation}", settings=settings)["n"].iloc[0]
    assert count > 0, f"{relation} is empty"


def test_fleet_summary_has_one_row_per_compressor(e2e):
    _, settings, _ = e2e
    fleet = db.query("SELECT compressor_id, health_status FROM v_fleet_health_summary", settings=settings)
    assert sorted(fleet["compressor_id"]) == [f"COMP-{i:04d}" for i in range(1, 5)]
    assert set(fleet["health_status"]) <= {"healthy", "warning", "critical"}


def test_a_sensor_added_to_the_registry_reaches_gold_the_aggregates_and_an_alert(e2e, spark):
    _, settings, completed = e2e
    assert completed.returncode == 0
    gold = spark.read.format("delta").load(settings.pipeline.table_path("sensors_gold"))
    assert {"lube_oil_pressure_psi", "lube_oil_pressure_psi_status"} <= set(gold.columns)
    statuses = {row[0] for row in gold.select("lube_oil_pressure_psi_status").distinct().collect()}
    assert {"normal", "warning"} <= statuses
    aggregates = db.query(
        "SELECT count(lube_oil_pressure_mean) AS means, count(lube_oil_pressure_min) AS mins, count(*) AS n, "
        "min(lube_oil_pressure_min) AS lowest FROM sensor_readings_agg", settings=settings)
    assert aggregates.loc[0, "means"] == aggregates.loc[0, "mins"] == aggregates.loc[0, "n"] > 0
    assert aggregates.loc[0, "lowest"] <= 30.0
    alert = db.query("SELECT severity, threshold_value, message FROM alert_history "
                     "WHERE sensor_name = 'lube_oil_pressure_psi' ORDER BY alert_timestamp LIMIT 1", settings=settings)
    assert len(alert) == 1
    assert alert.loc[0, "message"].startswith("Lube oil pressure fell to ")
    assert alert.loc[0, "threshold_value"] in (30.0, 20.0)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def voila_url(e2e, tmp_path_factory):
    env, _, completed = e2e
    assert completed.returncode == 0, "the pipeline run failed; see test_run_succeeds…"
    port = _free_port()
    log = tmp_path_factory.mktemp("voila") / "voila.log"
    with open(log, "wb") as sink:
        server = subprocess.Popen([sys.executable, "-m", "altaviz.cli", "dashboard", "--port", str(port)], env=env,
                                  stdout=sink, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT)
    # Wait for the port only: every GET of the page starts a kernel that executes the dashboard.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(1)
    yield f"http://127.0.0.1:{port}/", log
    server.terminate()
    server.wait(timeout=30)


@pytest.mark.browser
def test_dashboard_shows_the_run_and_an_acknowledgement_made_there_reaches_postgresql(chromium, voila_url, e2e,
                                                                                     tmp_path):
    """The dashboard over a real run: one marker per compressor, the registry's seventh sensor on the
    monitoring page, and an acknowledgement made in the browser (test_rerun… then shows it survives a rerun)."""
    url, log = voila_url
    _, settings, _ = e2e
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url, timeout=180_000)
        try:
            page.wait_for_selector("path.altaviz-unit", timeout=180_000)
        except Exception:
            page.screenshot(path=str(tmp_path / "dashboard-timeout.png"), full_page=True)
            raise AssertionError(f"no map markers; the page says:\n{page.inner_text('body')[:3000]}\n"
                                 f"Voila's log:\n{log.read_text()[-5000:]}") from None
        markers = page.locator("path.altaviz-unit.leaflet-interactive").count()
        page.get_by_role("button", name="Real-Time Monitoring", exact=True).click()
        page.wait_for_selector("text=Lube oil pressure (psi)", state="attached", timeout=120_000)
        page.get_by_role("button", name="Predictive Alerts", exact=True).click()
        page.wait_for_selector("text=showing", timeout=60_000)
        picker = page.get_by_label("Alert", exact=True)
        chosen = next(text for text in picker.locator("option").all_text_contents() if text.startswith("#"))
        picker.select_option(label=chosen)
        page.get_by_label("Name").fill("browser operator")
        page.get_by_role("button", name="Acknowledge", exact=True).click()
        page.wait_for_selector("text=acknowledged by browser operator", timeout=30_000)
        browser.close()
    assert markers == 4
    alert_id = int(re.match(r"#(\d+)", chosen).group(1))
    stored = db.query("SELECT acknowledged, acknowledged_by FROM alert_history WHERE id = %s", (alert_id,),
                      settings=settings)
    assert stored.values.tolist() == [[True, "browser operator"]]


def test_rerun_on_the_same_landing_files_changes_nothing(e2e):
    """`altaviz run --no-simulate` over the files already ingested: bronze appends nothing, so silver and gold,
    whose inputs are unchanged, are skipped naming the run whose tables stand; publish runs (the operators
    changed the database) and every serving table stays as it was, operators' acknowledgements included (this
    one, and the one made in the browser just before)."""
    env, settings, completed = e2e
    assert completed.returncode == 0
    alert_id = int(db.query("SELECT min(id) AS id FROM alert_history", settings=settings)["id"].iloc[0])
    db.set_alert_operator_state(alert_id, action="acknowledge", by="field engineer", note="checked on site",
                                settings=settings)
    stable = [t for t in TABLES if t != "data_quality_metrics"]
    before = {t: db.query(f"SELECT * FROM {t} ORDER BY 1, 2, 3", settings=settings) for t in stable}
    rerun = subprocess.run(
        [sys.executable, "-m", "altaviz.cli", "run", "--no-simulate", "--landing", str(settings.pipeline.landing_dir),
         "--start", "2026-01-01", "--end", "2026-01-15", "--run-id", "e2e-rerun"],
        env=env, capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=1800)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    manifest = json.loads((settings.pipeline.runs_dir / "e2e-rerun" / "manifest.json").read_text())
    assert [(s["notebook"], s["status"], s["reused_from"]) for s in manifest["stages"]] == [
        ("02_bronze", "ok", ""), ("03_silver", "skipped", "e2e"), ("04_gold", "skipped", "e2e"),
        ("05_publish", "ok", "")]
    assert "03_silver skipped: inputs unchanged since run e2e" in rerun.stdout
    for table in stable:
        pd.testing.assert_frame_equal(db.query(f"SELECT * FROM {table} ORDER BY 1, 2, 3", settings=settings),
                                      before[table], obj=table)
    acknowledged = db.query("SELECT acknowledged_by, note FROM alert_history WHERE id = %s", (alert_id,),
                            settings=settings)
    assert acknowledged.iloc[0].tolist() == ["field engineer", "checked on site"]
    runs = db.query("SELECT DISTINCT run_id FROM data_quality_metrics ORDER BY 1", settings=settings)["run_id"]
    assert list(runs) == ["e2e"]  # silver did not run again: nothing new to judge


@reliability("security", "A run with the database password in DATABASE_URL",
             "the password is in no executed notebook, log, manifest or console line")
def test_the_password_reaches_nothing_the_runs_wrote(e2e):
    """Both runs (and the rerun above) connected as altaviz_e2e with SECRET in DATABASE_URL: no executed
    notebook, log, manifest or console line holds it."""
    env, settings, completed = e2e
    owner = db.query("SELECT tableowner FROM pg_tables WHERE tablename = 'alert_history'", settings=settings)
    assert owner["tableowner"].tolist() == ["altaviz_e2e"]  # the run did use the role and its password
    written = [path for path in settings.pipeline.runs_dir.rglob("*") if path.is_file()]
    assert len(written) >= 10  # two runs' notebooks, logs and manifests
    holding = [str(path) for path in written if SECRET in path.read_text(errors="replace")]
    assert holding == [] and SECRET not in completed.stdout + completed.stderr
