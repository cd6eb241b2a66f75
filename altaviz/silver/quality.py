"""Data-quality metrics and gates on the driver (pandas, no Spark): one row per compressor and the
fleet for each metric type, the gates judged on the fleet rows, and the error a failed gate raises."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Mapping

import pandas as pd

from altaviz.config import Settings
from altaviz.runs import as_utc
from altaviz.schemas import DQ_METRICS_SCHEMA


class QualityGateError(RuntimeError):
    """A fleet-level data-quality metric broke its configured gate."""


@dataclass(frozen=True)
class GateResult:
    gate: str  # the config key under quality (e.g. 'gates.max_missing_rate')
    metric_type: str
    value: float | None
    limit: float
    passed: bool
    message: str


@dataclass(frozen=True)
class SilverReport:
    run_id: str
    as_of: datetime
    rows_read: int
    rows_valid: int
    quarantine_counts: Mapping[str, int]  # every reason code, 0 when none
    outliers_flagged: int
    fleet_metrics: Mapping[str, float | None]  # metric_type -> metric_value
    compressor_metrics: pd.DataFrame = field(compare=False)  # one row per compressor
    gates: tuple[GateResult, ...] = ()
    counts: Mapping[str, int] = field(default_factory=dict)
    silver_written: bool = True  # False: a blocking gate failed and silver and quarantine were left as they were
    # What 03_silver draws, so its figures need no second read of the lake: outlier flags per compressor and
    # sensor (compressor_id, sensor, flags; flagged pairs only) and this run's data_quality_metrics rows.
    outlier_flags: pd.DataFrame = field(default_factory=pd.DataFrame, compare=False)
    metrics: pd.DataFrame = field(default_factory=pd.DataFrame, compare=False)

    @property
    def passed(self) -> bool:
        return all(gate.passed for gate in self.gates)

    def to_frame(self) -> pd.DataFrame:
        """Counts, then one row per gate: item, value, limit, passed."""
        rows = [(f"rows: {name}", float(value), None, None) for name, value in self.counts.items()]
        rows += [(f"gate: {g.gate} ({g.metric_type})", g.value, g.limit, g.passed) for g in self.gates]
        return pd.DataFrame(rows, columns=["item", "value", "limit", "passed"])


def _rate(numerator: float, denominator: float) -> float | None:
    # Nothing to measure is not a perfect score: the metric is recorded unmeasured and fails its gate.
    return float(numerator) / float(denominator) if denominator else None


def _excused(unit: Mapping) -> bool:
    """In logged downtime at as_of: an offline unit is not expected to report."""
    return bool(unit.get("in_logged_downtime", False))


def _fleet_freshness(named: pd.DataFrame, sla: float) -> tuple[float | None, bool, dict]:
    """The stalest unit that should be reporting: one silent unit fails the fleet however many others report."""
    units = [unit for unit in named.to_dict("records") if not _excused(unit)]
    measured = {unit["compressor_id"]: float(unit["freshness_minutes"]) for unit in units if pd.notna(unit["freshness_minutes"])}
    unmeasured = sorted(unit["compressor_id"] for unit in units if pd.isna(unit["freshness_minutes"]))
    beyond = sorted(cid for cid, minutes in measured.items() if minutes > sla)
    stalest = max(measured, key=lambda cid: (measured[cid], cid)) if measured else None
    details = {
        "stalest_compressor": stalest,
        "units_beyond_sla": beyond,
        "units_without_valid_reading": unmeasured,
        "units_in_logged_downtime": len(named) - len(units),
    }
    value = measured[stalest] if stalest else None
    return value, value is not None and not beyond and not unmeasured, details


# The rates judge the deliveries new since the last run whose rate gates all passed (see JudgedSpan).
RATE_METRICS = ("completeness", "consistency", "accuracy")


@dataclass(frozen=True)
class JudgedSpan:
    """Which bronze deliveries a run's rates judge: those ingested after ``after`` (None: all of bronze)
    through ``through``. One bad new delivery is not diluted by a long good history, and a run that
    failed a gate does not advance ``after``: the next run judges the same deliveries again."""

    after: datetime | None = None
    through: datetime | None = None

    def details(self) -> dict:
        return {f"judged_{k}": None if v is None else as_utc(v).isoformat()
                for k, v in (("after", self.after), ("through", self.through))}


def judged_through(fleet_rates: pd.DataFrame, *, run_id: str) -> datetime | None:
    """The ``JudgedSpan.through`` of the last other run whose fleet rate gates all passed: the next run
    judges the deliveries after it (None when no run passed, or it predates judged spans)."""
    rates = fleet_rates[fleet_rates["compressor_id"].isna() & fleet_rates["metric_type"].isin(RATE_METRICS)
                        & fleet_rates["run_id"].ne(run_id)]
    passed = rates.groupby("run_id")["pass_threshold"].all()
    throughs = [json.loads(details).get("judged_through")
                for details in rates.loc[rates["run_id"].isin(passed[passed].index), "details"]]
    stamps = [pd.Timestamp(t) for t in throughs if t]
    return max(stamps).to_pydatetime() if stamps else None


def metric_rows(
    per_compressor: pd.DataFrame, *, run_id: str, as_of: datetime, settings: Settings,
    judged: JudgedSpan = JudgedSpan(),
) -> pd.DataFrame:
    """Rows of ``data_quality_metrics`` for each compressor and the fleet (compressor_id None).

    ``per_compressor`` has compressor_id, rows_read, duplicates, rejected, expected, received (counted over
    the ``judged`` deliveries), freshness_minutes and in_logged_downtime (one row per compressor id seen in
    bronze, None for rows without an id). A rate with no judged rows after an earlier judged span has
    nothing new to judge: unmeasured and passing. Without an earlier span it fails (nothing was measured).
    """
    gates = settings.pipeline.gates
    sla = float(settings.pipeline.freshness_sla_minutes)
    named = per_compressor[per_compressor["compressor_id"].notna()]
    fleet_freshness = _fleet_freshness(named, sla)
    fleet = {
        "compressor_id": None,
        **{k: float(per_compressor[k].fillna(0).sum()) for k in ("rows_read", "duplicates", "rejected", "expected", "received")},
    }
    freshness_details = {"unit": "minutes", "sla_minutes": sla, "as_of": as_utc(as_of).isoformat()}
    rows = []
    for unit in [*named.to_dict("records"), fleet]:
        missing_rate = _rate(unit["expected"] - unit["received"], unit["expected"])
        duplicate_rate = _rate(unit["duplicates"], unit["rows_read"])
        rejection_rate = _rate(unit["rejected"], unit["rows_read"])
        if unit["compressor_id"] is None:
            freshness, fresh, extra = fleet_freshness
        else:
            freshness = None if pd.isna(unit["freshness_minutes"]) else float(unit["freshness_minutes"])
            fresh = _excused(unit) or (freshness is not None and freshness <= sla)
            extra = {"in_logged_downtime": _excused(unit)}
        counts = {k: int(unit[k] or 0) for k in ("rows_read", "duplicates", "rejected", "expected", "received")}
        nothing_new = judged.after is not None and counts["rows_read"] == 0
        metrics = [
            ("completeness", missing_rate, gates.max_missing_rate,
             {"missing_rate": missing_rate, "expected": counts["expected"], "received": counts["received"],
              "cadence_minutes": settings.pipeline.cadence_minutes}),
            ("consistency", duplicate_rate, gates.max_duplicate_rate,
             {"duplicate_rate": duplicate_rate, "duplicates": counts["duplicates"], "rows_read": counts["rows_read"]}),
            ("accuracy", rejection_rate, gates.max_rejection_rate,
             {"rejection_rate": rejection_rate, "rejected": counts["rejected"], "rows_read": counts["rows_read"]}),
        ]
        measured = [
            (metric_type, None if rate is None else 1 - rate, 1 - limit,
             nothing_new or (rate is not None and rate <= limit), {**details, **judged.details()})
            for metric_type, rate, limit, details in metrics
        ]
        measured.insert(1, ("freshness", freshness, sla, fresh, {**freshness_details, **extra}))
        for metric_type, value, threshold, passed, details in measured:
            rows.append(
                {
                    "run_id": run_id,
                    "metric_timestamp": as_utc(as_of),
                    "compressor_id": unit["compressor_id"],
                    "metric_type": metric_type,
                    "metric_value": value,
                    "threshold_value": float(threshold),
                    "pass_threshold": bool(passed),
                    "details": json.dumps(details, sort_keys=True),
                }
            )
    return pd.DataFrame(rows, columns=DQ_METRICS_SCHEMA.fieldNames())


def check_quality_gates(fleet_metrics: pd.DataFrame, settings: Settings) -> tuple[GateResult, ...]:
    """The configured gates judged on the fleet rows of ``metric_rows`` (never raises)."""
    gates = settings.pipeline.gates
    by_type = {row["metric_type"]: row for row in fleet_metrics[fleet_metrics["compressor_id"].isna()].to_dict("records")}
    results = []
    specs = [
        ("gates.max_missing_rate", "completeness", "missing_rate", gates.max_missing_rate, "missing rate"),
        ("gates.max_duplicate_rate", "consistency", "duplicate_rate", gates.max_duplicate_rate, "duplicate rate"),
        ("gates.max_rejection_rate", "accuracy", "rejection_rate", gates.max_rejection_rate, "rejection rate"),
    ]
    for gate, metric_type, key, limit, label in specs:
        details = json.loads(by_type[metric_type]["details"])
        value = details[key]
        context = json.dumps({k: v for k, v in details.items() if k != key}, sort_keys=True)
        if value is None and by_type[metric_type]["pass_threshold"]:
            results.append(GateResult(gate, metric_type, None, limit, True,
                                      f"quality gate {gate} ({metric_type}): no deliveries new since "
                                      f"{details['judged_after']}, nothing to judge [{context}]"))
            continue
        if value is None:
            results.append(GateResult(gate, metric_type, None, limit, False,
                                      f"quality gate {gate} ({metric_type}): no rows to measure the fleet {label} on [{context}]"))
            continue
        passed = value <= limit
        verdict = "within" if passed else "is above"
        results.append(
            GateResult(
                gate, metric_type, value, limit, passed,
                f"quality gate {gate} ({metric_type}): fleet {label} {value:.2%} {verdict} the limit {limit:.2%} [{context}]",
            )
        )
    freshness = by_type["freshness"]
    results.append(
        GateResult(
            "freshness_sla_minutes", "freshness",
            None if pd.isna(freshness["metric_value"]) else float(freshness["metric_value"]),
            float(settings.pipeline.freshness_sla_minutes), bool(freshness["pass_threshold"]),
            _freshness_message(freshness["metric_value"], json.loads(freshness["details"])),
        )
    )
    return tuple(results)


def _freshness_message(stalest_minutes: float | None, details: Mapping) -> str:
    sla = details["sla_minutes"]
    head = "quality gate freshness_sla_minutes (freshness): "
    excused = f"; {details['units_in_logged_downtime']} unit(s) in logged downtime excused"
    if details["units_without_valid_reading"]:
        return head + f"no valid reading from {', '.join(details['units_without_valid_reading'])}" + excused
    if stalest_minutes is None or pd.isna(stalest_minutes):
        return head + "no valid reading from any unit that should be reporting" + excused
    beyond = details["units_beyond_sla"]
    verdict = (f"beyond the SLA of {sla:.0f} min ({len(beyond)} unit(s) silent: {', '.join(beyond)})" if beyond
               else f"within the SLA of {sla:.0f} min")
    return head + f"stalest unit {details['stalest_compressor']}'s newest reading is {stalest_minutes:.1f} min before as_of, {verdict}" + excused


# A silent unit must not hold back the others' data: its failed freshness gate is reported and becomes a
# stale alert in 05_publish (altaviz.serving.alerts); it does not stop the run.
ALERTING_GATES = ("freshness_sla_minutes",)


def blocking_failures(gates: tuple[GateResult, ...]) -> list[str]:
    """The messages of failed gates that stop a run (all but ``ALERTING_GATES``)."""
    return [gate.message for gate in gates if not gate.passed and gate.gate not in ALERTING_GATES]


def validate_quality_gates(report: SilverReport) -> tuple[str, ...]:
    """Raise QualityGateError naming every failed gate with its value and limit; return the messages of
    failed ``ALERTING_GATES``, which let the run go on."""
    failed = blocking_failures(report.gates)
    if failed:
        kept = "" if report.silver_written else "; sensors_silver and sensors_quarantine were left as they were"
        raise QualityGateError(f"{len(failed)} data-quality gate(s) failed for run {report.run_id}{kept}:\n- "
                               + "\n- ".join(failed))
    return tuple(f"{gate.message}; the run goes on and 05_publish alerts the silent unit(s) as stale"
                 for gate in report.gates if not gate.passed)


def _per_compressor_frame(by_reason: pd.DataFrame, per_unit_silver: pd.DataFrame) -> pd.DataFrame:
    """One row per compressor id seen in bronze (None for rows without an id), counts and silver stats;
    ``by_reason`` has compressor_id, reason, judged and rows: only judged rows are counted."""
    reason, rows = by_reason["reason"], by_reason["rows"].astype("int64").where(by_reason["judged"], 0)
    is_duplicate = reason.eq("duplicate")
    is_rejected = reason.notna() & ~is_duplicate & ~reason.eq("restated")
    grouped = (
        pd.DataFrame(
            {
                "compressor_id": by_reason["compressor_id"],
                "rows_read": rows,
                "duplicates": rows.where(is_duplicate, 0),
                "rejected": rows.where(is_rejected, 0),
            }
        )
        .groupby("compressor_id", as_index=False, sort=True, dropna=False)
        .sum()
    )
    grouped["compressor_id"] = grouped["compressor_id"].astype(object).where(grouped["compressor_id"].notna(), None)
    merged = grouped.merge(per_unit_silver, on="compressor_id", how="left")
    merged[["expected", "received"]] = merged[["expected", "received"]].fillna(0).astype("int64")
    merged["in_logged_downtime"] = merged["in_logged_downtime"].astype("boolean").fillna(False).astype(bool)
    return merged[["compressor_id", "rows_read", "duplicates", "rejected", "expected", "received", "freshness_minutes",
                   "in_logged_downtime"]]
