"""The checks each stage notebook runs on what *this* run did: one case that passes, one that fails."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pytest

from altaviz.bronze.stage import BronzeReport, NoReadingsIngested, validate_bronze_run
from altaviz.gold.stage import GoldReport, validate_gold_run
from altaviz.serving.stage import PublishReport, validate_publish_run

START, END = datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2026, 1, 3, tzinfo=timezone.utc)


def bronze(ingested=(), skipped=(), rejected=()) -> BronzeReport:
    return BronzeReport(run_id="r", landing_dir="/srv/landing", files_ingested=tuple(ingested),
                        files_skipped_already_ingested=tuple(skipped), files_rejected=tuple(rejected),
                        rows_appended=0, reference_rows={})


@pytest.mark.parametrize("report", [
    bronze(ingested=["a.parquet"], rejected=[("b.csv", "missing column timestamp")]),
    bronze(skipped=["a.parquet"]),  # a rerun over files already ingested is fine
])
def test_bronze_passes_when_something_was_ingested_or_already_there(report):
    validate_bronze_run(report)


def test_bronze_fails_naming_every_file_when_all_new_deliveries_were_rejected():
    report = bronze(skipped=["old.parquet"], rejected=[("b.csv", "missing column timestamp"), ("c.csv", "empty")])
    with pytest.raises(NoReadingsIngested) as failure:
        validate_bronze_run(report)
    assert str(failure.value) == (
        "all 2 new sensor file(s) in /srv/landing were rejected:\n- b.csv: missing column timestamp\n- c.csv: empty"
    )


def test_bronze_fails_on_an_empty_landing_folder():
    with pytest.raises(NoReadingsIngested, match="no sensor reading files .* in /srv/landing: run 01_simulate or point "
                       "landing_dir at a historian export$"):
        validate_bronze_run(bronze())


def test_bronze_fails_naming_the_files_no_profile_reads():
    report = dataclasses.replace(bronze(), files_ignored=("exports/day1.csv", "exports/day2.csv"))
    with pytest.raises(NoReadingsIngested, match=r"historian export; 2 file\(s\) no ingest profile reads, e.g. "
                       r"exports/day1.csv: add a profile \(ingest.sources\) whose files pattern matches them$"):
        validate_bronze_run(report)


def test_gold_passes_when_rows_were_written_and_fails_when_none():
    written = GoldReport(START, END, 288, {"2026-01-01": 144, "2026-01-02": 144}, {"sensors_gold": 1000})
    validate_gold_run(written)
    assert written.summary() == (
        "sensors_gold: 288 rows written over 2 day(s), 2026-01-01 to 2026-01-02; 1,000 rows in the table"
    )
    with pytest.raises(RuntimeError, match=r"gold wrote no rows: no silver readings in \[2026-01-01T00:00:00\+00:00"):
        validate_gold_run(GoldReport(START, END, 0, {}, {"sensors_gold": 1000}))


def test_publish_passes_with_aggregates_staged_and_fails_without():
    validate_publish_run(PublishReport("r", START, {"sensor_readings_agg": 0}, {"sensor_readings_agg": 30}))
    with pytest.raises(RuntimeError, match="publish found no gold readings from 2026-01-01T00:00:00"):
        validate_publish_run(PublishReport("r", START, {"sensor_readings_agg": 0}, {"sensor_readings_agg": 0}))
