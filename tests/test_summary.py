"""The run summary's layer lines, from the counts the stage notebooks record."""

from altaviz.summary import layer_lines


def test_layer_lines_name_each_layer_and_what_was_set_aside():
    counts = {
        "01_simulate": {"landing_readings": 57020},
        "02_bronze": {"sensors_bronze": 57020, "files_ingested": 1, "files_skipped_already_ingested": 0,
                      "files_rejected": 2},
        "03_silver": {"sensors_silver": 57005, "sensors_quarantine": 15, "quarantine_duplicate": 12,
                      "quarantine_missing_id": 3, "quarantine_restated": 0, "outliers_flagged": 2385},
        "04_gold": {"sensors_gold": 57005},
        "05_publish": {"sensor_readings_agg": 12290, "alerts_opened": 29, "alerts_updated": 1,
                       "alerts_resolved": 28, "ml_predictions": 10},
    }
    assert layer_lines(counts) == [
        "  landing       57,020 readings simulated",
        "  bronze        57,020  (1 new file(s), 0 already ingested, 2 rejected)",
        "  silver        57,005  (15 quarantined: duplicate 12, missing_id 3; 2,385 outliers flagged)",
        "  gold          57,005",
        "  serving       12,290 aggregate rows written; alerts opened 29, updated 1, resolved 28; 10 predictions",
    ]


def test_a_run_without_the_simulator_has_no_landing_line():
    lines = layer_lines({"02_bronze": {"sensors_bronze": 5}})
    assert [line.split()[0] for line in lines] == ["bronze"]


def test_files_left_for_the_next_run_are_counted_only_when_there_are_some():
    bronze = {"sensors_bronze": 5, "files_ingested": 1, "files_skipped_already_ingested": 0, "files_rejected": 0}
    assert layer_lines({"02_bronze": {**bronze, "files_deferred": 0}}) == [
        "  bronze             5  (1 new file(s), 0 already ingested, 0 rejected)"]
    assert layer_lines({"02_bronze": {**bronze, "files_deferred": 2}}) == [
        "  bronze             5  (1 new file(s), 0 already ingested, 0 rejected, 2 still being written)"]
